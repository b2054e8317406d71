"""The transactional outbox: messages are written with the state change and delivered afterwards.

`enqueue` adds a row in the caller's transaction. `deliver_due` is the delivery worker: it leases a
batch of due rows (FOR UPDATE SKIP LOCKED on PostgreSQL, the write lock on SQLite) in a short
transaction, sends them outside any transaction, then records each outcome. A worker that dies
mid-send leaves the lease to expire and the message is sent again with the same idempotency key,
which senders pass on so the far side can drop the repeat (at-least-once delivery).

Failures retry on a deterministic exponential schedule (30 s, 60 s, 120 s, ... capped at one hour);
after `max_attempts` failures, or at once on a permanent error, the message is parked: never
dropped, listed by `parked_messages`, and put back by `resume_parked`.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol

from sqlalchemy import select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from storage.errors import NotificationFailed, StorageInputError
from storage.models import ChatBinding, ConsoleMessage, OutboxMessage, Resident
from storage.privacy import mask_text
from storage.templates import render
from storage.timeutil import require_aware, utcnow

logger = logging.getLogger(__name__)

BACKOFF_BASE = timedelta(seconds=30)
BACKOFF_CAP = timedelta(hours=1)
# With the backoff capped at an hour, 12 attempts span about 5 hours: an API outage of a few hours is
# retried through without a manual step; only then is a message parked (never dropped).
DEFAULT_MAX_ATTEMPTS = 12
LEASE = timedelta(minutes=5)
CONSOLE = "console"
# Params that may carry a resident's free text; masked (phones, ID numbers, plates) for every staff recipient.
FREE_TEXT_PARAMS = ("text", "description", "address", "reason")


@dataclass(frozen=True)
class OutgoingMessage:
    """What a sender gets: who, where (channel-specific address), what (template + params), and the key."""

    id: int
    channel: str
    recipient_kind: str
    recipient_id: str
    address: str
    template: str
    params: dict[str, Any]
    idempotency_key: str
    attempt: int


class Sender(Protocol):
    """Delivers one message or raises NotificationFailed (retryable) / PermanentSendError."""

    def send(self, message: OutgoingMessage) -> None: ...


@dataclass
class DeliveryReport:
    """What one `deliver_due` pass did (message ids by outcome)."""

    sent: list[int] = field(default_factory=list)
    retried: list[int] = field(default_factory=list)
    parked: list[int] = field(default_factory=list)


def backoff(attempts: int) -> timedelta:
    """Delay before the next try after `attempts` failures: 30 s * 2^(attempts-1), at most one hour."""
    return min(BACKOFF_BASE * (2 ** max(attempts - 1, 0)), BACKOFF_CAP)


def resolve_channel(session: Session, recipient_kind: str, recipient_id: str) -> tuple[str, str]:
    """(channel, address) for a recipient: the resident's own channel, a chat binding, else the console."""
    if recipient_kind == "resident":
        channel = session.execute(select(Resident.channel).where(Resident.openid == recipient_id)).scalar()
        return (channel or CONSOLE, recipient_id)
    column = {"person": ChatBinding.person_id, "department": ChatBinding.department_key}.get(recipient_kind)
    if column is None:
        raise StorageInputError(f"unknown recipient kind {recipient_kind!r}")
    binding = (
        session.execute(
            select(ChatBinding).where(column == recipient_id).order_by(ChatBinding.channel, ChatBinding.id)
        )
        .scalars()
        .first()
    )
    return (binding.channel, binding.chat_id) if binding else (CONSOLE, recipient_id)


def enqueue(
    session: Session,
    *,
    recipient_kind: str,
    recipient_id: str,
    template: str,
    params: Mapping[str, Any],
    idempotency_key: str,
    now: datetime,
    case_id: int | None = None,
    channel: str | None = None,
) -> OutboxMessage:
    """Add an outgoing message to the caller's transaction (it commits or rolls back with it)."""
    now = require_aware(now, "now")
    if recipient_kind != "resident":  # staff chats, group chats included, never see raw personal data
        params = {
            key: mask_text(value) if key in FREE_TEXT_PARAMS and isinstance(value, str) else value
            for key, value in params.items()
        }
    address = recipient_id
    if channel is None:
        channel, address = resolve_channel(session, recipient_kind, recipient_id)
    message = OutboxMessage(
        channel=channel,
        recipient_kind=recipient_kind,
        recipient_id=recipient_id,
        template=template,
        payload={"address": address, "params": dict(params)},
        idempotency_key=idempotency_key,
        case_id=case_id,
        status="pending",
        attempts=0,
        next_attempt_at=now,
        created_at=now,
    )
    session.add(message)
    return message


def _lease_batch(session: Session, now: datetime, limit: int) -> list[OutgoingMessage]:
    query = (
        select(OutboxMessage)
        .where(OutboxMessage.status == "pending", OutboxMessage.next_attempt_at <= now)
        .order_by(OutboxMessage.next_attempt_at, OutboxMessage.id)
        .limit(limit)
    )
    if session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True)
    batch = []
    for row in session.execute(query).scalars():
        row.attempts += 1
        row.next_attempt_at = now + LEASE  # if this worker dies, the message comes back after the lease
        batch.append(
            OutgoingMessage(
                id=row.id,
                channel=row.channel,
                recipient_kind=row.recipient_kind,
                recipient_id=row.recipient_id,
                address=row.payload.get("address", row.recipient_id),
                template=row.template,
                params=dict(row.payload.get("params", {})),
                idempotency_key=row.idempotency_key,
                attempt=row.attempts,
            )
        )
    return batch


