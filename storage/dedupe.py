"""Inbound dedupe: WeChat retries a message it got no answer for, so every inbound key is recorded once."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from sqlalchemy import delete
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from storage.models import InboundDedupe
from storage.timeutil import require_aware

logger = logging.getLogger(__name__)

# What reads these keys looks back at most 48 hours (WeChat's customer-service window, bot.senders.wechat); the
# rate limit, retries (seconds) and replays (refused by timestamp after minutes) far less. A week keeps a margin.
INBOUND_RETENTION = timedelta(days=7)


def first_seen(session: Session, channel: str, key: str, now: datetime) -> bool:
    """Record (channel, key) and say whether it is new; False means a repeat to drop.

    Atomic (INSERT ... ON CONFLICT DO NOTHING), so two webhook workers racing on one retry agree.
    The key is committed with the caller's transaction.
    """
    if not key:
        raise ValueError("a dedupe key must not be empty")
    insert = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    result = session.execute(
        insert(InboundDedupe)
        .values(channel=channel, key=key, seen_at=require_aware(now, "now"))
        .on_conflict_do_nothing(index_elements=["channel", "key"])
    )
    return bool(result.rowcount)


def prune_seen(session: Session, older_than: datetime) -> int:
    """Forget keys seen before `older_than` (WeChat retries only within seconds); returns how many."""
    result = session.execute(
        delete(InboundDedupe).where(InboundDedupe.seen_at < require_aware(older_than, "older_than"))
    )
    return int(result.rowcount or 0)
