"""Shared set-up for the two-worker tests: overdue cases and queued messages on a PostgreSQL schema.

Used by tests/scaleout/test_scaleout_workers.py and tests/faults/test_kill9_worker.py.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from storage.dedupe import first_seen
from storage.models import CaseEventRecord, DueItem, OutboxMessage
from storage.outbox import enqueue
from tests.storage.conftest import Org, build_org, new_case


@dataclass(frozen=True)
class Workload:
    org: Org
    case_ids: list[int]
    resident_texts: list[str]
    worker_texts: list[str]


def queue_workload(session: Session, now: datetime, cases: int, messages: int) -> Workload:
    """`cases` urgent cases opened 2 hours ago (their respond limits are missed) and `messages` pushes each to
    the resident (WeChat) and the grid worker (Telegram chat 1001), each with a text of its own."""
    org = build_org(session)
    first_seen(
        session, "wechat", f"{org.resident_openid}:m:1", now
    )  # the resident wrote: the 48-hour window is open
    session.commit()
    case_ids = [
        new_case(session, org, now - timedelta(hours=2, seconds=i), urgency="urgent").id for i in range(cases)
    ]
    resident_texts = [f"居民消息 {i:03d}" for i in range(messages)]
    worker_texts = [f"网格员消息 {i:03d}" for i in range(messages)]
    for i, text in enumerate(resident_texts):
        enqueue(
            session,
            recipient_kind="resident",
            recipient_id=org.resident_openid,
            template="wechat.text",
            params={"text": text},
            idempotency_key=f"scale:resident:{i}",
            now=now,
        )
    for i, text in enumerate(worker_texts):
        enqueue(
            session,
            recipient_kind="person",
            recipient_id=org.worker,
            template="telegram.text",
            params={"text": text},
            idempotency_key=f"scale:worker:{i}",
            now=now,
        )
    session.commit()
    return Workload(org, case_ids, resident_texts, worker_texts)


def pending_work(session: Session, now: datetime, *, leased: bool = True) -> int:
    """Outbox rows still pending (with `leased=False`, only those due at `now`: not held by a worker's lease)
    plus due items past their limit still pending."""
    query = select(func.count()).select_from(OutboxMessage).where(OutboxMessage.status == "pending")
    if not leased:
        query = query.where(OutboxMessage.next_attempt_at <= now)
    outbox = session.execute(query).scalar_one()
    due = session.execute(
        select(func.count()).select_from(DueItem).where(DueItem.status == "pending", DueItem.due_at <= now)
    ).scalar_one()
    session.rollback()
    return int(outbox) + int(due)


def escalations(session: Session) -> Counter[tuple[int, int]]:
    rows = session.execute(
        select(CaseEventRecord.case_id, CaseEventRecord.escalation_level).where(
            CaseEventRecord.event == "escalate"
        )
    ).all()
    session.rollback()
    return Counter((case_id, level) for case_id, level in rows)


def fired_by(session: Session) -> Counter[str]:
    rows = session.execute(select(DueItem.fired_by).where(DueItem.status == "fired")).scalars().all()
    session.rollback()
    return Counter(str(worker).split("@")[0] for worker in rows)


def outbox_report(session: Session) -> str:
    """Outbox rows by channel and status, with one error per group: the message for a failed wait."""
    rows = session.execute(
        select(
            OutboxMessage.channel, OutboxMessage.status, func.count(), func.max(OutboxMessage.last_error)
        ).group_by(OutboxMessage.channel, OutboxMessage.status)
    ).all()
    session.rollback()
    return "; ".join(f"{channel}/{status}: {count} ({error})" for channel, status, count, error in rows)
