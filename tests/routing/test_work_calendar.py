"""routing/work_calendar.py and the working days of routing/sla.py: the operators' data file, its
validation, and the statutory fallback for years chinese_calendar does not know (checked against the
years it does know)."""

from __future__ import annotations

import logging
from datetime import date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import chinese_calendar
import pytest
import yaml

from routing import sla
from routing.sla import calendar_source, due_at, is_working_day
from routing.work_calendar import (
    WORK_CALENDAR_PATH,
    WorkCalendarError,
    load_work_calendar,
    parse_work_calendar,
    statutory_days_off,
    statutory_holidays,
)

SH = ZoneInfo("Asia/Shanghai")
# No year entered: what the fallback does, whatever operators later put in the shipped file.
NOTHING_ENTERED = parse_work_calendar({"years": {}})
# A made-up 2027 for the tests (NOT the State Council's arrangement, which is not out yet): the weekday
# statutory holidays off, one bridging Thursday off, one Sunday on.
MADE_UP_2027 = {
    "days_off": [
        "2027-01-01",
        "2027-02-05..2027-02-11",
        "2027-04-05",
        "2027-06-09",
        "2027-09-15",
        "2027-09-16",
        "2027-10-01..2027-10-07",
    ],
    "make_up_working_days": ["2027-02-14"],
}


def write_calendar(tmp_path: Path, document: object) -> Path:
    path = tmp_path / "work_calendar.yml"
    path.write_text(yaml.safe_dump(document, allow_unicode=True), encoding="utf-8")
    return path


def package_holiday_name(day: date) -> str | None:
    """chinese_calendar's Chinese name of the holiday on `day`, or None when it lists none."""
    english = chinese_calendar.holidays.get(day)
    return chinese_calendar.Holiday(english).chinese if english else None


def test_the_shipped_file_loads() -> None:
    assert load_work_calendar().source == "work_calendar.yml"


def test_the_example_in_the_shipped_file_is_the_real_2025_arrangement() -> None:
    # The commented example teaches the form; it must agree with chinese_calendar's 2025 day for day.
    lines = WORK_CALENDAR_PATH.read_text(encoding="utf-8").splitlines()
    start = lines.index("# years:")
    block = [line[2:] for line in lines[start:] if line.startswith("# ")]
    example = parse_work_calendar(yaml.safe_load("\n".join(block)))
    year_2025 = [date(2025, 1, 1) + timedelta(days=n) for n in range(365)]
    assert example.days_off == {d for d in year_2025 if d in chinese_calendar.holidays}
    assert example.make_up_working_days == {d for d in year_2025 if d in chinese_calendar.workdays}


def test_a_data_file_entry_wins_over_chinese_calendar(tmp_path: Path) -> None:
    # Mon 30 Nov 2026 entered off, Sat 5 Dec 2026 entered on: both contradict chinese_calendar.
    path = write_calendar(
        tmp_path, {"years": {2026: {"days_off": ["2026-11-30"], "make_up_working_days": ["2026-12-05"]}}}
    )
    entered = load_work_calendar(path)
    assert chinese_calendar.is_workday(date(2026, 11, 30)) and not chinese_calendar.is_workday(
        date(2026, 12, 5)
    )
    assert not is_working_day(date(2026, 11, 30), entered) and is_working_day(date(2026, 12, 5), entered)
    assert calendar_source(date(2026, 11, 30), entered) == "work_calendar.yml"
    assert calendar_source(date(2026, 12, 1), entered) == "chinese_calendar"  # not listed: the package
    # Fri 27 Nov 10:00 + 5wd: Mon 30, Tue 1, Wed 2, Thu 3, Fri 4 Dec by the package; with the file
    # Mon 30 is off and Sat 5 is on: Tue 1, Wed 2, Thu 3, Fri 4, Sat 5.
    start = datetime(2026, 11, 27, 10, 0, tzinfo=SH)
    assert due_at(start, "5wd", NOTHING_ENTERED) == datetime(2026, 12, 4, 10, 0, tzinfo=SH)
    assert due_at(start, "5wd", entered) == datetime(2026, 12, 5, 10, 0, tzinfo=SH)


