"""Someone who may not act on a case cannot make the bot fetch and store photos for it.

A photo replying to a department's task card in its group is downloaded only once the sender is known to be
a member allowed to act; an outsider is refused (and logged) before getFile is ever called.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.telegram.webhook import SECRET_HEADER
from storage.cases import apply_event, case_events, get_case_by_code, open_case
from storage.models import Resident
from tests.security.conftest import (
    CGZF_GROUP,
    COMMUNITY,
    GRID,
    RESIDENT_OPENID,
    SECRET,
    START,
    STREET,
    WORKER,
    FakeTelegramAPI,
    wait_for_replies,
)

STRANGER = 9999


def dispatched_case(session_factory: Callable[[], Session]) -> str:
    with session_factory() as session, session.begin():
        resident = session.execute(select(Resident).where(Resident.openid == RESIDENT_OPENID)).scalar_one()
        case = open_case(
            session,
            now=START,
            description="井盖松动",
            category="市政设施",
            resident_id=resident.id,
            address="越华路1号",
            street_code=STREET,
            community_code=COMMUNITY,
            grid_id=GRID,
            department_key="CGZF",
            worker_id=WORKER,
        )
        apply_event(session, case, "respond", actor="t", now=START)
        apply_event(session, case, "dispatch", actor="t", now=START, payload={"department_key": "CGZF"})
        return str(case.code)


def test_an_outsiders_photo_reply_is_refused_before_it_is_downloaded(
    staff: Callable[[], Session],
    fake_telegram: FakeTelegramAPI,
    webhook: str,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    code = dispatched_case(staff)
    fake_telegram.add_file("big-photo", b"\xff\xd8\xff" + b"\0" * 1024, "photos/big.jpg")
    update = {
        "update_id": 4242,
        "message": {
            "message_id": 77,
            "date": 1764460000,
            "chat": {"id": CGZF_GROUP, "type": "supergroup", "title": "城管"},
            "from": {"id": STRANGER, "is_bot": False, "first_name": "x"},
            "photo": [{"file_id": "big-photo", "file_unique_id": "big-photo-u", "width": 640, "height": 480}],
            "reply_to_message": {
                "message_id": 1,
                "date": 1764460000,
                "chat": {"id": CGZF_GROUP, "type": "supergroup", "title": "城管"},
                "text": f"【派单】{code} 市政设施",
            },
        },
    }
    with caplog.at_level(logging.WARNING, logger="bot.telegram.handlers"):
        answer = httpx.post(webhook, json=update, headers={SECRET_HEADER: SECRET}, timeout=10)
        replies = wait_for_replies(fake_telegram, 1)
        time.sleep(0.2)
    assert answer.status_code == 200
    assert len(replies) == 1 and "无权" in replies[0]
    assert fake_telegram.calls("getFile") == []  # never fetched
    assert list(tmp_path.rglob("*.jpg")) == []  # never stored
    with staff() as session:
        case = get_case_by_code(session, code)
        assert case is not None and [event.event for event in case_events(session, case.id)][-1] == "dispatch"
    assert any("refused" in record.message and str(STRANGER) in record.message for record in caplog.records)
