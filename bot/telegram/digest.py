"""The daily digest of overdue cases for the escalation chats (community, street office, command centre).

`enqueue_overdue_digest` writes one outbox message per recipient listing the overdue cases in their
unit; the Telegram app schedules it daily on PTB's JobQueue. Written through the outbox like every other
notification, so the digest reaches whichever channel the recipient is bound to, exactly once a day.
"""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from datetime import datetime, time

from sqlalchemy.orm import Session
from telegram.ext import ContextTypes

from storage.notifications import escalation_targets
from storage.outbox import enqueue
from storage.queries import overdue_cases
from storage.timeutil import SHANGHAI, shanghai_date

logger = logging.getLogger(__name__)

DIGEST_AT = time(8, 30, tzinfo=SHANGHAI)
MAX_LINES = 50


def enqueue_overdue_digest(session: Session, now: datetime) -> int:
    """Queue today's digest for every community, street office and the command centre with overdue cases.

    Returns the number of messages queued (a second call on the same day queues none: same keys).
    """
    by_recipient: dict[tuple[str, str], list[str]] = defaultdict(list)
    for case in overdue_cases(session, now):
        line = f"{case.code} [{case.state}] {case.category or ''} 督办{case.escalation_level}级"
        for level in (1, 2, 3):
            for recipient in escalation_targets(session, case, level):
                if line not in by_recipient[recipient]:
                    by_recipient[recipient].append(line)
    day = shanghai_date(now).strftime("%Y%m%d")
    count = 0
    for (kind, recipient_id), lines in sorted(by_recipient.items()):
        key = f"digest-{day}-{kind}-{recipient_id}"
        if _already_queued(session, key):
            continue
        more = f"\n……另有 {len(lines) - MAX_LINES} 件" if len(lines) > MAX_LINES else ""
        text = f"【超时事项日报 {day}】共 {len(lines)} 件：\n" + "\n".join(lines[:MAX_LINES]) + more
        enqueue(
            session,
            recipient_kind=kind,
            recipient_id=recipient_id,
            template="telegram.text",
            params={"text": text},
            idempotency_key=key,
            now=now,
        )
        count += 1
    return count


def _already_queued(session: Session, key: str) -> bool:
    from sqlalchemy import select

    from storage.models import OutboxMessage

    return (
        session.execute(select(OutboxMessage.id).where(OutboxMessage.idempotency_key == key)).first()
        is not None
    )


async def digest_job(context: ContextTypes.DEFAULT_TYPE) -> None:
    """JobQueue callback: queue today's digest (the outbox worker sends it)."""
    svc = context.application.bot_data["services"]

    def run() -> int:
        with svc.session_factory() as session, session.begin():
            return enqueue_overdue_digest(session, svc.clock())

    logger.info("overdue digest: %d messages queued", await asyncio.to_thread(run))
