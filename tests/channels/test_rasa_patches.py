"""bot.rasa_patches: the compiled action-result validator behaves exactly like Rasa's per-call `jsonschema.validate`."""

from __future__ import annotations

import inspect
import sys
from typing import Any

import pytest
from jsonschema import ValidationError
from rasa.core.actions.action import RemoteAction

import bot.channels.wechat  # noqa: F401 - importing the WeChat channel installs the patch, as `rasa run` does
from bot import rasa_patches

VALID: list[dict[str, Any]] = [
    {"events": [], "responses": []},
    {"events": [{"event": "slot", "name": "report_problem", "value": "路灯坏了", "timestamp": None}]},
    {
        "events": [
            {"event": "active_loop", "name": "report_form"},
            {"event": "bot", "text": "好的", "data": {}},
        ],
        "responses": [{"text": "您在哪里？", "buttons": [{"title": "1", "payload": "/choose"}]}],
    },
    {},
]
INVALID: list[dict[str, Any]] = [
    {"events": "slot"},
    {"events": [{"name": "report_problem"}]},
    {"events": [{"event": "slot", "name": 3}]},
    {"events": [], "responses": "您在哪里？"},
    {"events": [], "responses": ["not an object"]},
]


def test_importing_the_wechat_channel_installs_the_compiled_validator() -> None:
    assert RemoteAction._validate_action_result is rasa_patches.validate_action_result


def test_rasa_method_still_has_the_shape_that_was_replaced() -> None:
    original = rasa_patches.RASA_VALIDATE_ACTION_RESULT
    assert list(inspect.signature(original).parameters) == ["self", "result"]
    assert "validate(result, self.action_response_format_spec())" in inspect.getsource(original)


@pytest.mark.parametrize("result", VALID)
def test_valid_results_pass_both(result: dict[str, Any]) -> None:
    action = RemoteAction("validate_report_form", None)
    assert rasa_patches.RASA_VALIDATE_ACTION_RESULT(action, result) is True
    assert action._validate_action_result(result) is True


@pytest.mark.parametrize("result", INVALID)
def test_invalid_results_raise_the_same_error_as_rasa(result: dict[str, Any]) -> None:
    action = RemoteAction("validate_report_form", None)
    with pytest.raises(ValidationError) as rasas:
        rasa_patches.RASA_VALIDATE_ACTION_RESULT(action, result)
    with pytest.raises(ValidationError) as ours:
        action._validate_action_result(result)
    assert ours.value.message == rasas.value.message
    assert list(ours.value.path) == list(rasas.value.path)
    assert "Failed to validate Action server response" in ours.value.message


def test_install_is_idempotent() -> None:
    rasa_patches.install()
    rasa_patches.install()
    assert RemoteAction._validate_action_result is rasa_patches.validate_action_result
    assert rasa_patches.RASA_VALIDATE_ACTION_RESULT is not rasa_patches.validate_action_result


def test_the_rasa_server_process_gets_the_short_switch_interval() -> None:
    assert sys.getswitchinterval() == pytest.approx(rasa_patches.SWITCH_INTERVAL_S)
