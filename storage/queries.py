"""Read-side queries the channels and the console share: status, a resident's cases, overdue lists.

Read-only; each takes a Session and returns plain values or model rows. Keep the session short on
SQLite (see storage.db).
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from routing.types import GeoPoint, OpenCaseSummary
from storage.lifecycle import OPEN_STATES
from storage.models import Case, CaseEventRecord, DueItem, Resident, Street
from storage.timeutil import require_aware

logger = logging.getLogger(__name__)

OPEN_STATE_VALUES = tuple(state.value for state in OPEN_STATES)


@dataclass(frozen=True)
class CaseStatus:
    """What a status reply or the Open311 `extended_attributes` need about one case."""

    code: str
    state: str
    category: str | None
    urgency: str
    street_code: str | None
    community_code: str | None
    grid_id: str | None
    department_key: str | None
    worker_id: str | None
    escalation_level: int
    created_at: datetime
    events: int
    last_event: str
    last_event_at: datetime
    next_stage: str | None
    next_due_at: datetime | None
    overdue: bool


def case_status(session: Session, code: str, now: datetime) -> CaseStatus | None:
    """The status of the case with public code `code` at `now`, or None if there is no such case."""
    now = require_aware(now, "now")
    case = session.execute(select(Case).where(Case.code == code)).scalar_one_or_none()
    if case is None:
        return None
    events = (
        session.execute(
            select(CaseEventRecord).where(CaseEventRecord.case_id == case.id).order_by(CaseEventRecord.seq)
        )
        .scalars()
        .all()
    )
    due = (
        session.execute(
            select(DueItem)
            .where(DueItem.case_id == case.id, DueItem.status == "pending")
            .order_by(DueItem.due_at, DueItem.id)
        )
        .scalars()
        .first()
    )
    fired = any(record.event == "escalate" and record.payload.get("reason") == "overdue" for record in events)
    return CaseStatus(
        code=case.code,
        state=case.state,
        category=case.category,
        urgency=case.urgency,
        street_code=case.street_code,
        community_code=case.community_code,
        grid_id=case.grid_id,
        department_key=case.department_key,
        worker_id=case.worker_id,
        escalation_level=case.escalation_level,
        created_at=case.created_at,
        events=len(events),
        last_event=events[-1].event,
        last_event_at=events[-1].at,
        next_stage=due.stage if due else None,
        next_due_at=due.due_at if due else None,
        overdue=case.state in OPEN_STATE_VALUES and (fired or (due is not None and due.due_at <= now)),
    )


def resident_cases(session: Session, openid: str, *, open_only: bool = False, limit: int = 10) -> list[Case]:
    """The resident's own cases, newest first (at most `limit`)."""
    query = select(Case).join(Resident, Resident.id == Case.resident_id).where(Resident.openid == openid)
    if open_only:
        query = query.where(Case.state.in_(OPEN_STATE_VALUES))
    return list(
        session.execute(query.order_by(Case.created_at.desc(), Case.id.desc()).limit(limit)).scalars()
    )


def latest_case(session: Session, openid: str) -> Case | None:
    """The resident's most recent case ("我刚才报的那个怎么样了")."""
    cases = resident_cases(session, openid, limit=1)
    return cases[0] if cases else None


def overdue_cases(
    session: Session,
    now: datetime,
    *,
    street_code: str | None = None,
    department_key: str | None = None,
    worker_id: str | None = None,
) -> list[Case]:
    """Open cases that have missed a limit (escalated, or a pending limit already passed), oldest first."""
    now = require_aware(now, "now")
    missed = (
        select(DueItem.case_id)
        .where((DueItem.status == "fired") | ((DueItem.status == "pending") & (DueItem.due_at <= now)))
        .scalar_subquery()
    )
    query = select(Case).where(Case.state.in_(OPEN_STATE_VALUES), Case.id.in_(missed))
    for column, value in (
        (Case.street_code, street_code),
        (Case.department_key, department_key),
        (Case.worker_id, worker_id),
    ):
        if value is not None:
            query = query.where(column == value)
    return list(session.execute(query.order_by(Case.created_at, Case.id)).scalars())


def due_within(session: Session, now: datetime, window: timedelta) -> list[DueItem]:
    """Pending limits that run out in (now, now + window]: what a reminder job warns about."""
    now = require_aware(now, "now")
    return list(
        session.execute(
            select(DueItem)
            .where(DueItem.status == "pending", DueItem.due_at > now, DueItem.due_at <= now + window)
            .order_by(DueItem.due_at, DueItem.id)
        ).scalars()
    )


def state_counts(session: Session, *, street_code: str | None = None) -> dict[str, int]:
    """How many cases are in each state (the console's header figures)."""
    query = select(Case.state, func.count()).group_by(Case.state)
    if street_code is not None:
        query = query.where(Case.street_code == street_code)
    return {state: int(count) for state, count in session.execute(query).all()}


def open_case_summaries(
    session: Session,
    now: datetime,
    *,
    within: timedelta,
    category: str | None = None,
    near: GeoPoint | None = None,
    radius_m: float = 1000.0,
    limit: int = 200,
) -> list[OpenCaseSummary]:
    """Open cases reported in the last `within`, for `routing.duplicates.find_duplicate`.

    With `near`, only cases inside a lat/lng box of `radius_m` around it (the router measures the
    real distance); cases without a point are kept when they share the category (street/grid match).
    """
    now = require_aware(now, "now")
    query = (
        select(Case, Street.name)
        .outerjoin(Street, Street.code == Case.street_code)
        .where(Case.state.in_(OPEN_STATE_VALUES), Case.created_at >= now - within)
    )
    if category is not None:
        query = query.where(Case.category == category)
    if near is not None:
        dlat = radius_m / 111_320.0
        dlng = radius_m / (111_320.0 * max(math.cos(math.radians(near.lat)), 0.01))
        query = query.where(
            (Case.lat.is_(None))
            | (
                Case.lat.between(near.lat - dlat, near.lat + dlat)
                & Case.lng.between(near.lng - dlng, near.lng + dlng)
            )
        )
    rows = session.execute(query.order_by(Case.created_at.desc(), Case.id.desc()).limit(limit)).all()
    return [
        OpenCaseSummary(
            case_code=case.code,
            category=case.category or "",
            opened_at=case.created_at,
            point=GeoPoint(case.lat, case.lng) if case.lat is not None and case.lng is not None else None,
            street=street_name,
            grid=case.grid_id,
        )
        for case, street_name in rows
    ]
