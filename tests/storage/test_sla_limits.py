"""routing/sla.py: limit parsing and due times, including Chinese working days across holidays."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from routing.sla import (
    Limit,
    add_working_days,
    calendar_source,
    due_at,
    is_working_day,
    load_sla,
    parse_limit,
    parse_sla,
)
from routing.work_calendar import parse_work_calendar

SH = ZoneInfo("Asia/Shanghai")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("15m", Limit(15, "m")),
        ("2h", Limit(2, "h")),
        ("1d", Limit(1, "d")),
        ("5wd", Limit(5, "wd")),
        ("5 working days", Limit(5, "wd")),
        (" 30 min ", Limit(30, "m")),
    ],
)
def test_parse_limit(text: str, expected: Limit) -> None:
    assert parse_limit(text) == expected


@pytest.mark.parametrize("text", ["", "15", "m15", "2 weeks", "0h", "-1d", "1.5h"])
def test_parse_limit_rejects_nonsense(text: str) -> None:
    with pytest.raises(ValueError, match="time limit"):
        parse_limit(text)


def test_clock_limits_are_plain_durations_in_utc() -> None:
    start = datetime(2026, 11, 29, 23, 50, tzinfo=SH)
    assert due_at(start, "15m") == datetime(2026, 11, 29, 16, 5, tzinfo=timezone.utc)
    assert due_at(start, "2h") == start + timedelta(hours=2)
    assert due_at(start, "1d") == start + timedelta(days=1)
    assert due_at(start, "2h").tzinfo == timezone.utc


def test_naive_start_is_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        due_at(datetime(2026, 11, 29, 10, 0), "2h")


def test_chinese_calendar_knows_2026_golden_week_and_make_up_days() -> None:
    assert calendar_source(date(2026, 10, 1)) == "chinese_calendar"
    assert not any(is_working_day(date(2026, 10, d)) for d in range(1, 8))
    assert is_working_day(date(2026, 9, 20)) and is_working_day(
        date(2026, 10, 10)
    )  # make-up Sunday / Saturday


def test_working_days_skip_national_day_and_count_the_make_up_saturday() -> None:
    # Wed 30 Sep 10:00 + 5 working days: Thu 8, Fri 9, Sat 10 (make-up), Mon 12, Tue 13 Oct.
    assert due_at(datetime(2026, 9, 30, 10, 0, tzinfo=SH), "5wd") == datetime(2026, 10, 13, 10, 0, tzinfo=SH)


def test_working_days_across_spring_festival_2026() -> None:
    # Spring Festival 2026: 15-23 Feb off; Sat 14 Feb and Sat 28 Feb are make-up working days.
    assert not is_working_day(date(2026, 2, 17)) and is_working_day(date(2026, 2, 14))
    start = datetime(2026, 2, 13, 16, 30, tzinfo=SH)  # Friday
    # Sat 14 (make-up), Tue 24, Wed 25, Thu 26, Fri 27
    assert due_at(start, "5wd") == datetime(2026, 2, 27, 16, 30, tzinfo=SH)


def test_a_limit_started_on_a_holiday_runs_from_the_next_working_day() -> None:
    # Started during golden week: 8 Oct counts whole, so 1 working day ends at 24:00 on 8 Oct.
    assert due_at(datetime(2026, 10, 3, 15, 0, tzinfo=SH), "1wd") == datetime(2026, 10, 9, 0, 0, tzinfo=SH)
    assert due_at(datetime(2026, 10, 3, 15, 0, tzinfo=SH), "3wd") == datetime(2026, 10, 11, 0, 0, tzinfo=SH)


def test_day_boundaries_are_shanghai_not_utc() -> None:
    # 30 Sep 2026 18:00 UTC is 1 Oct 02:00 in Shanghai: a holiday, so the clock waits for 8 Oct.
    start = datetime(2026, 9, 30, 18, 0, tzinfo=timezone.utc)
    assert add_working_days(start, 1) == datetime(2026, 10, 9, 0, 0, tzinfo=SH)


def test_years_no_source_knows_fall_back_to_the_statutory_holidays() -> None:
    nothing_entered = parse_work_calendar({"years": {}})
    assert calendar_source(date(2027, 3, 1), nothing_entered) == "statutory fallback"
    # Wed 29 Dec 2027 + 3: Thu 30, Fri 31, then 元旦 falls on Sat 1 Jan 2028 and is made up (补假) on
    # Mon 3 Jan, so Tue 4 Jan. tests/routing/test_work_calendar.py checks the rule against 2025-2026.
    start = datetime(2027, 12, 29, 9, 0, tzinfo=SH)
    assert due_at(start, "3wd", nothing_entered) == datetime(2028, 1, 4, 9, 0, tzinfo=SH)
    assert not is_working_day(date(2027, 3, 6), nothing_entered)  # a Saturday


def test_sla_file_has_every_urgency_and_stage_and_matches_the_taxonomy() -> None:
    table = load_sla()
    assert table.limit_for("urgent", "respond") == "15m"
    assert table.limit_for("complex", "handle") == "5wd"
    assert table.escalation_chain == ("grid_worker", "community", "street", "command_centre")
    with pytest.raises(KeyError, match="urgency 'critical'"):
        table.limit_for("critical", "respond")


def test_parse_sla_rejects_a_missing_stage() -> None:
    with pytest.raises(KeyError):
        parse_sla({"sla": {"urgent": {"respond": "15m"}, "normal": {}, "complex": {}}})
