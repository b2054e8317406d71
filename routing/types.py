"""Value types shared by NLU, routing, storage and the channels.

These are the seams between the parts of GridSec: NLU produces an `Understanding`, location
resolution produces a `ResolvedLocation`, and `routing.decide` turns both into a `Decision`
that carries its own explanation. All are frozen dataclasses so that decisions are pure values.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

# The contract's `kind` values (../shared/spec/contracts.md, `gridsec route`).
KINDS = ("report", "status_query", "rating", "greet", "thanks", "consult", "out_of_scope", "other")


@dataclass(frozen=True)
class GeoPoint:
    """A WGS-84 point."""

    lat: float
    lng: float


@dataclass(frozen=True)
class PlaceMention:
    """A place named in the resident's text, found by the place extractor.

    kind is one of: street, community, road, address (road + house number), building
    (3号楼2单元), landmark, metro_station, lake. `value` is the canonical name in the gazetteer
    or places table (e.g. 广州起义路 for 起义路, 三眼井社区 for 三眼井那边, 洪桥 for 洪桥街).
    """

    kind: str
    text: str
    value: str
    start: int = 0
    end: int = 0
    number: int | None = None
    detail: str | None = None


@dataclass(frozen=True)
class Understanding:
    """What NLU made of one resident message (a Rasa parse, reduced to what routing needs)."""

    text: str
    intent: str | None = None
    intent_confidence: float = 0.0
    category: str | None = None
    category_confidence: float = 0.0
    group: str | None = None
    group_confidence: float = 0.0
    places: tuple[PlaceMention, ...] = ()
    point: GeoPoint | None = None
    point_source: str | None = None  # "gps" (WeChat location) | "exif" (photo) | None
    intent_ranking: tuple[tuple[str, float], ...] = ()  # Rasa's intent_ranking, best first


@dataclass(frozen=True)
class Candidate:
    """One place the resident may mean, offered as a one-tap choice when the location is ambiguous."""

    label: str
    street: str
    community: str | None = None
    grid: str | None = None
    point: GeoPoint | None = None


@dataclass(frozen=True)
class ResolvedLocation:
    """Where a case lies, as precisely as the evidence allows.

    precision: "grid" | "community" | "street" | "none". `street` is the 街道 short name
    without 街 (e.g. 洪桥); `community` is the community short name (e.g. 三眼井社区);
    `grid` is a grid id. A non-empty `candidates` means the place is ambiguous and the bot should ask.
    """

    street: str | None = None
    community: str | None = None
    grid: str | None = None
    point: GeoPoint | None = None
    source: str = "none"  # "gps" | "exif" | "text" | "none"
    precision: str = "none"
    candidates: tuple[Candidate, ...] = ()
    explanation: tuple[str, ...] = ()

    @property
    def ambiguous(self) -> bool:
        return len(self.candidates) > 1


NO_LOCATION = ResolvedLocation()


@dataclass(frozen=True)
class Decision:
    """A routing decision for one case, with the reasons that produced it."""

    kind: str
    intent: str | None
    intent_confidence: float
    category: str | None
    category_confidence: float
    group: str | None
    department: str | None
    street: str | None
    community: str | None
    grid: str | None
    worker: str | None
    urgency: str | None
    auto_dispatch: bool
    emergency: bool
    emergency_advice: str | None = None
    grid_first: bool = False
    needs: tuple[str, ...] = ()
    candidates: tuple[Candidate, ...] = ()
    limits: dict[str, str] = field(default_factory=dict)  # stage -> limit text, e.g. {"respond": "15m"}
    rule_ids: tuple[str, ...] = ()
    explanation: tuple[str, ...] = ()
    match: str = "NONE"  # STYLE.md convention 5: FULL | PARTIAL | NONE (manual triage)
    point: GeoPoint | None = None  # the case's point when known (duplicate detection)

    def to_contract(self, case_id: Any) -> dict[str, Any]:
        """The `gridsec route` output line (contracts.md): fields always present, null when unknown."""
        return {
            "id": case_id,
            "kind": self.kind,
            "intent": self.intent,
            "intent_confidence": round(self.intent_confidence, 4),
            "category": self.category,
            "category_confidence": round(self.category_confidence, 4),
            "group": self.group,
            "department": self.department,
            "street": self.street,
            "community": self.community,
            "grid": self.grid,
            "worker": self.worker,
            "auto_dispatch": self.auto_dispatch,
            "emergency": self.emergency,
            "needs": list(self.needs),
            "explanation": list(self.explanation),
            # Added fields (contracts.md allows additions): what the bot and the console also use.
            "urgency": self.urgency,
            "limits": dict(self.limits),
            "grid_first": self.grid_first,
            "emergency_advice": self.emergency_advice,
            "candidates": [
                {"label": c.label, "street": c.street, "community": c.community, "grid": c.grid}
                for c in self.candidates
            ],
            "rule_ids": list(self.rule_ids),
            "match": self.match,
        }


@dataclass(frozen=True)
class OpenCaseSummary:
    """An open case as the duplicate check sees it (supplied by storage from nearby open cases)."""

    case_code: str
    category: str
    opened_at: datetime
    point: GeoPoint | None = None
    street: str | None = None
    grid: str | None = None
