"""The `gridsec route` output line (contracts.md): fields, types, and the route steps after NLU.

A Rasa parse dict (the shape `Agent.parse_message` returns, with the real place extractor's places)
goes through `route_parsed`: understanding_from_parse -> locate (real geo data) -> decide -> contract.
"""

from __future__ import annotations

import dataclasses
import json
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from routing.route_cli import RouteRequest, error_line, route_parsed
from routing.types import KINDS, GeoPoint

CONTRACT_FIELDS = {
    "id": (str, int, type(None)),
    "kind": (str,),
    "intent": (str, type(None)),
    "intent_confidence": (float, int),
    "category": (str, type(None)),
    "category_confidence": (float, int),
    "group": (str, type(None)),
    "department": (str, type(None)),
    "street": (str, type(None)),
    "community": (str, type(None)),
    "grid": (str, type(None)),
    "worker": (str, type(None)),
    "auto_dispatch": (bool,),
    "emergency": (bool,),
    "needs": (list,),
    "explanation": (list,),
}
DAY = datetime(2026, 11, 30, 10, 0, tzinfo=ZoneInfo("Asia/Shanghai"))


def parse_for(
    text: str, category: str | None, intent: str = "report_issue", confidence: float = 0.93
) -> dict:
    from bot.nlu.places import extract_places

    places = [dataclasses.asdict(p) for p in extract_places(text)]
    return {
        "text": text,
        "original_text": text,
        "intent": {"name": intent, "confidence": 0.96},
        "entities": [],
        "category": category,
        "category_confidence": confidence if category else 0.0,
        "category_ranking": [{"code": category, "confidence": confidence}] if category else [],
        "group": None,
        "places": places,
    }


def assert_contract_shape(line: dict) -> None:
    assert set(CONTRACT_FIELDS) <= set(line)
    for key, types in CONTRACT_FIELDS.items():
        assert isinstance(line[key], types), (key, line[key])
    assert line["kind"] in KINDS
    assert all(isinstance(item, str) for item in line["needs"] + line["explanation"])
    json.dumps(line, ensure_ascii=False)  # serialisable as one JSON line


def test_report_with_a_community_is_routed_to_the_streets_office() -> None:
    text = "我住三眼井社区，楼道里堆满了纸皮杂物"
    line = route_parsed(RouteRequest("r1", text, None, None), parse_for(text, "CORRIDOR"), DAY)
    assert_contract_shape(line)
    assert (
        line["id"],
        line["kind"],
        line["category"],
        line["department"],
        line["street"],
        line["community"],
    ) == ("r1", "report", "CORRIDOR", "JDB", "洪桥", "三眼井社区")
    assert line["needs"] == [] and line["auto_dispatch"] is True
    assert any(item.startswith("rule R110: CORRIDOR -> JDB") for item in line["explanation"])
    assert any("三眼井社区" in item for item in line["explanation"])


def test_report_with_gps_point_finds_grid_and_day_worker() -> None:
    text = "这里井盖不见了，好危险"
    request = RouteRequest(7, text, GeoPoint(23.121274, 113.272859), None)  # 团一大广场, 珠光 street
    line = route_parsed(request, parse_for(text, "MANHOLE"), DAY)
    assert_contract_shape(line)
    assert (line["department"], line["street"]) == ("SWJ", "珠光")
    assert line["grid"] and line["worker"] == f"GW-{line['grid']}"
    assert line["emergency"] is False and line["urgency"] == "urgent"


def test_night_time_from_the_input_line_selects_the_night_worker() -> None:
    text = "这里井盖不见了"
    night = datetime(2026, 11, 30, 23, 30, tzinfo=ZoneInfo("Asia/Shanghai"))
    request = RouteRequest(8, text, GeoPoint(23.121274, 113.272859), night)
    line = route_parsed(request, parse_for(text, "MANHOLE"), DAY)
    assert line["worker"] == "NW-" + line["grid"].rsplit("-", 1)[0]


def test_road_spanning_several_streets_asks_to_clarify_with_candidates() -> None:
    text = "东风中路的路灯坏了"
    line = route_parsed(RouteRequest("a", text, None, None), parse_for(text, "STREETLIGHT"), DAY)
    assert line["needs"] == ["clarify_location"] and line["street"] is None
    assert len(line["candidates"]) >= 2 and line["department"] == "SZWH"


def test_place_bound_report_without_place_needs_location_but_still_auto_dispatches() -> None:
    text = "井盖不见了"
    line = route_parsed(RouteRequest("b", text, None, None), parse_for(text, "MANHOLE"), DAY)
    assert (line["needs"], line["auto_dispatch"], line["street"], line["grid"]) == (
        ["location"],
        True,
        None,
        None,
    )


def test_wage_arrears_needs_no_place() -> None:
    text = "老板拖欠工资三个月了"
    line = route_parsed(RouteRequest("c", text, None, None), parse_for(text, "WAGE_ARREARS"), DAY)
    assert (line["department"], line["needs"]) == ("RSJ", [])


def test_greeting_is_not_routed() -> None:
    line = route_parsed(RouteRequest("g", "你好", None, None), parse_for("你好", None, intent="greet"), DAY)
    assert_contract_shape(line)
    assert (line["kind"], line["department"], line["auto_dispatch"], line["category"]) == (
        "greet",
        None,
        False,
        None,
    )


@pytest.mark.parametrize("case_id", ["x1", 5, None])
def test_error_line_keeps_the_id(case_id: object) -> None:
    assert error_line(case_id, "no text") == {"id": case_id, "error": "no text"}
