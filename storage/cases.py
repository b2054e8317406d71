"""The case repository: open a case and apply lifecycle events, each in the caller's transaction.

`apply_event` is the one way a case changes: it checks the transition table, appends the event row,
updates the state projection, stops and starts the time limits and enqueues the messages, all in the
same transaction, so either everything about an event is recorded or nothing is.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from storage import clocks
from storage.errors import StorageInputError
from storage.lifecycle import CaseEvent, CaseState, advance, fold_states
from storage.models import (
    Case,
    CaseCounter,
    CaseEventRecord,
    CaseMedia,
    CaseSubscription,
    Community,
    Department,
    Grid,
    Person,
    Rating,
    Resident,
    Street,
)
from storage.notifications import enqueue_for_event
from storage.timeutil import require_aware, shanghai_date

logger = logging.getLogger(__name__)

URGENCIES = ("urgent", "normal", "complex")


def allocate_case_code(session: Session, now: datetime) -> str:
    """The next public code for the Asia/Shanghai day of `now`: YX-YYYYMMDD-NNNN.

    One atomic upsert on the per-day counter row: on PostgreSQL its row lock serialises concurrent
    allocations until the transaction ends (a rollback gives the number back); on SQLite the
    transaction already holds the database write lock (BEGIN IMMEDIATE, see storage.db).
    """
    day = shanghai_date(now).strftime("%Y%m%d")
    table = CaseCounter.__table__
    if session.get_bind().dialect.name == "postgresql":
        statement = (
            pg_insert(table)
            .values(day=day, last=1)
            .on_conflict_do_update(index_elements=[table.c.day], set_={"last": table.c.last + 1})
            .returning(table.c.last)
        )
        number = session.execute(statement).scalar_one()
    else:
        session.execute(
            sqlite_insert(table)
            .values(day=day, last=1)
            .on_conflict_do_update(index_elements=[table.c.day], set_={"last": table.c.last + 1})
        )
        number = session.execute(select(table.c.last).where(table.c.day == day)).scalar_one()
    return f"YX-{day}-{number:04d}"


def _check_references(session: Session, references: Mapping[type, Any]) -> None:
    """Refuse unknown organisation keys with a clear error instead of a foreign-key failure at commit."""
    unknown = [
        f"{model.__name__.lower()} {key!r}"
        for model, key in references.items()
        if key is not None and session.get(model, key) is None
    ]
    if unknown:
        raise StorageInputError("unknown " + ", ".join(unknown) + " (seed the organisation first?)")


def _check_json(payload: Mapping[str, Any]) -> dict[str, Any]:
    try:
        json.dumps(payload, ensure_ascii=False)
    except (TypeError, ValueError) as error:
        raise StorageInputError(f"event payload is not JSON-serialisable: {error}") from error
    return dict(payload)


def open_case(
    session: Session,
    *,
    now: datetime,
    description: str,
    urgency: str = "normal",
    category: str | None = None,
    resident_id: int | None = None,
    lat: float | None = None,
    lng: float | None = None,
    address: str | None = None,
    street_code: str | None = None,
    community_code: str | None = None,
    grid_id: str | None = None,
    department_key: str | None = None,
    worker_id: str | None = None,
    auto_dispatch: bool = False,
    routing: Mapping[str, Any] | None = None,
    media: Sequence[Mapping[str, Any]] = (),
    actor: str = "resident",
    answered_in_chat: str | None = None,
) -> Case:
    """Create a case and record its `report` event (呼叫); the respond limit starts now.

    Args:
        media: dicts with `kind` (photo|voice|video), `uri`, optional `content_type` and `meta`.
        answered_in_chat: the openid of a resident the conversation already told (no push to them).
        routing: the routing decision with its explanation, stored as JSON.
    """
    now = require_aware(now, "now")
    if urgency not in URGENCIES:
        raise StorageInputError(f"urgency must be one of {URGENCIES}, got {urgency!r}")
    if (lat is None) != (lng is None):
        raise StorageInputError("lat and lng must be given together")
    _check_references(
        session,
        {
            Street: street_code,
            Community: community_code,
            Grid: grid_id,
            Department: department_key,
            Person: worker_id,
            Resident: resident_id,
        },
    )
    case = Case(
        code=allocate_case_code(session, now),
        resident_id=resident_id,
        category=category,
        description=description or "",
        lat=lat,
        lng=lng,
        address=address,
        street_code=street_code,
        community_code=community_code,
        grid_id=grid_id,
        department_key=department_key,
        worker_id=worker_id,
        urgency=urgency,
        auto_dispatch=auto_dispatch,
        routing=_check_json(routing) if routing is not None else None,
        state=CaseState.NEW.value,
        escalation_level=0,
        created_at=now,
        updated_at=now,
    )
    session.add(case)
    session.flush()
    for item in media:
        session.add(
            CaseMedia(
                case_id=case.id,
                kind=item["kind"],
                uri=item["uri"],
                content_type=item.get("content_type"),
                meta=item.get("meta"),
                created_at=now,
            )
        )
    report_payload = {
        "category": category,
        "urgency": urgency,
        "auto_dispatch": auto_dispatch,
        "street_code": street_code,
        "grid_id": grid_id,
        "department_key": department_key,
    }
    if answered_in_chat:
        report_payload["answered_in_chat"] = answered_in_chat
    apply_event(session, case, CaseEvent.REPORT, actor=actor, now=now, payload=report_payload)
    return case


def _lock_case(session: Session, case: Case) -> Case:
    # Serialise writers of one case (PostgreSQL row lock; SQLite already holds the write lock).
    query = select(Case).where(Case.id == case.id).execution_options(populate_existing=True)
    if session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update()
    return session.execute(query).scalar_one()


def _apply_side_data(
    session: Session, case: Case, event: CaseEvent, payload: dict[str, Any], now: datetime
) -> None:
    """Validate the payload an event needs and copy what it changes onto the case."""
    if event is CaseEvent.RETURN and not str(payload.get("reason") or "").strip():
        raise StorageInputError("a department returning a case must give a reason")
    if event is CaseEvent.DISPATCH and payload.get("department_key"):
        if session.get(Department, payload["department_key"]) is None:
            raise StorageInputError(
                f"no department with key {payload['department_key']!r} (e.g. HWZX, JDB-440104001)"
            )
        case.department_key = payload["department_key"]
    if event in (CaseEvent.DISPATCH, CaseEvent.TRIAGE) and payload.get("category"):
        case.category = str(payload["category"])  # manual re-categorisation rides on the triage/dispatch event
    if event is CaseEvent.MERGE_DUPLICATE:
        target = payload.get("duplicate_of")
        original = session.execute(select(Case).where(Case.code == str(target))).scalar_one_or_none()
        if original is None or original.id == case.id:
            raise StorageInputError(f"merge needs `duplicate_of`, the code of another case (got {target!r})")
        case.duplicate_of = original.id
        if case.resident_id is not None:
            subscribe(session, original, case.resident_id, now)
    if event is CaseEvent.CONFIRM and payload.get("rating") is not None:
        score = payload["rating"]
        if not isinstance(score, int) or isinstance(score, bool) or not 1 <= score <= 5:
            raise StorageInputError(f"rating must be an integer 1-5, got {score!r}")
        session.add(
            Rating(
                case_id=case.id,
                resident_id=case.resident_id,
                score=score,
                comment=payload.get("comment"),
                created_at=now,
            )
        )


def _next_level(case: Case, event: CaseEvent, payload: Mapping[str, Any]) -> int:
    if event is not CaseEvent.ESCALATE:
        return int(case.escalation_level)
    wanted = payload.get("level", case.escalation_level + 1)
    return max(int(case.escalation_level), min(int(wanted), clocks.MAX_LEVEL))


def apply_event(
    session: Session,
    case: Case,
    event: CaseEvent | str,
    actor: str,
    now: datetime,
    payload: Mapping[str, Any] | None = None,
) -> CaseEventRecord:
    """Apply one lifecycle event to a case, in the caller's transaction.

    Checks the transition table (raising InvalidTransition), appends the event row, updates the state
    projection and escalation level, stops/starts due items and enqueues the messages for it.

    Payload fields used: `reason` (required for return), `department_key` (dispatch), `category` (dispatch
    and triage: a manual re-categorisation), `duplicate_of`
    (a case code, for merge_duplicate; the duplicate's reporter then follows the original), `rating` 1-5 and `comment` (confirm), `level` and `stage`
    (escalate). Everything in the payload is kept on the event row.
    """
    now = require_aware(now, "now")
    event = CaseEvent(event)
    data = _check_json(payload or {})
    case = _lock_case(session, case)
    from_state = CaseState(case.state)
    to_state = advance(from_state, event)
    _apply_side_data(session, case, event, data, now)
    seq = session.execute(
        select(func.coalesce(func.max(CaseEventRecord.seq), 0)).where(CaseEventRecord.case_id == case.id)
    ).scalar_one()
    record = CaseEventRecord(
        case_id=case.id,
        seq=int(seq) + 1,
        event=event.value,
        actor=actor,
        at=now,
        from_state=None if from_state is CaseState.NEW else from_state.value,
        to_state=to_state.value,
        escalation_level=_next_level(case, event, data),
        payload=data,
    )
    session.add(record)
    case.state = to_state.value
    case.escalation_level = record.escalation_level
    case.updated_at = now
    session.flush()
    clocks.on_event(session, case, event, now)
    enqueue_for_event(session, case, record)
    session.flush()
    logger.info("case %s: %s -> %s by %s", case.code, from_state.value, to_state.value, actor)
    return record


def subscribe(session: Session, case: Case, resident_id: int, now: datetime) -> bool:
    """Let a resident follow a case (they reported the same problem); False if already following.

    The case's reporter is never subscribed to their own case. Idempotent.
    """
    if resident_id == case.resident_id:
        return False
    exists = session.execute(
        select(CaseSubscription.id).where(
            CaseSubscription.case_id == case.id, CaseSubscription.resident_id == resident_id
        )
    ).first()
    if exists:
        return False
    session.add(
        CaseSubscription(case_id=case.id, resident_id=resident_id, created_at=require_aware(now, "now"))
    )
    session.flush()
    return True


def case_events(session: Session, case_id: int) -> list[CaseEventRecord]:
    """The case's events in order."""
    return list(
        session.execute(
            select(CaseEventRecord).where(CaseEventRecord.case_id == case_id).order_by(CaseEventRecord.seq)
        ).scalars()
    )


def derive_state(session: Session, case_id: int) -> CaseState:
    """The case's state, folded from its event history (the source of truth for `Case.state`)."""
    return fold_states(record.event for record in case_events(session, case_id))


def get_case_by_code(session: Session, code: str) -> Case | None:
    """The case with public code `code`, or None."""
    return session.execute(select(Case).where(Case.code == code)).scalar_one_or_none()
