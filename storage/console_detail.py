"""One case, whole, for the console's detail view: timeline with actors, routing explanation, photos, rating.

Personal data goes through `storage.privacy` unless the viewer's role needs it (the command centre calls
residents back); masking covers the resident's phone and openid and numbers inside free text.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from storage.console_queries import iso, summaries
from storage.models import Case, CaseEventRecord, CaseMedia, DueItem, Person, Rating, Resident
from storage.privacy import mask_phone, mask_text

logger = logging.getLogger(__name__)

ACTOR_KINDS = {
    "resident": "居民",
    "scheduler": "系统时限",
    "system": "系统",
    "console": "指挥中心控制台",
    "telegram": "Telegram",
    "open311": "Open311",
}
_TEXT_FIELDS = ("reason", "note", "comment", "text")


def actor_label(session: Session, actor: str) -> str:
    """A readable name for an event's actor string (`resident`, `telegram:GW-...`, `console:demo-centre`)."""
    kind, _, who = actor.partition(":")
    base = ACTOR_KINDS.get(kind, kind)
    if not who:
        return base
    person = session.get(Person, who)
    return f"{base} {person.name} ({who})" if person is not None else f"{base} {who}"


def _payload(payload: dict[str, Any] | None, mask: bool) -> dict[str, Any]:
    data = dict(payload or {})
    if mask:
        for key in _TEXT_FIELDS:
            if isinstance(data.get(key), str):
                data[key] = mask_text(data[key])
    return data


def _events(session: Session, case: Case, mask: bool) -> list[dict[str, Any]]:
    records = session.execute(
        select(CaseEventRecord).where(CaseEventRecord.case_id == case.id).order_by(CaseEventRecord.seq)
    ).scalars()
    labels: dict[str, str] = {}
    rows = []
    for record in records:
        if record.actor not in labels:
            labels[record.actor] = actor_label(session, record.actor)
        rows.append(
            {
                "seq": record.seq,
                "event": record.event,
                "actor": record.actor,
                "actor_label": labels[record.actor],
                "at": iso(record.at),
                "from_state": record.from_state,
                "to_state": record.to_state,
                "escalation_level": record.escalation_level,
                "payload": _payload(record.payload, mask),
            }
        )
    return rows


def _resident(resident: Resident | None, mask: bool) -> dict[str, Any] | None:
    if resident is None:
        return None
    openid = resident.openid
    return {
        "channel": resident.channel,
        "openid": (openid[:4] + "***") if mask else openid,
        "phone": (mask_phone(resident.phone) or None) if mask else resident.phone,
        "nickname": resident.nickname,
    }


def _rating(session: Session, case: Case) -> dict[str, Any] | None:
    rating = session.execute(
        select(Rating).where(Rating.case_id == case.id).order_by(Rating.id.desc())
    ).scalars().first()
    if rating is None:
        return None
    return {"score": rating.score, "comment": rating.comment, "at": iso(rating.created_at)}


def case_detail(
    session: Session, case: Case, now: datetime, *, mask: bool, allowed_actions: list[str]
) -> dict[str, Any]:
    """The console's detail of one case (see docs/console-api.md)."""
    detail = summaries(session, [case], now, mask=mask)[0]
    media = session.execute(select(CaseMedia).where(CaseMedia.case_id == case.id).order_by(CaseMedia.id)).scalars()
    due = session.execute(select(DueItem).where(DueItem.case_id == case.id).order_by(DueItem.id)).scalars()
    original = session.get(Case, case.duplicate_of) if case.duplicate_of else None
    routing = case.routing if isinstance(case.routing, dict) else None
    detail.update(
        events=_events(session, case, mask),
        routing=routing,
        explanation=list((routing or {}).get("explanation") or []),
        media=[
            {"id": m.id, "kind": m.kind, "content_type": m.content_type,
             "url": m.uri if m.uri.startswith(("http://", "https://")) else f"/api/media/{m.id}",
             "created_at": iso(m.created_at)}
            for m in media
        ],
        rating=_rating(session, case),
        resident=_resident(session.get(Resident, case.resident_id) if case.resident_id else None, mask),
        due=[{"stage": d.stage, "due_at": iso(d.due_at), "status": d.status} for d in due],
        duplicate_of=original.code if original is not None else None,
        duplicates=list(
            session.execute(select(Case.code).where(Case.duplicate_of == case.id).order_by(Case.code)).scalars()
        ),
        allowed_actions=allowed_actions,
    )
    return detail
