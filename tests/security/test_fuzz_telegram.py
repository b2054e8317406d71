"""Fuzzing the Telegram webhook with hypothesis over real HTTP: zero 5xx, zero errors in the log.

Random headers and bodies without the secret, random JSON with it, and well-formed random updates (texts,
commands, button presses, replies in groups) that the real PTB Application then handles in the background.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy.orm import Session

from bot.telegram.app import build_application
from bot.telegram.handlers import Services
from bot.telegram.webhook import PATH, SECRET_HEADER, create_webhook_app
from tests.security.conftest import (
    CGZF_GROUP,
    SECRET,
    START,
    WORKER_CHAT,
    FakeTelegramAPI,
)
from tests.security.fuzzing import ALLOWED_TELEGRAM, QUICK, SOAK, ErrorLog
from tests.support.sanic_server import serve_sanic

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
