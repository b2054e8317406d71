"""Free texts the Telegram side writes (`telegram.text`: digests, need-info notes) reach recipients on any channel."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.telegram.digest import enqueue_overdue_digest
from storage.models import ChatBinding, ConsoleMessage, OutboxMessage
from storage.outbox import LocalConsoleSender
from tests.telegram.conftest import Clock, deliver, report_case


def test_a_digest_for_someone_without_telegram_shows_its_text_on_the_console(
    org: Callable[[], Session], clock: Clock
) -> None:
    with org() as session, session.begin():
        overdue = report_case(session, clock.now)
        for binding in session.execute(
            select(ChatBinding).where(ChatBinding.person_id == "DZZX-1")
        ).scalars():
            session.delete(binding)  # the command centre works in the console only
    later = clock.now + timedelta(days=2)
    with org() as session, session.begin():
        assert enqueue_overdue_digest(session, later) == 3
    report = deliver(org, {"*": LocalConsoleSender(org)}, later)
    assert report.parked == []
    with org() as session:
        channel = session.execute(
            select(OutboxMessage.channel).where(OutboxMessage.recipient_id == "DZZX-1")
        ).scalar_one()
        shown = session.execute(
            select(ConsoleMessage.payload).where(ConsoleMessage.recipient_id == "DZZX-1")
        ).scalar_one()
    assert channel == "console"
    assert shown["text"].startswith("【超时事项日报") and overdue in shown["text"]
