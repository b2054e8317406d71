"""A fake Telegram Bot API on loopback, for tests and for local mode (`TELEGRAM_API_BASE=<base_url>/bot`).

It answers the methods GridSec uses under `/bot<token>/`: getMe, getUpdates, sendMessage, sendPhoto,
editMessageReplyMarkup, answerCallbackQuery, getFile, setWebhook, deleteWebhook, and serves files under
`/file/bot<token>/<file_path>`. Every call is recorded (`calls`, `sent`). Faults on demand:
`fail(method, status=503, times=N)` answers the next N calls with that status, and `hang(method, times=N)`
holds the next N calls without answering (until `hang_seconds` pass or the server stops), so the client
times out. A failed or hung call is not recorded as sent: the message did not reach Telegram.

For the local simulator it also keeps a transcript per chat (what the bot sent, with the buttons as edited
since, and what simulated people wrote or pressed) and has a small control API under `/_sim/`
(bot/localmode/telegram_sim.py): read a chat, and inject a message, photo or button press as a real update.
"""

from __future__ import annotations

import argparse
import json
import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email.parser import BytesParser
from email.policy import HTTP
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from bot.localmode.telegram_sim import record_bot_call, simulator_request

logger = logging.getLogger(__name__)

BOT_ID = 7000000001
BOT_USERNAME = "gridsec_local_bot"
SEND_METHODS = ("sendMessage", "sendPhoto", "editMessageReplyMarkup", "answerCallbackQuery")


@dataclass(frozen=True)
class Call:
    """One Bot API request: method, the token in the path, decoded parameters (JSON values parsed)."""

    method: str
    token: str
    params: dict[str, Any]
    files: dict[str, bytes]


@dataclass
class _Fault:
    status: int | None  # None: hang
    times: int


@dataclass
class FakeTelegramState:
    """What the fake knows and has seen; handler threads share it under `lock`."""

    calls: list[Call] = field(default_factory=list)
    received: list[str] = field(default_factory=list)  # every request's method, answered or not
    updates: list[dict[str, Any]] = field(default_factory=list)
    files: dict[str, tuple[str, bytes]] = field(default_factory=dict)  # file_id -> (file_path, bytes)
    faults: dict[str, list[_Fault]] = field(default_factory=dict)
    webhook_url: str = ""
    next_message_id: int = 1000
    next_update_id: int = 1
    hang_seconds: float = 5.0
    transcripts: dict[int, list[dict[str, Any]]] = field(default_factory=dict)  # chat id -> entries
    callback_chats: dict[str, int] = field(default_factory=dict)  # injected callback_query id -> chat id
    stopping: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)
    update_ready: threading.Condition = field(default_factory=threading.Condition)


def _decode(value: str) -> Any:
    try:
        return json.loads(value)
    except ValueError:
        return value


def _form(content_type: str, body: bytes) -> tuple[dict[str, Any], dict[str, bytes]]:
    """Parameters and uploaded files of a urlencoded, JSON or multipart body (what PTB sends)."""
    if content_type.startswith("application/json"):
        return (json.loads(body or b"{}"), {})
    if content_type.startswith("multipart/form-data"):
        message = BytesParser(policy=HTTP).parsebytes(
            b"Content-Type: " + content_type.encode() + b"\r\n\r\n" + body
        )
        params: dict[str, Any] = {}
        files: dict[str, bytes] = {}
        for part in message.iter_parts():
            name = part.get_param("name", header="content-disposition")
            payload = part.get_payload(decode=True)
            data = payload if isinstance(payload, bytes) else b""
            if part.get_filename() is not None:
                files[str(name)] = data
            else:
                params[str(name)] = _decode(data.decode("utf-8"))
        return params, files
    return ({key: _decode(value) for key, value in parse_qsl(body.decode("utf-8"))}, {})


