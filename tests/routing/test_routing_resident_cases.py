"""Resident-written cases (tests/data/routing/resident_cases.yml).

Pure: the expected department of every case follows from its expected category, the rules and the
street. End to end (marked `model`): the real route path — trained Rasa model, place resolution,
decide — meets the accuracy floors of issue 4 on the clear reports.
"""

from __future__ import annotations

import asyncio
import json
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import yaml

from routing.decide import decide
from routing.rules import load_rules
from routing.types import NO_LOCATION, ResolvedLocation, Understanding

CASES_PATH = Path(__file__).resolve().parents[1] / "data" / "routing" / "resident_cases.yml"
SHANGHAI = ZoneInfo("Asia/Shanghai")


def load_cases() -> tuple[str, list[dict]]:
    with CASES_PATH.open(encoding="utf-8") as handle:
        data = yaml.safe_load(handle)
    return data["default_time"], data["cases"]


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
    lines = []
    for index, case in enumerate(CASES):
        line = {"id": index, "text": case["text"], "time": case.get("time", DEFAULT_TIME)}
        if "lat" in case:
            line.update(lat=case["lat"], lng=case["lng"])
        lines.append(json.dumps(line, ensure_ascii=False))
    return lines


@pytest.mark.model
@pytest.mark.slow
def test_resident_cases_end_to_end_through_the_route_path() -> None:
    from routing.route_cli import load_agent, route_batch

    agent = load_agent(None)
    loop = asyncio.new_event_loop()
    try:
        outputs = route_batch(agent, loop, input_lines(), datetime.now(SHANGHAI))
    finally:
        loop.close()
    clear = [(case, out) for case, out in zip(CASES, outputs, strict=True) if case.get("clear", True)]
    misses = [
        (case["text"], case["department"], case["street"], out.get("department"), out.get("street"))
        for case, out in clear
        if (out.get("department"), out.get("street")) != (case["department"], case["street"])
    ]
    department_accuracy = sum(out.get("department") == case["department"] for case, out in clear) / len(clear)
    auto_dispatch = sum(bool(out.get("auto_dispatch")) for _, out in clear) / len(clear)
    assert department_accuracy >= 0.95, misses
    assert auto_dispatch >= 0.98
    unclear = [out for case, out in zip(CASES, outputs, strict=True) if case["department"] == "DZZX"]
    assert all(out["auto_dispatch"] is False for out in unclear)


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
