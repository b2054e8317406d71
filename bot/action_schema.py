"""Rasa's action-response schema, checked event by event against the one branch each event can match.

Rasa's schema (`RemoteAction.action_response_format_spec`) describes each event as an object with a required
`event` name and a `oneOf` over about 25 event types, each branch fixing `event` to its own constant. jsonschema
decides a `oneOf` by trying every branch, so a response of eight events cost 2.1 ms of the Rasa event loop, per
action call. Since the branches' constants differ and `event` is required, at most one branch can match an event:
the one named by its `event`. So an event satisfies the `oneOf` exactly when it satisfies that branch, and a
response is valid exactly when it is valid without the `oneOf` and each event satisfies its own branch.

`ActionResultSchema.is_valid` answers with that rule. It is only a fast yes: for any response it does not pass,
the caller runs the whole schema, so errors and their messages stay jsonschema's own. `of` returns None when a
schema does not have that shape (another Rasa version), and then every response gets the whole schema.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from jsonschema.protocols import Validator


@dataclass(frozen=True)
class ActionResultSchema:
    """The response schema without the events' `oneOf`, and a validator per event name for its branch."""

    outline: Validator
    branches: Mapping[str, Validator]

    @classmethod
    def of(cls, schema: Mapping[str, Any], validator_class: type[Validator]) -> ActionResultSchema | None:
        """Split Rasa's schema at the events' `oneOf`, or None if its branches are not exclusive by `event`."""
        try:
            item = schema["properties"]["events"]["items"]
            branches = item["oneOf"]
            names = [branch["properties"]["event"]["const"] for branch in branches]
        except (KeyError, TypeError):
            return None
        if "event" not in item.get("required", ()) or len(set(names)) != len(names):
            return None
        if not all(isinstance(name, str) for name in names):
            return None
        outline = copy.deepcopy(dict(schema))
        del outline["properties"]["events"]["items"]["oneOf"]
        return cls(
            outline=validator_class(outline),
            branches={name: validator_class(branch) for name, branch in zip(names, branches, strict=True)},
        )

    def is_valid(self, result: Any) -> bool:
        """True only if `result` is valid under the whole schema; False means "check it the slow way"."""
        if not self.outline.is_valid(result):
            return False
        for event in result.get("events", ()):
            branch = self.branches.get(event["event"]) if isinstance(event["event"], str) else None
            if branch is None or not branch.is_valid(event):
                return False
        return True
