"""The console's case list at district-year scale: filtered, newest first, one page at a time.

For the console API (bot/web): call `case_list_page(session, CaseListFilters(...), now)` for the
list view and pass the returned `next_cursor` back as `after=` for the next page. Paging is keyset
(created_at, id), not OFFSET, so page 200 costs what page 1 does; there is no total count, because
counting a million rows per request is what makes a list slow (show "more" while `next_cursor` is set).

Each filter is "any of" its values. Newest first walks `ix_cases_created_at` backwards and stops at
the 51st match; a rare value goes through its own column index instead (tests/bench/bench_db_scale.py
measures both on a million cases, where composite (filter, created_at) indexes gained nothing). Overdue means what
`storage.queries.overdue_cases` means: still open, and a limit fired or a pending limit passed.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import and_, exists, literal, or_, select, tuple_
from sqlalchemy.orm import Session
from sqlalchemy.sql import Select

from storage.errors import StorageInputError
from storage.lifecycle import OPEN_STATES, CaseState
from storage.models import Case, DueItem
from storage.timeutil import require_aware

logger = logging.getLogger(__name__)

OPEN_STATE_VALUES = tuple(state.value for state in OPEN_STATES)
STATE_VALUES = frozenset(state.value for state in CaseState)
URGENCY_VALUES = frozenset(("urgent", "normal", "complex"))
MAX_PAGE = 200


@dataclass(frozen=True)
class CaseListFilters:
    """The list's filters; an empty tuple does not constrain, several values mean "any of"."""

    states: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    street_codes: tuple[str, ...] = ()
    department_keys: tuple[str, ...] = ()
    urgencies: tuple[str, ...] = ()
    overdue: bool | None = None


@dataclass(frozen=True)
class CaseListCursor:
    """Where the next page starts: after the case with this (created_at, id), newest first."""

    created_at: datetime
    id: int


@dataclass(frozen=True)
class CaseListPage:
    """One page of cases, newest first; `next_cursor` is None on the last page."""

    cases: list[Case]
    next_cursor: CaseListCursor | None


def overdue_condition(now: datetime) -> object:
    """SQL condition: the case is open and has missed a limit (fired, or pending and past due)."""
    missed = exists().where(
        DueItem.case_id == Case.id,
        or_(DueItem.status == "fired", and_(DueItem.status == "pending", DueItem.due_at <= now)),
    )
    return and_(Case.state.in_(OPEN_STATE_VALUES), missed)


def _check(filters: CaseListFilters, limit: int) -> None:
    if not 1 <= limit <= MAX_PAGE:
        raise StorageInputError(f"page size must be between 1 and {MAX_PAGE}, got {limit}")
    unknown = sorted(set(filters.states) - STATE_VALUES) + sorted(set(filters.urgencies) - URGENCY_VALUES)
    if unknown:
        raise StorageInputError(
            f"unknown state or urgency {', '.join(map(repr, unknown))} (states: {', '.join(sorted(STATE_VALUES))})"
        )


def case_list_query(filters: CaseListFilters, now: datetime) -> Select:
    """SELECT the matching cases, newest first (no paging): the list's one query, also for exports."""
    query = select(Case)
    for column, values in (
        (Case.state, filters.states),
        (Case.category, filters.categories),
        (Case.street_code, filters.street_codes),
        (Case.department_key, filters.department_keys),
        (Case.urgency, filters.urgencies),
    ):
        if len(values) == 1:
            query = query.where(column == values[0])
        elif values:
            query = query.where(column.in_(values))
    if filters.overdue is not None:
        overdue = overdue_condition(require_aware(now, "now"))
        query = query.where(overdue if filters.overdue else ~overdue)  # type: ignore[operator]
    return query.order_by(Case.created_at.desc(), Case.id.desc())


def case_list_page(
    session: Session,
    filters: CaseListFilters,
    now: datetime,
    *,
    limit: int = 50,
    after: CaseListCursor | None = None,
) -> CaseListPage:
    """One page (default 50) of the cases matching `filters`, newest first, starting after `after`.

    Raises:
        StorageInputError: a page size outside 1..200, or an unknown state or urgency.
    """
    _check(filters, limit)
    query = case_list_query(filters, now)
    if after is not None:
        start = require_aware(after.created_at, "cursor created_at")
        query = query.where(
            tuple_(Case.created_at, Case.id) < tuple_(literal(start, Case.created_at.type), literal(after.id))
        )
    rows = list(session.execute(query.limit(limit + 1)).scalars())
    more = len(rows) > limit
    cases = rows[:limit]
    cursor = CaseListCursor(cases[-1].created_at, cases[-1].id) if more and cases else None
    return CaseListPage(cases=cases, next_cursor=cursor)
