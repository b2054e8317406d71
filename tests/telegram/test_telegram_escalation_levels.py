"""A missed limit climbs the escalation ladder one level at a time, with frozen time (issue 6: escalation notice).

Level 1 goes to the community's staff (Telegram), level 2 to the street office (no chat: the console),
level 3 to the command centre (Telegram); each fires once.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

from freezegun import freeze_time
from sqlalchemy import select
from sqlalchemy.orm import Session

from storage.models import Case, ConsoleMessage, DueItem
from storage.outbox import Sender
from storage.scheduler import run_due
from storage.timeutil import utcnow
from tests.fakes.telegram_api import FakeTelegramAPI
from tests.telegram.conftest import COMMAND_CENTRE, Clock, deliver, report_case

COMMUNITY_CHAT = 3001


def next_due(session_factory: Callable[[], Session]) -> tuple[int, datetime]:
    with session_factory() as session:
        item = (
            session.execute(select(DueItem).where(DueItem.status == "pending").order_by(DueItem.due_at))
            .scalars()
            .first()
        )
        assert item is not None
        return item.escalate_to, item.due_at


def test_each_missed_limit_escalates_one_level_up_once(
    org: Callable[[], Session], fake: FakeTelegramAPI, senders: dict[str, Sender], clock: Clock
) -> None:
    with org() as session, session.begin():
        code = report_case(session, clock.now)
    deliver(org, senders, clock.now)
    levels = []
    for expected in (1, 2, 3):
        level, due_at = next_due(org)
        assert level == expected
        with freeze_time(due_at + timedelta(seconds=1)):
            now = utcnow()
            assert run_due(org, now, worker_id="t") == 1
            assert run_due(org, now, worker_id="t") == 0  # fired once
        deliver(org, senders, now)
        with org() as session:
            levels.append(
                session.execute(select(Case.escalation_level).where(Case.code == code)).scalar_one()
            )
    assert levels == [1, 2, 3]
    to = {
        chat: [c.params["text"] for c in fake.sent() if int(c.params["chat_id"]) == chat]
        for chat in (COMMUNITY_CHAT, COMMAND_CENTRE)
    }
    assert len(to[COMMUNITY_CHAT]) == 1 and to[COMMUNITY_CHAT][0].startswith("【督办·第1级】")
    assert (
        len(to[COMMAND_CENTRE]) == 1
        and to[COMMAND_CENTRE][0].startswith("【督办·第3级】")
        and code in to[COMMAND_CENTRE][0]
    )
    with org() as session:
        street = (
            session.execute(
                select(ConsoleMessage.payload).where(ConsoleMessage.recipient_id == "JDB-440104001")
            )
            .scalars()
            .all()
        )
    assert len(street) == 1 and street[0]["text"].startswith("【督办·第2级】")
