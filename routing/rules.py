"""Routing rules: loaded from YAML and validated once, then used as plain immutable values.

`load_rules()` reads `routing/data/rules.yml` (contextual rules, thresholds, fallback table,
duplicate windows), `categories.yml` (the owner of every category), `sla.yml` (time limits) and
`roster.csv` (who is on duty), checks them against each other and against `departments.yml`, and
returns one `Rules` value. Base rules, one per category (ids R101…), are derived from
`categories.yml` and follow the contextual rules (R01…) in file order.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import time
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

from routing.roster import Roster, load_roster
from routing.types import KINDS

logger = logging.getLogger(__name__)

DATA_DIR = Path(__file__).resolve().parent / "data"
SHARED_SPEC_DIR = Path(__file__).resolve().parents[2] / "shared" / "spec"
GAZETTEER = SHARED_SPEC_DIR.parent / "data" / "yuexiu_gazetteer.csv"
STREET_SCOPED = frozenset({"JDB", "JDZF"})
_CONDITION_KEYS = frozenset(
    {"categories", "keywords_any", "keywords_none", "place_kinds_any", "place_kinds_none", "time"}
)
_OUTCOME_KEYS = frozenset({"category", "department", "grid_first"})


class RulesError(ValueError):
    """The routing data is inconsistent; raised at load time, never at decision time."""


@dataclass(frozen=True)
class Category:
    """One row of categories.yml."""

    code: str
    name: str
    group: str
    department: str
    urgency: str
    grid_first: bool = False
    place_bound: bool = True
    emergency: str | None = None


@dataclass(frozen=True)
class Condition:
    """When a rule applies. Empty fields do not constrain."""

    categories: frozenset[str] = frozenset()
    keywords_any: tuple[str, ...] = ()
    keywords_none: tuple[str, ...] = ()
    place_kinds_any: frozenset[str] = frozenset()
    place_kinds_none: frozenset[str] = frozenset()
    time: str | None = None  # "night" | "day" | None


@dataclass(frozen=True)
class Rule:
    """One routing rule: conditions, outcome and the reason shown in the explanation."""

    id: str
    priority: int
    when: Condition
    department: str
    reason: str
    category: str | None = None  # re-categorise to this code; None keeps the understood one
    grid_first: bool | None = None  # None: the (final) category's own flag
    base: bool = False  # derived from categories.yml (R101…), not a contextual rule


@dataclass(frozen=True)
class DuplicateWindow:
    """How near and how recent an open case must be to count as the same problem."""

    radius_m: float
    window_h: float


@dataclass(frozen=True)
class Rules:
    """Everything `decide` needs, validated and immutable."""

    rules: tuple[Rule, ...]
    categories: dict[str, Category]
    departments: dict[str, str]  # code -> scope ("district" | "street")
    streets: frozenset[str]
    sla: dict[str, dict[str, str]]
    category_threshold: float
    group_threshold: float
    group_defaults: dict[str, str]
    triage_department: str
    night_start: time
    night_end: time
    timezone: str
    intent_kinds: dict[str, str]
    intent_prefixes: tuple[tuple[str, str], ...]
    duplicates: dict[str, DuplicateWindow]
    roster: Roster = field(default_factory=Roster)
    fallback_urgency: str = "normal"
    staff_intents: frozenset[str] = frozenset()
    by_category: dict[str, tuple[Rule, ...]] = field(default_factory=dict)
    # Precomputed explanation lines: (rule id, understood category) -> line; urgency -> "urgency urgent: …".
    rule_lines: dict[tuple[str, str], str] = field(default_factory=dict)
    urgency_lines: dict[str, str] = field(default_factory=dict)

    def rules_for(self, category: str) -> tuple[Rule, ...]:
        """The rules that can apply to `category`, in file order (rules without a category list apply to all)."""
        found = self.by_category.get(category)
        if found is None:
            return tuple(
                rule for rule in self.rules if not rule.when.categories or category in rule.when.categories
            )
        return found

    def duplicate_window(self, category: str) -> DuplicateWindow:
        """The radius and time window for duplicates of `category`."""
        return self.duplicates.get(category, self.duplicates["default"])


def _read_yaml(path: Path) -> Any:
    with path.open(encoding="utf-8") as handle:
        return yaml.safe_load(handle)


def _parse_clock(text: str) -> time:
    hours, minutes = str(text).split(":")
    return time(int(hours), int(minutes))


def parse_categories(raw: list[dict[str, Any]]) -> dict[str, Category]:
    """Categories keyed by code, defaults applied (place_bound true, grid_first false)."""
    categories: dict[str, Category] = {}
    for row in raw:
        category = Category(
            code=row["code"],
            name=row["name"],
            group=row["group"],
            department=row["department"],
            urgency=row["urgency"],
            grid_first=bool(row.get("grid_first", False)),
            place_bound=bool(row.get("place_bound", True)),
            emergency=row.get("emergency"),
        )
        if category.code in categories:
            raise RulesError(f"category {category.code} listed twice")
        categories[category.code] = category
    return categories


def _parse_rule(raw: dict[str, Any]) -> Rule:
    when, then = raw.get("when") or {}, raw.get("then") or {}
    unknown = (set(when) - _CONDITION_KEYS) | (set(then) - _OUTCOME_KEYS)
    if unknown:
        raise RulesError(f"rule {raw.get('id')}: unknown keys {sorted(unknown)}")
    if "department" not in then or not raw.get("reason"):
        raise RulesError(f"rule {raw.get('id')}: needs then.department and a reason")
    condition = Condition(
        categories=frozenset(when.get("categories", ())),
        keywords_any=tuple(when.get("keywords_any", ())),
        keywords_none=tuple(when.get("keywords_none", ())),
        place_kinds_any=frozenset(when.get("place_kinds_any", ())),
        place_kinds_none=frozenset(when.get("place_kinds_none", ())),
        time=when.get("time"),
    )
    return Rule(
        id=str(raw["id"]),
        priority=int(raw["priority"]),
        when=condition,
        department=then["department"],
        category=then.get("category"),
        grid_first=then.get("grid_first"),
        reason=str(raw["reason"]),
    )


def base_rules(categories: dict[str, Category], first_priority: int) -> tuple[Rule, ...]:
    """One rule per category (R101, R102, … in categories.yml order): the owner from the responsibility list."""
    return tuple(
        Rule(
            id=f"R{101 + index}",
            priority=first_priority + index,
            when=Condition(categories=frozenset({code})),
            department=category.department,
            reason=f"{code} ({category.name}) is owned by {category.department} (权责清单)",
            base=True,
        )
        for index, (code, category) in enumerate(categories.items())
    )


def _validate(rules: Rules) -> None:
    ids = [rule.id for rule in rules.rules]
    if len(set(ids)) != len(ids):
        raise RulesError("duplicate rule ids")
    priorities = [rule.priority for rule in rules.rules]
    if priorities != sorted(priorities) or len(set(priorities)) != len(priorities):
        raise RulesError("rule priorities must strictly increase in file order")
    for rule in rules.rules:
        unknown = (set(rule.when.categories) | {rule.category or "OTHER"}) - set(rules.categories)
        if unknown:
            raise RulesError(f"rule {rule.id}: unknown categories {sorted(unknown)}")
        if rule.department not in rules.departments:
            raise RulesError(f"rule {rule.id}: unknown department {rule.department}")
        if rule.when.time not in (None, "night", "day"):
            raise RulesError(f"rule {rule.id}: time must be night or day")
    for category in rules.categories.values():
        if category.department not in rules.departments:
            raise RulesError(f"category {category.code}: unknown department {category.department}")
        if category.urgency not in rules.sla:
            raise RulesError(f"category {category.code}: no time limits for urgency {category.urgency}")
    for group, department in rules.group_defaults.items():
        if department not in rules.departments:
            raise RulesError(f"group default {group}: unknown department {department}")
    missing_groups = {c.group for c in rules.categories.values()} - set(rules.group_defaults)
    if missing_groups:
        raise RulesError(f"groups without a default department: {sorted(missing_groups)}")
    if rules.triage_department not in rules.departments or "default" not in rules.duplicates:
        raise RulesError("triage department or default duplicate window missing")
    bad_kinds = set(rules.intent_kinds.values()) | {kind for _, kind in rules.intent_prefixes}
    if bad_kinds - set(KINDS):
        raise RulesError(f"intent kinds not in the contract: {sorted(bad_kinds - set(KINDS))}")
    if rules.fallback_urgency not in rules.sla:
        raise RulesError(f"fallback urgency {rules.fallback_urgency} has no time limits")
    if not (0.0 <= rules.category_threshold <= 1.0 and 0.0 <= rules.group_threshold <= 1.0):
        raise RulesError("thresholds must lie in [0, 1]")


def _departments(spec_dir: Path) -> dict[str, str]:
    raw = _read_yaml(spec_dir / "departments.yml")["departments"]
    return {row["code"]: row.get("scope", "district") for row in raw}


def _streets(gazetteer: Path) -> frozenset[str]:
    import csv

    with gazetteer.open(encoding="utf-8") as handle:
        return frozenset(row["street_short"] for row in csv.DictReader(handle))


def build_rules(
    raw_rules: dict[str, Any],
    raw_categories: list[dict[str, Any]],
    sla: dict[str, dict[str, str]],
    departments: dict[str, str],
    streets: frozenset[str] = frozenset(),
    roster: Roster | None = None,
) -> Rules:
    """Build and validate a `Rules` value from already-read data (used by tests with altered data)."""
    categories = parse_categories(raw_categories)
    contextual = tuple(_parse_rule(raw) for raw in raw_rules.get("rules") or ())
    first_base = (contextual[-1].priority if contextual else 0) + 1000
    thresholds = raw_rules.get("thresholds") or {}
    kinds = raw_rules.get("intent_kinds") or {}
    rules = Rules(
        rules=contextual + base_rules(categories, first_base),
        categories=categories,
        departments=departments,
        streets=streets,
        sla={
            urgency: {stage: str(limit) for stage, limit in limits.items()} for urgency, limits in sla.items()
        },
        category_threshold=float(thresholds.get("category", 0.5)),
        group_threshold=float(thresholds.get("group", 0.5)),
        group_defaults=dict(raw_rules.get("group_defaults") or {}),
        triage_department=str(raw_rules.get("triage_department", "DZZX")),
        night_start=_parse_clock(raw_rules["night"]["start"]),
        night_end=_parse_clock(raw_rules["night"]["end"]),
        timezone=str(raw_rules.get("timezone", "Asia/Shanghai")),
        intent_kinds=dict(kinds.get("exact") or {}),
        intent_prefixes=tuple((kinds.get("prefixes") or {}).items()),
        duplicates={
            code: DuplicateWindow(float(w["radius_m"]), float(w["window_h"]))
            for code, w in (raw_rules.get("duplicates") or {}).items()
        },
        roster=roster if roster is not None else Roster(),
        fallback_urgency=str(raw_rules.get("fallback_urgency", "normal")),
        staff_intents=frozenset(raw_rules.get("staff_intents") or ()),
    )
    _validate(rules)
    # Derived lookups, computed once here so that decide() stays cheap.
    object.__setattr__(rules, "by_category", {code: rules.rules_for(code) for code in categories})
    object.__setattr__(
        rules,
        "rule_lines",
        {(rule.id, code): rule_line(rule, code) for rule in rules.rules for code in rule.when.categories},
    )
    object.__setattr__(
        rules,
        "urgency_lines",
        {
            urgency: f"urgency {urgency}: " + ", ".join(f"{stage} {limit}" for stage, limit in limits.items())
            for urgency, limits in rules.sla.items()
        },
    )
    return rules


def rule_line(rule: Rule, understood: str) -> str:
    """The explanation line of a rule that fired, e.g. "rule R108: GARBAGE -> HWZX"."""
    final = rule.category or understood
    arrow = (
        f"{understood} -> {final} -> {rule.department}"
        if final != understood
        else f"{final} -> {rule.department}"
    )
    return f"rule {rule.id}: {arrow}" if rule.base else f"rule {rule.id}: {arrow} ({rule.reason})"


@lru_cache(maxsize=1)
def category_groups() -> dict[str, str]:
    """Category code -> taxonomy group, from categories.yml alone (cheap; used by the parse adapter)."""
    raw = _read_yaml(DATA_DIR / "categories.yml")["categories"]
    return {code: category.group for code, category in parse_categories(raw).items()}


def rules_path() -> Path:
    """The rules file: routing/data/rules.yml."""
    return DATA_DIR / "rules.yml"


@lru_cache(maxsize=1)
def load_rules() -> Rules:
    """Load and validate the routing data once per process.

    Raises:
        RulesError: the data files disagree with each other or with departments.yml.
    """
    rules = build_rules(
        raw_rules=_read_yaml(rules_path()),
        raw_categories=_read_yaml(DATA_DIR / "categories.yml")["categories"],
        sla=_read_yaml(DATA_DIR / "sla.yml")["sla"],
        departments=_departments(SHARED_SPEC_DIR),
        streets=_streets(GAZETTEER),
        roster=load_roster(DATA_DIR / "roster.csv", GAZETTEER),
    )
    logger.info("routing rules loaded: %d rules, %d categories", len(rules.rules), len(rules.categories))
    return rules
