"""The SLA scheduler: claims due items from the database and fires the escalations they stand for.

A missed limit escalates the case one level (grid worker -> community -> street office -> DZZX),
records an `escalate` event, schedules the same stage's limit again for the next level, and
enqueues messages to the person escalated to and to the resident. Claiming and firing happen in one
transaction: a scheduler killed before commit leaves every item pending for the next run (nothing
missed), and a committed item is `fired`, so it is never claimed again (nothing doubled).

Several schedulers may run: on PostgreSQL `claim_due` locks rows with FOR UPDATE SKIP LOCKED so
each item goes to exactly one of them; on SQLite every transaction begins IMMEDIATE (storage.db), so
schedulers take turns holding the single write lock, which is the safe equivalent.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from storage import clocks
from storage.cases import apply_event
from storage.lifecycle import OPEN_STATES, CaseEvent, CaseState
from storage.models import Case, DueItem
from storage.notifications import enqueue_reminder
from storage.timeutil import require_aware, utcnow

logger = logging.getLogger(__name__)


def claim_due(session: Session, now: datetime, limit: int, worker_id: str) -> list[DueItem]:
    """Lock and return up to `limit` pending items due at or before `now`, oldest first.

    Call at the start of a transaction; the claim lasts until it commits or rolls back.
    """
    now = require_aware(now, "now")
    query = (
        select(DueItem)
        .where(DueItem.status == "pending", DueItem.due_at <= now)
        .order_by(DueItem.due_at, DueItem.id)
        .limit(limit)
    )
    if session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True)
    items = list(session.execute(query).scalars())
    logger.debug("scheduler %s claimed %d due items", worker_id, len(items))
    return items


def fire(session: Session, item: DueItem, now: datetime, worker_id: str) -> bool:
    """Fire one claimed item: escalate its case and arm the next level. False if the case moved on."""
    now = require_aware(now, "now")
    case = session.get(Case, item.case_id)
    still_open = case is not None and CaseState(case.state) in OPEN_STATES
    item.status, item.fired_at, item.fired_by = ("fired" if still_open else "cancelled"), now, worker_id
    if case is None or not still_open:
        return False
    # One level above where the case is now (a manual escalation since arming counts too).
    level = min(int(case.escalation_level) + 1, clocks.MAX_LEVEL)
    apply_event(
        session,
        case,
        CaseEvent.ESCALATE,
        actor=f"scheduler:{worker_id}",
        now=now,
        payload={
            "reason": "overdue",
            "stage": item.stage,
            "limit": item.limit_text,
            "due_at": item.due_at.isoformat(),
            "level": level,
        },
    )
    if level < clocks.MAX_LEVEL:
        clocks.arm(session, case, item.stage, now, cycle=item.cycle, escalate_to=level + 1)
    return True


def claim_reminders(session: Session, now: datetime, limit: int, worker_id: str) -> list[DueItem]:
    """Lock and return pending items whose reminder time has come (and whose limit has not yet passed)."""
    now = require_aware(now, "now")
    query = (
        select(DueItem)
        .where(
            DueItem.status == "pending",
            DueItem.reminded_at.is_(None),
            DueItem.remind_at <= now,
            DueItem.due_at > now,
        )
        .order_by(DueItem.remind_at, DueItem.id)
        .limit(limit)
    )
    if session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True)
    return list(session.execute(query).scalars())


def remind(session: Session, item: DueItem, now: datetime) -> bool:
    """Warn the case's current holder about one claimed item; marks it reminded (never twice)."""
    item.reminded_at = require_aware(now, "now")
    case = session.get(Case, item.case_id)
    if case is None or CaseState(case.state) not in OPEN_STATES:
        return False
    return enqueue_reminder(session, case, item, now) > 0


def run_reminders(
    session_factory: Callable[[], Session], now: datetime, *, worker_id: str, limit: int = 100
) -> int:
    """One reminder pass in one transaction; returns how many items reminded their holder."""
    with session_factory() as session, session.begin():
        return sum(remind(session, item, now) for item in claim_reminders(session, now, limit, worker_id))


def run_due(
    session_factory: Callable[[], Session], now: datetime, *, worker_id: str, limit: int = 100
) -> int:
    """One scheduler pass in one transaction: claim what is due and fire it. Returns the number fired."""
    with session_factory() as session, session.begin():
        fired = sum(fire(session, item, now, worker_id) for item in claim_due(session, now, limit, worker_id))
    if fired:
        logger.info("scheduler %s fired %d escalations", worker_id, fired)
    return fired


def pending_items(session: Session, case_id: int) -> list[DueItem]:
    """The case's pending due items, soonest first (for the console and status replies)."""
    return list(
        session.execute(
            select(DueItem)
            .where(DueItem.case_id == case_id, DueItem.status == "pending")
            .order_by(DueItem.due_at, DueItem.id)
        ).scalars()
    )


def run_loop(
    session_factory: Callable[[], Session],
    stop: threading.Event,
    *,
    worker_id: str,
    interval_s: float = 15.0,
    clock: Callable[[], datetime] = utcnow,
    limit: int = 100,
) -> int:
    """Run scheduler passes (escalations, then reminders) every `interval_s` until `stop` is set.

    Returns the number of escalations fired.

    A full batch is followed at once by another pass, so a backlog drains without waiting; `stop` is
    honoured after the pass in progress. A pass that raises is logged and retried on the next tick
    (its transaction rolled back, nothing lost).
    """
    total = 0
    while True:
        try:
            now = clock()
            fired = run_due(session_factory, now, worker_id=worker_id, limit=limit)
            run_reminders(session_factory, now, worker_id=worker_id, limit=limit)
        except Exception:
            logger.exception("scheduler %s pass failed; retrying next tick", worker_id)
            fired = 0
        total += fired
        if stop.is_set() or (fired < limit and stop.wait(interval_s)):
            return total
