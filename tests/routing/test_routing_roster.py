"""The roster: the generated roster.csv is read into shifts; who is on duty by local time."""

from __future__ import annotations

from datetime import time

from routing.roster import Shift, load_roster, on_duty, shift_from_row
from routing.rules import DATA_DIR, GAZETTEER, load_rules

ROW = {
    "person_id": "NW-440104001007",
    "role": "night_duty",
    "scope_type": "community",
    "scope": "440104001007",
    "shift": "night",
    "start": "20:00",
    "end": "08:00",
}


def test_night_row_is_a_shift_running_past_midnight() -> None:
    shift = shift_from_row(ROW)
    assert shift == Shift("NW-440104001007", "community", "440104001007", time(20), time(8), "night")
    assert shift.covers(time(23, 59)) and shift.covers(time(0)) and shift.covers(time(7, 59))
    assert not shift.covers(time(8)) and not shift.covers(time(12))


def test_office_staff_hold_no_shift() -> None:
    assert (
        shift_from_row(
            {**ROW, "role": "community_staff", "shift": "office", "start": "09:00", "end": "18:00"}
        )
        is None
    )


def test_generated_roster_has_a_day_worker_per_grid_and_a_night_worker_per_community() -> None:
    roster = load_roster(DATA_DIR / "roster.csv", GAZETTEER)
    assert len(roster.by_grid) == 1893 and len(roster.by_community) == 222
    assert on_duty(roster, "440104001007-03", None, time(10)).worker == "GW-440104001007-03"
    assert on_duty(roster, "440104001007-03", None, time(21)).worker == "NW-440104001007"
    assert on_duty(roster, None, "三眼井社区", time(2)).worker == "NW-440104001007"
    assert on_duty(roster, None, None, time(2)) is None


def test_load_rules_reads_the_real_roster_once() -> None:
    assert load_rules() is load_rules()
    assert len(load_rules().roster.by_grid) == 1893
