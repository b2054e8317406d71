"""GridSec routing: pure, explainable decisions over data files (no I/O at decision time).

`decide(understanding, location, now)` routes a case; `load_rules()` reads and validates the data once;
`find_duplicate(...)` links a repeat report to an open case; `understanding_from_parse(...)` is the one
adapter from a Rasa parse, and `decision_for_parse(parse, point, point_source, now)` runs the steps after
NLU (adapter -> locate -> decide) for both the action server and `gridsec route`. Attributes are imported lazily so that `import routing.types` stays cheap.
"""

from __future__ import annotations

import importlib
import logging
from typing import Any

logger = logging.getLogger(__name__)

_EXPORTS = {
    "decide": "routing.decide",
    "kind_of": "routing.decide",
    "load_rules": "routing.rules",
    "Rules": "routing.rules",
    "RulesError": "routing.rules",
    "find_duplicate": "routing.duplicates",
    "understanding_from_parse": "routing.understanding",
    "decision_for_parse": "routing.route_cli",
    "on_duty": "routing.roster",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'routing' has no attribute {name!r}")
