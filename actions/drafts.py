"""A resident's report while it is being taken: what they said, where, and what routing makes of it.

Pure functions over plain dicts (the draft lives in the `report_draft` slot, so it must be JSON).
The conversation asks only what `routing.decide` lists in `needs`; every message of the report may
add words, a photo, a place or a point, and a correction ("不是，是在XX") replaces the place.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, replace
from datetime import datetime
from typing import Any

from routing.geo import default_index
from routing.rules import load_rules
from routing.types import Decision, GeoPoint

# A later message may re-categorise the report only when NLU is this sure (a bare "不是" is not).
CORRECTION_CONFIDENCE = 0.6
# A message NLU did not read as a report still starts one when its category is this sure.
PROBLEM_CONFIDENCE = 0.6
# Asked this often where, the bot opens the case anyway: a person confirms the place (nothing is lost).
MAX_LOCATION_ASKS = 3
# Payload-only texts (menu clicks, photo/location placeholders) are not the resident's words.
PAYLOAD_PREFIX = "/"


@dataclass(frozen=True)
class ReportDraft:
    """Everything gathered for one report so far (JSON-ready through `as_slot` / `from_slot`)."""

    texts: tuple[str, ...] = ()
    category: str | None = None
    category_confidence: float = 0.0
    category_ranking: tuple[dict[str, Any], ...] = ()
    intent_confidence: float = 0.0
    places: tuple[dict[str, Any], ...] = ()
    point: dict[str, Any] | None = None  # {"lat", "lng", "source": gps|exif, "label"}
    photos: tuple[dict[str, Any], ...] = ()
    advised: bool = False  # the emergency advice was given
    location_asks: int = 0  # how often the bot asked where; after MAX_LOCATION_ASKS the case opens without
    corrected: tuple[str, ...] = ()  # what the resident corrected (place/category), for the case log

    def as_slot(self) -> dict[str, Any]:
        data = asdict(self)
        return {key: list(value) if isinstance(value, tuple) else value for key, value in data.items()}

    @classmethod
    def from_slot(cls, value: Any) -> ReportDraft:
        if not isinstance(value, Mapping):
            return cls()
        known = {name: value[name] for name in cls.__dataclass_fields__ if name in value}
        for name in ("texts", "category_ranking", "places", "photos", "corrected"):
            if name in known:
                known[name] = tuple(known[name] or ())
        return cls(**known)

    @property
    def description(self) -> str:
        """The resident's own words, every message that described the problem, joined (Open311)."""
        return "；".join(self.texts)


def _resident_words(message: Mapping[str, Any]) -> str | None:
    metadata = message.get("metadata") or {}
    text = str(message.get("original_text") or message.get("text") or "").strip()
    if not text or text.startswith(PAYLOAD_PREFIX):
        return None
    if metadata.get("text_source") == "ocr":
        return f"[照片文字] {text}"
    return text


def _point_from_metadata(metadata: Mapping[str, Any]) -> dict[str, Any] | None:
    location = metadata.get("location")
    if not isinstance(location, Mapping):
        return None
    try:
        lat, lng = float(location["lat"]), float(location["lng"])
    except (KeyError, TypeError, ValueError):
        return None
    source = "exif" if location.get("source") == "exif" else "gps"
    return {"lat": lat, "lng": lng, "source": source, "label": location.get("label")}


def _label_name(value: Any) -> str | None:
    if isinstance(value, Mapping):
        return str(value["name"]) if value.get("name") else None
    return str(value) if value else None


def _confidence(value: Any) -> float:
    if isinstance(value, Mapping):
        value = value.get("confidence")
    try:
        return float(value) if value is not None else 0.0
    except (TypeError, ValueError):
        return 0.0


def message_category(message: Mapping[str, Any]) -> tuple[str | None, float]:
    """The category NLU read in a message; the top of `category_ranking` when the intent was not a report.

    NLU fills `category` only for report intents, but a resident's "有流动摊贩占道经营" may be read as a place
    or a staff reply; the ranking still holds what the words are about.
    """
    category = _label_name(message.get("category"))
    if category is not None:
        return category, float(message.get("category_confidence") or _confidence(message.get("category")))
    ranking = [item for item in message.get("category_ranking") or () if isinstance(item, Mapping)]
    if ranking and (code := ranking[0].get("code") or ranking[0].get("name")):
        return str(code), _confidence(ranking[0])
    return None, 0.0


def describes_a_problem(message: Mapping[str, Any]) -> bool:
    """The words name a problem confidently enough to start a report, whatever intent NLU chose."""
    category, confidence = message_category(message)
    return category is not None and confidence >= PROBLEM_CONFIDENCE and _resident_words(message) is not None


def start_draft(message: Mapping[str, Any], remembered: Mapping[str, Any] | None = None) -> ReportDraft:
    """A new draft from the message that opened the report, plus a place sent just before it, if any."""
    draft = ReportDraft()
    if remembered:
        draft = ReportDraft(
            point=dict(remembered["point"]) if remembered.get("point") else None,
            places=tuple(dict(p) for p in remembered.get("places") or ()),
        )
    return add_message(draft, message, correcting=False)


