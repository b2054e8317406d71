"""From a routing Decision to a stored case: the mapping the actions and the console share.

`routing.Decision` speaks the contract's language (street short name 洪桥, community name, plain
department code with the street for JDB/JDZF); the database uses codes and keys. This module turns
one into the other, and finds or creates the resident by openid.
"""

from __future__ import annotations

import logging
from dataclasses import asdict
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from routing.types import Decision, ResolvedLocation
from storage.cases import open_case
from storage.models import Case, Community, Department, Grid, Person, Resident, Street
from storage.timeutil import require_aware

logger = logging.getLogger(__name__)


def resident_for(session: Session, openid: str, now: datetime, *, channel: str = "wechat") -> Resident:
    """The resident with this openid (WeChat openid or REST sender id), created on first contact."""
    resident = session.execute(select(Resident).where(Resident.openid == openid)).scalar_one_or_none()
    if resident is None:
        resident = Resident(openid=openid, channel=channel, created_at=require_aware(now, "now"))
        session.add(resident)
        session.flush()
    return resident


def _street_code(session: Session, street: str | None) -> str | None:
    if not street:
        return None
    name = street.removesuffix("街道").removesuffix("街")
    return session.execute(select(Street.code).where(Street.name.in_([street, name]))).scalar()


def _community_code(session: Session, community: str | None, street_code: str | None) -> str | None:
    if not community:
        return None
    query = select(Community.code).where(Community.name == community)
    if street_code:
        query = query.where(Community.street_code == street_code)
    return session.execute(query.order_by(Community.code)).scalars().first()


def case_fields_from_decision(session: Session, decision: Decision) -> dict[str, Any]:
    """open_case keyword arguments for a routing decision (unknown names become None, never errors)."""
    street_code = _street_code(session, decision.street)
    department_key = None
    if decision.department:
        scoped = session.get(Department, Department.key_for(decision.department, street_code))
        department_key = scoped.key if scoped else None
        if department_key is None and session.get(Department, decision.department) is not None:
            department_key = decision.department
    grid_id = decision.grid if decision.grid and session.get(Grid, decision.grid) else None
    worker_id = decision.worker if decision.worker and session.get(Person, decision.worker) else None
    if (decision.grid, decision.worker) != (grid_id, worker_id):
        logger.warning(
            "decision names a grid/worker not in the database: %s %s", decision.grid, decision.worker
        )
    return {
        "category": decision.category,
        "urgency": decision.urgency or "normal",
        "street_code": street_code,
        "community_code": _community_code(session, decision.community, street_code),
        "grid_id": grid_id,
        "department_key": department_key,
        "worker_id": worker_id,
        "auto_dispatch": decision.auto_dispatch,
        "routing": asdict(decision),
    }


def open_case_from_decision(
    session: Session,
    decision: Decision,
    *,
    now: datetime,
    description: str,
    resident_openid: str | None = None,
    resident_channel: str = "wechat",
    location: ResolvedLocation | None = None,
    address: str | None = None,
    media: tuple[dict[str, Any], ...] = (),
    answered_in_chat: bool = False,
) -> Case:
    """Open a case for a routed report, in the caller's transaction (see storage.cases.open_case)."""
    resident = (
        resident_for(session, resident_openid, now, channel=resident_channel) if resident_openid else None
    )
    point = location.point if location is not None else None
    return open_case(
        session,
        now=now,
        description=description,
        resident_id=resident.id if resident else None,
        lat=point.lat if point else None,
        lng=point.lng if point else None,
        address=address,
        media=media,
        answered_in_chat=resident_openid if answered_in_chat else None,
        **case_fields_from_decision(session, decision),
    )
