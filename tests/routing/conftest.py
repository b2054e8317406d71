"""Fixtures for the routing tests: the real rules data with a small hand-built roster."""

from __future__ import annotations

from datetime import datetime, time
from zoneinfo import ZoneInfo

import pytest
import yaml

from routing.roster import Roster, Shift
from routing.rules import DATA_DIR, SHARED_SPEC_DIR, Rules, build_rules
from routing.types import ResolvedLocation, Understanding

SHANGHAI = ZoneInfo("Asia/Shanghai")
HONGQIAO_GRID = "440104001007-03"  # 洪桥 street, 三眼井社区
BEIJING_GRID = "440104003104-02"  # 北京 street, 流水井社区


def read_yaml(path):  # noqa: ANN001, ANN201 - tiny test helper
    with open(path, encoding="utf-8") as handle:
        return yaml.safe_load(handle)


def test_roster() -> Roster:
    """Day grid workers 08:00–20:00 for two grids, night community workers 20:00–08:00."""
    shifts = []
    for grid in (HONGQIAO_GRID, BEIJING_GRID):
        community = grid.rsplit("-", 1)[0]
        shifts.append(Shift(f"GW-{grid}", "grid", grid, time(8), time(20), "day"))
        shifts.append(Shift(f"NW-{community}", "community", community, time(20), time(8), "night"))
    return Roster.from_shifts(shifts, {"三眼井社区": "440104001007", "流水井社区": "440104003104"})


test_roster.__test__ = False  # a helper, not a test


def make_rules(**overrides) -> Rules:  # noqa: ANN003
    raw = read_yaml(DATA_DIR / "rules.yml")
    raw.update(overrides)
    departments = {
        row["code"]: row["scope"] for row in read_yaml(SHARED_SPEC_DIR / "departments.yml")["departments"]
    }
    return build_rules(
        raw_rules=raw,
        raw_categories=read_yaml(DATA_DIR / "categories.yml")["categories"],
        sla=read_yaml(DATA_DIR / "sla.yml")["sla"],
        departments=departments,
        roster=test_roster(),
    )


@pytest.fixture(scope="session")
def rules() -> Rules:
    return make_rules()


def report(text: str, category: str | None, confidence: float = 0.95, **kwargs) -> Understanding:  # noqa: ANN003
    """A confidently understood report (override any field through kwargs)."""
    values = {
        "text": text,
        "intent": "report_issue",
        "intent_confidence": 0.97,
        "category": category,
        "category_confidence": confidence,
        "group": kwargs.pop("group", None),
        "group_confidence": kwargs.pop("group_confidence", 0.0),
    }
    values.update(kwargs)
    return Understanding(**values)


def at_grid(grid: str = HONGQIAO_GRID) -> ResolvedLocation:
    street = "洪桥" if grid == HONGQIAO_GRID else "北京"
    community = "三眼井社区" if grid == HONGQIAO_GRID else "流水井社区"
    return ResolvedLocation(street=street, community=community, grid=grid, source="text", precision="grid")


DAY = datetime(2026, 11, 30, 10, 0, tzinfo=SHANGHAI)  # a Monday, 10:00 local
NIGHT = datetime(2026, 11, 30, 23, 30, tzinfo=SHANGHAI)


def model_override():  # noqa: ANN201
    """A model archive to test against instead of `ensure_model()` (GRIDSEC_MODEL), e.g. while data changes."""
    import os
    from pathlib import Path

    value = os.environ.get("GRIDSEC_MODEL")
    return Path(value) if value else None
