"""Who is told what at each stage of a case: the plan as data, and its expansion into outbox rows.

Messages are channel-neutral: a recipient (resident | person | department) and a template key with
params. The delivery channel is resolved by `storage.outbox.enqueue` from stored bindings.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from storage.lifecycle import CaseEvent
from storage.models import Case, CaseEventRecord, CaseSubscription, DueItem, Person, Resident
from storage.outbox import enqueue
from storage.privacy import mask_phone, mask_text
from storage.timeutil import SHANGHAI

logger = logging.getLogger(__name__)

E = CaseEvent

# event -> (audience, template) pairs. Audiences: resident, worker (the case's grid worker),
# department (the case's department), command_centre (DZZX), escalation_target (by new level).
NOTIFY_PLAN: dict[CaseEvent, tuple[tuple[str, str], ...]] = {
    E.REPORT: (("resident", "case.reported"), ("worker", "task.new_case")),
    E.RESPOND: (("resident", "case.responded"),),
    E.DISPATCH: (("resident", "case.dispatched"), ("department", "task.dispatched")),
    E.SIGN: (("resident", "case.signed"),),
    E.RETURN: (("resident", "case.returned"), ("worker", "task.returned")),
    E.TRIAGE: (("resident", "case.triage"), ("command_centre", "task.triage")),
    E.HANDLE: (("resident", "case.handled"),),
    E.HANDLE_ON_SITE: (("resident", "case.handled"),),
    E.CONFIRM: (("resident", "case.closed"),),
    E.REOPEN: (("resident", "case.reopened"), ("worker", "task.reopened")),
    E.MERGE_DUPLICATE: (("resident", "case.merged"),),
    E.CANCEL: (("resident", "case.cancelled"),),
    E.ESCALATE: (("resident", "case.escalated"), ("escalation_target", "task.escalated")),
}

LEVEL_ROLES = {1: ("community", "community_code"), 2: ("street", "street_code"), 3: ("command_centre", None)}
COMMAND_CENTRE_DEPARTMENT = "DZZX"


def escalation_targets(session: Session, case: Case, level: int) -> list[tuple[str, str]]:
    """The people a case escalated to `level` goes to; the unit's office when nobody is on file.

    Level 1: the community's staff; 2: the street office's staff; 3: the command centre (DZZX).
    """
    role, unit_column = LEVEL_ROLES[level]
    query = select(Person.id).where(Person.role == role, Person.active.is_(True)).order_by(Person.id)
    if unit_column is not None:
        unit = getattr(case, unit_column)
        if unit is None:
            return [("department", COMMAND_CENTRE_DEPARTMENT)]
        query = query.where(getattr(Person, unit_column) == unit)
    people = [("person", person_id) for person_id in session.execute(query).scalars()]
    if people:
        return people
    if level == 2 and case.street_code:
        return [("department", f"JDB-{case.street_code}")]
    return [("department", COMMAND_CENTRE_DEPARTMENT)]


def resident_openids(session: Session, case: Case) -> list[str]:
    """The reporting resident first, then residents subscribed to the case (reporters of duplicates)."""
    reporter = session.get(Resident, case.resident_id) if case.resident_id else None
    followers = session.execute(
        select(Resident.openid)
        .join(CaseSubscription, CaseSubscription.resident_id == Resident.id)
        .where(CaseSubscription.case_id == case.id, Resident.id != case.resident_id)
        .order_by(CaseSubscription.id)
    ).scalars()
    return ([reporter.openid] if reporter else []) + list(followers)


def _audience(session: Session, case: Case, audience: str, record: CaseEventRecord) -> list[tuple[str, str]]:
    if audience == "resident":
        # the resident who caused the event in a chat was answered there; followers still get the push
        answered = (record.payload or {}).get("answered_in_chat")
        return [("resident", openid) for openid in resident_openids(session, case) if openid != answered]
    if audience == "worker":
        return [("person", case.worker_id)] if case.worker_id else []
    if audience == "department":
        return [("department", case.department_key)] if case.department_key else []
    if audience == "command_centre":
        return [("department", COMMAND_CENTRE_DEPARTMENT)]
    if audience == "escalation_target":
        return escalation_targets(session, case, record.escalation_level)
    raise ValueError(f"unknown audience {audience!r}")


def message_params(case: Case, record: CaseEventRecord) -> dict[str, Any]:
    """Template parameters: what any channel needs to render the message (personal data masked)."""
    payload = record.payload or {}
    return {
        "case_code": case.code,
        "event": record.event,
        "state": record.to_state,
        "category": case.category,
        "description": mask_text(case.description)[:500],
        "address": mask_text(case.address or ""),
        "department": case.department_key,
        "grid": case.grid_id,
        "urgency": case.urgency,
        "level": record.escalation_level,
        "stage": payload.get("stage"),
        "reason": mask_text(payload.get("reason") or "") or None,
        "resident_contact": mask_phone(case.resident.phone) if case.resident is not None else "",
        "at": record.at.isoformat(),
    }


def enqueue_for_event(session: Session, case: Case, record: CaseEventRecord) -> int:
    """Write the outbox rows for one recorded event (same transaction); returns how many."""
    params = message_params(case, record)
    count = 0
    for audience, template in NOTIFY_PLAN.get(CaseEvent(record.event), ()):
        for kind, recipient_id in _audience(session, case, audience, record):
            enqueue(
                session,
                recipient_kind=kind,
                recipient_id=recipient_id,
                template=template,
                params=params,
                idempotency_key=f"case-{case.id}-ev-{record.seq}-{kind}-{recipient_id}",
                now=record.at,
                case_id=case.id,
            )
            count += 1
    return count


def reminder_recipients(case: Case, stage: str) -> list[tuple[str, str]]:
    """Who holds the case for `stage`: the grid worker to respond; the department once it has the case."""
    department_holds = stage == "handle" or (stage == "dispatch" and case.state == "dispatched")
    if department_holds and case.department_key:
        return [("department", case.department_key)]
    return [("person", case.worker_id)] if case.worker_id else [("department", COMMAND_CENTRE_DEPARTMENT)]


def enqueue_reminder(session: Session, case: Case, item: DueItem, now: datetime) -> int:
    """Warn the current holder that the `item.stage` limit runs out soon (once per due item)."""
    params = {
        "case_code": case.code,
        "category": case.category,
        "description": mask_text(case.description)[:500],
        "address": mask_text(case.address or ""),
        "stage": item.stage,
        "limit": item.limit_text,
        "due_at": item.due_at.isoformat(),
        "due_local": item.due_at.astimezone(SHANGHAI).strftime("%m-%d %H:%M"),
    }
    count = 0
    for kind, recipient_id in reminder_recipients(case, item.stage):
        enqueue(
            session,
            recipient_kind=kind,
            recipient_id=recipient_id,
            template="task.reminder",
            params=params,
            idempotency_key=f"due-{item.id}-remind-{kind}-{recipient_id}",
            now=now,
            case_id=case.id,
        )
        count += 1
    return count