def test_a_year_the_package_does_not_know_is_decided_by_the_file_alone(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    entered = load_work_calendar(write_calendar(tmp_path, {"years": {2027: MADE_UP_2027}}))
    with caplog.at_level(logging.WARNING, logger="routing.sla"):
        assert not is_working_day(date(2027, 2, 11), entered)  # the bridging day the fallback cannot know
        assert is_working_day(date(2027, 2, 14), entered)  # the make-up Sunday
        assert is_working_day(date(2027, 5, 3), entered)  # unlisted weekday: working (no 补假 guessed)
        assert not is_working_day(date(2027, 3, 6), entered)  # unlisted Saturday
    assert calendar_source(date(2027, 5, 3), entered) == "work_calendar.yml"
    assert not caplog.records


OFF, ON = "days_off", "make_up_working_days"


@pytest.mark.parametrize(
    ("years", "error"),
    [
        ({2026: {OFF: ["2026-12-07"], ON: ["2026-12-07"]}}, r"years\.2026: listed both .*: 2026-12-07"),
        ({2026: {OFF: ["2026-02-30"]}}, r"years\.2026\.days_off\[0\]: '2026-02-30' is not a date"),
        (
            {2026: {ON: ["next Saturday"]}},
            r"years\.2026\.make_up_working_days\[0\]: 'next Saturday' is not a date",
        ),
        (
            {2026: {OFF: ["2026-12-07", "2027-01-04"]}},
            r"years\.2026\.days_off\[1\]: 2027-01-04 is not in 2026",
        ),
        (
            {2026: {OFF: ["2026-12-09..2026-12-07"]}},
            r"years\.2026\.days_off\[0\]: range .* ends before it starts",
        ),
        ({"2026": {OFF: []}}, r"years\.2026: the key must be a year"),
        ({2026: {"holidays": ["2026-12-07"]}}, r"years\.2026: expected a mapping with the keys days_off and"),
        ({2026: {OFF: "2026-12-07"}}, r"years\.2026\.days_off: expected a list of dates"),
        (
            {2027: {OFF: [d for d in MADE_UP_2027[OFF] if d != "2027-09-15"]}},
            r"years\.2027\.days_off: statutory holidays missing: 2027-09-15 \(中秋\)",
        ),
    ],
)
def test_an_invalid_data_file_is_refused_naming_the_file_and_entry(
    tmp_path: Path, years: dict, error: str
) -> None:
    path = write_calendar(tmp_path, {"years": years})
    with pytest.raises(WorkCalendarError, match=error) as refused:
        load_work_calendar(path)
    assert str(path) in str(refused.value)


def test_keys_yaml_reads_as_booleans_are_refused(tmp_path: Path) -> None:
    # Hand-written `off:`/`on:` would load as False/True and silently decide nothing.
    path = tmp_path / "work_calendar.yml"
    path.write_text("years:\n  2026:\n    off: [2026-12-07]\n    on: [2026-12-12]\n", encoding="utf-8")
    with pytest.raises(WorkCalendarError, match=r"years\.2026: expected a mapping with the keys days_off"):
        load_work_calendar(path)


@pytest.mark.parametrize("year", [2025, 2026])
def test_every_statutory_day_computed_is_a_chinese_calendar_holiday_of_that_name(year: int) -> None:
    # The 2024 amendment applies from 2025: 13 days, each off in the State Council's arrangement
    # (which adds bridging days, so the converse does not hold).
    holidays = statutory_holidays(year)
    assert len(holidays) == 13
    assert sorted(set(holidays.values())) == sorted(
        ["元旦", "春节", "清明", "劳动节", "端午", "中秋", "国庆节"]
    )
    for day, name in statutory_days_off(year).items():  # the 13 days and the 补假 for weekend ones
        assert chinese_calendar.is_holiday(day), f"{day} ({name}) is a working day in chinese_calendar"
        assert package_holiday_name(day) == name, f"{day}: {name} vs {package_holiday_name(day)}"


@pytest.mark.parametrize("year", range(2008, 2027))
def test_lunar_festivals_and_qingming_fall_on_chinese_calendar_holidays(year: int) -> None:
    # Since 2008 the law has given 初一-初三, 清明, 端午 and 中秋 off: checks the lunar and solar-term
    # conversion over every year chinese_calendar knows (除夕 only became statutory in 2025).
    lunar_days = {
        day: name
        for day, name in statutory_holidays(year).items()
        if name in {"春节", "清明", "端午", "中秋"}
    }
    new_years_eve = min(day for day, name in lunar_days.items() if name == "春节")
    for day, name in lunar_days.items():
        if day == new_years_eve and year < 2025:
            continue
        assert chinese_calendar.is_holiday(day), f"{day} ({name})"
        # 中秋 sometimes coincides with 国庆节 (1 Oct 2020), which then names the day.
        assert package_holiday_name(day) in {name, "国庆节", None}, f"{day}: {name}"


def test_the_2027_fallback_takes_new_year_and_spring_festival_off(caplog: pytest.LogCaptureFixture) -> None:
    sla._warn_fallback.cache_clear()  # the warning is once per process and year: see it here
    with caplog.at_level(logging.WARNING, logger="routing.sla"):
        assert not is_working_day(date(2027, 1, 1), NOTHING_ENTERED)  # 元旦, a Friday
        # 春节 2027: 除夕 Fri 5 Feb, 初一-初三 Sat 6-Mon 8; Sat and Sun owe 补假 on Tue 9 and Wed 10.
        days_off = {d for d in range(1, 29) if not is_working_day(date(2027, 2, d), NOTHING_ENTERED)}
        assert days_off == {5, 6, 7, 8, 9, 10} | {13, 14, 20, 21, 27, 28}  # and the other weekends
        # Thu 4 Feb 10:00 + 5wd: Thu 11, Fri 12, Mon 15, Tue 16, Wed 17.
        start = datetime(2027, 2, 4, 10, 0, tzinfo=SH)
        assert due_at(start, "5wd", NOTHING_ENTERED) == datetime(2027, 2, 17, 10, 0, tzinfo=SH)
    assert calendar_source(date(2027, 2, 8), NOTHING_ENTERED) == "statutory fallback"
    warnings = [record.getMessage() for record in caplog.records]
    assert len(warnings) == 1, warnings
    assert "work_calendar.yml" in warnings[0] and "2027" in warnings[0]
