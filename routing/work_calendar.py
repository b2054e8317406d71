"""Which days are Chinese working days, and which source says so: pure functions over three sources.

In order of precedence:

1. `routing/data/work_calendar.yml`: the State Council's yearly arrangement as operators enter it (days
   off and make-up working days). A listed date wins over everything; a year that chinese_calendar does
   not know but the file has is decided by the file alone (unlisted days: Monday-Friday).
2. The `chinese_calendar` package (1.11.0 knows 2004-2026): holidays, bridging days and 调休 make-up days.
3. The statutory fallback for years neither knows: Monday-Friday minus the public holidays fixed by law,
   《全国年节及纪念日放假办法》 as amended in 2024 (from 2025), and minus the 补假 that law requires for a
   holiday on a weekend. It cannot know the bridging days and make-up working days the State Council
   adds each year, which is why operators should enter the year in 1.

Lunar dates (除夕, 春节, 端午, 中秋) come from `lunar_python` (MIT, computes the calendar
astronomically); the Qingming solar term from `chinese_calendar.get_solar_terms`. Both are checked
against chinese_calendar's known years in tests/routing/test_work_calendar.py.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from types import MappingProxyType
from typing import Any

import chinese_calendar
import yaml
from lunar_python import Lunar

WORK_CALENDAR_PATH = Path(__file__).resolve().parent / "data" / "work_calendar.yml"
SOURCE_PACKAGE = "chinese_calendar"
SOURCE_STATUTORY = "statutory fallback"

# 《全国年节及纪念日放假办法》 (2024 amendment, effective 2025-01-01), article 2: the days everyone has off.
_FIXED_HOLIDAYS = (
    ("元旦", 1, 1),
    ("劳动节", 5, 1),
    ("劳动节", 5, 2),
    ("国庆节", 10, 1),
    ("国庆节", 10, 2),
    ("国庆节", 10, 3),
)
# (name, lunar month, lunar day, days before it, days from it): 春节 is 除夕 (the day before 正月初一,
# the 29th or 30th of the 12th month) and 初一 to 初三.
_LUNAR_HOLIDAYS = (("春节", 1, 1, 1, 3), ("端午", 5, 5, 0, 1), ("中秋", 8, 15, 0, 1))


class WorkCalendarError(ValueError):
    """The work calendar data file is invalid; the message names the file and the entry."""


@dataclass(frozen=True)
class WorkCalendar:
    """The operator-entered arrangement: days off, make-up working days, and the years entered."""

    days_off: frozenset[date]
    make_up_working_days: frozenset[date]
    years: frozenset[int]
    source: str = WORK_CALENDAR_PATH.name


@dataclass(frozen=True)
class DayDecision:
    """Whether a day is a working day, and which source decided it."""

    working: bool
    source: str


def _lunar_to_solar(year: int, month: int, day: int) -> date:
    solar = Lunar.fromYmd(year, month, day).getSolar()
    return date(solar.getYear(), solar.getMonth(), solar.getDay())


def _qingming(year: int) -> date:
    return next(
        day
        for day, name in chinese_calendar.get_solar_terms(date(year, 4, 1), date(year, 4, 30))
        if name == "清明"
    )


@functools.lru_cache(maxsize=64)
def statutory_holidays(year: int) -> Mapping[date, str]:
    """The public holidays fixed by law in `year` (2025 rule): date -> name, 13 days.

    Names are chinese_calendar's (`Holiday.chinese`) so the two can be compared.
    """
    days = {date(year, month, day): name for name, month, day in _FIXED_HOLIDAYS}
    days[_qingming(year)] = "清明"
    for name, month, day, before, count in _LUNAR_HOLIDAYS:
        first = _lunar_to_solar(year, month, day)
        for offset in range(-before, count):
            days[first + timedelta(days=offset)] = name
    return MappingProxyType(days)  # read-only: the cache hands out the same mapping


@functools.lru_cache(maxsize=64)
def statutory_days_off(year: int) -> Mapping[date, str]:
    """The statutory holidays plus the 补假 the same law requires: a holiday falling on a Saturday or
    Sunday is made up on a working day. The State Council picks that day; we take the first weekdays after
    the holiday, where it has put them in 2025 and 2026.
    """
    holidays = statutory_holidays(year)
    days = dict(holidays)
    for name in dict.fromkeys(holidays.values()):
        dates = sorted(day for day, holiday in holidays.items() if holiday == name)
        owed, day = sum(d.weekday() >= 5 for d in dates), dates[-1]
        while owed:
            day += timedelta(days=1)
            if day.weekday() < 5 and day not in days:
                days[day] = name
                owed -= 1
    return MappingProxyType(days)


def package_knows(day: date) -> bool:
    """Whether chinese_calendar has data for `day`'s year."""
    try:
        chinese_calendar.is_workday(day)
    except NotImplementedError:
        return False
    return True


