"""WeChat channel harness: signed XML fixtures posted over real HTTP to Rasa's app with our connector.

`configure_app([WeChatInput(...)])` builds Rasa's Sanic app; `app.ctx.agent` is a `RecordingAgent`
whose `handle_message` records each `UserMessage` (it stands in for Rasa's Agent, not for our code).
The app runs on a loopback port (tests/support/sanic_server.py). `Webhook.finish()` stops the server,
which drains the background turns, so assertions after it see every turn that was started.
"""

from __future__ import annotations

import hashlib
import itertools
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from string import Template
from typing import Any

import httpx
import pytest
from rasa.core.channels.channel import UserMessage
from rasa.core.run import configure_app
from sanic import Sanic
from sqlalchemy.engine import Engine
from wechatpy.utils import WeChatSigner

from bot.channels.wechat import WeChatInput
from bot.channels.wechat_config import LOCAL_APP_ID, WeChatChannelConfig
from bot.channels.wechat_media import PhotoReader
from bot.config import Secret
from tests.fakes.wechat_api import FakeWeChatAPI, running_fake_wechat
from tests.support.sanic_server import serve_sanic

FIXTURES = Path(__file__).parent / "fixtures" / "wechat"
CJK_FONT = Path("/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc")  # `make setup` installs fonts-wqy-zenhei
NOW = datetime(2026, 11, 29, 2, 0, 0, tzinfo=timezone.utc)  # 10:00 in Guangzhou
TOKEN = "gridsec-local"
AES_KEY = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"  # 43 characters, as WeChat issues them
OPENID = "oYuexiuResident0000000000001"
DEFAULTS = {
    "openid": OPENID,
    "create_time": str(int(NOW.timestamp())),
    "msg_id": "6054768590064713728",
    "content": "越华路12号门口井盖坏了",
    "media_id": "photo-media-1",
    "lat": "23.129163",
    "lng": "113.264435",
    "label": "广州市越秀区越华路",
    "recognition": "越华路有垃圾没人清理。",
    "event_key": "REPORT_ISSUE",
}


def fixture_xml(name: str, **values: str) -> str:
    """A fixture from tests/channels/fixtures/wechat with `$placeholders` filled in."""
    return Template((FIXTURES / f"{name}.xml").read_text(encoding="utf-8")).substitute({**DEFAULTS, **values})


def sign(*parts: str) -> str:
    """WeChat's signature over the sorted parts (wechatpy's signer, as WeChat's servers compute it)."""
    signer = WeChatSigner()
    signer.add_data(*parts)
    return str(signer.signature)


class RecordingAgent:
    """Stands in for Rasa's Agent behind `app.ctx.agent`: records every UserMessage it is handed."""

    def __init__(self) -> None:
        self.messages: list[UserMessage] = []

    async def handle_message(self, message: UserMessage) -> None:
        self.messages.append(message)


@dataclass
class Webhook:
    """A running Rasa app with the WeChat channel, and helpers to post signed XML to it."""

    url: str
    channel: WeChatInput
    agent: RecordingAgent
    fake: FakeWeChatAPI
    stack: ExitStack
    nonces: Iterator[int] = field(default_factory=lambda: itertools.count(1))  # next() is atomic: thread-safe

    @property
    def endpoint(self) -> str:
        return f"{self.url}/webhooks/wechat/webhook"

    def next_nonce(self) -> str:
        return f"n{next(self.nonces):08d}"

    def query(
        self, *, timestamp: int | None = None, nonce: str | None = None, token: str = TOKEN
    ) -> dict[str, str]:
        stamp = str(timestamp if timestamp is not None else int(NOW.timestamp()))
        nonce = nonce or self.next_nonce()
        return {"signature": sign(token, stamp, nonce), "timestamp": stamp, "nonce": nonce}

    def post(
        self, body: str | bytes, query: dict[str, str] | None = None, **query_options: Any
    ) -> httpx.Response:
        """POST a body, signed (plaintext) or encrypted and signed (when the channel is in safe mode)."""
        query = query or self.query(**query_options)
        raw = body.encode("utf-8") if isinstance(body, str) else body
        crypto = self.channel.crypto
        if crypto is not None:
            envelope = crypto.encrypt_message(raw.decode("utf-8"), query["nonce"], query["timestamp"])
            encrypt = envelope.split("<Encrypt><![CDATA[")[1].split("]]>")[0]
            query = query | {
                "encrypt_type": "aes",
                "msg_signature": sign(TOKEN, query["timestamp"], query["nonce"], encrypt),
            }
            raw = f"<xml><ToUserName><![CDATA[gh_yuexiu_gridsec]]></ToUserName><Encrypt><![CDATA[{encrypt}]]></Encrypt></xml>".encode()
        return httpx.post(
            self.endpoint, params=query, content=raw, headers={"Content-Type": "text/xml"}, timeout=10
        )

    def finish(self) -> None:
        """Stop the server; its before-stop listener waits for every background turn."""
        self.stack.close()


