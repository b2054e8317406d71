"""Personal data never reaches a staff chat: every push to a worker or a group chat is masked.

A case whose description, address and return reason carry phone numbers, ID-card numbers and plates
(ordinary and new-energy) is driven through report, respond, dispatch, return, triage, escalation to
every level, a reminder and the daily digest. Every outbox row for a non-resident recipient is checked,
then delivered through the real Telegram sender to the fake Bot API, and every text that arrived is checked.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from datetime import timedelta

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from bot.senders.telegram import TelegramSender
from bot.telegram.digest import enqueue_overdue_digest
from bot.telegram.webhook import SECRET_HEADER
from storage.cases import apply_event, get_case_by_code, open_case
from storage.models import DueItem, OutboxMessage, Resident
from storage.outbox import deliver_due
from storage.privacy import mask_text
from storage.scheduler import run_reminders
from tests.security.conftest import (
    CGZF_GROUP,
    COMMAND_GROUP,
    COMMUNITY,
    COMMUNITY_GROUP,
    GRID,
    RESIDENT_OPENID,
    RESIDENT_PHONE,
    SECRET,
    START,
    STREET,
    STREET_GROUP,
    WORKER,
    WORKER_CHAT,
    FakeTelegramAPI,
    command,
    open_resident_case,
    wait_for_replies,
)

DESCRIPTION = (
    "电话138 0013 8000，身份证44010419900101123X，新能源车粤AD12345和粤a54321堵住消防通道，"
    "另一车主１３７００１３７０００"
)
ADDRESS = "越华路12号（车主电话13900139000）"
RETURN_REASON = "不归我们管，请联系车主13600136000，身份证号440104199001011234"
# Every raw value above, as digits/letters only: a message passes when none of these survive in it.
RAW_VALUES = (
    "13800138000",
    "44010419900101123X",
    "粤AD12345",
    "粤A54321",
    "13700137000",
    "13900139000",
    "13600136000",
    "440104199001011234",
    RESIDENT_PHONE,
)
FULL_WIDTH = str.maketrans({chr(code): chr(code - 0xFEE0) for code in range(0xFF01, 0xFF5F)})


def leaks(text: str) -> list[str]:
    """The raw values still readable in `text`, however spaced, dashed or full-width."""
    squashed = re.sub(r"[\s\-·]", "", text.translate(FULL_WIDTH)).upper()
    return [raw for raw in RAW_VALUES if raw.upper() in squashed]


def drive_the_case(session_factory: Callable[[], Session]) -> str:
    """Report -> respond -> dispatch -> return -> triage -> escalate 1..3, a reminder and the digest."""
    with session_factory() as session, session.begin():
        code = open_resident_case(session, now=START, description=DESCRIPTION, address=ADDRESS, category="交通秩序")
    steps = [
        ("respond", {}),
        ("dispatch", {"department_key": "CGZF"}),
        ("return", {"reason": RETURN_REASON}),
        ("triage", {"reason": RETURN_REASON}),
        ("escalate", {"level": 1, "stage": "dispatch"}),
        ("escalate", {"level": 2, "stage": "dispatch"}),
        ("escalate", {"level": 3, "stage": "dispatch"}),
    ]
    for minutes, (event, payload) in enumerate(steps, start=1):
        with session_factory() as session, session.begin():
            case = get_case_by_code(session, code)
            assert case is not None
            apply_event(
                session, case, event, actor="test", now=START + timedelta(minutes=minutes), payload=payload
            )
    with session_factory() as session:
        remind_at = session.execute(
            select(func.min(DueItem.remind_at)).where(DueItem.status == "pending")
        ).scalar_one()
    assert run_reminders(session_factory, remind_at + timedelta(seconds=1), worker_id="privacy-test") >= 1
    late = START + timedelta(days=3)
    with session_factory() as session, session.begin():
        assert enqueue_overdue_digest(session, late) >= 1
    return code


def test_every_push_to_staff_and_group_chats_is_masked(
    staff: Callable[[], Session], fake_telegram: FakeTelegramAPI
) -> None:
    code = drive_the_case(staff)
    with staff() as session:
        rows = session.execute(select(OutboxMessage).order_by(OutboxMessage.id)).scalars().all()
        staff_rows = [row for row in rows if row.recipient_kind != "resident"]
        assert {row.channel for row in staff_rows} == {"telegram"}
        templates = {row.template for row in staff_rows}
        stored = {row.id: json.dumps(row.payload, ensure_ascii=False) for row in staff_rows}
    assert {"task.new_case", "task.dispatched", "task.returned", "task.triage", "task.escalated"} <= templates
    assert {"task.reminder", "telegram.text"} <= templates  # the reminder and the digest
    assert {row_id: leaks(text) for row_id, text in stored.items() if leaks(text)} == {}
    assert any("138****8000" in text and "粤A****45" in text for text in stored.values())

    sender = TelegramSender(staff, token="123456:privacy", api_base=fake_telegram.api_base, timeout_s=2.0)
    try:
        report = deliver_due(staff, {"telegram": sender}, START + timedelta(days=3, seconds=1))
    finally:
        sender.close()
    assert set(report.sent) == set(stored)  # every staff row went out (residents' rows are WeChat's)
    arrived = [
        (int(call.params["chat_id"]), call.params.get("text") or call.params.get("caption") or "")
        for call in fake_telegram.sent()
        if call.method in ("sendMessage", "sendPhoto")
    ]
    assert {chat for chat, _ in arrived} >= {
        WORKER_CHAT,
        CGZF_GROUP,
        COMMUNITY_GROUP,
        STREET_GROUP,
        COMMAND_GROUP,
    }
    assert [(chat, leaks(text)) for chat, text in arrived if leaks(text)] == []
    assert all(code in text for chat, text in arrived if chat in (CGZF_GROUP, COMMUNITY_GROUP))
    department_card = next(text for chat, text in arrived if chat == CGZF_GROUP)
    assert "138****8000" in department_card and "440104********123X" in department_card
    assert "138****5678" in department_card  # the reporter's own contact, masked on the card


def test_rows_queued_before_masking_are_masked_by_the_telegram_sender(
    staff: Callable[[], Session], fake_telegram: FakeTelegramAPI
) -> None:
    """An old row (or one written by code that forgot to mask) still goes out masked."""
    with staff() as session, session.begin():
        session.add(
            OutboxMessage(
                channel="telegram",
                recipient_kind="department",
                recipient_id="CGZF",
                template="telegram.text",
                payload={"address": str(CGZF_GROUP), "params": {"text": "请联系 13800138000，车 粤A12345"}},
                idempotency_key="legacy-unmasked",
                status="pending",
                attempts=0,
                next_attempt_at=START,
                created_at=START,
            )
        )
    sender = TelegramSender(staff, token="123456:privacy", api_base=fake_telegram.api_base, timeout_s=2.0)
    try:
        assert len(deliver_due(staff, {"telegram": sender}, START).sent) == 1
    finally:
        sender.close()
    assert [call.params["text"] for call in fake_telegram.sent()] == ["请联系 138****8000，车 粤A***45"]


@pytest.mark.parametrize(
    ("typed", "raw"),
    [
        ("电话 138 0013 8000", "13800138000"),
        ("电话 1380-013-8000", "13800138000"),
        ("手机+8613800138000", "13800138000"),
        ("手机１３８００１３８０００", "13800138000"),
        ("座机（020）83456789", "83456789"),
        ("座机 020 83456789", "83456789"),
        ("sfz44010419900101123x", "44010419900101123X"),
        ("身份证 440104 19900101 123X", "44010419900101123X"),
        ("老身份证440104900101123", "440104900101123"),
        ("车牌粤A12345", "粤A12345"),
        ("车牌粤a12345", "粤A12345"),
        ("车牌粤A·12345", "粤A12345"),
        ("车牌粤A 12345", "粤A12345"),
        ("新能源粤AD12345", "粤AD12345"),
        ("大型新能源粤A12345D", "粤A12345D"),
        ("全角粤Ａ１２３４５", "粤A12345"),
    ],
)
def test_mask_text_catches_the_forms_residents_type(typed: str, raw: str) -> None:
    masked = mask_text(typed)
    squashed = re.sub(r"[\s\-·()（）]", "", masked.translate(FULL_WIDTH)).upper()
    assert raw not in squashed and "*" in masked, masked
    assert masked.split("*")[0] and typed.startswith(masked[:2])  # the words around the number stay


@pytest.mark.parametrize(
    "text",
    [
        "起义路12号3栋，共20户",
        "事项 YX-20261130-0001 已超时",
        "网格 440104001007-03",
        "2026-11-30 10:00 到场",
    ],
)
def test_mask_text_leaves_addresses_codes_and_dates_alone(text: str) -> None:
    assert mask_text(text) == text


def test_free_text_queued_for_staff_is_stored_masked_and_for_the_resident_as_written(
    staff: Callable[[], Session],
) -> None:
    """What department staff write on to a worker (their 需补充 reply) is masked in the outbox row itself."""
    from storage.outbox import enqueue

    typed = "请联系报案人 13800138000，车粤A12345"
    with staff() as session, session.begin():
        for kind, recipient in (("person", WORKER), ("department", "CGZF"), ("resident", RESIDENT_OPENID)):
            enqueue(
                session,
                recipient_kind=kind,
                recipient_id=recipient,
                template="telegram.text",
                params={"text": typed, "case_code": "YX-20261130-0001"},
                idempotency_key=f"need-info-{kind}",
                now=START,
            )
    with staff() as session:
        texts = dict(session.execute(select(OutboxMessage.recipient_kind, OutboxMessage.payload)).all())
    assert texts["person"]["params"]["text"] == "请联系报案人 138****8000，车粤A***45"
    assert texts["department"]["params"] == {
        "text": "请联系报案人 138****8000，车粤A***45",
        "case_code": "YX-20261130-0001",
    }
    assert texts["resident"]["params"]["text"] == typed  # the resident's own words, to the resident only


def test_the_task_list_a_worker_asks_for_shows_addresses_masked(
    staff: Callable[[], Session], fake_telegram: FakeTelegramAPI, webhook: str
) -> None:
    """/tasks answers in the chat directly (not through the outbox): its lines are masked too."""
    import httpx

    with staff() as session, session.begin():
        resident = session.execute(select(Resident).where(Resident.openid == RESIDENT_OPENID)).scalar_one()
        open_case(
            session,
            now=START,
            description="占道",
            category="交通秩序",
            resident_id=resident.id,
            address="车主13900139000 粤AD12345",
            street_code=STREET,
            community_code=COMMUNITY,
            grid_id=GRID,
            worker_id=WORKER,
        )
    answer = httpx.post(webhook, json=command("/tasks"), headers={SECRET_HEADER: SECRET}, timeout=10)
    assert answer.status_code == 200
    replies = wait_for_replies(fake_telegram, 1)
    assert len(replies) == 1 and "在办事项（1）" in replies[0]
    assert leaks(replies[0]) == [] and "139****9000" in replies[0]
