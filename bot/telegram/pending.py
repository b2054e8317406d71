"""Pending "after" photo requests: who pressed 现场处置完成/办结 and is expected to send the photo next.

Kept in the database (table `pending_photos`), not in PTB's in-memory `user_data`, so the request
survives a restart of the Telegram process: the worker presses, the bot restarts, the photo still counts.
Each function takes the caller's Session and runs inside the caller's transaction.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from storage.models import Case
from storage.models.messaging import PendingPhoto
from storage.timeutil import require_aware

logger = logging.getLogger(__name__)

CHANNEL = "telegram"


@dataclass(frozen=True)
class PhotoRequest:
    """The case and the action (`onsite` or `done`) the next photo in a chat will finish."""

    case_code: str
    action: str


def expect_photo(
    session: Session, *, user_id: int, chat_id: int, case: Case, action: str, now: datetime
) -> None:
    """Remember that `user_id`'s next photo in `chat_id` finishes `action` on `case` (replaces any earlier one)."""
    row = _row(session, user_id, chat_id)
    if row is None:
        row = PendingPhoto(channel=CHANNEL, user_id=str(user_id), chat_id=str(chat_id))
        session.add(row)
    row.case_id, row.action, row.created_at = case.id, action, require_aware(now, "now")
    session.flush()


def expected_photo(session: Session, *, user_id: int, chat_id: int) -> PhotoRequest | None:
    """What the next photo from `user_id` in `chat_id` finishes, or None when nothing was asked for."""
    found = session.execute(
        select(Case.code, PendingPhoto.action)
        .join(Case, Case.id == PendingPhoto.case_id)
        .where(
            PendingPhoto.channel == CHANNEL,
            PendingPhoto.user_id == str(user_id),
            PendingPhoto.chat_id == str(chat_id),
        )
    ).first()
    return PhotoRequest(case_code=found[0], action=found[1]) if found else None


def forget_photo(session: Session, *, user_id: int, chat_id: int) -> None:
    """Drop the request once a photo has answered it (a no-op when there is none)."""
    session.execute(
        delete(PendingPhoto).where(
            PendingPhoto.channel == CHANNEL,
            PendingPhoto.user_id == str(user_id),
            PendingPhoto.chat_id == str(chat_id),
        )
    )


def _row(session: Session, user_id: int, chat_id: int) -> PendingPhoto | None:
    return session.execute(
        select(PendingPhoto).where(
            PendingPhoto.channel == CHANNEL,
            PendingPhoto.user_id == str(user_id),
            PendingPhoto.chat_id == str(chat_id),
        )
    ).scalar_one_or_none()
