"""Missed limits escalate grid worker -> community -> street office -> DZZX, for every urgency and stage."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from freezegun import freeze_time
from sqlalchemy import select
from sqlalchemy.orm import Session

from routing.sla import due_at, load_sla
from storage.cases import apply_event
from storage.lifecycle import CaseEvent
from storage.models import CaseEventRecord, DueItem, OutboxMessage
from storage.scheduler import pending_items, run_due
from storage.timeutil import utcnow
from tests.storage.conftest import Org, new_case

SH = ZoneInfo("Asia/Shanghai")
T0 = datetime(2026, 11, 30, 2, 0, tzinfo=timezone.utc)  # Monday 10:00 in Shanghai
ONE_SECOND = timedelta(seconds=1)
STAGE_PATHS = {
    "respond": [],
    "dispatch": [CaseEvent.RESPOND],
    "handle": [CaseEvent.RESPOND, CaseEvent.DISPATCH, CaseEvent.SIGN],
}


def scheduler_pass(session: Session, session_factory: Callable[[], Session]) -> int:
    """End the test session's transaction (on SQLite it holds the write lock), then run one scheduler pass."""
    session.commit()
    return run_due(session_factory, utcnow(), worker_id="w")


def escalations(session: Session, case_id: int) -> list[CaseEventRecord]:
    return list(
        session.execute(
            select(CaseEventRecord)
            .where(CaseEventRecord.case_id == case_id, CaseEventRecord.event == "escalate")
            .order_by(CaseEventRecord.seq)
        ).scalars()
    )


def escalation_messages(session: Session, case_id: int) -> list[tuple[str, str, str, int]]:
    rows = session.execute(
        select(OutboxMessage)
        .where(
            OutboxMessage.case_id == case_id, OutboxMessage.template.in_(["task.escalated", "case.escalated"])
        )
        .order_by(OutboxMessage.id)
    ).scalars()
    return [(m.template, m.recipient_kind, m.recipient_id, m.payload["params"]["level"]) for m in rows]


@pytest.mark.parametrize("stage", list(STAGE_PATHS))
@pytest.mark.parametrize("urgency", ["urgent", "normal", "complex"])
def test_each_missed_limit_climbs_one_level_and_tells_the_next_person_and_the_resident(
    session: Session, session_factory: Callable[[], Session], org: Org, urgency: str, stage: str
) -> None:
    limit = load_sla().limit_for(urgency, stage)
    with freeze_time(T0) as clock:
        case = new_case(session, org, utcnow(), urgency=urgency)
        for event in STAGE_PATHS[stage]:
            apply_event(session, case, event, actor="test", now=utcnow())
        session.commit()
        case_id = case.id
        expected_targets = {1: org.community_staff, 2: org.street_staff, 3: org.command_centre}
        deadline = due_at(utcnow(), limit)
        for level in (1, 2, 3):
            clock.move_to(deadline - ONE_SECOND)
            assert scheduler_pass(session, session_factory) == 0, f"fired early at level {level}"
            clock.move_to(deadline)
            assert scheduler_pass(session, session_factory) == 1
            latest = escalations(session, case_id)[-1]
            assert (latest.escalation_level, latest.payload["stage"], latest.payload["limit"]) == (
                level,
                stage,
                limit,
            )
            assert latest.at == deadline and latest.to_state == latest.from_state
            assert escalation_messages(session, case_id)[-2:] == [
                ("case.escalated", "resident", org.resident_openid, level),
                ("task.escalated", "person", expected_targets[level], level),
            ]
            deadline = due_at(deadline, limit)
        clock.move_to(deadline + timedelta(days=30))
        assert scheduler_pass(session, session_factory) == 0  # DZZX is the top: nothing more
        assert [e.escalation_level for e in escalations(session, case_id)] == [1, 2, 3]
        assert pending_items(session, case_id) == []


def test_working_day_handle_limit_escalates_across_national_day(
    session: Session, session_factory: Callable[[], Session], org: Org
) -> None:
    """complex/handle is 5wd: signed Wed 30 Sep 10:00 -> due Tue 13 Oct 10:00, then 20 Oct, then 27 Oct."""
    signed_at = datetime(2026, 9, 30, 10, 0, tzinfo=SH)
    with freeze_time(signed_at - timedelta(hours=1)) as clock:
        case = new_case(session, org, utcnow(), urgency="complex")
        apply_event(session, case, CaseEvent.RESPOND, actor=org.worker, now=utcnow())
        apply_event(session, case, CaseEvent.DISPATCH, actor=org.worker, now=utcnow())
        clock.move_to(signed_at)
        apply_event(session, case, CaseEvent.SIGN, actor="HWZX", now=utcnow())
        session.commit()
        (item,) = pending_items(session, case.id)
        assert (item.stage, item.due_at) == ("handle", datetime(2026, 10, 13, 10, 0, tzinfo=SH))
        for level, due in enumerate(
            [
                datetime(2026, 10, 13, 10, 0, tzinfo=SH),
                datetime(2026, 10, 20, 10, 0, tzinfo=SH),
                datetime(2026, 10, 27, 10, 0, tzinfo=SH),
            ],
            start=1,
        ):
            clock.move_to(due - ONE_SECOND)
            assert scheduler_pass(session, session_factory) == 0
            clock.move_to(due)
            assert scheduler_pass(session, session_factory) == 1
            assert escalations(session, case.id)[-1].escalation_level == level


