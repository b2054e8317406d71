"""Read-side queries of the command-centre console: filtered, role-scoped case lists, polling cursor, rows.

A `Scope` (street or department, or none for the command centre) is applied to every query here, so a
list, a CSV export and the map can never show a case outside the user's scope. Rows come back as plain
dicts ready for JSON; names (street, community, department, category) are looked up once per call.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from functools import lru_cache
from typing import Any

import yaml
from sqlalchemy import false, func, literal, select, tuple_
from sqlalchemy.orm import Session
from sqlalchemy.sql import Select

from storage.case_list import CaseListFilters, case_list_query
from storage.lifecycle import FINAL_STATES, OPEN_STATES, CaseState
from storage.models import Case, CaseEventRecord, Community, Department, DueItem, Rating, Street
from storage.timeutil import SHANGHAI, require_aware

logger = logging.getLogger(__name__)

# Open311's two statuses split every state a case can be in: `handled` (awaiting the resident's confirmation)
# is still open to the public, though the chain's time limits no longer run for it.
CLOSED_VALUES = tuple(state.value for state in FINAL_STATES)
OPEN_VALUES = tuple(state.value for state in CaseState if state is not CaseState.NEW and state.value not in CLOSED_VALUES)
IN_CHAIN_VALUES = tuple(state.value for state in OPEN_STATES)  # the states whose time limits can be missed
STATE_LABELS = {
    "reported": ("已呼叫", "#e67e22"),
    "responded": ("已响应", "#f1c40f"),
    "dispatched": ("已调度", "#3498db"),
    "signed": ("已签收", "#2980b9"),
    "returned": ("已退回", "#e74c3c"),
    "triage": ("指挥中心研判", "#8e44ad"),
    "handled": ("已处置待确认", "#1abc9c"),
    "reopened": ("重新打开", "#c0392b"),
    "closed": ("已办结", "#27ae60"),
    "merged_duplicate": ("重复合并", "#95a5a6"),
    "cancelled": ("已取消", "#7f8c8d"),
}


@dataclass(frozen=True)
class Scope:
    """What a user may see: everything (both None), one street, or one department's cases."""

    street_code: str | None = None
    department_key: str | None = None


@dataclass(frozen=True)
class CaseFilters(CaseListFilters):
    """Console list filters: the case list's, plus a code prefix and "changed since event N"."""

    code_prefix: str | None = None
    since_event_id: int | None = None


@lru_cache(maxsize=1)
def categories() -> dict[str, dict[str, str]]:
    """Category code -> {code, name, group, department}, from routing/data/categories.yml."""
    from routing.rules import DATA_DIR

    with (DATA_DIR / "categories.yml").open(encoding="utf-8") as handle:
        raw = yaml.safe_load(handle)["categories"]
    return {
        row["code"]: {"code": row["code"], "name": row["name"], "group": row["group"], "department": row["department"]}
        for row in raw
    }


def state_status(state: str) -> str:
    """Open311-style status of a lifecycle state: `closed` for final states, else `open`."""
    return "closed" if state in CLOSED_VALUES else "open"


def _missed_limit_ids(now: datetime) -> Any:
    return (
        select(DueItem.case_id)
        .where((DueItem.status == "fired") | ((DueItem.status == "pending") & (DueItem.due_at <= now)))
        .scalar_subquery()
    )


def _within(values: tuple[str, ...], scoped: str | None) -> tuple[str, ...] | None:
    """A filter narrowed to the user's scope; None when the two exclude each other (no rows)."""
    if scoped is None:
        return values
    if values and scoped not in values:
        return None
    return (scoped,)


def filtered_cases(filters: CaseFilters, scope: Scope, now: datetime) -> Select:
    """SELECT Case rows matching the filters inside the scope, newest first (created_at, id).

    Built on `storage.case_list.case_list_query` (one value per filter uses its (filter, created_at, id)
    indexes); the scope is folded into the street/department filters so it uses them too.
    """
    now = require_aware(now, "now")
    streets = _within(filters.street_codes, scope.street_code)
    departments = _within(filters.department_keys, scope.department_key)
    query = case_list_query(replace(filters, street_codes=streets or (), department_keys=departments or ()), now)
    if streets is None or departments is None:
        query = query.where(false())
    if filters.code_prefix:
        query = query.where(Case.code.startswith(filters.code_prefix, autoescape=True))
    if filters.since_event_id is not None:
        changed = select(CaseEventRecord.case_id).where(CaseEventRecord.id > filters.since_event_id)
        query = query.where(Case.id.in_(changed.scalar_subquery()))
    return query


def count_cases(session: Session, filters: CaseFilters, scope: Scope, now: datetime) -> int:
    """How many cases match (ignoring paging)."""
    inner = filtered_cases(filters, scope, now).order_by(None).with_only_columns(Case.id).subquery()
    return int(session.execute(select(func.count()).select_from(inner)).scalar_one())


@dataclass(frozen=True)
class Page:
    """One page of cases, newest first, and the keyset token of the next page (None on the last)."""

    cases: list[Case]
    next_after: str | None


def encode_after(case: Case) -> str:
    """The keyset token for the page after `case`: `<created_at ISO>~<id>`."""
    return f"{case.created_at.isoformat()}~{case.id}"


