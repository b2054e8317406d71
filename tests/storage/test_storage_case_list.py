"""The console's case list (storage.case_list): filters, newest first, keyset pages, overdue, bad input."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy.orm import Session

from storage.case_list import CaseListCursor, CaseListFilters, case_list_page
from storage.cases import apply_event
from storage.errors import StorageInputError
from storage.lifecycle import CaseEvent
from storage.scheduler import run_due
from tests.storage.conftest import Org, new_case

T0 = datetime(2026, 11, 30, 1, 0, tzinfo=timezone.utc)


@pytest.fixture()
def cases(session: Session, org: Org) -> list[str]:
    """Seven cases a minute apart (oldest first); two share one second; some responded, one cancelled."""
    codes = []
    for number in range(7):
        when = T0 + timedelta(minutes=min(number, 5))  # cases 5 and 6 are reported in the same second
        case = new_case(
            session,
            org,
            when,
            urgency="urgent" if number % 3 == 0 else "normal",
            category="GARBAGE" if number % 2 == 0 else "STREETLIGHT",
            department_key="HWZX" if number < 4 else "SZWH",
        )
        if number in (1, 2):
            apply_event(session, case, CaseEvent.RESPOND, actor="t", now=when + timedelta(minutes=5))
        if number == 3:
            apply_event(session, case, CaseEvent.CANCEL, actor="t", now=when + timedelta(minutes=1))
        codes.append(case.code)
    session.commit()
    return codes


def codes_of(session: Session, filters: CaseListFilters, now: datetime = T0, **kwargs: object) -> list[str]:
    page = case_list_page(session, filters, now, **kwargs)  # type: ignore[arg-type]
    return [case.code for case in page.cases]


def test_newest_first_with_each_filter(session: Session, cases: list[str], org: Org) -> None:
    newest_first = [cases[6], cases[5], cases[4], cases[3], cases[2], cases[1], cases[0]]
    assert codes_of(session, CaseListFilters()) == newest_first
    assert codes_of(session, CaseListFilters(states=("responded",))) == [cases[2], cases[1]]
    assert codes_of(session, CaseListFilters(categories=("GARBAGE",))) == [
        cases[6],
        cases[4],
        cases[2],
        cases[0],
    ]
    assert codes_of(session, CaseListFilters(department_keys=("SZWH",))) == [cases[6], cases[5], cases[4]]
    assert codes_of(session, CaseListFilters(urgencies=("urgent",))) == [cases[6], cases[3], cases[0]]
    assert codes_of(session, CaseListFilters(street_codes=(org.street,))) == newest_first
    assert codes_of(session, CaseListFilters(street_codes=("440104999",))) == []
    both = CaseListFilters(states=("reported", "cancelled"), categories=("STREETLIGHT",))
    assert codes_of(session, both) == [cases[5], cases[3]]


def test_keyset_pages_cover_every_case_once_even_within_one_second(
    session: Session, cases: list[str]
) -> None:
    seen: list[str] = []
    after: CaseListCursor | None = None
    for _ in range(10):
        page = case_list_page(session, CaseListFilters(), T0, limit=2, after=after)
        seen += [case.code for case in page.cases]
        if page.next_cursor is None:
            break
        after = page.next_cursor
    assert seen == [cases[6], cases[5], cases[4], cases[3], cases[2], cases[1], cases[0]]
    last = case_list_page(session, CaseListFilters(), T0, limit=7)
    assert last.next_cursor is None and len(last.cases) == 7


def test_overdue_means_open_with_a_missed_limit(
    session: Session, session_factory: Callable[[], Session], cases: list[str]
) -> None:
    later = T0 + timedelta(
        hours=3
    )  # every respond and dispatch limit (urgent 15m/30m, normal 1h/2h) has passed
    overdue = codes_of(session, CaseListFilters(overdue=True), later)
    assert overdue == [cases[6], cases[5], cases[4], cases[2], cases[1], cases[0]]  # not the cancelled one
    assert codes_of(session, CaseListFilters(overdue=False), later) == [cases[3]]
    assert codes_of(session, CaseListFilters(overdue=True), T0) == []
    session.commit()  # end the read transaction: on SQLite it holds the write lock the scheduler needs
    assert run_due(session_factory, later, worker_id="t") == 6
    assert codes_of(session, CaseListFilters(overdue=True, states=("responded",)), T0) == [cases[2], cases[1]]


def test_bad_input_is_a_clear_error(session: Session, cases: list[str]) -> None:
    with pytest.raises(StorageInputError, match="page size"):
        case_list_page(session, CaseListFilters(), T0, limit=0)
    with pytest.raises(StorageInputError, match="'open'"):
        case_list_page(session, CaseListFilters(states=("open",)), T0)
    with pytest.raises(StorageInputError, match="timezone-aware"):
        case_list_page(session, CaseListFilters(overdue=True), datetime(2026, 11, 30))
