"""Resident-written cases (tests/data/routing/resident_cases.yml).

Pure: the expected department of every case follows from its expected category, the rules and the
street. End to end (marked `model`): the real route path — trained Rasa model, place resolution,
decide — meets the accuracy floors of issue 4 on the clear reports.
"""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from routing.decide import decide
from routing.evaluation import AUTO_DISPATCH_FLOOR, DEPARTMENT_FLOOR, load_cases, route_lines, score
from routing.rules import load_rules
from routing.types import NO_LOCATION, ResolvedLocation, Understanding

SHANGHAI = ZoneInfo("Asia/Shanghai")
DEFAULT_TIME, CASES = load_cases()


def case_time(case: dict) -> datetime:
    return datetime.fromisoformat(case.get("time", DEFAULT_TIME)).replace(tzinfo=SHANGHAI)


def test_there_are_enough_cases_over_every_category_but_other() -> None:
    rules = load_rules()
    assert len(CASES) >= 150
    covered = {case["category"] for case in CASES}
    assert set(rules.categories) - {"OTHER"} <= covered
    assert {case["street"] for case in CASES} - {None} <= rules.streets


@pytest.mark.parametrize("case", [c for c in CASES if c["category"]], ids=lambda c: c["text"][:12])
def test_expected_department_follows_from_category_rules_and_street(case: dict) -> None:
    rules = load_rules()
    understanding = Understanding(
        text=case["text"],
        intent="report_issue",
        intent_confidence=0.99,
        category=case["category"],
        category_confidence=0.99,
    )
    location = (
        ResolvedLocation(street=case["street"], source="text", precision="street")
        if case["street"]
        else NO_LOCATION
    )
    decision = decide(understanding, location, case_time(case), rules=rules)
    assert (decision.department, decision.street) == (case["department"], case["street"])
    assert decision.needs == ()


def input_lines() -> list[str]:
    from routing.evaluation import input_lines as lines_for

    return lines_for(CASES, DEFAULT_TIME)


@pytest.mark.model
@pytest.mark.slow
def test_resident_cases_end_to_end_through_the_route_path() -> None:
    from routing.route_cli import load_agent
    from tests.routing.conftest import model_override

    outputs = route_lines(load_agent(model_override()), input_lines(), datetime.now(SHANGHAI))
    figures = score(CASES, outputs)
    assert figures["department_accuracy"] >= DEPARTMENT_FLOOR, figures["misses"]
    assert figures["auto_dispatch_rate"] >= AUTO_DISPATCH_FLOOR, figures["misses"]
    unclear = [out for case, out in zip(CASES, outputs, strict=True) if case["department"] == "DZZX"]
    assert unclear and all(out["auto_dispatch"] is False for out in unclear)


def test_every_cases_place_resolves_to_its_expected_street() -> None:
    """The places in the cases are unambiguous for the real extractor and locator (no model needed)."""
    from bot.nlu.places import extract_places
    from routing.places import locate
    from routing.types import GeoPoint

    wrong = []
    for case in CASES:
        point = GeoPoint(case["lat"], case["lng"]) if "lat" in case else None
        location = locate(extract_places(case["text"]), point, "gps" if point else None)
        if location.street != case["street"] or location.ambiguous:
            wrong.append((case["text"], case["street"], location.street, location.explanation))
    assert not wrong
