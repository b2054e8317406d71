"""Query-string parsing for the console API: filters, paging and KPI periods, with clear 400 messages."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta, timezone
from typing import Any

from sanic.request import Request
from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.web.auth import ApiError
from storage.cases import URGENCIES
from storage.console_queries import CLOSED_VALUES, OPEN_VALUES, CaseFilters, categories
from storage.lifecycle import CaseState
from storage.models import Department, Street
from storage.timeutil import SHANGHAI

logger = logging.getLogger(__name__)

STATE_VALUES = tuple(state.value for state in CaseState if state is not CaseState.NEW)
MAX_LIMIT = 500


def arg(request: Request, name: str) -> str | None:
    """One query parameter, stripped; None when absent or empty."""
    value = request.args.get(name)
    if value is None:
        return None
    value = value.strip()
    if "\x00" in value:  # PostgreSQL cannot compare with a NUL character: refuse it here, not with a 500
        raise ApiError(400, f"{name} contains a NUL character")
    return value or None


def _list(request: Request, name: str) -> list[str]:
    raw = arg(request, name)
    return [part.strip() for part in raw.split(",") if part.strip()] if raw else []


def integer(request: Request, name: str, default: int, low: int, high: int) -> int:
    raw = arg(request, name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ApiError(400, f"{name} must be an integer, got {raw!r}") from None
    if not low <= value <= high:
        raise ApiError(400, f"{name} must be between {low} and {high}, got {value}")
    return value


def _states(values: list[str]) -> tuple[str, ...]:
    states: list[str] = []
    for value in values:
        if value == "open":
            states += OPEN_VALUES
        elif value == "closed":
            states += CLOSED_VALUES
        elif value in STATE_VALUES:
            states.append(value)
        else:
            raise ApiError(400, f"unknown status {value!r} (open, closed or one of {', '.join(STATE_VALUES)})")
    return tuple(dict.fromkeys(states))


def street_codes(session: Session, values: list[str]) -> tuple[str, ...]:
    codes = []
    for value in values:
        name = value.removesuffix("街道").removesuffix("街")
        code = session.execute(
            select(Street.code).where((Street.code == value) | (Street.name == name))
        ).scalar()
        if code is None:
            raise ApiError(400, f"unknown street {value!r} (a code like 440104001 or a name like 洪桥)")
        codes.append(code)
    return tuple(codes)


def _departments(session: Session, values: list[str]) -> tuple[str, ...]:
    keys: list[str] = []
    for value in values:
        found = list(
            session.execute(
                select(Department.key).where((Department.key == value) | (Department.code == value))
            ).scalars()
        )
        if not found:
            raise ApiError(400, f"unknown department {value!r} (a key like HWZX or JDB-440104001, or a code)")
        keys += found
    return tuple(dict.fromkeys(keys))


def _boolean(request: Request, name: str) -> bool | None:
    raw = arg(request, name)
    if raw is None:
        return None
    if raw.lower() in ("true", "1", "yes"):
        return True
    if raw.lower() in ("false", "0", "no"):
        return False
    raise ApiError(400, f"{name} must be true or false, got {raw!r}")


def case_filters(request: Request, session: Session, *, default_status: str | None = None) -> CaseFilters:
    """The list filters of a request (docs/console-api.md), validated against the database."""
    wanted_categories = _list(request, "category")
    unknown = [code for code in wanted_categories if code not in categories()]
    if unknown:
        raise ApiError(400, f"unknown category {unknown[0]!r}")
    urgencies = _list(request, "urgency")
    if any(value not in URGENCIES for value in urgencies):
        raise ApiError(400, f"urgency must be among {URGENCIES}")
    statuses = _list(request, "status") or ([default_status] if default_status else [])
    since = arg(request, "since")
    return CaseFilters(
        states=_states(statuses),
        categories=tuple(wanted_categories),
        street_codes=street_codes(session, _list(request, "street")),
        department_keys=_departments(session, _list(request, "department")),
        urgencies=tuple(urgencies),
        overdue=_boolean(request, "overdue"),
        code_prefix=arg(request, "q"),
        since_event_id=integer(request, "since", 0, 0, 2**62) if since is not None else None,
    )


def parse_time(raw: str, name: str) -> datetime:
    """An ISO 8601 datetime (a date alone = 00:00 Asia/Shanghai; no offset = Asia/Shanghai)."""
    try:
        value = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        raise ApiError(400, f"{name} is not an ISO 8601 date or datetime: {raw!r}") from None
    value = value if value.tzinfo is not None else value.replace(tzinfo=SHANGHAI)
    try:
        return value.astimezone(timezone.utc)
    except OverflowError:
        raise ApiError(400, f"{name} is out of range: {raw!r}") from None


def period_window(request: Request, now: datetime) -> tuple[str, datetime, datetime]:
    """(label, start, end) from `period`, `days` or `start`/`end` (calendar periods in Asia/Shanghai)."""
    start_raw, end_raw, days = arg(request, "start"), arg(request, "end"), arg(request, "days")
    if start_raw or end_raw:
        end = parse_time(end_raw, "end") if end_raw else now
        try:
            start = parse_time(start_raw, "start") if start_raw else end - timedelta(days=30)
        except OverflowError:
            raise ApiError(400, "end is too early") from None
        if start >= end:
            raise ApiError(400, "start must be before end")
        return "custom", start, end
    if days is not None:
        return f"{integer(request, 'days', 30, 1, 3660)}d", now - timedelta(days=int(days)), now
    period = arg(request, "period") or "today"
    local = now.astimezone(SHANGHAI)
    midnight = local.replace(hour=0, minute=0, second=0, microsecond=0)
    starts: dict[str, Any] = {
        "today": midnight,
        "week": midnight - timedelta(days=local.weekday()),
        "month": midnight.replace(day=1),
    }
    if period not in starts:
        raise ApiError(400, f"period must be today, week or month, got {period!r}")
    return period, starts[period], now
