"""Read-side queries: status with next limit and overdue flag, a resident's cases, overdue lists, reminders."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta, timezone

from freezegun import freeze_time
from sqlalchemy.orm import Session

from storage.cases import apply_event
from storage.lifecycle import CaseEvent
from storage.queries import case_status, due_within, latest_case, overdue_cases, resident_cases, state_counts
from storage.scheduler import run_due
from storage.timeutil import utcnow
from tests.storage.conftest import Org, new_case

T0 = datetime(2026, 11, 30, 2, 0, tzinfo=timezone.utc)


def test_status_shows_the_next_limit_and_turns_overdue(session: Session, org: Org) -> None:
    with freeze_time(T0) as clock:
        case = new_case(session, org, utcnow(), urgency="urgent")
        session.commit()
        status = case_status(session, case.code, utcnow())
        assert (status.state, status.next_stage, status.next_due_at, status.overdue) == (
            "reported",
            "respond",
            T0 + timedelta(minutes=15),
            False,
        )
        assert (status.events, status.last_event) == (1, "report")
        clock.tick(timedelta(minutes=16))
        assert case_status(session, case.code, utcnow()).overdue is True
        assert case_status(session, "YX-20990101-0001", utcnow()) is None


def test_resident_cases_newest_first_and_open_only(session: Session, org: Org) -> None:
    with freeze_time(T0) as clock:
        first = new_case(session, org, utcnow())
        clock.tick(timedelta(minutes=1))
        second = new_case(session, org, utcnow())
        apply_event(session, second, CaseEvent.CANCEL, actor="resident", now=utcnow())
        session.commit()
    assert [c.code for c in resident_cases(session, org.resident_openid)] == [second.code, first.code]
    assert [c.code for c in resident_cases(session, org.resident_openid, open_only=True)] == [first.code]
    assert latest_case(session, org.resident_openid).code == second.code
    assert latest_case(session, "o-stranger") is None
    assert state_counts(session) == {"reported": 1, "cancelled": 1}


def test_overdue_lists_and_reminder_window(
    session: Session, session_factory: Callable[[], Session], org: Org
) -> None:
    with freeze_time(T0) as clock:
        late = new_case(session, org, utcnow(), urgency="urgent")
        on_time = new_case(session, org, utcnow(), urgency="normal")
        session.commit()
        clock.tick(timedelta(minutes=10))
        assert [item.case_id for item in due_within(session, utcnow(), timedelta(minutes=10))] == [late.id]
        clock.tick(timedelta(minutes=10))
        assert [c.id for c in overdue_cases(session, utcnow())] == [late.id]  # passed, not yet fired
        session.commit()
        run_due(session_factory, utcnow(), worker_id="w")
        assert [c.id for c in overdue_cases(session, utcnow(), worker_id=org.worker)] == [late.id]  # fired
        assert overdue_cases(session, utcnow(), street_code="440104999") == []
        assert on_time.id not in [c.id for c in overdue_cases(session, utcnow())]


def test_open_case_summaries_feed_the_duplicate_check(session: Session, org: Org) -> None:
    from routing.types import GeoPoint
    from storage.queries import open_case_summaries

    with freeze_time(T0) as clock:
        near = new_case(session, org, utcnow(), category="MANHOLE", lat=23.1300, lng=113.2700)
        new_case(session, org, utcnow(), category="MANHOLE", lat=23.1600, lng=113.2700)  # ~3.3 km north
        new_case(session, org, utcnow(), category="GARBAGE", lat=23.1300, lng=113.2700)
        closed = new_case(session, org, utcnow(), category="MANHOLE", lat=23.1301, lng=113.2701)
        apply_event(session, closed, CaseEvent.CANCEL, actor="resident", now=utcnow())
        clock.tick(timedelta(hours=30))
        session.commit()
        found = open_case_summaries(
            session, utcnow(), within=timedelta(days=2), category="MANHOLE", near=GeoPoint(23.1302, 113.2702)
        )
        assert [(s.case_code, s.street, s.grid, s.point) for s in found] == [
            (near.code, "洪桥", org.grid, GeoPoint(23.13, 113.27))
        ]
        assert open_case_summaries(session, utcnow(), within=timedelta(hours=24), category="MANHOLE") == []