class _Handler(BaseHTTPRequestHandler):
    server: _FakeServer

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the stdlib's signature
        logger.debug(format, *args)

    def do_GET(self) -> None:  # noqa: N802 - the stdlib's name
        self._handle()

    def do_POST(self) -> None:  # noqa: N802
        self._handle()

    def _reply(self, status: int, payload: Any, raw: bytes | None = None) -> None:
        body = raw if raw is not None else json.dumps(payload, ensure_ascii=False).encode("utf-8")
        self.send_response(status)
        self.send_header(
            "Content-Type", "application/octet-stream" if raw is not None else "application/json"
        )
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _handle(self) -> None:
        state = self.server.state
        path = urlsplit(self.path).path
        parts = path.strip("/").split("/")
        if parts[0] == "_sim":
            return self._simulator(parts[1:])
        if len(parts) >= 3 and parts[0] == "file":
            wanted = "/".join(parts[2:])
            for file_path, data in state.files.values():
                if file_path == wanted:
                    return self._reply(200, None, raw=data)
            return self._reply(404, {"ok": False, "error_code": 404, "description": "Not Found"})
        if len(parts) != 2 or not parts[0].startswith("bot"):
            return self._reply(404, {"ok": False, "error_code": 404, "description": "Not Found"})
        token, method = parts[0][3:], parts[1]
        length = int(self.headers.get("Content-Length") or 0)
        params, files = _form(
            self.headers.get("Content-Type") or "", self.rfile.read(length) if length else b""
        )
        with state.lock:
            state.received.append(method)
        fault = self.server.take_fault(method)
        if fault is not None and fault.status is None:
            state.stopping.wait(state.hang_seconds)  # hold the request: the client times out
            self.close_connection = True
            return None
        if fault is not None:
            status = int(fault.status or 503)
            return self._reply(status, {"ok": False, "error_code": status, "description": "Fake outage"})
        handler = getattr(self.server, f"api_{method}", None)
        if handler is None:
            return self._reply(404, {"ok": False, "error_code": 404, "description": "Not Found: method"})
        status, result = handler(params, files)
        with state.lock:
            state.calls.append(Call(method=method, token=token, params=params, files=files))
        if status == 200:
            record_bot_call(state, method, params, files, result)
        if status != 200:
            return self._reply(status, {"ok": False, "error_code": status, "description": str(result)})
        return self._reply(200, {"ok": True, "result": result})

    def _simulator(self, parts: list[str]) -> None:
        """The simulator's control API (see bot/localmode/telegram_sim.py)."""
        length = int(self.headers.get("Content-Length") or 0)
        body = json.loads(self.rfile.read(length) or b"{}") if length else {}
        status, payload = simulator_request(FakeTelegramAPI(self.server), self.command, parts, body)
        self._reply(status, payload)


class _FakeServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], state: FakeTelegramState) -> None:
        super().__init__(address, _Handler)
        self.state = state

    def take_fault(self, method: str) -> _Fault | None:
        with self.state.lock:
            queue = self.state.faults.get(method) or self.state.faults.get("*") or []
            if not queue:
                return None
            fault = queue[0]
            fault.times -= 1
            if fault.times <= 0:
                queue.pop(0)
            return fault

    def _message(self, params: dict[str, Any], **extra: Any) -> dict[str, Any]:
        with self.state.lock:
            self.state.next_message_id += 1
            message_id = self.state.next_message_id
        chat_id = int(params.get("chat_id") or 0)
        return {
            "message_id": message_id,
            "date": 1764380000,
            "chat": {"id": int(chat_id), "type": "private" if int(chat_id) > 0 else "group", "title": "chat"},
            "from": {"id": BOT_ID, "is_bot": True, "first_name": "GridSec", "username": BOT_USERNAME},
            **extra,
        }

    def api_getMe(self, params: dict[str, Any], files: dict[str, bytes]) -> tuple[int, Any]:  # noqa: N802
        return 200, {"id": BOT_ID, "is_bot": True, "first_name": "GridSec", "username": BOT_USERNAME}

    def api_sendMessage(self, params: dict[str, Any], files: dict[str, bytes]) -> tuple[int, Any]:  # noqa: N802
        if not str(params.get("text") or "").strip():
            return 400, "Bad Request: message text is empty"
        if int(params.get("chat_id") or 0) == 403:
            return 403, "Forbidden: bot was blocked by the user"
        extra: dict[str, Any] = {"text": params["text"]}
        if params.get("reply_markup"):
            extra["reply_markup"] = params["reply_markup"]
        return 200, self._message(params, **extra)

    def api_sendPhoto(self, params: dict[str, Any], files: dict[str, bytes]) -> tuple[int, Any]:  # noqa: N802
        photo = [{"file_id": "sent-photo", "file_unique_id": "sent-photo-u", "width": 1, "height": 1}]
        extra: dict[str, Any] = {"photo": photo, "caption": params.get("caption", "")}
        if params.get("reply_markup"):
            extra["reply_markup"] = params["reply_markup"]
        return 200, self._message(params, **extra)

    def api_editMessageReplyMarkup(self, params: dict[str, Any], files: dict[str, bytes]) -> tuple[int, Any]:  # noqa: N802
        return 200, True

    def api_answerCallbackQuery(self, params: dict[str, Any], files: dict[str, bytes]) -> tuple[int, Any]:  # noqa: N802
        return 200, True

    def api_getFile(self, params: dict[str, Any], files: dict[str, bytes]) -> tuple[int, Any]:  # noqa: N802
        file_id = str(params.get("file_id"))
        if file_id not in self.state.files:
            return 400, "Bad Request: invalid file_id"
        file_path, data = self.state.files[file_id]
        return 200, {
            "file_id": file_id,
            "file_unique_id": file_id + "-u",
            "file_size": len(data),
            "file_path": file_path,
        }

    def api_setWebhook(self, params: dict[str, Any], files: dict[str, bytes]) -> tuple[int, Any]:  # noqa: N802
        self.state.webhook_url = str(params.get("url") or "")
        return 200, True

    def api_deleteWebhook(self, params: dict[str, Any], files: dict[str, bytes]) -> tuple[int, Any]:  # noqa: N802
        self.state.webhook_url = ""
        return 200, True

    def api_getUpdates(self, params: dict[str, Any], files: dict[str, bytes]) -> tuple[int, Any]:  # noqa: N802
        offset = int(params.get("offset") or 0)
        timeout = min(float(params.get("timeout") or 0), 1.0)  # bounded long poll
        with self.state.update_ready:
            self.state.update_ready.wait_for(
                lambda: (
                    any(u["update_id"] >= offset for u in self.state.updates) or self.state.stopping.is_set()
                ),
                timeout=timeout,
            )
            with self.state.lock:
                self.state.updates = [u for u in self.state.updates if u["update_id"] >= offset]
                return 200, list(self.state.updates)


