"""Open311 idempotency keys: a client retrying a POST (same `Idempotency-Key`) gets the first answer again.

Follows draft-ietf-httpapi-idempotency-key-header. A key is scoped per client (the SHA-256 of its API key),
and its record is written in the transaction that opens the case (bot.web.open311_intake.open_request), so
there is never a case without its record or a record without its case. The unique constraint on (client, key)
settles two concurrent first attempts: the second one's write fails and it answers with the first one's case.
Records are kept for `RETENTION` (the draft's example is 24 hours), then the worker prunes them (bot.worker).
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from storage.models import Open311IdempotencyKey
from storage.timeutil import require_aware

logger = logging.getLogger(__name__)

RETENTION = timedelta(hours=24)
MAX_KEY_LENGTH = 255


@dataclass(frozen=True)
class IdempotentPost:
    """Who sent a POST under which key, and what it asked for (`fingerprint`)."""

    client_digest: str
    key: str
    fingerprint: str


@dataclass(frozen=True)
class RecordedAnswer:
    """The answer a key's first POST got."""

    fingerprint: str
    case_code: str
    service_notice: str


def client_digest(api_key: str) -> str:
    """SHA-256 (hex) of an API key: scopes idempotency keys per client without storing the key."""
    return hashlib.sha256(api_key.encode("utf-8", "surrogatepass")).hexdigest()


def fingerprint(fields: Mapping[str, Any]) -> str:
    """SHA-256 (hex) of validated request fields: independent of their order and of the body's encoding."""
    canonical = json.dumps(fields, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def recorded_answer(session: Session, client: str, key: str) -> RecordedAnswer | None:
    """The answer recorded for (client, key), or None if the key is new (or was pruned)."""
    row = session.execute(
        select(Open311IdempotencyKey).where(
            Open311IdempotencyKey.client_digest == client, Open311IdempotencyKey.idempotency_key == key
        )
    ).scalar_one_or_none()
    if row is None:
        return None
    return RecordedAnswer(row.fingerprint, row.case_code, row.service_notice)


def record_answer(
    session: Session, post: IdempotentPost, case_code: str, service_notice: str, now: datetime
) -> None:
    """Record the answer in the caller's transaction. Flushed at once: if a concurrent first attempt committed
    the same key, this raises IntegrityError (and the caller's transaction, with its case, rolls back)."""
    session.add(
        Open311IdempotencyKey(
            client_digest=post.client_digest,
            idempotency_key=post.key,
            fingerprint=post.fingerprint,
            case_code=case_code,
            service_notice=service_notice,
            created_at=require_aware(now, "now"),
        )
    )
    session.flush()


def prune_answers(session: Session, older_than: datetime) -> int:
    """Forget keys recorded before `older_than`; returns how many. A retry after that opens a new case."""
    result = session.execute(
        delete(Open311IdempotencyKey).where(
            Open311IdempotencyKey.created_at < require_aware(older_than, "older_than")
        )
    )
    return int(result.rowcount or 0)
