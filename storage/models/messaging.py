"""The transactional outbox, the local console's delivered messages, inbound dedupe keys, SLA due items,
pending photo requests and Open311 idempotency keys."""

from __future__ import annotations

import logging

from sqlalchemy import CheckConstraint, Column, ForeignKey, Index, Integer, String, Text, UniqueConstraint

from storage.models.base import Base, JsonDoc
from storage.timeutil import UTCDateTime

logger = logging.getLogger(__name__)


class OutboxMessage(Base):
    """One outgoing message, written in the same transaction as the state change that caused it.

    Channel-neutral: `recipient_kind` (resident | person | department) and `recipient_id` say who,
    `template` and `params` (inside `payload`) say what; `channel` names the sender that will deliver
    it (chosen at enqueue from the resident's channel or the recipient's chat binding, else `console`).
    status: pending -> sent, or pending -> parked after `max_attempts` failures (never dropped).
    """

    __tablename__ = "outbox"

    id = Column(Integer, primary_key=True, autoincrement=True)
    channel = Column(String(16), nullable=False)
    recipient_kind = Column(String(16), nullable=False)
    recipient_id = Column(String(64), nullable=False)
    template = Column(String(64), nullable=False)
    payload = Column(JsonDoc, nullable=False)
    idempotency_key = Column(String(160), nullable=False, unique=True)
    case_id = Column(Integer, ForeignKey("cases.id"), nullable=True, index=True)
    status = Column(String(16), nullable=False, default="pending")
    attempts = Column(Integer, nullable=False, default=0)
    next_attempt_at = Column(UTCDateTime, nullable=False)
    last_error = Column(Text, nullable=True)
    created_at = Column(UTCDateTime, nullable=False)
    sent_at = Column(UTCDateTime, nullable=True)
    parked_at = Column(UTCDateTime, nullable=True)

    __table_args__ = (
        CheckConstraint("status IN ('pending', 'sent', 'parked')", name="status"),
        Index("ix_outbox_due", "status", "next_attempt_at"),
    )


class ConsoleMessage(Base):
    """A message delivered by the LocalConsoleSender (local mode): what the web console shows."""

    __tablename__ = "console_messages"

    id = Column(Integer, primary_key=True, autoincrement=True)
    idempotency_key = Column(String(160), nullable=False, unique=True)
    channel = Column(String(16), nullable=False)
    recipient_kind = Column(String(16), nullable=False)
    recipient_id = Column(String(64), nullable=False, index=True)
    template = Column(String(64), nullable=False)
    payload = Column(JsonDoc, nullable=False)
    delivered_at = Column(UTCDateTime, nullable=False)


class InboundDedupe(Base):
    """Inbound message keys already seen (WeChat MsgId, FromUserName+CreateTime, Telegram update_id)."""

    __tablename__ = "inbound_dedupe"

    id = Column(Integer, primary_key=True, autoincrement=True)
    channel = Column(String(16), nullable=False)
    key = Column(String(128), nullable=False)
    seen_at = Column(UTCDateTime, nullable=False, index=True)

    __table_args__ = (UniqueConstraint("channel", "key"),)


class Open311IdempotencyKey(Base):
    """An Open311 POST that carried an `Idempotency-Key` header, and the answer it got.

    Written in the same transaction as the case it opened, so a retry finds either both or neither.
    Scoped per client: `client_digest` is the SHA-256 (hex) of the API key, never the key itself.
    `fingerprint` (SHA-256 hex of the validated fields) tells a retry from a different request reusing
    the key. Kept for `storage.idempotency.RETENTION`, then pruned by the worker.
    """

    __tablename__ = "open311_idempotency_keys"

    id = Column(Integer, primary_key=True, autoincrement=True)
    client_digest = Column(String(64), nullable=False)
    idempotency_key = Column(String(255), nullable=False)
    fingerprint = Column(String(64), nullable=False)
    case_code = Column(String(20), ForeignKey("cases.code"), nullable=False)
    service_notice = Column(Text, nullable=False)
    created_at = Column(UTCDateTime, nullable=False, index=True)

    __table_args__ = (UniqueConstraint("client_digest", "idempotency_key"),)


