"""WeChat-specific persistence on top of storage: inbound keys, replay keys, last contact, queued replies.

Inbound keys live in `inbound_dedupe` (channel `wechat`) as `<openid>:m:<MsgId>` for messages and
`<openid>:e:<CreateTime>` for events. Putting the openid first costs nothing for dedupe (a MsgId is
unique on its own) and makes the same rows answer "when did this resident last write to us?", which
decides whether the 48-hour customer-service window is open. Signature triples (timestamp, nonce,
signature) are kept under channel `wechat-sig` so a captured request cannot be replayed.
The same rows give the per-openid rate limit. Replies are outbox rows (channel `wechat`, template
`wechat.text`); a reply that offered choices keeps them, so "2" or a title maps back to a payload.
Keep `storage.dedupe.prune_seen` at 48 hours or more, or the sender falls back to templates early.
"""

from __future__ import annotations

import hashlib
import logging
import unicodedata
from collections.abc import Mapping, Sequence
from datetime import datetime
from enum import Enum

from sqlalchemy import func, select
from sqlalchemy.orm import Session
from wechatpy.messages import BaseMessage

from storage.dedupe import first_seen
from storage.models import InboundDedupe, OutboxMessage
from storage.outbox import enqueue

logger = logging.getLogger(__name__)

CHANNEL = "wechat"
SIGNATURE_CHANNEL = "wechat-sig"
TEXT_TEMPLATE = "wechat.text"


class Arrival(str, Enum):
    """What the database says about an inbound request."""

    NEW = "new"  # first time: run the turn
    REPEAT = "repeat"  # WeChat's retry of a message already taken: acknowledge, do nothing
    REPLAY = "replay"  # a new body under an already used signature: refuse


def inbound_key(msg: BaseMessage) -> str:
    """The dedupe key of a message (`MsgId`) or an event (`FromUserName+CreateTime`), openid first."""
    if msg.id:
        return f"{msg.source}:m:{msg.id}"
    return f"{msg.source}:e:{msg.time}"


def signature_key(timestamp: str, nonce: str, signature: str) -> str:
    """A fixed-length key for one signed request (nonce length is the sender's choice)."""
    return hashlib.sha1(f"{timestamp}|{nonce}|{signature}".encode()).hexdigest()


def record_arrival(session: Session, message_key: str, request_key: str, now: datetime) -> Arrival:
    """Record a request's message key and signature key in the caller's transaction; classify it.

    A repeat wins over a replay: WeChat may resend a message byte for byte, and that must be acknowledged.
    On REPLAY the caller must roll back, so the refused request leaves nothing behind.
    """
    request_new = first_seen(session, SIGNATURE_CHANNEL, request_key, now)
    if not first_seen(session, CHANNEL, message_key, now):
        return Arrival.REPEAT
    return Arrival.NEW if request_new else Arrival.REPLAY


def last_inbound_at(session: Session, openid: str) -> datetime | None:
    """When this resident last sent us anything (message or event), or None if not on record."""
    # A LIKE prefix with '_' and '%' escaped (openids contain '_'); a range on ':' would depend on collation.
    return session.execute(
        select(func.max(InboundDedupe.seen_at)).where(
            InboundDedupe.channel == CHANNEL, InboundDedupe.key.startswith(f"{openid}:", autoescape=True)
        )
    ).scalar()


def queue_reply(
    session: Session,
    openid: str,
    text: str,
    *,
    idempotency_key: str,
    now: datetime,
    choices: Sequence[Mapping[str, str]] = (),
) -> bool:
    """Queue a text for a resident in the caller's transaction; False when that key is already queued.

    `choices` ({title, payload} from Rasa buttons) are kept with the message, so that a reply of
    "1" or of a title maps back to its payload (see `choice_payload`).
    """
    exists = session.execute(
        select(OutboxMessage.id).where(OutboxMessage.idempotency_key == idempotency_key)
    ).first()
    if exists:
        return False
    params: dict[str, object] = {"text": text}
    if choices:
        params["choices"] = [
            {"title": str(c.get("title", "")), "payload": str(c.get("payload", ""))} for c in choices
        ]
    enqueue(
        session,
        recipient_kind="resident",
        recipient_id=openid,
        template=TEXT_TEMPLATE,
        params=params,
        idempotency_key=idempotency_key,
        now=now,
        channel=CHANNEL,
    )
    return True


def choice_payload(session: Session, openid: str, text: str, since: datetime) -> dict[str, str] | None:
    """The choice a reply picks: "2" or a title, matched against the latest message we queued for the resident.

    Only the latest message counts, and only if it offered choices since `since`, so a later "5" meant as a
    rating is never read against an old list.
    """
    latest = session.execute(
        select(OutboxMessage.template, OutboxMessage.payload, OutboxMessage.created_at)
        .where(OutboxMessage.recipient_kind == "resident", OutboxMessage.recipient_id == openid)
        .order_by(OutboxMessage.id.desc())
        .limit(1)
    ).first()
    if latest is None or latest.template != TEXT_TEMPLATE or latest.created_at < since:
        return None
    choices = (latest.payload or {}).get("params", {}).get("choices") or []
    answer = unicodedata.normalize("NFKC", text).strip()
    for number, choice in enumerate(choices, 1):
        if answer in {str(number), choice.get("title")} and choice.get("payload"):
            return {"title": choice["title"], "payload": choice["payload"]}
    return None


def recent_inbound_count(session: Session, openid: str, since: datetime) -> int:
    """How many messages and events this resident sent since `since` (for the per-openid rate limit)."""
    return int(
        session.execute(
            select(func.count()).where(
                InboundDedupe.channel == CHANNEL,
                InboundDedupe.key.startswith(f"{openid}:", autoescape=True),
                InboundDedupe.seen_at >= since,
            )
        ).scalar_one()
    )
