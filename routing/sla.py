"""Time limits of the chain 呼叫→响应→调度→处置: pure arithmetic over `routing/data/sla.yml`.

Limits are written `15m`, `2h`, `1d` (calendar: 24 hours) or `5wd` (Chinese working days; the
taxonomy's "5 working days" is accepted too). Day boundaries are Asia/Shanghai. `due_at` takes an
aware datetime and returns an aware UTC datetime (naive input is refused: storage keeps UTC).

Working days follow the Chinese working calendar (`routing.work_calendar`): holidays are off and
make-up working days (调休, often a Saturday or Sunday) are on. The State Council's yearly arrangement as
entered in `routing/data/work_calendar.yml` wins; then the `chinese_calendar` package (1.11.0 knows
2004-2026); for a year neither knows, Monday-Friday minus the public holidays fixed by law (元旦, 春节,
清明, 劳动节, 端午, 中秋, 国庆节), with a warning once per year to enter that year's arrangement.
`calendar_source(day)` says which source decided ("work_calendar.yml", "chinese_calendar" or
"statutory fallback") so callers can show it. The working-day functions take the data as an optional
`work_calendar` (default: the shipped file, loaded once).
"""

from __future__ import annotations

import functools
import logging
import re
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import yaml

from routing.work_calendar import (
    SOURCE_STATUTORY,
    WORK_CALENDAR_PATH,
    WorkCalendar,
    decide_day,
    load_work_calendar,
)

logger = logging.getLogger(__name__)

SHANGHAI = ZoneInfo("Asia/Shanghai")
SLA_PATH = Path(__file__).resolve().parent / "data" / "sla.yml"
STAGES = ("respond", "dispatch", "handle")
URGENCIES = ("urgent", "normal", "complex")

_LIMIT_RE = re.compile(r"^\s*(\d+)\s*(m|min|h|d|wd|working\s+days?)\s*$", re.IGNORECASE)
_UNIT_ALIASES = {"min": "m"}


@dataclass(frozen=True)
class Limit:
    """A parsed time limit: `amount` of `unit` (m, h, d or wd)."""

    amount: int
    unit: str

    def __str__(self) -> str:
        return f"{self.amount}{self.unit}"


def parse_limit(text: str) -> Limit:
    """Parse `15m`, `2h`, `1d`, `5wd` or `5 working days`.

    Raises:
        ValueError: the text is not a limit, or the amount is zero.
    """
    match = _LIMIT_RE.match(str(text))
    if not match:
        raise ValueError(f"not a time limit: {text!r} (expected e.g. 15m, 2h, 1d, 5wd)")
    unit = match.group(2).lower()
    unit = "wd" if unit.startswith("working") else _UNIT_ALIASES.get(unit, unit)
    amount = int(match.group(1))
    if amount <= 0:
        raise ValueError(f"a time limit must be positive: {text!r}")
    return Limit(amount, unit)


@functools.cache
def _warn_fallback(year: int) -> None:
    logger.warning(
        "Neither %s nor chinese_calendar knows %s: counting Monday-Friday minus the statutory public "
        "holidays, without the State Council's bridging and make-up days. Enter the arrangement for %s "
        "(国务院办公厅关于%s年部分节假日安排的通知) in that file.",
        WORK_CALENDAR_PATH,
        year,
        year,
        year,
    )


def calendar_source(day: date, work_calendar: WorkCalendar | None = None) -> str:
    """Which source decides `day`: "work_calendar.yml", "chinese_calendar" or "statutory fallback"."""
    return decide_day(day, work_calendar or load_work_calendar()).source


def is_working_day(day: date, work_calendar: WorkCalendar | None = None) -> bool:
    """Whether `day` is a Chinese working day (holidays off, make-up days on); warns once per fallback year."""
    decision = decide_day(day, work_calendar or load_work_calendar())
    if decision.source == SOURCE_STATUTORY:
        _warn_fallback(day.year)
    return decision.working


def add_working_days(start: datetime, days: int, work_calendar: WorkCalendar | None = None) -> datetime:
    """Add `days` working days of elapsed working time to an aware datetime (Asia/Shanghai days).

    Working time only passes on working days. Started on a working day at 10:00, the limit falls at
    10:00 on the `days`-th following working day. Started on a non-working day, the clock starts at
    00:00 of the next working day, so the limit falls at 24:00 of the `days`-th working day.
    """
    work_calendar = work_calendar or load_work_calendar()
    local = start.astimezone(SHANGHAI)
    day = local.date()
    if not is_working_day(day, work_calendar):
        while not is_working_day(day, work_calendar):
            day += timedelta(days=1)
        remaining = days - 1  # the first working day counts whole
        while remaining > 0:
            day += timedelta(days=1)
            if is_working_day(day, work_calendar):
                remaining -= 1
        return datetime.combine(day + timedelta(days=1), time(0), tzinfo=SHANGHAI).astimezone(timezone.utc)
    clock = local.timetz().replace(tzinfo=None)
    while days > 0:
        day += timedelta(days=1)
        if is_working_day(day, work_calendar):
            days -= 1
    return datetime.combine(day, clock, tzinfo=SHANGHAI).astimezone(timezone.utc)


def due_at(start: datetime, limit: str | Limit, work_calendar: WorkCalendar | None = None) -> datetime:
    """When a limit that starts at `start` runs out, as an aware UTC datetime.

    Args:
        start: an aware datetime (naive raises ValueError).
        limit: a limit text such as "15m", "2h", "1d", "5wd", or a parsed Limit.
        work_calendar: the working calendar for "wd" limits; default: work_calendar.yml (loaded once).
    """
    if start.tzinfo is None or start.tzinfo.utcoffset(start) is None:
        raise ValueError(f"start must be timezone-aware, got naive {start.isoformat()}")
    parsed = limit if isinstance(limit, Limit) else parse_limit(limit)
    start_utc = start.astimezone(timezone.utc)
    if parsed.unit == "m":
        return start_utc + timedelta(minutes=parsed.amount)
    if parsed.unit == "h":
        return start_utc + timedelta(hours=parsed.amount)
    if parsed.unit == "d":
        return start_utc + timedelta(days=parsed.amount)
    return add_working_days(start_utc, parsed.amount, work_calendar)


@dataclass(frozen=True)
class SlaTable:
    """The limits by urgency and stage, and the escalation chain, as loaded from sla.yml."""

    limits: dict[str, dict[str, str]]
    escalation_chain: tuple[str, ...]

    def limit_for(self, urgency: str, stage: str) -> str:
        """The limit text for `stage` of a case of `urgency` (KeyError names what is unknown)."""
        try:
            return self.limits[urgency][stage]
        except KeyError:
            raise KeyError(f"no SLA limit for urgency {urgency!r}, stage {stage!r}") from None


def parse_sla(document: dict[str, Any]) -> SlaTable:
    """Validate an sla.yml document: every urgency has every stage, every limit parses."""
    limits = {str(u): {str(s): str(v) for s, v in stages.items()} for u, stages in document["sla"].items()}
    for urgency in URGENCIES:
        for stage in STAGES:
            parse_limit(limits[urgency][stage])
    chain = tuple(document.get("escalation_chain", ("grid_worker", "community", "street", "command_centre")))
    return SlaTable(limits=limits, escalation_chain=chain)


@functools.lru_cache(maxsize=4)
def load_sla(path: Path = SLA_PATH) -> SlaTable:
    """Load and validate sla.yml once (cached)."""
    with open(path, encoding="utf-8") as handle:
        return parse_sla(yaml.safe_load(handle))
