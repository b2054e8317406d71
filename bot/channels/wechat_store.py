"""WeChat-specific persistence on top of storage: inbound keys, replay keys, last contact, media files.

Inbound keys live in `inbound_dedupe` (channel `wechat`) as `<openid>:m:<MsgId>` for messages and
`<openid>:e:<CreateTime>` for events. Putting the openid first costs nothing for dedupe (a MsgId is
unique on its own) and makes the same rows answer "when did this resident last write to us?", which
decides whether the 48-hour customer-service window is open. Signature triples (timestamp, nonce,
signature) are kept under channel `wechat-sig` so a captured request cannot be replayed.
Keep `storage.dedupe.prune_seen` at 48 hours or more, or the sender falls back to templates early.
"""

from __future__ import annotations

import hashlib
import logging
import os
from dataclasses import dataclass
from datetime import datetime
from enum import Enum
from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.orm import Session
from wechatpy.messages import BaseMessage

from storage.dedupe import first_seen
from storage.models import InboundDedupe

logger = logging.getLogger(__name__)

CHANNEL = "wechat"
SIGNATURE_CHANNEL = "wechat-sig"
MAX_MEDIA_BYTES = 10 * 1024 * 1024  # WeChat's own limit for an image message
_IMAGE_TYPES = {
    b"\xff\xd8\xff": ("image/jpeg", ".jpg"),
    b"\x89PNG": ("image/png", ".png"),
    b"GIF8": ("image/gif", ".gif"),
}


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


@dataclass(frozen=True)
class StoredMedia:
    """A media file saved under the media root, named by its SHA-256 (saving twice is a no-op)."""

    uri: str
    sha256: str
    content_type: str
    size: int


def sniff_image(data: bytes) -> tuple[str, str] | None:
    """(content type, extension) for JPEG/PNG/GIF bytes, else None."""
    for magic, kind in _IMAGE_TYPES.items():
        if data.startswith(magic):
            return kind
    return None


def store_media(media_root: Path, data: bytes) -> StoredMedia:
    """Write image bytes to `<media_root>/<aa>/<sha256><ext>` atomically and return the reference.

    Raises:
        ValueError: when the bytes are empty, too large, or not an image we accept.
    """
    if not data or len(data) > MAX_MEDIA_BYTES:
        raise ValueError(f"media size {len(data)} outside 1..{MAX_MEDIA_BYTES} bytes")
    kind = sniff_image(data)
    if kind is None:
        raise ValueError("media is not a JPEG, PNG or GIF image")
    content_type, extension = kind
    digest = hashlib.sha256(data).hexdigest()
    path = media_root / digest[:2] / f"{digest}{extension}"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_suffix(f"{extension}.{os.getpid()}.part")
        partial.write_bytes(data)
        partial.replace(path)
    return StoredMedia(uri=str(path), sha256=digest, content_type=content_type, size=len(data))
