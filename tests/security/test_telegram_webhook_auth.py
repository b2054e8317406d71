"""The Telegram webhook's `secret_token`: without it nothing is processed, and nothing is used up.

Real PTB Application behind the Sanic webhook on a loopback port, the fake Bot API, the test database.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from bot.telegram.app import build_application
from bot.telegram.handlers import Services
from bot.telegram.webhook import MAX_BODY_BYTES, SECRET_HEADER, create_webhook_app
from storage.models import InboundDedupe
from tests.security.conftest import SECRET, FakeTelegramAPI, command, wait_for_replies


def dedupe_rows(session_factory: Callable[[], Session]) -> int:
    with session_factory() as session:
        return int(
            session.execute(
                select(func.count()).select_from(InboundDedupe).where(InboundDedupe.channel == "telegram")
            ).scalar_one()
        )


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {SECRET_HEADER: ""},
        {SECRET_HEADER: "wrong"},
        {SECRET_HEADER: SECRET.upper()},
        {SECRET_HEADER: "x" + SECRET},
        {SECRET_HEADER: SECRET[:-1]},
        {"X-Telegram-Bot-Api-Secret": SECRET},  # near-miss header name
    ],
    ids=["missing", "empty", "wrong", "case", "longer", "prefix", "other-header"],
)
def test_a_missing_or_wrong_secret_is_403_and_nothing_is_processed_or_used_up(
    webhook: str, staff: Callable[[], Session], fake_telegram: FakeTelegramAPI, headers: dict[str, str]
) -> None:
    forged = command("/start", update_id=7001)
    with httpx.Client(timeout=10) as client:
        refused = client.post(webhook, json=forged, headers=headers)
        time.sleep(0.3)  # give a wrongly queued update the time to show up
        assert refused.status_code == 403 and refused.json() == {"ok": False}
        assert fake_telegram.calls("sendMessage") == [] and dedupe_rows(staff) == 0
        # The real delivery of the same update_id is still processed: the forgery used nothing up.
        real = client.post(webhook, json=forged, headers={SECRET_HEADER: SECRET})
    assert real.status_code == 200
    replies = wait_for_replies(fake_telegram, 1)
    assert len(replies) == 1 and "chat id" in replies[0]
    assert dedupe_rows(staff) == 1


def test_the_right_secret_processes_each_update_once(
    webhook: str, staff: Callable[[], Session], fake_telegram: FakeTelegramAPI
) -> None:
    update = command("/start")
    with httpx.Client(timeout=10) as client:
        answers = [client.post(webhook, json=update, headers={SECRET_HEADER: SECRET}) for _ in range(2)]
        answers.append(client.post(webhook, json=command("/duty"), headers={SECRET_HEADER: SECRET}))
    assert [answer.status_code for answer in answers] == [200, 200, 200]
    replies = wait_for_replies(fake_telegram, 2)
    time.sleep(0.2)
    assert len(fake_telegram.calls("sendMessage")) == 2  # the redelivered /start was dropped
    assert "chat id" in replies[0] and dedupe_rows(staff) == 2


@pytest.mark.parametrize(
    "body",
    [
        b"null",
        b"[]",
        b'"x"',
        b"42",
        b"{}",
        b'{"update_id": "1"}',
        b'{"update_id": 1, "message": "x"}',
        b"{",
        b"",
    ],
)
def test_a_body_that_is_not_an_update_is_400_even_with_the_secret(
    webhook: str, staff: Callable[[], Session], body: bytes
) -> None:
    answer = httpx.post(
        webhook, content=body, headers={SECRET_HEADER: SECRET, "Content-Type": "application/json"}, timeout=10
    )
    assert answer.status_code == 400
    assert dedupe_rows(staff) == 0


def test_an_oversized_body_is_413_without_being_read(webhook: str, staff: Callable[[], Session]) -> None:
    huge = b'{"update_id": 1, "message": {"text": "' + b"x" * MAX_BODY_BYTES + b'"}}'
    answer = httpx.post(webhook, content=huge, headers={SECRET_HEADER: SECRET}, timeout=10)
    assert answer.status_code == 413 and dedupe_rows(staff) == 0


def test_an_empty_secret_is_refused_at_start(fake_telegram: FakeTelegramAPI, tmp_path: Path) -> None:
    services = Services(session_factory=lambda: None, media_dir=tmp_path)  # type: ignore[arg-type, return-value]
    application = build_application("123456:x", services, api_base=fake_telegram.api_base, polling=False)
    with pytest.raises(ValueError, match="secret_token"):
        create_webhook_app(application, "")
