"""Refusals, Telegram outages, reminders and escalation, commands, webhook secret and polling."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from freezegun import freeze_time
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from bot.telegram.callbacks import ButtonPress, encode
from bot.telegram.webhook import SECRET_HEADER, create_webhook_app
from storage.cases import get_case_by_code
from storage.models import DueItem, OutboxMessage
from storage.outbox import Sender
from storage.scheduler import run_due, run_reminders
from storage.timeutil import utcnow
from tests.fakes.telegram_api import FakeTelegramAPI
from tests.support.sanic_server import serve_sanic
from tests.telegram.conftest import (
    CGZF_GROUP,
    CGZF_STAFF,
    HWZX_STAFF,
    OTHER_WORKER,
    STRANGER,
    WORKER_CHAT,
    Clock,
    Updates,
    deliver,
    events_of,
    feed,
    make_app,
    report_case,
    run,
)


@pytest.mark.parametrize(
    ("user", "chat", "action"),
    [
        (STRANGER, CGZF_GROUP, "sign"),  # not registered at all
        (HWZX_STAFF, CGZF_GROUP, "sign"),  # registered, but another department's member
        (CGZF_STAFF, CGZF_STAFF, "sign"),  # the right person, but not in the department's group
        (OTHER_WORKER, OTHER_WORKER, "respond"),  # another grid's worker
        (CGZF_STAFF, CGZF_STAFF, "respond"),  # department staff cannot act as the grid worker
    ],
)
def test_an_unauthorised_press_is_refused_and_logged(
    org: Callable[[], Session],
    fake: FakeTelegramAPI,
    clock: Clock,
    updates: Updates,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    user: int,
    chat: int,
    action: str,
) -> None:
    with org() as session, session.begin():
        code = report_case(session, clock.now)
        if action == "sign":
            case = get_case_by_code(session, code)
            assert case is not None
            from storage.cases import apply_event

            apply_event(session, case, "respond", actor="t", now=clock.now)
            apply_event(
                session, case, "dispatch", actor="t", now=clock.now, payload={"department_key": "CGZF"}
            )
    before = events_of(org, code)

    async def scenario() -> None:
        async with make_app(org, fake, clock, tmp_path) as app:
            await feed(app, updates.press(user, chat, encode(ButtonPress(code, action))))

    with caplog.at_level(logging.WARNING, logger="bot.telegram.handlers"):
        run(scenario())
    assert events_of(org, code) == before
    answer = fake.calls("answerCallbackQuery")[-1].params
    assert "无权" in answer["text"] and answer["show_alert"] is True
    assert any(
        "refused" in record.message and str(user) in record.message and code in record.message
        for record in caplog.records
    )


def test_a_press_the_state_machine_does_not_allow_changes_nothing(
    org: Callable[[], Session], fake: FakeTelegramAPI, clock: Clock, updates: Updates, tmp_path: Path
) -> None:
    with org() as session, session.begin():
        code = report_case(session, clock.now)

    async def scenario() -> None:
        async with make_app(org, fake, clock, tmp_path) as app:
            await feed(app, updates.press(WORKER_CHAT, WORKER_CHAT, encode(ButtonPress(code, "respond"))))
            await feed(app, updates.press(WORKER_CHAT, WORKER_CHAT, encode(ButtonPress(code, "respond"))))

    run(scenario())
    assert events_of(org, code) == ["report", "respond"]
    assert "不能执行" in fake.calls("answerCallbackQuery")[-1].params["text"]


def test_telegram_down_then_back_delivers_each_message_once(
    org: Callable[[], Session], fake: FakeTelegramAPI, senders: dict[str, Sender], clock: Clock
) -> None:
    with org() as session, session.begin():
        codes = [report_case(session, clock.now, description=f"第{n}处垃圾") for n in range(3)]
    with org() as session:
        telegram_ids = set(
            session.execute(select(OutboxMessage.id).where(OutboxMessage.channel == "telegram")).scalars()
        )
    assert len(telegram_ids) == 3

    def outcome(report: object) -> tuple[int, int]:
        return (len(telegram_ids & set(report.sent)), len(telegram_ids & set(report.retried)))  # type: ignore[attr-defined]

    fake.fail("sendMessage", status=502, times=2)
    fake.hang("sendMessage", times=1)
    assert outcome(deliver(org, senders, clock.now)) == (0, 3) and not fake.sent()
    assert outcome(deliver(org, senders, clock.now + timedelta(seconds=10))) == (0, 0)  # backoff: not due yet
    fake.fail("sendMessage", status=500, times=1)
    assert outcome(deliver(org, senders, clock.now + timedelta(seconds=31))) == (2, 1)
    assert outcome(deliver(org, senders, clock.now + timedelta(minutes=2))) == (1, 0)
    delivered = [call.params["text"] for call in fake.sent()]
    assert sorted(code for code in codes if any(code in text for text in delivered)) == sorted(codes)
    assert len(delivered) == 3  # each card exactly once
    with org() as session:
        statuses = session.execute(
            select(OutboxMessage.status, func.count())
            .where(OutboxMessage.channel == "telegram")
            .group_by(OutboxMessage.status)
        ).all()
    assert dict(statuses) == {"sent": 3}


def test_reminder_then_escalation_reach_the_worker_and_the_community(
    org: Callable[[], Session], fake: FakeTelegramAPI, senders: dict[str, Sender], clock: Clock
) -> None:
    with org() as session, session.begin():
        code = report_case(session, clock.now)
    deliver(org, senders, clock.now)
    with org() as session:
        item = session.execute(select(DueItem).where(DueItem.stage == "respond")).scalar_one()
        remind_at, due_at = item.remind_at, item.due_at
    with freeze_time(remind_at + timedelta(seconds=1)):
        assert run_reminders(org, utcnow(), worker_id="t") == 1
        assert run_due(org, utcnow(), worker_id="t") == 0  # not yet due
    deliver(org, senders, remind_at + timedelta(seconds=1))
    with freeze_time(due_at + timedelta(seconds=1)):
        now = utcnow()
        assert run_due(org, now, worker_id="t") == 1
        assert run_due(org, now, worker_id="t") == 0  # fired once
    deliver(org, senders, now)
    to_worker = [call.params["text"] for call in fake.sent() if int(call.params["chat_id"]) == WORKER_CHAT]
    assert any(text.startswith("【提醒】") and code in text for text in to_worker)
    to_community = [call.params["text"] for call in fake.sent() if int(call.params["chat_id"]) == 3001]
    assert len(to_community) == 1 and to_community[0].startswith("【督办·第1级】") and code in to_community[0]
    assert events_of(org, code) == ["report", "escalate"]


def test_worker_commands_list_and_show_cases(
    org: Callable[[], Session], fake: FakeTelegramAPI, clock: Clock, updates: Updates, tmp_path: Path
) -> None:
    with org() as session, session.begin():
        code = report_case(session, clock.now)

    async def scenario() -> None:
        async with make_app(org, fake, clock, tmp_path) as app:
            for text in ("/tasks", "/overdue", f"/case {code}", "/duty"):
                await feed(app, updates.command(WORKER_CHAT, text))
            clock.advance(hours=30)
            await feed(app, updates.command(WORKER_CHAT, "/overdue"))
            await feed(app, updates.command(STRANGER, "/tasks"))

    run(scenario())
    replies = [call.params["text"] for call in fake.calls("sendMessage")]
    assert code in replies[0] and "在办事项（1）" in replies[0]
    assert replies[1] == "没有超时事项。"
    assert replies[2].startswith(f"{code} 状态：reported")
    assert replies[3].endswith("不在岗（非值班时段）")  # no duty shift is on file for this worker
    assert "超时事项（1）" in replies[4]
    assert "无权" in replies[5]


def test_webhook_checks_the_secret_token_and_queues_updates(
    org: Callable[[], Session], fake: FakeTelegramAPI, clock: Clock, updates: Updates, tmp_path: Path
) -> None:
    with org() as session, session.begin():
        code = report_case(session, clock.now)
    application = make_app(org, fake, clock, tmp_path)
    web = create_webhook_app(application, "s3cret-token", webhook_url="https://example.test/telegram/webhook")
    update = updates.press(WORKER_CHAT, WORKER_CHAT, encode(ButtonPress(code, "respond")))
    with serve_sanic(web) as base:
        with httpx.Client(timeout=5) as client:
            wrong = client.post(f"{base}/telegram/webhook", json=update, headers={SECRET_HEADER: "nope"})
            missing = client.post(f"{base}/telegram/webhook", json=update)
            secret = {SECRET_HEADER: "s3cret-token"}
            right = client.post(f"{base}/telegram/webhook", json=update, headers=secret)
            repeat = client.post(f"{base}/telegram/webhook", json=update, headers=secret)
            # Updates are handled in order: once the reply to this later command is out, the repeat is settled.
            client.post(
                f"{base}/telegram/webhook", json=updates.command(WORKER_CHAT, "/duty"), headers=secret
            )
        for _ in range(100):  # the Application works through its queue in the background
            if fake.calls("sendMessage"):
                break
            asyncio.run(asyncio.sleep(0.05))
    statuses = (wrong.status_code, missing.status_code, right.status_code, repeat.status_code)
    assert statuses == (403, 403, 200, 200)
    assert (
        len(fake.calls("answerCallbackQuery")) == 1
    )  # the redelivered update was dropped, not handled twice
    assert events_of(org, code) == ["report", "respond"]
    assert fake.state.webhook_url == "https://example.test/telegram/webhook"
    assert fake.calls("setWebhook")[0].params["secret_token"] == "s3cret-token"


def test_polling_reads_updates_from_the_bot_api(
    org: Callable[[], Session], fake: FakeTelegramAPI, clock: Clock, updates: Updates, tmp_path: Path
) -> None:
    with org() as session, session.begin():
        code = report_case(session, clock.now)
    fake.push_update(updates.press(WORKER_CHAT, WORKER_CHAT, encode(ButtonPress(code, "respond"))))

    async def scenario() -> None:
        app = make_app(org, fake, clock, tmp_path)
        from bot.telegram.app import build_application
        from bot.telegram.handlers import Services

        app = build_application(
            "123456:test-token", app.bot_data["services"], api_base=fake.api_base, read_timeout=2.0
        )
        assert isinstance(app.bot_data["services"], Services)
        async with app:
            assert app.updater is not None
            await app.updater.start_polling(poll_interval=0.0, timeout=1)
            await app.start()
            for _ in range(100):
                if fake.calls("answerCallbackQuery"):
                    break
                await asyncio.sleep(0.05)
            await app.updater.stop()
            await app.stop()

    run(scenario())
    assert events_of(org, code) == ["report", "respond"]
    assert fake.calls("getUpdates")


def test_daily_digest_lists_overdue_cases_for_each_escalation_level_once(
    org: Callable[[], Session], fake: FakeTelegramAPI, senders: dict[str, Sender], clock: Clock
) -> None:
    from bot.telegram.digest import enqueue_overdue_digest

    with org() as session, session.begin():
        overdue = report_case(session, clock.now)
    later = clock.now + timedelta(days=2)
    with org() as session, session.begin():
        fresh = report_case(session, later)
        assert enqueue_overdue_digest(session, later) == 3  # community staff, street office, command centre
    with org() as session, session.begin():
        assert enqueue_overdue_digest(session, later) == 0  # once a day
    deliver(org, senders, later)
    to_community = [call.params["text"] for call in fake.sent() if int(call.params["chat_id"]) == 3001]
    assert len(to_community) == 1 and overdue in to_community[0] and fresh not in to_community[0]
    with org() as session:
        recipients = set(
            session.execute(
                select(OutboxMessage.recipient_id).where(OutboxMessage.idempotency_key.like("digest-%"))
            ).scalars()
        )
    assert recipients == {"CM-440104001007-1", "JDB-440104001", "DZZX-1"}


def test_after_a_hang_the_sender_fails_the_batch_fast_then_recovers(
    org: Callable[[], Session], fake: FakeTelegramAPI, clock: Clock
) -> None:
    from bot.senders.telegram import TelegramSender
    from tests.telegram.conftest import TOKEN

    ticks = [100.0]
    sender = TelegramSender(
        org, token=TOKEN, api_base=fake.api_base, timeout_s=0.5, cooldown_s=30.0, monotonic=lambda: ticks[0]
    )
    senders: dict[str, Sender] = {"telegram": sender, "*": sender}
    try:
        with org() as session, session.begin():
            for n in range(5):
                report_case(session, clock.now, description=f"第{n}处")
        fake.hang("sendMessage", times=1)
        deliver(org, senders, clock.now)
        assert fake.received("sendMessage") == 1  # one timed-out call; the other four failed fast
        ticks[0] += 31  # the cool-off is over
        report = deliver(org, senders, clock.now + timedelta(minutes=1))
        assert fake.received("sendMessage") == 6 and len(fake.sent()) == 5
    finally:
        sender.close()
    with org() as session:
        pending = session.execute(
            select(func.count()).where(OutboxMessage.channel == "telegram", OutboxMessage.status != "sent")
        ).scalar_one()
    assert pending == 0 and len(report.sent) >= 5
