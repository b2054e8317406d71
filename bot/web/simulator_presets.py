"""The simulator's presets (residents, real Yuexiu places, typical problems) and its case look-ups.

Places come from routing/data/addresses.csv (the same address ranges the router uses), so a preset place lands
in the grid the router will pick for it. The look-ups find whose Telegram chats a resident's latest case is in.
"""

from __future__ import annotations

import csv
import logging
from functools import lru_cache
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.config import REPO_ROOT
from bot.localmode.bindings import chat_for_department, chat_for_person, department_member
from storage.models import Case, CaseSubscription, Department, Person, Resident

logger = logging.getLogger(__name__)

ADDRESSES = REPO_ROOT / "routing" / "data" / "addresses.csv"
RESIDENTS = (
    {"openid": "oSimResident0000000000000001", "name": "王阿姨"},
    {"openid": "oSimResident0000000000000002", "name": "李先生"},
    {"openid": "oSimResident0000000000000003", "name": "陈同学"},
)
PLACES = (("越华路", 12), ("文德路", 8), ("惠福东路", 30), ("农林下路", 20), ("中山五路", 15), ("解放北路", 50))
PROBLEMS = (
    "{place}门口的垃圾堆了三天没人清理",
    "{place}附近井盖坏了，很危险",
    "{place}的路灯晚上不亮",
    "{place}楼下有人占道经营，堵住了路",
    "{place}路面积水很深",
)


def _number_fits(row: dict[str, str], number: int) -> bool:
    parity_ok = row["side"] == ("odd" if number % 2 else "even") or row["side"] not in ("odd", "even")
    return parity_ok and int(row["from_no"]) <= number <= int(row["to_no"])


@lru_cache(maxsize=1)
def preset_places() -> tuple[dict[str, Any], ...]:
    """Real addresses with their point, street, community and grid (skips any the data lacks)."""
    wanted = dict(PLACES)
    found: dict[str, dict[str, Any]] = {}
    with ADDRESSES.open(encoding="utf-8", newline="") as handle:
        for row in csv.DictReader(handle):
            road = row["road"]
            if road in wanted and road not in found and _number_fits(row, wanted[road]):
                found[road] = {
                    "label": f"{road}{wanted[road]}号",
                    "lat": float(row["lat"]),
                    "lng": float(row["lng"]),
                    "street": row["street"],
                    "community": row["community"],
                    "grid": row["grid"],
                }
    return tuple(found[road] for road, _ in PLACES if road in found)


def presets() -> dict[str, Any]:
    return {"residents": list(RESIDENTS), "places": list(preset_places()), "problems": list(PROBLEMS)}


def _person(session: Session, person_id: str | None) -> dict[str, Any] | None:
    person = session.get(Person, person_id) if person_id else None
    if person is None:
        return None
    return {"id": person.id, "name": person.name, "chat_id": chat_for_person(session, person.id)}


def _department(session: Session, key: str | None) -> dict[str, Any] | None:
    department = session.get(Department, key) if key else None
    if department is None:
        return None
    member = department_member(session, department.key)
    return {
        "key": department.key,
        "name": department.name,
        "chat_id": chat_for_department(session, department.key),
        "member_id": member[0] if member else None,
        "member_user_id": member[1] if member else None,
    }


def latest_case_chats(session: Session, openid: str) -> dict[str, Any]:
    """The resident's latest case (own or followed) and the worker's and department's chats it is in."""
    resident_id = session.execute(select(Resident.id).where(Resident.openid == openid)).scalar_one_or_none()
    own = select(Case.id).where(Case.resident_id == resident_id)
    followed = select(CaseSubscription.case_id).where(CaseSubscription.resident_id == resident_id)
    # The newest case the resident reported or was subscribed to (a duplicate report follows the original).
    case = session.execute(
        select(Case).where(Case.id.in_(own.union(followed).scalar_subquery()))
        .order_by(Case.created_at.desc(), Case.id.desc())
    ).scalars().first() if resident_id is not None else None
    if case is None:
        return {"case": None, "worker": None, "department": None}
    routed = (case.routing or {}).get("department_key")
    return {
        "case": {"code": case.code, "state": case.state, "category": case.category, "address": case.address},
        "worker": _person(session, case.worker_id),
        "department": _department(session, case.department_key or routed),
    }


def grid_worker_chat(session: Session, grid_id: str) -> dict[str, Any] | None:
    """The day worker of a grid and their chat (for opening a worker's pane before any case exists)."""
    person_id = session.execute(
        select(Person.id).where(Person.grid_id == grid_id, Person.role == "grid_worker", Person.active.is_(True))
        .order_by(Person.id)
    ).scalars().first()
    return _person(session, person_id)
