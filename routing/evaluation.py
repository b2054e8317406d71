"""Routing evaluation on the resident-written cases (tests/data/routing/resident_cases.yml).

`score(cases, outputs)` compares `gridsec route` output lines with the expected department, street and
category of each case: department accuracy and auto_dispatch rate on the clear reports (the floors of
issue 4 are 0.95 and 0.98), street and category accuracy, and the misses. `evaluate_resident_cases()`
runs the cases through the real route path and writes var/eval/routing_resident_cases.json (for
`make eval`).
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import yaml

logger = logging.getLogger(__name__)

REPO_ROOT = Path(__file__).resolve().parents[1]
CASES_PATH = REPO_ROOT / "tests" / "data" / "routing" / "resident_cases.yml"
OUT_PATH = REPO_ROOT / "var" / "eval" / "routing_resident_cases.json"
DEPARTMENT_FLOOR = 0.95
AUTO_DISPATCH_FLOOR = 0.98


def load_cases(path: Path = CASES_PATH) -> tuple[str, list[dict[str, Any]]]:
    """The default local time and the cases."""
    with path.open(encoding="utf-8") as handle:
        data = yaml.safe_load(handle)
    return str(data["default_time"]), list(data["cases"])


def input_lines(cases: Sequence[dict[str, Any]], default_time: str) -> list[str]:
    """The cases as `gridsec route` input lines (id = index; time and point when the case has them)."""
    lines = []
    for index, case in enumerate(cases):
        line: dict[str, Any] = {"id": index, "text": case["text"], "time": case.get("time", default_time)}
        if "lat" in case:
            line.update(lat=case["lat"], lng=case["lng"])
        lines.append(json.dumps(line, ensure_ascii=False))
    return lines


def _rate(hits: Sequence[bool]) -> float:
    return sum(hits) / len(hits) if hits else 0.0


def score(cases: Sequence[dict[str, Any]], outputs: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Accuracy figures of route outputs against the expected values (clear reports for the floors)."""
    pairs = list(zip(cases, outputs, strict=True))
    clear = [(case, out) for case, out in pairs if case.get("clear", True)]
    misses = [
        {
            "text": case["text"],
            "expected": [case["department"], case["street"], case["category"]],
            "got": [out.get("department"), out.get("street"), out.get("category")],
            "explanation": out.get("explanation") or out.get("error"),
        }
        for case, out in pairs
        if (out.get("department"), out.get("street")) != (case["department"], case["street"])
    ]
    return {
        "cases": len(pairs),
        "clear": len(clear),
        "department_accuracy": _rate([out.get("department") == case["department"] for case, out in clear]),
        "street_accuracy": _rate([out.get("street") == case["street"] for case, out in clear]),
        "category_accuracy": _rate([out.get("category") == case["category"] for case, out in clear]),
        "auto_dispatch_rate": _rate(
            [bool(out.get("auto_dispatch")) for case, out in clear if case["category"]]
        ),
        "floors": {"department_accuracy": DEPARTMENT_FLOOR, "auto_dispatch_rate": AUTO_DISPATCH_FLOOR},
        "misses": misses,
    }


def route_lines(agent: Any, lines: Sequence[str], now: datetime) -> list[dict[str, Any]]:
    """Route input lines through the live path with an already loaded agent."""
    from routing.route_cli import BATCH_SIZE, route_batch

    loop = asyncio.new_event_loop()
    try:
        outputs: list[dict[str, Any]] = []
        for start in range(0, len(lines), BATCH_SIZE):
            outputs.extend(route_batch(agent, loop, list(lines[start : start + BATCH_SIZE]), now))
        return outputs
    finally:
        loop.close()


def evaluate_resident_cases(
    agent: Any = None, progress: Callable[[str], None] = logger.info, out_path: Path = OUT_PATH
) -> dict[str, Any]:
    """Run the resident cases through the route path, write the report, return the figures."""
    from routing.route_cli import load_agent

    agent = agent if agent is not None else load_agent(None)
    default_time, cases = load_cases()
    outputs = route_lines(agent, input_lines(cases, default_time), datetime.now(ZoneInfo("Asia/Shanghai")))
    figures = score(cases, outputs)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    out_path.write_text(json.dumps(figures, ensure_ascii=False, indent=1), encoding="utf-8")
    progress(
        f"routing on {figures['clear']} clear resident cases: department {figures['department_accuracy']:.3f} "
        f"(floor {DEPARTMENT_FLOOR}), auto_dispatch {figures['auto_dispatch_rate']:.3f} (floor {AUTO_DISPATCH_FLOOR}), "
        f"street {figures['street_accuracy']:.3f}; report {out_path}"
    )
    return figures
