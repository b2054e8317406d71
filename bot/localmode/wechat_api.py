"""A fake WeChat official-account API on loopback, for tests and for `make run` in local mode.

It answers the endpoints GridSec uses under `/cgi-bin/`: `token`, `media/get`, `message/custom/send`,
`message/template/send` and `message/template/subscribe`. Every call is recorded (`calls`, `sent`).
Faults on demand: `fail(path, status=503)` or `fail(path, errcode=45015)` for the next N calls, and
`close_window(openid)` to make custom sends to that resident answer 45015 as WeChat does after 48 hours.
Point the code at it with `WECHAT_API_BASE=<server.base_url>`.

For the local simulator it keeps each resident's chat as a transcript (what the account sent them, and what
the simulator says they wrote) behind a small control API under `/_sim/`: `GET /_sim/chats/<openid>`,
`POST /_sim/inbound` `{openid, text}` and `POST /_sim/media` `{media_id, data_b64, content_type}`.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

logger = logging.getLogger(__name__)

PREFIX = "/cgi-bin/"
SEND_PATHS = ("message/custom/send", "message/template/send", "message/template/subscribe")


@dataclass(frozen=True)
class Call:
    """One request the fake received: path under /cgi-bin/, query (single values) and JSON body."""

    method: str
    path: str
    query: dict[str, str]
    body: dict[str, Any] | None


@dataclass
class _Fault:
    status: int = 200
    errcode: int | None = None
    times: int = 1


@dataclass
class FakeWeChatState:
    """What the fake knows and has seen; the handler threads share it under `lock`."""

    app_id: str = "wxgridseclocal0000"
    app_secret: str = "gridsec-local-secret"
    media: dict[str, tuple[bytes, str]] = field(default_factory=dict)
    calls: list[Call] = field(default_factory=list)
    faults: dict[str, list[_Fault]] = field(default_factory=dict)
    closed_windows: set[str] = field(default_factory=set)
    tokens_issued: int = 0
    transcripts: dict[str, list[dict[str, Any]]] = field(default_factory=dict)  # openid -> entries
    lock: threading.Lock = field(default_factory=threading.Lock)


class _Handler(BaseHTTPRequestHandler):
    server: _FakeServer

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the stdlib's signature
        logger.info(format, *args)

    def do_GET(self) -> None:  # noqa: N802 - the stdlib's name
        self._handle("GET")

    def do_POST(self) -> None:  # noqa: N802
        self._handle("POST")

    def _reply(self, status: int, body: bytes, content_type: str = "application/json") -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _json(self, payload: dict[str, Any], status: int = 200) -> None:
        self._reply(status, json.dumps(payload, ensure_ascii=False).encode("utf-8"))

    def _handle(self, method: str) -> None:
        url = urlsplit(self.path)
        if url.path.startswith("/_sim/"):
            return self._simulator(method, url.path[len("/_sim/") :].split("/"))
        if not url.path.startswith(PREFIX):
            return self._json({"errcode": 404, "errmsg": "not found"}, 404)
        path = url.path[len(PREFIX) :]
        query = {key: values[0] for key, values in parse_qs(url.query).items()}
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        body = json.loads(raw.decode("utf-8")) if raw else None
        state = self.server.state
        with state.lock:
            state.calls.append(Call(method, path, query, body))
            fault = self._take_fault(path)
        if fault is not None:
            if fault.status != 200:
                return self._json({"errcode": -1, "errmsg": "system error"}, fault.status)
            return self._json({"errcode": fault.errcode, "errmsg": "fault injected"})
        route = {"token": self._token, "media/get": self._media}.get(path)
        if route is not None:
            return route(query)
        if path in SEND_PATHS:
            return self._send(path, query, body or {})
        return self._json({"errcode": 404, "errmsg": f"unknown api {path}"}, 404)

    def _take_fault(self, path: str) -> _Fault | None:
        queue = self.server.state.faults.get(path) or []
        if not queue:
            return None
        fault = queue[0]
        fault.times -= 1
        if fault.times <= 0:
            queue.pop(0)
        return fault

    def _token(self, query: dict[str, str]) -> None:
        state = self.server.state
        if (query.get("appid"), query.get("secret")) != (state.app_id, state.app_secret):
            return self._json({"errcode": 40013, "errmsg": "invalid appid or secret"})
        with state.lock:
            state.tokens_issued += 1
            token = f"FAKE_TOKEN_{state.tokens_issued}"
        self._json({"access_token": token, "expires_in": 7200})

    def _token_ok(self, query: dict[str, str]) -> bool:
        token = query.get("access_token", "")
        return token.startswith("FAKE_TOKEN_")

    def _media(self, query: dict[str, str]) -> None:
        if not self._token_ok(query):
            return self._json({"errcode": 40001, "errmsg": "invalid credential"})
        item = self.server.state.media.get(query.get("media_id", ""))
        if item is None:
            return self._json({"errcode": 40007, "errmsg": "invalid media_id"})
        self._reply(200, item[0], item[1])

    def _send(self, path: str, query: dict[str, str], body: dict[str, Any]) -> None:
        if not self._token_ok(query):
            return self._json({"errcode": 40001, "errmsg": "invalid credential"})
        if path == "message/custom/send" and body.get("touser") in self.server.state.closed_windows:
            return self._json(
                {"errcode": 45015, "errmsg": "response out of time limit or subscription is canceled"}
            )
        _record_sent(self.server.state, path, body)
        self._json({"errcode": 0, "errmsg": "ok", "msgid": len(self.server.state.calls)})

    def _simulator(self, method: str, parts: list[str]) -> None:
        """The simulator's control API: read a resident's chat, log what they wrote, upload a photo."""
        length = int(self.headers.get("Content-Length") or 0)
        try:
            body = json.loads(self.rfile.read(length) or b"{}") if length else {}
            payload = _simulator_call(self.server.state, method, parts, body)
        except (ValueError, KeyError, TypeError) as error:
            return self._json({"error": str(error)}, 400)
        if payload is None:
            return self._json({"error": "unknown simulator call"}, 404)
        self._json(payload)


def _sent_text(path: str, body: dict[str, Any]) -> str:
    if path == "message/custom/send":
        kind = body.get("msgtype", "text")
        content = body.get(kind) or {}
        return str(content.get("content") or content.get("title") or f"[{kind}]")
    data = body.get("data") or {}
    return "\n".join(str(item.get("value", "")) for item in data.values() if isinstance(item, dict))


def _record_sent(state: FakeWeChatState, path: str, body: dict[str, Any]) -> None:
    openid = str(body.get("touser") or "")
    entry = {
        "from": "bot",
        "kind": {"message/custom/send": "custom", "message/template/send": "template"}.get(path, "subscribe"),
        "text": _sent_text(path, body),
        "at": time.time(),
    }
    with state.lock:
        state.transcripts.setdefault(openid, []).append(entry)


def _simulator_call(
    state: FakeWeChatState, method: str, parts: list[str], body: dict[str, Any]
) -> dict[str, Any] | None:
    if method == "GET" and len(parts) == 2 and parts[0] == "chats":
        with state.lock:
            return {"openid": parts[1], "messages": [dict(e) for e in state.transcripts.get(parts[1], [])]}
    if method == "POST" and parts == ["inbound"]:
        openid, text = str(body["openid"]), str(body.get("text") or "")
        entry = {"from": "resident", "text": text, "photo": body.get("photo"), "at": time.time()}
        with state.lock:
            state.transcripts.setdefault(openid, []).append(entry)
        return {"ok": True}
    if method == "POST" and parts == ["media"]:
        try:
            data = base64.b64decode(str(body["data_b64"]).split(",", 1)[-1], validate=True)
        except binascii.Error as error:
            raise ValueError("data_b64 is not base64") from error
        state.media[str(body["media_id"])] = (data, str(body.get("content_type") or "image/jpeg"))
        return {"ok": True, "media_id": body["media_id"]}
    return None


class _FakeServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, state: FakeWeChatState, port: int = 0) -> None:
        super().__init__(("127.0.0.1", port), _Handler)
        self.state = state


class FakeWeChatAPI:
    """Handle on a running fake: its base URL, what it recorded, and the knobs for faults."""

    def __init__(self, server: _FakeServer) -> None:
        self._server = server
        self.state = server.state

    @property
    def base_url(self) -> str:
        """The API base for WECHAT_API_BASE / `WeChatChannelConfig.api_base` (ends with /cgi-bin/)."""
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}{PREFIX}"

    def add_media(self, media_id: str, data: bytes, content_type: str = "image/jpeg") -> None:
        """Serve `data` for `media/get?media_id=<media_id>`."""
        self.state.media[media_id] = (data, content_type)

    def fail(self, path: str, *, status: int = 200, errcode: int | None = None, times: int = 1) -> None:
        """Make the next `times` calls to `path` fail with an HTTP status or a WeChat errcode."""
        with self.state.lock:
            self.state.faults.setdefault(path, []).append(_Fault(status=status, errcode=errcode, times=times))

    def close_window(self, openid: str) -> None:
        """Custom sends to this openid answer 45015 (the 48-hour window has closed)."""
        self.state.closed_windows.add(openid)

    @property
    def calls(self) -> list[Call]:
        with self.state.lock:
            return list(self.state.calls)

    def sent(self, path: str | None = None) -> list[dict[str, Any]]:
        """JSON bodies of successful-or-not send calls, optionally for one path (e.g. message/custom/send)."""
        return [c.body or {} for c in self.calls if c.path in SEND_PATHS and (path is None or c.path == path)]


@contextmanager
def running_fake_wechat(state: FakeWeChatState | None = None, port: int = 0) -> Iterator[FakeWeChatAPI]:
    """Start the fake on 127.0.0.1 (`port`, default a free one) in a thread; stop it when the block ends."""
    server = _FakeServer(state or FakeWeChatState(), port)
    thread = threading.Thread(target=server.serve_forever, name="fake-wechat-api", daemon=True)
    thread.start()
    try:
        yield FakeWeChatAPI(server)
    finally:
        server.shutdown()
        server.server_close()
        thread.join(10)


def main(argv: list[str] | None = None) -> None:
    """`python -m bot.localmode.wechat_api [--port N]`: run the fake alone until interrupted.

    Prints the base URL to export as WECHAT_API_BASE; logs every call it receives.
    """
    import argparse

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, default=0, help="port on 127.0.0.1 (default: a free one)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s fake-wechat %(message)s")
    stop = threading.Event()
    with running_fake_wechat(port=args.port) as fake:
        print(f"WECHAT_API_BASE={fake.base_url}", flush=True)  # noqa: T201 - the operator reads this
        with suppress(KeyboardInterrupt):
            stop.wait()


if __name__ == "__main__":
    main()
