"""understanding_from_parse(): the one adapter from a Rasa parse to an Understanding."""

from __future__ import annotations

from routing.types import GeoPoint, PlaceMention
from routing.understanding import understanding_from_parse

PARSE = {
    "text": "起义路3号楼下垃圾堆了好几天",
    "original_text": "起義路3號樓下垃圾堆了好幾天",
    "intent": {"name": "report_issue", "confidence": 0.98},
    "entities": [],
    "category": "GARBAGE",
    "category_confidence": 0.91,
    "category_ranking": [{"name": "GARBAGE", "confidence": 0.91}],
    "group": "环境保护",
    "group_confidence": 0.88,
    "places": [
        {
            "kind": "address",
            "text": "起义路3号",
            "value": "广州起义路",
            "start": 0,
            "end": 5,
            "number": 3,
            "confidence": 0.9,
        }
    ],
}


def test_full_parse_is_reduced_to_an_understanding() -> None:
    understanding = understanding_from_parse(PARSE, GeoPoint(23.12, 113.26), "gps")
    assert understanding.text == PARSE["text"]
    assert (understanding.intent, understanding.intent_confidence) == ("report_issue", 0.98)
    assert (understanding.category, understanding.category_confidence) == ("GARBAGE", 0.91)
    assert (understanding.group, understanding.group_confidence) == ("环境保护", 0.88)
    assert understanding.places == (
        PlaceMention(kind="address", text="起义路3号", value="广州起义路", start=0, end=5, number=3),
    )
    assert (understanding.point, understanding.point_source) == (GeoPoint(23.12, 113.26), "gps")


def test_bare_rasa_parse_without_our_keys() -> None:
    understanding = understanding_from_parse(
        {"text": "你好", "intent": {"name": "greet", "confidence": 0.99}}
    )
    assert (understanding.intent, understanding.category, understanding.group, understanding.places) == (
        "greet",
        None,
        None,
        (),
    )
    assert understanding.category_confidence == 0.0


def test_category_given_as_rasa_label_dict() -> None:
    parse = {
        "text": "x",
        "category": {"name": "TREE", "confidence": 0.7},
        "group": {"name": "城乡建设", "confidence": 0.6},
    }
    understanding = understanding_from_parse(parse)
    assert (understanding.category, understanding.category_confidence) == ("TREE", 0.7)
    assert (understanding.group, understanding.group_confidence) == ("城乡建设", 0.6)


def test_point_source_is_dropped_without_a_point_and_bad_places_are_skipped() -> None:
    parse = {
        "text": "x",
        "intent": None,
        "places": [{"kind": "road"}, "junk", {"kind": "road", "value": "东风中路"}],
    }
    understanding = understanding_from_parse(parse, None, "gps")
    assert understanding.point_source is None and understanding.intent is None
    assert understanding.places == (PlaceMention(kind="road", text="东风中路", value="东风中路"),)


def test_original_text_is_used_when_text_is_missing() -> None:
    assert understanding_from_parse({"original_text": "井盖没了"}).text == "井盖没了"


def test_group_confidence_is_the_rankings_mass_per_group_when_nlu_gives_none() -> None:
    parse = {
        "text": "路边那个东西坏了",
        "intent": {"name": "report_issue", "confidence": 0.9},
        "category": "TRAFFIC_FAC",
        "category_confidence": 0.3,
        "group": "交通运输",
        "category_ranking": [
            {"code": "TRAFFIC_FAC", "confidence": 0.3},
            {"code": "ROAD_DAMAGE", "confidence": 0.25},
            {"code": "STREETLIGHT", "confidence": 0.25},
            {"code": "PARKING", "confidence": 0.1},
        ],
    }
    understanding = understanding_from_parse(parse)
    assert understanding.group == "城乡建设" and abs(understanding.group_confidence - 0.5) < 1e-9
    assert understanding.category == "TRAFFIC_FAC" and understanding.category_confidence == 0.3


def test_explicit_group_confidence_wins_over_the_ranking() -> None:
    parse = {
        "text": "x",
        "group": "交通运输",
        "group_confidence": 0.77,
        "category_ranking": [{"code": "ROAD_DAMAGE", "confidence": 0.9}],
    }
    understanding = understanding_from_parse(parse)
    assert (understanding.group, understanding.group_confidence) == ("交通运输", 0.77)


def test_category_left_empty_for_a_non_report_intent_is_read_from_the_ranking() -> None:
    parse = {
        "text": "靖海门社区整栋楼突然没电了",
        "intent": {"name": "dept_need_info", "confidence": 0.95},
        "intent_ranking": [
            {"name": "dept_need_info", "confidence": 0.95},
            {"name": "report_issue", "confidence": 0.04},
        ],
        "category": None,
        "category_confidence": 0.0,
        "group": None,
        "group_confidence": 0.0,
        "category_ranking": [
            {"code": "POWER", "confidence": 0.93},
            {"code": "WATER_SUPPLY", "confidence": 0.03},
        ],
    }
    understanding = understanding_from_parse(parse)
    assert (understanding.category, understanding.category_confidence) == ("POWER", 0.93)
    assert understanding.group == "城乡建设" and abs(understanding.group_confidence - 0.96) < 1e-9
    assert understanding.intent_ranking == (("dept_need_info", 0.95), ("report_issue", 0.04))
