"""Fuzzing the two webhooks with hypothesis over real HTTP: zero 5xx, zero errors in the log.

WeChat: random query strings (signed and not, odd timestamps), random signed bodies in plaintext and in
AES safe mode (encrypted and signed as WeChat does), random GET verifications. Telegram: random headers and
bodies without the secret, random JSON with it, and well-formed random updates (texts, commands, button
presses, replies in groups) that the real PTB Application then handles in the background.
Each default test stays well under a minute; the `soak` variants (make soak) run many more examples.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from rasa.core.run import configure_app
from sanic import Sanic
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from bot.channels.wechat import WeChatInput
from bot.telegram.app import build_application
from bot.telegram.handlers import Services
from bot.telegram.webhook import PATH, SECRET_HEADER, create_webhook_app
from tests.channels.conftest import NOW, OPENID, TOKEN, RecordingAgent, Webhook, make_config, sign
from tests.security.conftest import (
    CGZF_GROUP,
    SECRET,
    START,
    WORKER_CHAT,
    FakeTelegramAPI,
    running_fake_wechat,
)
from tests.support.sanic_server import serve_sanic

# Each WeChat example makes 7 requests, each Telegram one 3: both defaults stay under a minute on 2 busy cores.
WECHAT_QUICK = settings(
    max_examples=50,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
QUICK = settings(
    max_examples=80,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
SOAK = settings(
    max_examples=3000,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
ALLOWED_WECHAT = {200, 400, 403, 413}
ALLOWED_TELEGRAM = {200, 400, 403, 413}


class ErrorLog(logging.Handler):
    """Collects every ERROR (or worse) record from any logger while a fuzz test runs."""

    def __init__(self) -> None:
        super().__init__(level=logging.ERROR)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)

    def summary(self) -> list[str]:
        return [
            f"{r.name}: {r.getMessage()[:200]} {r.exc_info[1]!r}"
            if r.exc_info
            else f"{r.name}: {r.getMessage()[:200]}"
            for r in self.records
        ]


@pytest.fixture()
def error_log() -> Iterator[ErrorLog]:
    handler = ErrorLog()
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        yield handler
    finally:
        root.removeHandler(handler)


@pytest.fixture()
def wechat_hooks(
    engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[dict[str, Webhook]]:
    """A plaintext and an AES safe-mode WeChat webhook on loopback, each a Rasa app with our connector."""
    monkeypatch.setattr(Sanic, "test_mode", True)
    with ExitStack() as stack:
        fake = stack.enter_context(running_fake_wechat())
        hooks = {}
        for mode in ("plain", "aes"):
            channel = WeChatInput(
                make_config(fake.base_url, aes=mode == "aes"),
                engine=engine,
                clock=lambda: NOW,
                media_root=tmp_path / "media",
                photo_reader=lambda data: None,
            )
            app = configure_app([channel], enable_api=False)
            agent = RecordingAgent()
            app.ctx.agent = agent
            url = stack.enter_context(serve_sanic(app))
            hooks[mode] = Webhook(url=url, channel=channel, agent=agent, fake=fake, stack=stack)
        yield hooks


QUERY_KEYS = st.sampled_from(
    ["signature", "timestamp", "nonce", "msg_signature", "encrypt_type", "echostr", "openid"]
)
ODD_TEXT = st.one_of(
    st.text(max_size=30),
    st.sampled_from(
        ["", "0", "-1", "1e9", " 1764381600", "１７６４３８１６００", "9" * 400, "nan", "aes", "%00", "../"]
    ),
)
TIMESTAMPS = st.one_of(st.integers(min_value=-(10**20), max_value=10**20).map(str), ODD_TEXT)
XML_TAGS = st.sampled_from(
    [
        "ToUserName",
        "FromUserName",
        "CreateTime",
        "MsgType",
        "MsgId",
        "Content",
        "Event",
        "EventKey",
        "Location_X",
        "Location_Y",
        "Scale",
        "Label",
        "MediaId",
        "PicUrl",
        "Recognition",
        "Format",
        "x",
        "Encrypt",
    ]
)
XML_VALUES = st.one_of(
    st.text(max_size=60),
    st.sampled_from(
        [
            "text",
            "image",
            "voice",
            "location",
            "event",
            "subscribe",
            "CLICK",
            "LOCATION",
            "video",
            "link",
            OPENID,
            str(int(NOW.timestamp())),
            "6054768590064713728",
            "-1",
            "1" * 25,
            "]]>",
        ]
    ),
)


def random_message(fields: list[tuple[str, str]], cdata: bool) -> str:
    def value(text: str) -> str:
        return f"<![CDATA[{text.replace(']]>', '')}]]>" if cdata else escape(text)

    return "<xml>" + "".join(f"<{tag}>{value(text)}</{tag}>" for tag, text in fields) + "</xml>"


def fuzz_wechat_once(
    hooks: dict[str, Webhook],
    query: dict[str, str],
    stamp: str,
    fields: list[tuple[str, str]],
    cdata: bool,
    raw: bytes,
) -> None:
    plain, aes = hooks["plain"], hooks["aes"]
    body = random_message(fields, cdata)
    nonce = plain.next_nonce()
    signed = {"signature": sign(TOKEN, stamp, nonce), "timestamp": stamp, "nonce": nonce}
    answers = [
        httpx.post(plain.endpoint, params=query, content=body.encode(), timeout=10),  # random, unsigned
        httpx.post(plain.endpoint, params=query | signed, content=raw, timeout=10),  # any timestamp, signed
        httpx.get(plain.endpoint, params=query | signed | {"echostr": "e"}, timeout=10),
        plain.post(body),  # well signed and fresh: only the body is random
        plain.post(raw),
        aes.post(body),  # encrypted and signed as WeChat does
        httpx.post(aes.endpoint, params=query | signed | {"encrypt_type": "aes"}, content=raw, timeout=10),
    ]
    statuses = [answer.status_code for answer in answers]
    assert set(statuses) <= ALLOWED_WECHAT, (statuses, query, stamp, body, raw)


WECHAT_INPUTS = {
    "query": st.dictionaries(QUERY_KEYS, ODD_TEXT, max_size=5),
    "stamp": TIMESTAMPS,
    "fields": st.lists(st.tuples(XML_TAGS, XML_VALUES), max_size=8),
    "cdata": st.booleans(),
    "raw": st.binary(max_size=300),
}


@WECHAT_QUICK
@given(**WECHAT_INPUTS)
def test_wechat_webhook_fuzz_gives_no_5xx_and_logs_no_error(
    wechat_hooks: dict[str, Webhook], error_log: ErrorLog, **inputs: Any
) -> None:
    fuzz_wechat_once(wechat_hooks, **inputs)
    assert error_log.summary() == []


@pytest.mark.soak
@SOAK
@given(**WECHAT_INPUTS)
def test_wechat_webhook_soak_fuzz(
    wechat_hooks: dict[str, Webhook], error_log: ErrorLog, **inputs: Any
) -> None:
    fuzz_wechat_once(wechat_hooks, **inputs)
    assert error_log.summary() == []


# -- Telegram ---------------------------------------------------------------------------------------------------
JSON_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4)
    ),
    max_leaves=12,
)
UPDATE_KEYS = st.sampled_from(
    ["update_id", "message", "edited_message", "callback_query", "channel_post", "my_chat_member", "poll"]
)
CHATS = st.sampled_from([WORKER_CHAT, CGZF_GROUP, 9999, -9999])
TEXTS = st.one_of(
    st.text(max_size=80),
    st.sampled_from(
        [
            "/tasks",
            "/overdue",
            "/duty",
            "/start",
            "/case",
            "/case YX-20261130-0001",
            "/case ../../etc",
            "收到，明天派人去",
            "这个不归我们管，应该是水务",
        ]
    ),
)
CALLBACK_DATA = st.one_of(
    st.text(max_size=64), st.sampled_from(["YX-20261130-0001|respond|", "x|sign|", "||", "|"])
)


@st.composite
def telegram_updates(draw: st.DrawFn) -> dict[str, Any]:
    """A well-formed update as Telegram would send it, with random content in it."""
    update_id = draw(st.integers(min_value=1, max_value=2**31))
    chat = draw(CHATS)
    user = {
        "id": draw(st.sampled_from([WORKER_CHAT, 2001, 9999])),
        "is_bot": False,
        "first_name": draw(st.text(min_size=1, max_size=8)),
    }
    chat_obj = {"id": chat, "type": "private" if chat > 0 else "supergroup", "title": "g"}
    text = draw(TEXTS)
    message: dict[str, Any] = {
        "message_id": draw(st.integers(1, 10**6)),
        "date": 1764460000,
        "chat": chat_obj,
        "from": user,
    }
    if text:
        message["text"] = text
        if text.startswith("/"):
            message["entities"] = [{"type": "bot_command", "offset": 0, "length": len(text.split()[0])}]
    if draw(st.booleans()):
        message["reply_to_message"] = {
            "message_id": 1,
            "date": 1764460000,
            "chat": chat_obj,
            "text": draw(TEXTS),
        }
    kind = draw(st.sampled_from(["message", "callback_query", "edited_message"]))
    if kind == "callback_query":
        return {
            "update_id": update_id,
            "callback_query": {
                "id": str(update_id),
                "from": user,
                "chat_instance": "ci",
                "data": draw(CALLBACK_DATA),
                "message": message,
            },
        }
    return {"update_id": update_id, kind: message}


@pytest.fixture()
def telegram_hook(
    staff: Callable[[], Session], fake_telegram: FakeTelegramAPI, tmp_path: Path
) -> Iterator[tuple[str, Any]]:
    services = Services(session_factory=staff, media_dir=tmp_path / "media", clock=lambda: START)
    application = build_application(
        "123456:fuzz", services, api_base=fake_telegram.api_base, read_timeout=2.0, polling=False
    )
    with serve_sanic(create_webhook_app(application, SECRET)) as base:
        yield base + PATH, application
        drain(application)


def drain(application: Any, timeout_s: float = 20.0, settle_s: float = 0.3) -> None:
    """Wait until the Application has taken every queued update, then `settle_s` for the last handler."""
    deadline = time.monotonic() + timeout_s
    while application.update_queue.qsize() and time.monotonic() < deadline:
        time.sleep(0.02)
    time.sleep(settle_s)


def fuzz_telegram_once(
    url: str, headers: dict[str, str], raw: bytes, value: Any, update: dict[str, Any]
) -> None:
    with httpx.Client(timeout=10) as client:
        forged = client.post(
            url,
            content=raw,
            headers={k: v for k, v in headers.items() if k.lower() != SECRET_HEADER.lower() or v != SECRET},
        )
        with_secret = client.post(url, json=value, headers={SECRET_HEADER: SECRET})
        update_answer = client.post(url, json=update, headers={SECRET_HEADER: SECRET})
    assert forged.status_code == 403, forged.status_code
    assert with_secret.status_code in ALLOWED_TELEGRAM, (with_secret.status_code, value)
    assert update_answer.status_code == 200, (update_answer.status_code, update)


HEADER_NAMES = st.sampled_from(
    [SECRET_HEADER, "Content-Type", "X-Forwarded-For", "X-Telegram-Bot-Api-Secret", "Authorization"]
)
HEADER_VALUES = st.text(alphabet=st.characters(min_codepoint=0x21, max_codepoint=0x7E), max_size=40)
TELEGRAM_INPUTS = {
    "headers": st.dictionaries(HEADER_NAMES, HEADER_VALUES, max_size=3),
    "raw": st.binary(max_size=300),
    "value": JSON_VALUES,
    "update": telegram_updates(),
}


@QUICK
@given(**TELEGRAM_INPUTS)
def test_telegram_webhook_fuzz_gives_no_5xx_and_logs_no_error(
    telegram_hook: tuple[str, Any], error_log: ErrorLog, **inputs: Any
) -> None:
    url, application = telegram_hook
    fuzz_telegram_once(url, **inputs)
    drain(application, timeout_s=5.0, settle_s=0.05)  # its handlers' errors belong to this example
    assert error_log.summary() == []


@pytest.mark.soak
@SOAK
@given(**TELEGRAM_INPUTS)
def test_telegram_webhook_soak_fuzz(
    telegram_hook: tuple[str, Any], error_log: ErrorLog, **inputs: Any
) -> None:
    url, application = telegram_hook
    fuzz_telegram_once(url, **inputs)
    drain(application, timeout_s=5.0, settle_s=0.05)
    assert error_log.summary() == []


def test_the_fuzzed_telegram_updates_were_handled_without_errors(
    telegram_hook: tuple[str, Any], error_log: ErrorLog, fake_telegram: FakeTelegramAPI
) -> None:
    """After a burst of real-looking updates has been worked through, the handlers logged no error."""
    url, application = telegram_hook
    with httpx.Client(timeout=10) as client:
        for number, text in enumerate(
            ["/tasks", "/overdue", "/duty", "/case YX-20261130-0001", "/start"], start=1
        ):
            update = {
                "update_id": 90000 + number,
                "message": {
                    "message_id": number,
                    "date": 1764460000,
                    "chat": {"id": WORKER_CHAT, "type": "private"},
                    "from": {"id": WORKER_CHAT, "is_bot": False, "first_name": "w"},
                    "text": text,
                    "entities": [{"type": "bot_command", "offset": 0, "length": len(text.split()[0])}],
                },
            }
            assert client.post(url, json=update, headers={SECRET_HEADER: SECRET}).status_code == 200
    drain(application)
    assert len(fake_telegram.calls("sendMessage")) == 5
    assert error_log.summary() == []