class FakeTelegramAPI:
    """Handle on a running fake: its URLs, recorded calls, and controls (faults, updates, files)."""

    def __init__(self, server: _FakeServer) -> None:
        self._server = server
        self.state = server.state
        host, port = server.server_address[:2]
        self.base_url = f"http://{host!s}:{port}"

    @property
    def api_base(self) -> str:
        """What TELEGRAM_API_BASE / ApplicationBuilder.base_url takes."""
        return f"{self.base_url}/bot"

    @property
    def file_base(self) -> str:
        return f"{self.base_url}/file/bot"

    def calls(self, method: str | None = None) -> list[Call]:
        with self.state.lock:
            return [call for call in self.state.calls if method is None or call.method == method]

    def received(self, method: str) -> int:
        """How many requests for `method` arrived, including failed and hung ones."""
        with self.state.lock:
            return self.state.received.count(method)

    def sent(self) -> list[Call]:
        """Messages that reached the fake (sendMessage and sendPhoto)."""
        return [call for call in self.calls() if call.method in ("sendMessage", "sendPhoto")]

    def fail(self, method: str, status: int = 503, times: int = 1) -> None:
        with self.state.lock:
            self.state.faults.setdefault(method, []).append(_Fault(status=status, times=times))

    def hang(self, method: str, times: int = 1) -> None:
        with self.state.lock:
            self.state.faults.setdefault(method, []).append(_Fault(status=None, times=times))

    def heal(self) -> None:
        with self.state.lock:
            self.state.faults.clear()

    def add_file(self, file_id: str, data: bytes, file_path: str | None = None) -> None:
        self.state.files[file_id] = (file_path or f"photos/{file_id}.jpg", data)

    def push_update(self, update: dict[str, Any]) -> int:
        """Queue an update for getUpdates (its update_id is assigned here); returns the id."""
        with self.state.update_ready:
            with self.state.lock:
                update_id = self.state.next_update_id
                self.state.next_update_id += 1
                self.state.updates.append({**update, "update_id": update_id})
            self.state.update_ready.notify_all()
        return update_id


@contextmanager
def running_fake_telegram(port: int = 0, *, hang_seconds: float = 5.0) -> Iterator[FakeTelegramAPI]:
    """Run the fake on 127.0.0.1 (a free port by default) until the block ends."""
    server = _FakeServer(("127.0.0.1", port), FakeTelegramState(hang_seconds=hang_seconds))
    thread = threading.Thread(target=server.serve_forever, name="fake-telegram", daemon=True)
    thread.start()
    try:
        yield FakeTelegramAPI(server)
    finally:
        server.state.stopping.set()
        with server.state.update_ready:
            server.state.update_ready.notify_all()
        server.shutdown()
        server.server_close()
        thread.join(10)


def main() -> None:
    """`python -m bot.localmode.telegram_api --port 8081`: the fake alone (`python -m bot.localmode` runs both)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=8081)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO)
    with running_fake_telegram(args.port) as fake:
        logger.info("fake Telegram Bot API at %s (TELEGRAM_API_BASE=%s)", fake.base_url, fake.api_base)
        threading.Event().wait()


if __name__ == "__main__":
    main()