def _record_outcome(
    session: Session,
    message: OutgoingMessage,
    error: NotificationFailed | None,
    now: datetime,
    max_attempts: int,
) -> str:
    row = session.get(OutboxMessage, message.id)
    if row is None or row.status != "pending":
        return "gone"
    if error is None:
        row.status, row.sent_at, row.last_error = "sent", now, None
        return "sent"
    row.last_error = error.detail[:2000]
    if not error.retryable or row.attempts >= max_attempts:
        row.status, row.parked_at = "parked", now
        logger.warning("outbox message %s parked after %s attempts: %s", row.id, row.attempts, error.detail)
        return "parked"
    row.next_attempt_at = now + backoff(row.attempts)
    return "retried"


def deliver_due(
    session_factory: Callable[[], Session],
    senders: Mapping[str, Sender],
    now: datetime,
    *,
    limit: int = 100,
    max_attempts: int = DEFAULT_MAX_ATTEMPTS,
) -> DeliveryReport:
    """Send every message due at `now` through the sender for its channel (`"*"` is the fallback sender).

    A channel with no sender counts as a permanent failure: the message is parked with that reason.
    """
    now = require_aware(now, "now")
    with session_factory() as session, session.begin():
        batch = _lease_batch(session, now, limit)
    report = DeliveryReport()
    for message in batch:
        error: NotificationFailed | None = None
        sender = senders.get(message.channel) or senders.get("*")
        try:
            if sender is None:
                raise NotificationFailed(f"no sender for channel {message.channel!r}", retryable=False)
            sender.send(message)
        except NotificationFailed as failure:
            error = failure
        except Exception as unexpected:  # a sender bug must not lose the message: retry, then park
            logger.exception("sender for %s raised unexpectedly", message.channel)
            error = NotificationFailed(f"{type(unexpected).__name__}: {unexpected}", retryable=True)
        with session_factory() as session, session.begin():
            outcome = _record_outcome(session, message, error, now, max_attempts)
        {"sent": report.sent, "retried": report.retried, "parked": report.parked}.get(outcome, []).append(
            message.id
        )
    return report


def deliver_loop(
    session_factory: Callable[[], Session],
    senders: Mapping[str, Sender],
    stop: threading.Event,
    *,
    interval_s: float = 2.0,
    clock: Callable[[], datetime] = utcnow,
    limit: int = 100,
) -> DeliveryReport:
    """Run `deliver_due` every `interval_s` until `stop` is set; returns the accumulated report.

    A full batch is followed at once by another; a pass that raises is logged and retried next tick.
    """
    total = DeliveryReport()
    while True:
        try:
            report = deliver_due(session_factory, senders, clock(), limit=limit)
        except Exception:
            logger.exception("outbox delivery pass failed; retrying next tick")
            report = DeliveryReport()
        total.sent += report.sent
        total.retried += report.retried
        total.parked += report.parked
        handled = len(report.sent) + len(report.retried) + len(report.parked)
        if stop.is_set() or (handled < limit and stop.wait(interval_s)):
            return total


def parked_messages(session: Session, *, case_id: int | None = None) -> list[OutboxMessage]:
    """Messages that kept failing, newest first (what the console's "stuck messages" view lists)."""
    query = select(OutboxMessage).where(OutboxMessage.status == "parked")
    if case_id is not None:
        query = query.where(OutboxMessage.case_id == case_id)
    return list(session.execute(query.order_by(OutboxMessage.parked_at.desc(), OutboxMessage.id)).scalars())


def resume_parked(session: Session, now: datetime, ids: Sequence[int] | None = None) -> int:
    """Put parked messages (all, or these ids) back in the queue with a fresh attempt budget."""
    now = require_aware(now, "now")
    statement = update(OutboxMessage).where(OutboxMessage.status == "parked")
    if ids is not None:
        statement = statement.where(OutboxMessage.id.in_(list(ids)))
    result = session.execute(
        statement.values(status="pending", attempts=0, next_attempt_at=now, parked_at=None).execution_options(
            synchronize_session="fetch"
        )
    )
    return int(result.rowcount or 0)


def _text_for(message: OutgoingMessage) -> str | None:
    try:
        return render(message.template, message.params)
    except KeyError:  # a template without a default text: the console shows key and params instead
        return None


class LocalConsoleSender:
    """Local mode's sender: records each message in `console_messages` for the web console to show.

    Idempotent by the message's key: a repeat delivery (after a lost acknowledgement) is a no-op.
    """

    def __init__(self, session_factory: Callable[[], Session], *, channel_name: str = CONSOLE) -> None:
        self._session_factory = session_factory
        self._channel_name = channel_name

    def send(self, message: OutgoingMessage) -> None:
        """Store the message (insert-or-ignore on the idempotency key)."""
        values = {
            "idempotency_key": message.idempotency_key,
            "channel": message.channel,
            "recipient_kind": message.recipient_kind,
            "recipient_id": message.recipient_id,
            "template": message.template,
            "payload": {"address": message.address, "params": message.params, "text": _text_for(message)},
            "delivered_at": utcnow(),
        }
        with self._session_factory() as session, session.begin():
            insert = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
            statement = (
                insert(ConsoleMessage)
                .values(**values)
                .on_conflict_do_nothing(index_elements=["idempotency_key"])
            )
            session.execute(statement)
        logger.info("console: %s -> %s %s", message.template, message.recipient_kind, message.recipient_id)