def add_message(draft: ReportDraft, message: Mapping[str, Any], *, correcting: bool) -> ReportDraft:
    """Fold one more resident message into the draft.

    Args:
        message: `tracker.latest_message` (Rasa parse with `metadata`).
        correcting: the bot had read the case back. A new place or pin then replaces the old one, and a
            confident category from a message that is not a bare yes/no replaces the category.
    """
    metadata = message.get("metadata") or {}
    words = _resident_words(message)
    intent = _label_name(message.get("intent"))
    places = tuple(dict(p) for p in message.get("places") or () if isinstance(p, Mapping))
    point = _point_from_metadata(metadata)
    updates: dict[str, Any] = {}
    corrected: list[str] = []

    if places or point is not None:
        if correcting or not (draft.places or draft.point):
            updates.update(places=places, point=point)
        else:  # more detail while the bot asks where: keep what was said, a pin beats words
            updates.update(places=draft.places + places, point=point or draft.point)
        if correcting:
            corrected.append("place")

    category, confidence = message_category(message)
    names_problem = (
        intent != "provide_location" or confidence >= PROBLEM_CONFIDENCE
    )  # "越华路12号" is no problem
    if category and words and intent != "affirm" and names_problem:
        first = draft.category is None and intent != "deny"
        correction = (
            correcting
            and category != draft.category
            and confidence >= CORRECTION_CONFIDENCE
            and not corrected  # "不是，是在XX" corrects the place, not the category
        )
        if first or correction:
            updates.update(
                category=category,
                category_confidence=confidence,
                category_ranking=tuple(message.get("category_ranking") or ()),
                intent_confidence=_confidence(message.get("intent")),
            )
            if correction:
                corrected.append("category")

    unplaced = intent == "provide_location" and not places and point is None  # a place we could not find
    if words and (intent == "report_issue" or "category" in corrected or not draft.texts or unplaced):
        updates["texts"] = draft.texts + (words,)
    photo = metadata.get("photo")
    if isinstance(photo, Mapping):
        updates["photos"] = draft.photos + (dict(photo),)
    if corrected:
        updates["corrected"] = draft.corrected + tuple(corrected)
    return replace(draft, **updates) if updates else draft


def choose_candidate(draft: ReportDraft, decision: Decision, index: int, now: datetime) -> ReportDraft:
    """The resident picked candidate `index` (0-based) of an ambiguous place.

    The street (and community) of the choice is added to what they said, so a road stays a road within that
    street; if routing still cannot tell, the candidate alone becomes the place.
    """
    if not 0 <= index < len(decision.candidates):
        return draft
    chosen = decision.candidates[index]
    picked: list[dict[str, Any]] = [{"kind": "street", "text": chosen.label, "value": chosen.street}]
    if chosen.community:
        picked.append({"kind": "community", "text": chosen.label, "value": chosen.community})
    point = draft.point
    if chosen.grid:  # e.g. a pin between grids: the chosen grid's own inner point settles it
        lat, lng = default_index().representative_point(chosen.grid)
        point = {"lat": lat, "lng": lng, "source": "gps", "label": chosen.label}
    elif chosen.point is not None:
        point = {"lat": chosen.point.lat, "lng": chosen.point.lng, "source": "gps", "label": chosen.label}
    narrowed = replace(draft, places=draft.places + tuple(picked), point=point)
    if "clarify_location" not in decide_draft(narrowed, now).needs:
        return narrowed
    return replace(draft, places=tuple(picked), point=None)


def parse_for(draft: ReportDraft) -> dict[str, Any]:
    """A Rasa-shaped parse of the whole report, for `routing.route_cli.decision_for_parse`."""
    return {
        "text": draft.description,
        "intent": {"name": "report_issue", "confidence": max(draft.intent_confidence, 0.5)},
        "category": draft.category,
        "category_confidence": draft.category_confidence,
        "category_ranking": list(draft.category_ranking),
        "places": list(draft.places),
    }


def decide_draft(draft: ReportDraft, now: datetime) -> Decision:
    """Route the draft as it stands (pure: routing data is loaded once and cached)."""
    from routing.route_cli import decision_for_parse

    point = GeoPoint(draft.point["lat"], draft.point["lng"]) if draft.point else None
    source = draft.point.get("source") if draft.point else None
    return decision_for_parse(parse_for(draft), point, source, now)


def category_name(code: str | None) -> str:
    """The category's Chinese name for the resident (the code when unknown)."""
    if code is None:
        return "待人工确认的问题"
    category = load_rules().categories.get(code)
    return category.name if category else code


def place_label(draft: ReportDraft, decision: Decision) -> str:
    """How the bot names the place back to the resident."""
    words = [str(p.get("text") or p.get("value")) for p in draft.places if p.get("text") or p.get("value")]
    where = "、".join(dict.fromkeys(words))
    if not where and draft.point:
        where = str(draft.point.get("label") or "您发送的位置")
    area = "·".join(
        part for part in (f"{decision.street}街" if decision.street else None, decision.community) if part
    )
    return f"{where}（{area}）" if where and area else where or area or "地点待确认"


def missing(decision: Decision) -> Sequence[str]:
    """What the bot must still ask for, in the order it asks."""
    return [need for need in ("clarify_location", "location") if need in decision.needs]
