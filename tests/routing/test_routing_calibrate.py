"""routing.calibrate: thresholds are measured from out-of-fold predictions, not guessed."""

from __future__ import annotations

import json

from routing.calibrate import Scored, choose_threshold, measure, thresholds_block, write_thresholds
from routing.rules import load_rules


def scored(pairs: list[tuple[float, bool]]) -> list[Scored]:
    return [Scored(confidence, correct) for confidence, correct in pairs]


def test_lowest_threshold_meeting_the_target_precision() -> None:
    # 40 right answers at 0.9, then at 0.6 ten right and one wrong, then at 0.3 ten wrong.
    data = scored([(0.9, True)] * 40 + [(0.6, True)] * 10 + [(0.6, False)] + [(0.3, False)] * 10)
    threshold = choose_threshold(data, target=0.95, min_support=5)
    assert threshold.value == 0.6
    assert threshold.support == 51 and abs(threshold.precision - 50 / 51) < 1e-9


def test_a_stricter_threshold_below_target_blocks_lower_ones() -> None:
    # The top 10 are half wrong: no threshold is trusted even though the full set would average well.
    data = scored([(0.99, False)] * 5 + [(0.98, True)] * 5 + [(0.5, True)] * 200)
    assert choose_threshold(data, target=0.95, min_support=10).value == 1.0


def test_thresholds_with_too_little_support_are_not_checked() -> None:
    data = scored([(0.99, False)] + [(0.9, True)] * 60)
    assert choose_threshold(data, target=0.95, min_support=30).value == 0.9


def test_department_correctness_counts_not_exact_category() -> None:
    rules = load_rules()
    # PARKING and TRAFFIC_FAC share JJDD: predicting one for the other still dispatches correctly.
    rows = [
        {
            "gold": "PARKING",
            "predicted": "TRAFFIC_FAC",
            "confidence": 0.8,
            "ranking": [{"code": "TRAFFIC_FAC", "confidence": 0.8}],
        }
    ] * 40
    result = measure({"predictions": rows}, rules, target=0.95)
    assert result["category"].value == 0.8 and result["category"].precision == 1.0


def test_measured_block_replaces_only_the_thresholds(tmp_path) -> None:  # noqa: ANN001
    rules = load_rules()
    rows = [
        {
            "gold": "GARBAGE",
            "predicted": "GARBAGE",
            "confidence": 0.7,
            "ranking": [{"code": "GARBAGE", "confidence": 0.7}],
        }
    ] * 40
    oof = tmp_path / "category_oof.json"
    oof.write_text(json.dumps({"predictions": rows}), encoding="utf-8")
    from datetime import datetime, timezone

    block = thresholds_block(
        measure({"predictions": rows}, rules, 0.95), 0.95, oof, datetime(2026, 11, 29, tzinfo=timezone.utc)
    )
    target = tmp_path / "rules.yml"
    target.write_text("a: 1\nthresholds:\n  category: 0.5\n  measured: null\n\nb: 2\n", encoding="utf-8")
    write_thresholds(block, target)
    text = target.read_text(encoding="utf-8")
    assert text.startswith("a: 1\nthresholds:\n  category: 0.7\n") and text.endswith("\nb: 2\n")
    assert "data_sha256:" in text and "2026-11-29 00:00 UTC" in text


def test_rules_data_records_how_its_thresholds_were_measured() -> None:
    import yaml

    from routing.rules import rules_path

    measured = yaml.safe_load(rules_path().read_text(encoding="utf-8"))["thresholds"]["measured"]
    assert measured["target_precision"] >= 0.95 and measured["data_sha256"]
    assert measured["category"]["precision"] >= measured["target_precision"]


def test_score_counts_departments_streets_and_auto_dispatch_on_clear_cases() -> None:
    from routing.evaluation import score

    cases = [
        {"text": "a", "category": "GARBAGE", "department": "HWZX", "street": "洪桥"},
        {"text": "b", "category": "CORRIDOR", "department": "JDB", "street": "北京"},
        {"text": "c", "category": None, "department": "DZZX", "street": None, "clear": False},
    ]
    outputs = [
        {"department": "HWZX", "street": "洪桥", "category": "GARBAGE", "auto_dispatch": True},
        {"department": "JDB", "street": "洪桥", "category": "CORRIDOR", "auto_dispatch": False},
        {"error": "no text"},
    ]
    figures = score(cases, outputs)
    assert (figures["clear"], figures["department_accuracy"], figures["street_accuracy"]) == (2, 1.0, 0.5)
    assert figures["auto_dispatch_rate"] == 0.5
    assert [miss["text"] for miss in figures["misses"]] == ["b", "c"]