def decide_day(day: date, work_calendar: WorkCalendar) -> DayDecision:
    """Whether `day` is a working day, by the first source that knows it (see the module docstring)."""
    if day in work_calendar.days_off:
        return DayDecision(False, work_calendar.source)
    if day in work_calendar.make_up_working_days:
        return DayDecision(True, work_calendar.source)
    # One package call per day (add_working_days asks day after day); it raises for a year it has no data for.
    with contextlib.suppress(NotImplementedError):
        return DayDecision(bool(chinese_calendar.is_workday(day)), SOURCE_PACKAGE)
    weekday = day.weekday() < 5
    if day.year in work_calendar.years:
        return DayDecision(weekday, work_calendar.source)
    return DayDecision(weekday and day not in statutory_days_off(day.year), SOURCE_STATUTORY)


def _entry_dates(entry: Any, where: str) -> Iterator[date]:
    """The dates of one list entry: a date, or an inclusive range written `from..to`."""
    if isinstance(entry, date) and not isinstance(entry, datetime):  # a datetime is a date too
        yield entry
        return
    try:
        first_text, _, last_text = str(entry).partition("..")
        first = date.fromisoformat(first_text.strip())
        last = date.fromisoformat(last_text.strip()) if last_text else first
    except ValueError:
        raise WorkCalendarError(
            f"{where}: {entry!r} is not a date (YYYY-MM-DD) or range (from..to)"
        ) from None
    if last < first:
        raise WorkCalendarError(f"{where}: range {entry!r} ends before it starts")
    yield from (first + timedelta(days=n) for n in range((last - first).days + 1))


def _year_dates(entries: Any, year: int, where: str) -> set[date]:
    if entries is None:
        return set()
    if not isinstance(entries, list):
        raise WorkCalendarError(f"{where}: expected a list of dates, got {entries!r}")
    dates: set[date] = set()
    for index, entry in enumerate(entries):
        for day in _entry_dates(entry, f"{where}[{index}]"):
            if day.year != year:
                raise WorkCalendarError(f"{where}[{index}]: {day.isoformat()} is not in {year}")
            dates.add(day)
    return dates


def _check_statutory_listed(year: int, days_off: Iterable[date], where: str) -> None:
    """A year the file decides alone must take off every statutory holiday falling on a weekday."""
    missing = sorted(day for day in statutory_holidays(year) if day.weekday() < 5 and day not in days_off)
    if missing:
        listed = ", ".join(f"{day.isoformat()} ({statutory_holidays(year)[day]})" for day in missing)
        raise WorkCalendarError(f"{where}: statutory holidays missing: {listed}; enter the whole year")


def parse_work_calendar(document: Any, path: Path | str = WORK_CALENDAR_PATH) -> WorkCalendar:
    """Validate a work_calendar.yml document read from `path`; every error names the file and the entry.

    Raises:
        WorkCalendarError: unknown keys, a year key that is not a year, a non-date, a date outside its
            year key, a date both off and on, or a year chinese_calendar does not know with a
            weekday statutory holiday missing from `days_off`.
    """
    source = str(path)
    document = document or {}
    if not isinstance(document, dict) or set(document) - {"years"}:
        raise WorkCalendarError(f"{source}: expected a mapping with one key, years")
    years = document.get("years") or {}
    if not isinstance(years, dict):
        raise WorkCalendarError(
            f"{source}: years: expected a mapping of year -> {{days_off, make_up_working_days}}"
        )
    days_off: set[date] = set()
    make_up_working_days: set[date] = set()
    for key, arrangement in years.items():
        where = f"{source}: years.{key}"
        if isinstance(key, bool) or not isinstance(key, int) or not 1900 <= key <= 2100:
            raise WorkCalendarError(f"{where}: the key must be a year such as 2027")
        # Not "off"/"on": YAML 1.1 reads those keys as the booleans False/True.
        if not isinstance(arrangement, dict) or set(arrangement) - {"days_off", "make_up_working_days"}:
            raise WorkCalendarError(
                f"{where}: expected a mapping with the keys days_off and make_up_working_days"
            )
        year_off = _year_dates(arrangement.get("days_off"), key, f"{where}.days_off")
        year_on = _year_dates(arrangement.get("make_up_working_days"), key, f"{where}.make_up_working_days")
        if both := sorted(year_off & year_on):
            listed = ", ".join(d.isoformat() for d in both)
            raise WorkCalendarError(f"{where}: listed both as days_off and make_up_working_days: {listed}")
        if not package_knows(date(key, 1, 1)):
            _check_statutory_listed(key, year_off, f"{where}.days_off")
        days_off |= year_off
        make_up_working_days |= year_on
    return WorkCalendar(
        frozenset(days_off), frozenset(make_up_working_days), frozenset(years), Path(path).name
    )


@functools.lru_cache(maxsize=4)
def load_work_calendar(path: Path = WORK_CALENDAR_PATH) -> WorkCalendar:
    """Load and validate the work calendar data file once (cached)."""
    with open(path, encoding="utf-8") as handle:
        return parse_work_calendar(yaml.safe_load(handle), path)