def test_escalation_level_carries_over_to_the_next_stage(
    session: Session, session_factory: Callable[[], Session], org: Org
) -> None:
    with freeze_time(T0) as clock:
        case = new_case(session, org, utcnow(), urgency="urgent")
        session.commit()
        clock.tick(timedelta(minutes=15))
        assert scheduler_pass(session, session_factory) == 1  # respond missed -> community
        apply_event(session, case, CaseEvent.RESPOND, actor=org.worker, now=utcnow())
        session.commit()
        (item,) = pending_items(session, case.id)
        assert (item.stage, item.escalate_to) == ("dispatch", 2)  # the next miss goes to the street office
        clock.tick(timedelta(minutes=30))
        assert scheduler_pass(session, session_factory) == 1
        assert case.escalation_level == 2
        assert escalation_messages(session, case.id)[-1] == ("task.escalated", "person", org.street_staff, 2)


def test_acting_in_time_cancels_the_clock(
    session: Session, session_factory: Callable[[], Session], org: Org
) -> None:
    with freeze_time(T0) as clock:
        case = new_case(session, org, utcnow(), urgency="urgent")
        clock.tick(timedelta(minutes=14))
        apply_event(session, case, CaseEvent.RESPOND, actor=org.worker, now=utcnow())
        session.commit()
        clock.tick(timedelta(minutes=2))  # past the respond limit, within dispatch
        assert scheduler_pass(session, session_factory) == 0
        statuses = dict(
            session.execute(select(DueItem.stage, DueItem.status).where(DueItem.case_id == case.id)).all()
        )
        assert statuses == {"respond": "cancelled", "dispatch": "pending"}


def test_a_manual_escalation_counts_when_the_limit_then_passes(
    session: Session, session_factory: Callable[[], Session], org: Org
) -> None:
    with freeze_time(T0) as clock:
        case = new_case(session, org, utcnow(), urgency="urgent")
        apply_event(
            session, case, CaseEvent.ESCALATE, actor="DZZX", now=utcnow(), payload={"reason": "媒体关注"}
        )
        assert case.escalation_level == 1
        clock.tick(timedelta(minutes=15))
        assert scheduler_pass(session, session_factory) == 1
        latest = escalations(session, case.id)[-1]
        assert (latest.escalation_level, latest.payload["reason"]) == (2, "overdue")
        (item,) = pending_items(session, case.id)
        assert item.escalate_to == 3


def test_the_holder_is_reminded_once_at_80_percent_of_each_limit(
    session: Session, session_factory: Callable[[], Session], org: Org
) -> None:
    from storage.scheduler import run_reminders

    def reminders() -> list[tuple[str, str, str]]:
        session.commit()
        rows = session.execute(
            select(OutboxMessage).where(OutboxMessage.template == "task.reminder").order_by(OutboxMessage.id)
        ).scalars()
        return [(m.recipient_kind, m.recipient_id, m.payload["params"]["stage"]) for m in rows]

    with freeze_time(T0) as clock:  # normal: respond 1h, dispatch 2h, handle 1d
        case = new_case(session, org, utcnow(), urgency="normal")
        session.commit()
        clock.tick(timedelta(minutes=47))
        assert run_reminders(session_factory, utcnow(), worker_id="w") == 0
        clock.tick(timedelta(minutes=1))  # 48 min = 80% of 1h
        assert run_reminders(session_factory, utcnow(), worker_id="w") == 1
        assert run_reminders(session_factory, utcnow(), worker_id="w") == 0  # once only
        apply_event(session, case, CaseEvent.RESPOND, actor=org.worker, now=utcnow())
        apply_event(session, case, CaseEvent.DISPATCH, actor=org.worker, now=utcnow())
        session.commit()
        clock.tick(timedelta(minutes=96))  # 80% of the 2h dispatch limit: the department has it
        assert run_reminders(session_factory, utcnow(), worker_id="w") == 1
        clock.tick(timedelta(hours=1))  # past due: escalation's business, no late reminder
        assert run_reminders(session_factory, utcnow(), worker_id="w") == 0
    assert reminders() == [("person", org.worker, "respond"), ("department", org.department, "dispatch")]
    (text,) = {
        m.payload["params"]["due_local"]
        for m in session.execute(
            select(OutboxMessage).where(
                OutboxMessage.template == "task.reminder", OutboxMessage.recipient_kind == "person"
            )
        ).scalars()
    }
    assert text == "11-30 11:00"  # 03:00 UTC shown in Shanghai time
