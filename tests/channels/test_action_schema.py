"""bot.action_schema says "valid" for exactly the action responses Rasa's whole schema accepts."""

from __future__ import annotations

import copy
from typing import Any

from hypothesis import event, given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator
from rasa.core.actions.action import RemoteAction

from bot.action_schema import ActionResultSchema

SCHEMA = RemoteAction.action_response_format_spec()
WHOLE = Draft202012Validator(SCHEMA)
SPLIT = ActionResultSchema.of(SCHEMA, Draft202012Validator)
NAMES = [branch["properties"]["event"]["const"] for branch in SCHEMA["properties"]["events"]["items"]["oneOf"]]

scalars = st.one_of(st.none(), st.booleans(), st.integers(-3, 3), st.floats(allow_nan=False), st.text(max_size=3))
values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=2) | st.dictionaries(st.text(max_size=3), inner, max_size=2), max_leaves=4)
FIELDS = ["name", "value", "text", "timestamp", "metadata", "entities", "parse_data", "policy", "confidence", "data"]
fields = st.sampled_from(FIELDS) | st.text(max_size=4)
plausible = st.fixed_dictionaries(  # mostly valid: right names, right kinds of values
    {"event": st.sampled_from(NAMES)},
    optional={
        "name": st.text(max_size=3),
        "value": values,
        "timestamp": st.none() | st.floats(0, 2e9),
        "text": st.none() | st.text(max_size=3),
        "entities": st.lists(st.fixed_dictionaries({"entity": st.text(max_size=2), "value": values}), max_size=2),
    },
)
events = st.one_of(
    plausible,
    st.dictionaries(fields, values, max_size=4).flatmap(
        lambda body: st.sampled_from(NAMES + ["unknown", 3]).map(lambda name: body | {"event": name})
    ),
    st.dictionaries(fields, values, max_size=3),  # no event name
    scalars,  # not an object
)
results = st.one_of(
    st.fixed_dictionaries({"events": st.lists(plausible, min_size=1, max_size=3)}),
    st.fixed_dictionaries({"events": st.lists(events, max_size=4)}, optional={"responses": st.lists(values, max_size=2)}),
    st.dictionaries(st.sampled_from(["events", "responses", "other"]), values, max_size=2),
    values,
)


def test_rasas_schema_has_the_exclusive_shape_it_relies_on() -> None:
    assert SPLIT is not None
    assert set(SPLIT.branches) == set(NAMES) and len(NAMES) > 20


@settings(max_examples=600, deadline=None)
@given(results)
def test_valid_exactly_when_the_whole_schema_says_so(result: Any) -> None:
    assert SPLIT is not None
    valid = WHOLE.is_valid(result)
    assert SPLIT.is_valid(result) == valid
    has_events = isinstance(result, dict) and isinstance(result.get("events"), list) and bool(result["events"])
    event(f"valid={valid}, with events={has_events}")


def test_a_typical_response_is_valid_and_a_broken_event_is_not() -> None:
    assert SPLIT is not None
    good: dict[str, Any] = {
        "events": [
            {"event": "slot", "name": "report_problem", "value": "路灯坏了", "timestamp": None},
            {"event": "active_loop", "name": "report_form"},
            {"event": "user", "text": "是", "parse_data": {"intent": {"name": "affirm", "confidence": 0.9}}},
        ],
        "responses": [{"text": "您在哪里？"}],
    }
    assert SPLIT.is_valid(good) and WHOLE.is_valid(good)
    for broken in ({"event": "slot", "name": "report_problem"}, {"event": "nonsense"}, {"name": "x"}):
        bad = copy.deepcopy(good)
        bad["events"].append(broken)
        assert not SPLIT.is_valid(bad) and not WHOLE.is_valid(bad)


def _with_branches(*branches: dict[str, Any]) -> dict[str, Any]:
    schema = copy.deepcopy(SCHEMA)
    schema["properties"]["events"]["items"]["oneOf"] = list(branches)
    return schema


def test_schemas_whose_branches_are_not_exclusive_by_event_get_the_whole_check() -> None:
    same_name = _with_branches({"properties": {"event": {"const": "slot"}}}, {"properties": {"event": {"const": "slot"}}})
    unnamed = _with_branches({"properties": {"event": {"const": "slot"}}}, {"properties": {"name": {"type": "string"}}})
    optional = copy.deepcopy(SCHEMA)
    optional["properties"]["events"]["items"]["required"] = []
    for schema in (same_name, unnamed, optional, {"type": "object"}):
        assert ActionResultSchema.of(schema, Draft202012Validator) is None
