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
from collections.abc import Collection, Mapping, Sequence
from datetime import datetime, timedelta
from enum import Enum
from typing import Any

from sqlalchemy import and_, func, or_, select, update
from sqlalchemy.orm import Session
from wechatpy.messages import BaseMessage

from storage.dedupe import first_seen
from storage.models import InboundDedupe, InboundTurn, OutboxMessage
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


# -- durable inbound turns -------------------------------------------------------------------------------
# An acknowledged message is written as an `inbound_turns` row in the transaction that records its dedupe key,
# so "acknowledged" and "will be answered" are one fact. The turn is marked done when Rasa finishes it; a row
# still pending after its process died is claimed again (compare-and-set on owner) and re-run.

MAX_TURN_ATTEMPTS = 3  # a message that kills Rasa three times is parked as failed, not retried forever


def record_turn(
    session: Session, key: str, openid: str, payload: Mapping[str, Any], owner: str, now: datetime, lease: timedelta
) -> None:
    """Add the pending turn for an acknowledged message, in the caller's (dedupe) transaction."""
    session.add(
        InboundTurn(
            channel=CHANNEL,
            key=key,
            sender_id=openid,
            payload=dict(payload),
            status="pending",
            owner=owner,
            attempts=1,
            received_at=now,
            lease_until=now + lease,
        )
    )


def finish_turn(session: Session, key: str, owner: str, now: datetime, status: str = "done") -> bool:
    """Mark a turn done (or failed) if `owner` still holds it; False when another process took it over."""
    result = session.execute(
        update(InboundTurn)
        .where(InboundTurn.channel == CHANNEL, InboundTurn.key == key, InboundTurn.owner == owner)
        .where(InboundTurn.status == "pending")
        .values(status=status, finished_at=now)
    )
    return bool(result.rowcount)


def postpone_turn(session: Session, key: str, owner: str, until: datetime) -> None:
    """Leave a failed turn pending, to be tried again by whoever claims it after `until`."""
    session.execute(
        update(InboundTurn)
        .where(InboundTurn.channel == CHANNEL, InboundTurn.key == key, InboundTurn.owner == owner)
        .where(InboundTurn.status == "pending")
        .values(lease_until=until)
    )


def claim_unfinished_turns(
    session: Session,
    owner: str,
    instance: str,
    now: datetime,
    lease: timedelta,
    limit: int = 50,
    running: Collection[str] = (),
) -> list[InboundTurn]:
    """Claim pending turns that nobody alive is running, oldest first; commit to keep the claims.

    Claimable: turns whose lease ran out (their process is gone, or the turn failed and waited its retry delay;
    `running` lists the keys the caller itself is still running, never claimed), and at once the turns of this
    instance's earlier life (`<instance>:<other boot id>`), since a process that restarted under the same
    instance name cannot still be running them. Each claim is a compare-and-set on `owner`, so two instances
    racing for one turn agree on one winner. Turns past MAX_TURN_ATTEMPTS are marked failed instead.
    """
    prefix = f"{instance}:"
    earlier_life = and_(InboundTurn.owner.startswith(prefix, autoescape=True), InboundTurn.owner != owner)
    query = (
        select(InboundTurn.id, InboundTurn.owner, InboundTurn.attempts)
        .where(InboundTurn.channel == CHANNEL, InboundTurn.status == "pending")
        .where(or_(InboundTurn.lease_until < now, earlier_life))
    )
    if running:
        query = query.where(InboundTurn.key.not_in(list(running)))
    candidates = session.execute(
        query
        .order_by(InboundTurn.received_at, InboundTurn.id)
        .limit(limit)
    ).all()
    claimed_ids = []
    for turn_id, previous_owner, attempts in candidates:
        gives_up = attempts >= MAX_TURN_ATTEMPTS
        values: dict[str, Any] = (
            {"status": "failed", "finished_at": now}
            if gives_up
            else {"owner": owner, "attempts": attempts + 1, "lease_until": now + lease}
        )
        result = session.execute(
            update(InboundTurn)
            .where(InboundTurn.id == turn_id, InboundTurn.owner == previous_owner, InboundTurn.status == "pending")
            .values(**values)
        )
        if result.rowcount and gives_up:
            logger.error("WeChat turn %s failed %s times; parked as failed", turn_id, attempts)
        elif result.rowcount:
            claimed_ids.append(turn_id)
    if not claimed_ids:
        return []
    return list(
        session.execute(select(InboundTurn).where(InboundTurn.id.in_(claimed_ids)).order_by(InboundTurn.id))
        .scalars()
        .all()
    )