class DueItem(Base):
    """A time limit of the chain 呼叫→响应→调度→处置 that the scheduler must check.

    `stage` is respond | dispatch | handle; `cycle` counts reopenings (0 first time) so a stage's
    clock is armed once per cycle and keeps running across a department's return. When `due_at`
    passes while still pending, the scheduler fires it: the case escalates to `escalate_to`
    (1 community, 2 street office, 3 command centre). status: pending -> fired | cancelled.
    """

    __tablename__ = "due_items"

    id = Column(Integer, primary_key=True, autoincrement=True)
    case_id = Column(Integer, ForeignKey("cases.id"), nullable=False, index=True)
    stage = Column(String(16), nullable=False)
    cycle = Column(Integer, nullable=False, default=0)
    escalate_to = Column(Integer, nullable=False)
    limit_text = Column(String(16), nullable=False)
    started_at = Column(UTCDateTime, nullable=False)
    due_at = Column(UTCDateTime, nullable=False)
    status = Column(String(16), nullable=False, default="pending")
    fired_at = Column(UTCDateTime, nullable=True)
    fired_by = Column(String(64), nullable=True)
    remind_at = Column(UTCDateTime, nullable=True)  # when to warn whoever holds the case (80% of the limit)
    reminded_at = Column(UTCDateTime, nullable=True)

    __table_args__ = (
        CheckConstraint("status IN ('pending', 'fired', 'cancelled')", name="status"),
        CheckConstraint("escalate_to BETWEEN 1 AND 3", name="escalate_to"),
        UniqueConstraint("case_id", "stage", "cycle", "escalate_to"),
        Index("ix_due_items_pending", "status", "due_at"),
        Index("ix_due_items_remind", "status", "remind_at"),
    )


class PendingPhoto(Base):
    """A chat waiting for an "after" photo: someone pressed 现场处置完成 or 办结 and the next photo finishes it.

    One row per (channel, user, chat); a later press replaces it, the photo that finishes it deletes it.
    Kept in the database so a restart of the bot process forgets nothing.
    """

    __tablename__ = "pending_photos"

    id = Column(Integer, primary_key=True, autoincrement=True)
    channel = Column(String(16), nullable=False)
    user_id = Column(String(64), nullable=False)
    chat_id = Column(String(64), nullable=False)
    case_id = Column(Integer, ForeignKey("cases.id"), nullable=False, index=True)
    action = Column(String(16), nullable=False)
    created_at = Column(UTCDateTime, nullable=False)

    __table_args__ = (UniqueConstraint("channel", "user_id", "chat_id"),)


class InboundTurn(Base):
    """A resident's message that was acknowledged (WeChat got `success`) and must still run as a Rasa turn.

    Written in the same transaction as its `inbound_dedupe` row, so an acknowledged message is never lost:
    a Rasa process that dies mid-turn leaves the row `pending`, and a restarted (or another) instance runs
    it again. `payload` is the normalised message (msg_type, text, metadata, reply, media_id). `owner` is the
    process running it (`<instance>:<boot id>`); `lease_until` is when another instance may take it over.
    status: pending -> done, or pending -> failed after `attempts` tries (logged, never silently dropped).
    """

    __tablename__ = "inbound_turns"

    id = Column(Integer, primary_key=True, autoincrement=True)
    channel = Column(String(16), nullable=False)
    key = Column(String(128), nullable=False)
    sender_id = Column(String(64), nullable=False)
    payload = Column(JsonDoc, nullable=False)
    status = Column(String(16), nullable=False, default="pending")
    owner = Column(String(96), nullable=False)
    attempts = Column(Integer, nullable=False, default=1)
    received_at = Column(UTCDateTime, nullable=False)
    lease_until = Column(UTCDateTime, nullable=False)
    finished_at = Column(UTCDateTime, nullable=True)

    __table_args__ = (
        CheckConstraint("status IN ('pending', 'done', 'failed')", name="status"),
        UniqueConstraint("channel", "key"),
        Index("ix_inbound_turns_pending", "status", "lease_until"),
    )
