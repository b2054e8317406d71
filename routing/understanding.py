"""The one adapter from a Rasa parse to an `Understanding`.

Used by both the action server (`tracker.latest_message`) and `gridsec route` (`Agent.parse_message`),
so the live bot and the offline command reduce a parse in exactly the same way. The parse has Rasa's
keys (`text`, `intent`) plus those added by our NLU components: `category`, `category_confidence`,
`category_ranking`, `group`, `group_confidence`, `places` (dicts with the `PlaceMention` fields) and
`original_text`. Without a `group_confidence`, the group is the one with the most mass in `category_ranking`.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import fields
from typing import Any

from routing.types import GeoPoint, PlaceMention, Understanding

logger = logging.getLogger(__name__)

_PLACE_FIELDS = frozenset(f.name for f in fields(PlaceMention))


def _float(value: Any) -> float:
    try:
        return float(value) if value is not None else 0.0
    except (TypeError, ValueError):
        return 0.0


def _label(value: Any) -> tuple[str | None, float | None]:
    """A label given either as a plain string or as Rasa's {"name": ..., "confidence": ...} dict."""
    if isinstance(value, Mapping):
        name = value.get("name")
        return (str(name) if name else None), _float(value.get("confidence"))
    return (str(value) if value else None), None


def place_from_dict(raw: Mapping[str, Any]) -> PlaceMention | None:
    """A `PlaceMention` from its dict form; None (logged) when kind or value is missing."""
    if not raw.get("kind") or not raw.get("value"):
        logger.warning("place mention without kind/value ignored: %r", raw)
        return None
    values = {key: raw[key] for key in _PLACE_FIELDS if key in raw}
    values.setdefault("text", raw["value"])
    return PlaceMention(**values)


def group_from_ranking(ranking: Any) -> tuple[str | None, float]:
    """The group with the most probability mass in a category ranking, and that mass.

    Used when NLU gives no group confidence of its own: the same measure `routing.calibrate` measured
    the group threshold on.
    """
    from routing.rules import category_groups

    groups = category_groups()
    totals: dict[str, float] = {}
    for item in ranking or ():
        if not isinstance(item, Mapping):
            continue
        group = groups.get(str(item.get("code") or item.get("name") or ""))
        if group is not None:
            totals[group] = totals.get(group, 0.0) + _float(item.get("confidence"))
    if not totals:
        return None, 0.0
    best = max(totals, key=totals.__getitem__)
    return best, min(1.0, totals[best])


def _top_of(ranking: Any) -> tuple[str | None, float | None]:
    for item in ranking:
        if isinstance(item, Mapping) and (item.get("code") or item.get("name")):
            return str(item.get("code") or item.get("name")), _float(item.get("confidence"))
    return None, None


def understanding_from_parse(
    parse: Mapping[str, Any], point: GeoPoint | None = None, point_source: str | None = None
) -> Understanding:
    """Reduce a Rasa parse (plus an optional GPS/EXIF point) to what routing needs.

    Args:
        parse: `tracker.latest_message` or the result of `Agent.parse_message`.
        point: a WGS-84 point sent with the message (WeChat location or photo EXIF), if any.
        point_source: "gps" or "exif" when `point` is given.

    Returns:
        The `Understanding`. `text` is the normalised text NLU worked on (keywords in the rules are
        matched against it), falling back to the resident's original text.
    """
    intent, intent_confidence = _label(parse.get("intent"))
    category, category_confidence = _label(parse.get("category"))
    group, group_confidence = _label(parse.get("group"))
    if group_confidence is None and parse.get("group_confidence") is not None:
        group_confidence = _float(parse.get("group_confidence"))
    ranking = parse.get("category_ranking")
    if category is None and ranking:
        # NLU leaves category empty when the intent was not a report; the ranking still holds its reading,
        # which decide() uses if the intent turns out to be a report after all (see staff_intents).
        category, category_confidence = _top_of(ranking)
    if ranking and (group is None or group_confidence is None):
        group, group_confidence = group_from_ranking(ranking)
    intent_ranking = tuple(
        (str(item["name"]), _float(item.get("confidence")))
        for item in parse.get("intent_ranking") or ()
        if isinstance(item, Mapping) and item.get("name")
    )
    places = tuple(
        place
        for raw in parse.get("places") or ()
        if isinstance(raw, Mapping) and (place := place_from_dict(raw))
    )
    return Understanding(
        text=str(parse.get("text") or parse.get("original_text") or ""),
        intent=intent,
        intent_confidence=intent_confidence if intent_confidence is not None else 0.0,
        category=category,
        category_confidence=(
            category_confidence
            if category_confidence is not None
            else _float(parse.get("category_confidence"))
        ),
        group=group,
        group_confidence=group_confidence if group_confidence is not None else 0.0,
        places=places,
        point=point,
        point_source=point_source if point is not None else None,
        intent_ranking=intent_ranking,
    )
