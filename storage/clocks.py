"""Which time limits run when: arming and cancelling a case's due items as its events happen.

respond runs from report until the grid worker responds; dispatch from the response until a
department signs (or the worker settles it on site); handle from signing until handled. A stage's
clock is armed once per cycle (a reopening starts a new cycle with a fresh dispatch clock), so a
department's return does not reset it: "the clock keeps running".
"""

from __future__ import annotations

import logging
from datetime import datetime

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from routing.sla import due_at, load_sla
from storage.lifecycle import CaseEvent
from storage.models import Case, CaseEventRecord, DueItem

logger = logging.getLogger(__name__)

MAX_LEVEL = 3  # 1 community, 2 street office, 3 command centre (DZZX)
REMIND_AT_FRACTION = 0.8  # warn the current holder when 80% of a limit has passed

# event -> (stages whose pending clocks stop, stage whose clock starts)
CLOCK_RULES: dict[CaseEvent, tuple[tuple[str, ...], str | None]] = {
    CaseEvent.REPORT: ((), "respond"),
    CaseEvent.RESPOND: (("respond",), "dispatch"),
    CaseEvent.SIGN: (("dispatch",), "handle"),
    CaseEvent.HANDLE: (("respond", "dispatch", "handle"), None),
    CaseEvent.HANDLE_ON_SITE: (("respond", "dispatch", "handle"), None),
    CaseEvent.CONFIRM: (("respond", "dispatch", "handle"), None),
    CaseEvent.CANCEL: (("respond", "dispatch", "handle"), None),
    CaseEvent.MERGE_DUPLICATE: (("respond", "dispatch", "handle"), None),
    CaseEvent.REOPEN: (("respond", "dispatch", "handle"), "dispatch"),
}


def current_cycle(session: Session, case_id: int) -> int:
    """How many times the case has been reopened (0 before the first reopening)."""
    return int(
        session.execute(
            select(func.count())
            .select_from(CaseEventRecord)
            .where(CaseEventRecord.case_id == case_id, CaseEventRecord.event == CaseEvent.REOPEN.value)
        ).scalar_one()
    )


def cancel_pending(session: Session, case_id: int, stages: tuple[str, ...]) -> int:
    """Cancel the case's pending due items of these stages; returns how many."""
    if not stages:
        return 0
    result = session.execute(
        update(DueItem)
        .where(DueItem.case_id == case_id, DueItem.status == "pending", DueItem.stage.in_(stages))
        .values(status="cancelled")
        .execution_options(synchronize_session="fetch")
    )
    return int(result.rowcount or 0)


def arm(
    session: Session, case: Case, stage: str, start: datetime, *, cycle: int, escalate_to: int
) -> DueItem | None:
    """Schedule the `stage` limit from `start`, firing an escalation to `escalate_to`.

    Returns None (and schedules nothing) when the same stage, cycle and level already has an item.
    """
    exists = session.execute(
        select(DueItem.id).where(
            DueItem.case_id == case.id,
            DueItem.stage == stage,
            DueItem.cycle == cycle,
            DueItem.escalate_to == escalate_to,
        )
    ).first()
    if exists:
        return None
    limit = load_sla().limit_for(case.urgency, stage)
    deadline = due_at(start, limit)
    item = DueItem(
        case_id=case.id,
        stage=stage,
        cycle=cycle,
        escalate_to=min(escalate_to, MAX_LEVEL),
        limit_text=limit,
        started_at=start,
        due_at=deadline,
        remind_at=start + (deadline - start) * REMIND_AT_FRACTION,
        status="pending",
    )
    session.add(item)
    return item


def on_event(session: Session, case: Case, event: CaseEvent, now: datetime) -> None:
    """Stop and start the case's clocks for `event` (ESCALATE is the scheduler's business)."""
    stops, starts = CLOCK_RULES.get(event, ((), None))
    cancel_pending(session, case.id, stops)
    if starts is None:
        return
    cycle = current_cycle(session, case.id)
    already = session.execute(
        select(DueItem.id).where(DueItem.case_id == case.id, DueItem.stage == starts, DueItem.cycle == cycle)
    ).first()
    if already is None:  # armed once per cycle: a return and re-dispatch keeps the first clock
        arm(session, case, starts, now, cycle=cycle, escalate_to=min(case.escalation_level + 1, MAX_LEVEL))