def make_config(api_base: str, *, aes: bool = False) -> WeChatChannelConfig:
    return WeChatChannelConfig(
        token=Secret(TOKEN),
        app_id=LOCAL_APP_ID,
        aes_key=Secret(AES_KEY) if aes else None,
        api_base=api_base,
        template_id="TPL_CASE_PROGRESS",
    )


@pytest.fixture()
def fake_wechat() -> Iterator[FakeWeChatAPI]:
    """The fake WeChat API on loopback."""
    with running_fake_wechat() as fake:
        yield fake


@pytest.fixture()
def start_webhook(
    engine: Engine, fake_wechat: FakeWeChatAPI, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Callable[..., Webhook]]:
    """Start Rasa's app with a WeChatInput on the test database: `start_webhook(aes=False, clock=..., photo_reader=...)`."""
    monkeypatch.setattr(Sanic, "test_mode", True)  # several apps named rasa_core_no_api in one process
    stacks: list[ExitStack] = []

    def start(
        *,
        aes: bool = False,
        clock: Callable[[], datetime] = lambda: NOW,
        photo_reader: PhotoReader | None = None,
        config: WeChatChannelConfig | None = None,
    ) -> Webhook:
        channel = WeChatInput(
            config or make_config(fake_wechat.base_url, aes=aes),
            engine=engine,
            clock=clock,
            media_root=tmp_path / "media",
            photo_reader=photo_reader,
        )
        app = configure_app([channel], enable_api=False)
        agent = RecordingAgent()
        app.ctx.agent = agent
        stack = ExitStack()
        stacks.append(stack)
        url = stack.enter_context(serve_sanic(app))
        return Webhook(url=url, channel=channel, agent=agent, fake=fake_wechat, stack=stack)

    yield start
    for stack in stacks:
        stack.close()


def jpeg_bytes(colour: tuple[int, int, int] = (200, 60, 40)) -> bytes:
    """A small real JPEG (Pillow), different per colour."""
    import io

    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", (32, 24), colour).save(buffer, format="JPEG")
    return buffer.getvalue()


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def photo_with_text_and_gps(lines: list[str], lat: float, lng: float) -> bytes:
    """A sign-like JPEG with Chinese `lines` drawn (wqy-zenhei) and EXIF GPS, as a phone would save it."""
    import io
    from fractions import Fraction

    from PIL import Image, ImageDraw, ImageFont
    from PIL.TiffImagePlugin import IFDRational

    def dms(value: float) -> tuple[IFDRational, IFDRational, IFDRational]:
        degrees, minutes = int(value), int((value - int(value)) * 60)
        seconds = Fraction((value - degrees - minutes / 60) * 3600).limit_denominator(1_000_000)
        return (
            IFDRational(degrees, 1),
            IFDRational(minutes, 1),
            IFDRational(seconds.numerator, seconds.denominator),
        )

    font = ImageFont.truetype(str(CJK_FONT), 48)
    image = Image.new("RGB", (640, 120 + 90 * len(lines)), "white")
    draw = ImageDraw.Draw(image)
    for row, text in enumerate(lines):
        draw.text((40, 50 + 90 * row), text, font=font, fill="black")
    exif = Image.Exif()
    gps = exif.get_ifd(0x8825)
    gps[1], gps[2], gps[3], gps[4] = "N", dms(lat), "E", dms(lng)
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", exif=exif, quality=95)
    return buffer.getvalue()