def decode_after(token: str) -> tuple[datetime, int]:
    """(created_at, id) from a keyset token.

    Raises:
        ValueError: not a token made by `encode_after`.
    """
    stamp, _, number = token.rpartition("~")
    return require_aware(datetime.fromisoformat(stamp), "after"), int(number)


def list_cases(
    session: Session,
    filters: CaseFilters,
    scope: Scope,
    now: datetime,
    *,
    limit: int,
    offset: int = 0,
    after: tuple[datetime, int] | None = None,
) -> Page:
    """One page of matching cases, newest first: keyset (`after`, cheap at any depth) or `offset`."""
    query = filtered_cases(filters, scope, now)
    if after is not None:
        created_at, case_id = after
        query = query.where(
            tuple_(Case.created_at, Case.id) < tuple_(literal(created_at, Case.created_at.type), literal(case_id))
        )
    rows = list(session.execute(query.limit(limit + 1).offset(offset)).scalars())
    cases = rows[:limit]
    return Page(cases=cases, next_after=encode_after(cases[-1]) if len(rows) > limit and cases else None)


def event_cursor(session: Session) -> int:
    """The newest event id: pass it back as `since` to get only the cases that changed after it."""
    return int(session.execute(select(func.coalesce(func.max(CaseEventRecord.id), 0))).scalar_one())


def iso(value: datetime | None) -> str | None:
    """An aware datetime as ISO 8601 in Asia/Shanghai (what the console and Open311 show)."""
    return value.astimezone(SHANGHAI).isoformat() if value is not None else None


@dataclass
class _Names:
    streets: dict[str, str]
    communities: dict[str, str]
    departments: dict[str, str]


def _names(session: Session, cases: Sequence[Case]) -> _Names:
    def lookup(model: Any, key: Any, wanted: Iterable[str | None]) -> dict[str, str]:
        keys = {value for value in wanted if value}
        if not keys:
            return {}
        return {k: n for k, n in session.execute(select(key, model.name).where(key.in_(keys))).all()}

    return _Names(
        streets=lookup(Street, Street.code, (c.street_code for c in cases)),
        communities=lookup(Community, Community.code, (c.community_code for c in cases)),
        departments=lookup(Department, Department.key, (c.department_key for c in cases)),
    )


def _pending_due(session: Session, ids: list[int]) -> dict[int, DueItem]:
    due: dict[int, DueItem] = {}
    rows = session.execute(
        select(DueItem).where(DueItem.case_id.in_(ids), DueItem.status == "pending").order_by(DueItem.due_at)
    ).scalars()
    for item in rows:
        due.setdefault(item.case_id, item)
    return due


def summaries(session: Session, cases: Sequence[Case], now: datetime, *, mask: bool) -> list[dict[str, Any]]:
    """Plain-dict summaries of cases for the list, the CSV and the map (names, due, overdue, rating).

    Args:
        mask: mask phone/ID numbers and plates inside the description (roles without contact access).
    """
    from storage.privacy import mask_text

    now = require_aware(now, "now")
    ids = [case.id for case in cases]
    if not ids:
        return []
    names = _names(session, cases)
    due = _pending_due(session, ids)
    missed = set(session.execute(select(Case.id).where(Case.id.in_(ids), Case.id.in_(_missed_limit_ids(now)))).scalars())
    ratings = {
        case_id: score
        for case_id, score in session.execute(
            select(Rating.case_id, Rating.score).where(Rating.case_id.in_(ids)).order_by(Rating.id)
        ).all()
    }
    rows = []
    for case in cases:
        label, _colour = STATE_LABELS.get(case.state, (case.state, "#333333"))
        item = due.get(case.id)
        rows.append(
            {
                "code": case.code,
                "state": case.state,
                "state_label": label,
                "status": state_status(case.state),
                "category": case.category,
                "category_name": categories().get(case.category or "", {}).get("name"),
                "urgency": case.urgency,
                "street_code": case.street_code,
                "street": names.streets.get(case.street_code or ""),
                "community_code": case.community_code,
                "community": names.communities.get(case.community_code or ""),
                "grid": case.grid_id,
                "worker": case.worker_id,
                "department_key": case.department_key,
                "department": names.departments.get(case.department_key or ""),
                "auto_dispatch": bool(case.auto_dispatch),
                "escalation_level": case.escalation_level,
                "overdue": case.state in IN_CHAIN_VALUES and case.id in missed,
                "next_due_at": iso(item.due_at) if item else None,
                "next_stage": item.stage if item else None,
                "created_at": iso(case.created_at),
                "updated_at": iso(case.updated_at),
                "lat": case.lat,
                "lng": case.lng,
                "address": case.address,
                "description": mask_text(case.description) if mask else case.description,
                "rating": ratings.get(case.id),
            }
        )
    return rows


def state_legend() -> list[dict[str, str]]:
    """Every lifecycle state with its Chinese label, open/closed status and map colour."""
    return [
        {"code": state.value, "label": STATE_LABELS[state.value][0], "status": state_status(state.value),
         "color": STATE_LABELS[state.value][1]}
        for state in CaseState
        if state is not CaseState.NEW
    ]
