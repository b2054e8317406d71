"""Measured fixes to the Rasa 3.6.21 server's hot path, installed in every Rasa server we run.

`RemoteAction._validate_action_result` calls `jsonschema.validate(result, schema)` after every action-server
call. jsonschema 4.x's `validate` first checks the *schema* against the Draft 2020-12 metaschema, on every
call: 20 ms of CPU on the Rasa event loop per action call (py-spy, tests/bench/bench_wechat_load.py), i.e.
about 40 ms of a report turn's ~90 ms, while the instance check itself takes 0.6 ms. Rasa's schema is a
constant, so it is checked once here and the compiled validator is reused: the same validator class, the same
`ValidationError` and the same message Rasa adds, without the repeated metaschema pass. A valid response is
recognised event by event against its own event type's branch (`bot.action_schema`: 2.1 ms -> 0.23 ms for eight events);
anything else still goes through the whole schema, so errors are unchanged.

The GIL switch interval is lowered from 5 ms to 0.5 ms. A Rasa server is one event loop doing NLU (CPU) plus
worker threads doing database round trips (the WeChat channel, the tracker store); with the default interval
each thread waits up to 5 ms for the GIL after every round trip, and a turn makes a dozen. At an offered 20 msg/s
on the production shape that moved p50 from 570 ms to 230 ms (docs/scaling.md).

Action calls reuse one HTTP session and its connections per endpoint (`bot.endpoint_sessions`).

`install()` is idempotent and is called when `bot.channels.wechat` is imported, which every Rasa server of ours
does to load the WeChat channel (credentials.yml); the console and the worker never import it. Rasa is pinned
exactly (requirements/lock.txt); tests/channels/test_rasa_patches.py fails if the patched method changes shape.
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from typing import Any

from jsonschema import ValidationError
from jsonschema.exceptions import best_match
from jsonschema.protocols import Validator
from jsonschema.validators import validator_for
from rasa.core.actions.action import DOCS_BASE_URL, RemoteAction

from bot import endpoint_sessions
from bot.action_schema import ActionResultSchema

SWITCH_INTERVAL_S = 0.0005
RASA_VALIDATE_ACTION_RESULT: Callable[[Any, dict[str, Any]], bool] = RemoteAction._validate_action_result
"""Rasa's own method, kept for the tests that compare the two."""


@functools.lru_cache(maxsize=1)
def action_result_validator() -> Validator:
    """Rasa's action-response schema, checked once against its metaschema and compiled."""
    schema = RemoteAction.action_response_format_spec()
    validator_class = validator_for(schema)
    validator_class.check_schema(schema)
    return validator_class(schema)


@functools.lru_cache(maxsize=1)
def action_result_schema() -> ActionResultSchema | None:
    """The same schema, split so that each event is checked against its own branch only (`bot.action_schema`)."""
    validator = action_result_validator()
    return ActionResultSchema.of(validator.schema, type(validator))


def validate_action_result(self: Any, result: dict[str, Any]) -> bool:
    """Drop-in for `RemoteAction._validate_action_result` (same result, same error and message)."""
    split = action_result_schema()
    if split is not None and split.is_valid(result):
        return True
    # jsonschema.validate raises the best match of the instance's errors; so does this
    error: ValidationError | None = best_match(action_result_validator().iter_errors(result))
    if error is not None:
        error.message += (
            f". Failed to validate Action server response from API, "
            f"make sure your response from the Action endpoint is valid. "
            f"For more information about the format visit "
            f"{DOCS_BASE_URL}/custom-actions"
        )
        raise error
    return True


def install() -> None:
    """Use the compiled validator for action results, and the shorter GIL switch interval (once per process).

    Also one long-lived HTTP session per endpoint for the action calls (`bot.endpoint_sessions`).
    """
    RemoteAction._validate_action_result = validate_action_result  # type: ignore[method-assign]
    endpoint_sessions.install()
    sys.setswitchinterval(SWITCH_INTERVAL_S)
