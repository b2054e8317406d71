"""Image size limits: a media download stops at WeChat's 10 MB cap instead of reading whatever it is sent.

An endless "image" from a misbehaving media API (chunked, no length), an 11 MB one with its length declared,
and one just under the cap through the project's fake WeChat API; the turn still happens, marked photo_error.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from bot.channels.wechat_config import WeChatChannelConfig, build_client
from bot.channels.wechat_media import MAX_MEDIA_BYTES, MediaFetchError, download_media, fetch_photo
from bot.config import Secret
from tests.security.conftest import FakeWeChatAPI, running_fake_wechat

JPEG_START = b"\xff\xd8\xff\xe0" + b"\0" * 60


class EndlessMedia(BaseHTTPRequestHandler):
    """Answers the token call, then streams an image body that never ends (until 4x the cap at most)."""

    written = 0

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the stdlib's signature
        pass

    def do_GET(self) -> None:  # noqa: N802 - the stdlib's name
        if "/token" in self.path:
            body = b'{"access_token": "FAKE_TOKEN_1", "expires_in": 7200}'
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            return
        self.send_response(200)
        self.send_header("Content-Type", "image/jpeg")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        chunk = JPEG_START + b"\x11" * (256 * 1024 - len(JPEG_START))
        try:
            while EndlessMedia.written < 4 * MAX_MEDIA_BYTES:
                self.wfile.write(f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n")
                EndlessMedia.written += len(chunk)
        except (BrokenPipeError, ConnectionResetError):
            return


@pytest.fixture()
def endless_api() -> Iterator[str]:
    EndlessMedia.written = 0
    server = ThreadingHTTPServer(("127.0.0.1", 0), EndlessMedia)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/cgi-bin/"
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture()
def fake_wechat() -> Iterator[FakeWeChatAPI]:
    with running_fake_wechat() as fake:
        yield fake


def client_for(api_base: str, fake: FakeWeChatAPI | None = None) -> Any:
    app_id, secret = (fake.state.app_id, fake.state.app_secret) if fake else ("wxendless", "endless-secret")
    return build_client(
        WeChatChannelConfig(
            token=Secret("gridsec-local"), app_id=app_id, app_secret=Secret(secret), api_base=api_base
        )
    )


def test_an_endless_image_is_cut_off_at_the_cap(endless_api: str) -> None:
    started = time.monotonic()
    with pytest.raises(MediaFetchError, match="over"):
        download_media(client_for(endless_api), "endless")
    assert time.monotonic() - started < 30
    assert EndlessMedia.written < 2 * MAX_MEDIA_BYTES  # the client hung up near the cap, not at the end


def test_a_declared_oversize_image_is_refused_and_the_turn_goes_on(
    fake_wechat: FakeWeChatAPI, tmp_path: Path
) -> None:
    fake_wechat.add_media("big", JPEG_START + b"\0" * (MAX_MEDIA_BYTES + 1 - len(JPEG_START)))
    text, metadata = asyncio.run(
        fetch_photo(client_for(fake_wechat.base_url, fake_wechat), "big", "[图片]", {}, tmp_path, None)
    )
    assert text == "[图片]" and "photo" not in metadata and "declared" in metadata["photo_error"]
    assert list(tmp_path.rglob("*")) == []  # nothing stored


def test_an_image_at_the_cap_is_stored(fake_wechat: FakeWeChatAPI, tmp_path: Path) -> None:
    data = JPEG_START + b"\0" * (MAX_MEDIA_BYTES - len(JPEG_START))
    fake_wechat.add_media("at-cap", data)
    assert download_media(client_for(fake_wechat.base_url, fake_wechat), "at-cap") == data


def test_an_error_answer_is_not_taken_for_an_image(fake_wechat: FakeWeChatAPI) -> None:
    with pytest.raises(MediaFetchError, match="40007"):
        download_media(client_for(fake_wechat.base_url, fake_wechat), "no-such-media")
