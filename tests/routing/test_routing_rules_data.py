"""The routing data agrees with the client's spec and is validated at load time."""

from __future__ import annotations

import pytest

from routing.rules import DATA_DIR, SHARED_SPEC_DIR, RulesError
from tests.routing.conftest import make_rules, read_yaml

SLA_UNITS = {"working days": "wd"}


def _spec_categories() -> dict[str, dict]:
    return {row["code"]: row for row in read_yaml(SHARED_SPEC_DIR / "taxonomy.yml")["categories"]}


def _our_categories() -> dict[str, dict]:
    return {row["code"]: row for row in read_yaml(DATA_DIR / "categories.yml")["categories"]}


def test_categories_yml_lists_exactly_the_spec_codes_in_order() -> None:
    assert list(_our_categories()) == list(_spec_categories())


@pytest.mark.parametrize("code", list(_spec_categories()))
def test_category_agrees_with_taxonomy(code: str) -> None:
    spec, ours = _spec_categories()[code], _our_categories()[code]
    for key in ("name", "group", "department", "urgency"):
        assert ours[key] == spec[key], key
    assert ours.get("grid_first", False) == spec.get("grid_first", False)
    assert ours.get("place_bound", True) == spec.get("place_bound", True)
    assert ours.get("emergency") == spec.get("emergency")


def test_sla_agrees_with_taxonomy() -> None:
    spec = read_yaml(SHARED_SPEC_DIR / "taxonomy.yml")["sla"]
    ours = read_yaml(DATA_DIR / "sla.yml")["sla"]
    normalised = {
        urgency: {stage: str(limit).replace(" working days", "wd") for stage, limit in stages.items()}
        for urgency, stages in spec.items()
    }
    assert ours == normalised


def test_every_department_named_by_rules_exists(rules) -> None:  # noqa: ANN001
    departments = {row["code"] for row in read_yaml(SHARED_SPEC_DIR / "departments.yml")["departments"]}
    assert {rule.department for rule in rules.rules} <= departments
    assert set(rules.group_defaults.values()) <= departments


def test_one_base_rule_per_category_after_the_contextual_rules(rules) -> None:  # noqa: ANN001
    base = [rule for rule in rules.rules if rule.base]
    assert [next(iter(rule.when.categories)) for rule in base] == list(_our_categories())
    assert all(not rule.base for rule in rules.rules[: len(rules.rules) - len(base)])
    assert [rule.priority for rule in rules.rules] == sorted(rule.priority for rule in rules.rules)


def test_every_group_has_a_default_department(rules) -> None:  # noqa: ANN001
    assert {c["group"] for c in _spec_categories().values()} <= set(rules.group_defaults)


def test_rule_with_unknown_department_is_rejected() -> None:
    raw = read_yaml(DATA_DIR / "rules.yml")["rules"]
    raw[0] = {**raw[0], "then": {"department": "NOPE"}}
    with pytest.raises(RulesError, match="unknown department NOPE"):
        make_rules(rules=raw)


def test_priorities_out_of_file_order_are_rejected() -> None:
    raw = read_yaml(DATA_DIR / "rules.yml")["rules"]
    raw[0], raw[1] = raw[1], raw[0]
    with pytest.raises(RulesError, match="priorities"):
        make_rules(rules=raw)


def test_unknown_condition_key_is_rejected() -> None:
    raw = read_yaml(DATA_DIR / "rules.yml")["rules"]
    raw[0] = {**raw[0], "when": {"categories": ["GARBAGE"], "weekday": "sunday"}}
    with pytest.raises(RulesError, match="unknown keys"):
        make_rules(rules=raw)


def test_group_without_default_is_rejected() -> None:
    defaults = dict(read_yaml(DATA_DIR / "rules.yml")["group_defaults"])
    defaults.pop("交通运输")
    with pytest.raises(RulesError, match="交通运输"):
        make_rules(group_defaults=defaults)


def test_thresholds_are_measured_numbers_in_range(rules) -> None:  # noqa: ANN001
    assert 0.0 < rules.category_threshold < 1.0
    assert 0.0 < rules.group_threshold < 1.0
