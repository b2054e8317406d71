"""Cases as Open311 GeoReport v2 service requests (the field mapping of contracts.md).

`status` is `open` or `closed` (closed, merged and cancelled cases are closed); `status_notes` carries our
state and the latest note. The public `description` has phone/ID numbers and plates masked.
"""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from storage.console_queries import STATE_LABELS, iso, state_status, summaries
from storage.models import Case, CaseEventRecord, CaseMedia, Department
from storage.privacy import mask_text
from storage.timeutil import require_aware

logger = logging.getLogger(__name__)

NOTE_FIELDS = ("note", "reason", "comment")


def _cases(session: Session, query: dict[str, Any], limit: int) -> list[Case]:
    select_cases = select(Case)
    if "codes" in query:
        select_cases = select_cases.where(Case.code.in_(query["codes"]))
    else:
        if query["categories"]:
            select_cases = select_cases.where(Case.category.in_(query["categories"]))
        if query["states"]:
            select_cases = select_cases.where(Case.state.in_(query["states"]))
        if query["start"] is not None:
            select_cases = select_cases.where(Case.created_at >= require_aware(query["start"], "start_date"))
        if query["end"] is not None:
            select_cases = select_cases.where(Case.created_at <= require_aware(query["end"], "end_date"))
    ordered = select_cases.order_by(Case.created_at.desc(), Case.code.desc()).limit(limit)
    return list(session.execute(ordered).scalars())


def _latest_notes(session: Session, ids: list[int]) -> dict[int, str]:
    notes: dict[int, str] = {}
    rows = session.execute(
        select(CaseEventRecord.case_id, CaseEventRecord.payload)
        .where(CaseEventRecord.case_id.in_(ids))
        .order_by(CaseEventRecord.case_id, CaseEventRecord.seq)
    ).all()
    for case_id, payload in rows:
        for field in NOTE_FIELDS:
            value = (payload or {}).get(field)
            if isinstance(value, str) and value.strip():
                notes[case_id] = value.strip()
    return notes


def _first_photos(session: Session, ids: list[int]) -> dict[int, tuple[int, str]]:
    photos: dict[int, tuple[int, str]] = {}
    rows = session.execute(
        select(CaseMedia.case_id, CaseMedia.id, CaseMedia.uri)
        .where(CaseMedia.case_id.in_(ids), CaseMedia.kind == "photo")
        .order_by(CaseMedia.id)
    ).all()
    for case_id, media_id, uri in rows:
        photos.setdefault(case_id, (media_id, uri))
    return photos


def _media_url(photo: tuple[int, str] | None, base_url: str) -> str | None:
    if photo is None:
        return None
    media_id, uri = photo
    return uri if uri.startswith(("http://", "https://")) else f"{base_url}/api/media/{media_id}"


def request_rows(
    session: Session, query: dict[str, Any], extensions: bool, base_url: str, limit: int
) -> list[dict[str, Any]]:
    """Service requests for the cases the query selects, newest first (at most `limit`)."""
    from bot.web.auth import now_utc

    cases = _cases(session, query, limit)
    if not cases:
        return []
    ids = [case.id for case in cases]
    now = now_utc()
    summary = {row["code"]: row for row in summaries(session, cases, now, mask=True)}
    department_codes = dict(
        session.execute(
            select(Department.key, Department.code).where(
                Department.key.in_({case.department_key for case in cases if case.department_key})
            )
        ).all()
    )
    events = dict(
        session.execute(
            select(CaseEventRecord.case_id, func.count()).where(CaseEventRecord.case_id.in_(ids)).group_by(
                CaseEventRecord.case_id
            )
        ).all()
    )
    notes, photos = _latest_notes(session, ids), _first_photos(session, ids)
    rows = []
    for case in cases:
        row = summary[case.code]
        label = STATE_LABELS.get(case.state, (case.state, ""))[0]
        note = notes.get(case.id)
        item: dict[str, Any] = {
            "service_request_id": case.code,
            "status": state_status(case.state),
            "status_notes": f"{label} ({case.state})" + (f": {mask_text(note)}" if note else ""),
            "service_name": row["category_name"],
            "service_code": case.category,
            "description": mask_text(case.description),
            "agency_responsible": department_codes.get(case.department_key or ""),
            "service_notice": (case.routing or {}).get("emergency_advice") if isinstance(case.routing, dict) else None,
            "requested_datetime": iso(case.created_at),
            "updated_datetime": iso(case.updated_at),
            "expected_datetime": row["next_due_at"],
            "address": case.address,
            "address_id": None,
            "zipcode": None,
            "lat": case.lat,
            "long": case.lng,
            "media_url": _media_url(photos.get(case.id), base_url),
        }
        if extensions:
            item["extended_attributes"] = {
                "street": row["street"],
                "community": row["community"],
                "grid": case.grid_id,
                "worker": case.worker_id,
                "state": case.state,
                "auto_dispatch": bool(case.auto_dispatch),
                "urgency": case.urgency,
                "due_at": row["next_due_at"],
                "events": int(events.get(case.id, 0)),
            }
        rows.append(item)
    return rows
