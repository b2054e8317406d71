"""Location resolution: from GPS/EXIF points and place mentions to a street, community and grid.

`locate(places, point, point_source, data)` is pure over the loaded `GeoData`: every mention
becomes a set of options (street, community, possible grids, point), mentions are intersected
most specific first (an address, then a landmark/station/lake, a community, a road, a street),
and what remains decides the precision. Options in different streets are an ambiguity: the
result carries one candidate per street so the bot can ask a one-tap question. A point within
BOUNDARY_AMBIGUITY_M of a grid border offers the neighbouring grids as candidates, unless the
text settles which one it is.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, replace

from routing.geo_data import AddressRange, GeoData, load_geo_data
from routing.types import Candidate, GeoPoint, PlaceMention, ResolvedLocation

logger = logging.getLogger(__name__)

BOUNDARY_AMBIGUITY_M = 30.0
SPECIFICITY = {
    "address": 0,
    "landmark": 1,
    "metro_station": 1,
    "lake": 1,
    "community": 2,
    "road": 3,
    "street": 4,
}


@dataclass(frozen=True)
class Option:
    """One place a set of mentions may mean. `grids` None means any grid in the scope."""

    street: str
    community: str | None
    grids: frozenset[str] | None
    point: GeoPoint | None
    label: str


def _grid_community(grid: str, data: GeoData) -> str:
    return data.index.record(grid).community


def _grid_of(point: GeoPoint, data: GeoData) -> str | None:
    rec = data.index.grid_at(point.lat, point.lng)
    return rec.grid if rec else None


def merge(a: Option, b: Option, data: GeoData) -> Option | None:
    """The option both `a` and `b` allow, or None when they contradict each other."""
    if a.street != b.street or (a.community and b.community and a.community != b.community):
        return None
    community = a.community or b.community
    grids = a.grids if b.grids is None else b.grids if a.grids is None else a.grids & b.grids
    if grids is not None and community:
        grids = frozenset(g for g in grids if _grid_community(g, data) == community)
    if grids is not None and not grids:
        return None
    if grids and not community and len({_grid_community(g, data) for g in grids}) == 1:
        community = _grid_community(next(iter(grids)), data)
    point = next((p for p in (a.point, b.point) if p and (grids is None or _grid_of(p, data) in grids)), None)
    return Option(
        a.street, community, grids, point, a.label if a.label == b.label else f"{a.label} + {b.label}"
    )


def find_range(road: str, number: int, data: GeoData) -> tuple[AddressRange | None, bool]:
    """The address range holding `number`, else the nearest one on the same side; (range, exact)."""
    ranges = data.ranges.get(road, ())
    for r in ranges:
        if r.holds(number):
            return r, True
    side = [r for r in ranges if (r.side == "odd") == (number % 2 == 1)] or list(ranges)
    if not side:
        return None, False
    return min(side, key=lambda r: (min(abs(number - r.from_no), abs(number - r.to_no)), r.from_no)), False


def _road_options(road: str, data: GeoData) -> list[Option]:
    return [
        Option(s, None, data.road_grids(road, s) or None, None, f"{road}（{s}街道段）")
        for s in data.road_streets(road)
    ]


def mention_options(m: PlaceMention, data: GeoData, notes: list[str]) -> list[Option]:
    """The options one mention allows (empty when it names nothing we know)."""
    if m.kind == "street" and m.value in data.street_codes:
        return [Option(m.value, None, None, None, f"{m.value}街道")]
    if m.kind == "community" and m.value in data.communities:
        return [Option(data.communities[m.value][1], m.value, None, None, m.value)]
    if m.kind == "address" and m.number is not None and m.value in data.ranges:
        r, exact = find_range(m.value, m.number, data)
        if r is not None:
            if not exact:
                notes.append(
                    f"{m.value}{m.number}号 is beyond the known house numbers; nearest range "
                    f"{r.from_no}-{r.to_no} ({r.side}) used"
                )
            label = f"{m.value}{m.number}号" + (m.detail or "")
            return [Option(r.street, r.community, frozenset({r.grid}), GeoPoint(r.lat, r.lng), label)]
    if m.kind in ("road", "address") and ("road", m.value) in data.places:
        return _road_options(m.value, data)
    rec = data.places.get((m.kind, m.value))
    if rec is not None:
        several = len(set(rec.streets) | {rec.street}) > 1
        label = f"{rec.name}（{rec.street}街道）" if several else rec.name
        opts = (
            [Option(rec.street, rec.community, frozenset({rec.grid}), GeoPoint(rec.lat, rec.lng), label)]
            if rec.grid
            else []
        )
        return opts + [
            Option(s, None, None, None, f"{rec.name}（{s}街道）") for s in rec.streets if s != rec.street
        ]
    notes.append(f"place {m.text!r} ({m.kind}: {m.value}) is not in the gazetteer")
    return []


def _resolve_text(places: Sequence[PlaceMention], data: GeoData, notes: list[str]) -> list[Option] | None:
    """Intersect the mentions' options, most specific first; None when no mention places anything."""
    current: list[Option] | None = None
    for m in sorted(places, key=lambda m: (SPECIFICITY.get(m.kind, 9), m.start)):
        if m.kind == "building":
            notes.append(f"building/unit {m.text} noted (refines nothing on the map)")
            continue
        opts = mention_options(m, data, notes)
        if not opts:
            continue
        if current is None:
            current = opts
            notes.append(f"text {m.text!r} → {m.kind} {m.value}: " + " | ".join(o.label for o in opts))
            continue
        merged = [o for a in current for b in opts if (o := merge(a, b, data)) is not None]
        if merged:
            current = merged
            notes.append(f"text {m.text!r} narrows it to " + " | ".join(o.label for o in merged))
        else:
            notes.append(f"text {m.text!r} ({m.value}) does not fit the places named before it; ignored")
    return current


def _single_grid(o: Option) -> str | None:
    return next(iter(o.grids)) if o.grids is not None and len(o.grids) == 1 else None


def _from_options(opts: list[Option], source: str, notes: list[str], data: GeoData) -> ResolvedLocation:
    streets = list(dict.fromkeys(o.street for o in opts))
    if len(streets) > 1:
        firsts = [next(o for o in opts if o.street == s) for s in streets]
        cands = tuple(Candidate(o.label, o.street, o.community, _single_grid(o), o.point) for o in firsts)
        notes.append("ambiguous: " + " | ".join(streets) + "; ask the resident")
        return ResolvedLocation(source=source, precision="none", candidates=cands, explanation=tuple(notes))
    communities = {o.community for o in opts}
    community = communities.pop() if len(communities) == 1 else None
    grids = {g for o in opts for g in (o.grids or {None})}  # type: ignore[arg-type]
    grid = next(iter(grids)) if len(grids) == 1 and None not in grids else None
    if grid and not community:
        community = _grid_community(grid, data)
    point = opts[0].point if len(opts) == 1 else None
    precision = "grid" if grid else "community" if community else "street"
    notes.append(
        f"resolved from text to {precision}: {streets[0]}"
        + (f" / {community}" if community else "")
        + (f" / {grid}" if grid else "")
    )
    return ResolvedLocation(
        street=streets[0],
        community=community,
        grid=grid,
        point=point,
        source=source,
        precision=precision,
        explanation=tuple(notes),
    )


def _grid_candidate(grid: str, data: GeoData) -> Candidate:
    rec = data.index.record(grid)
    lat, lng = data.index.representative_point(grid)
    return Candidate(
        f"{rec.community} {grid[-2:]}号网格（{rec.street}街道）",
        rec.street,
        rec.community,
        grid,
        GeoPoint(lat, lng),
    )


def _note_disagreement(
    street: str, community: str, grid: str, places: Sequence[PlaceMention], data: GeoData, notes: list[str]
) -> None:
    """Say so when the text names a place the point is not in (the point still wins)."""
    if not places:
        return
    text_opts = _resolve_text(places, data, []) or []
    here = Option(street, community, frozenset({grid}), None, grid)
    if text_opts and not any(merge(o, here, data) for o in text_opts):
        named = " | ".join(dict.fromkeys(o.label for o in text_opts))
        notes.append(f"the text names {named}, which does not hold the point; the point is used")


def _resolve_point(
    point: GeoPoint, source: str, places: Sequence[PlaceMention], data: GeoData, notes: list[str]
) -> ResolvedLocation | None:
    hit = data.index.locate_point(point.lat, point.lng)
    if hit is None:
        notes.append(f"{source} point ({point.lat:.6f}, {point.lng:.6f}) is outside 越秀区")
        return None
    notes.append(
        f"{source} point in grid {hit.grid} ({hit.community}, {hit.street}), "
        f"{hit.distance_to_boundary_m:.0f} m from its border"
    )
    base = ResolvedLocation(
        street=hit.street,
        community=hit.community,
        grid=hit.grid,
        point=point,
        source=source,
        precision="grid",
    )
    near = [rec.grid for rec, _ in data.index.grids_within(point.lat, point.lng, BOUNDARY_AMBIGUITY_M)]
    if len(near) <= 1:
        _note_disagreement(hit.street, hit.community, hit.grid, places, data, notes)
        return replace(base, explanation=tuple(notes))
    near = [hit.grid] + [g for g in near if g != hit.grid]
    text_opts = _resolve_text(places, data, notes) if places else None
    if text_opts:
        fitting = [
            g
            for g in near
            if any(
                merge(o, Option(data.index.record(g).street, None, frozenset({g}), None, g), data)
                for o in text_opts
            )
        ]
        if len(fitting) == 1:
            rec = data.index.record(fitting[0])
            notes.append(
                f"within {BOUNDARY_AMBIGUITY_M:.0f} m of {len(near) - 1} other grid(s); the text settles it: {fitting[0]}"
            )
            return ResolvedLocation(
                street=rec.street,
                community=rec.community,
                grid=rec.grid,
                point=point,
                source=source,
                precision="grid",
                explanation=tuple(notes),
            )
        near = fitting or near
    notes.append(f"within {BOUNDARY_AMBIGUITY_M:.0f} m of a grid border: candidates " + ", ".join(near))
    return replace(base, candidates=tuple(_grid_candidate(g, data) for g in near), explanation=tuple(notes))


def locate(
    places: Sequence[PlaceMention],
    point: GeoPoint | None,
    point_source: str | None,
    data: GeoData | None = None,
) -> ResolvedLocation:
    """Resolve where a case lies from a GPS/EXIF point and/or the places named in the text.

    Args:
        places: mentions from the place extractor (`bot.nlu.places.extract_places`).
        point: a WGS-84 point from a WeChat location message or photo EXIF, if any.
        point_source: "gps" or "exif" (None → "gps" when a point is given).
        data: loaded geo data; defaults to `load_geo_data()` (cached).

    Returns:
        A ResolvedLocation. A point wins over text; text only settles a point's border
        ambiguity. For a GPS point near a border, street/community/grid hold the containing grid
        and `candidates` its neighbours; for ambiguous text, they are None and `candidates` has
        one entry per street. No usable place gives precision "none" with the reasons.
    """
    data = data or load_geo_data()
    notes: list[str] = []
    if point is not None:
        resolved = _resolve_point(point, point_source or "gps", places, data, notes)
        if resolved is not None:
            return resolved
    opts = _resolve_text(places, data, notes) if places else None
    if not opts:
        notes.append("no place found in the message")
        return ResolvedLocation(explanation=tuple(notes))
    return _from_options(opts, "text", notes, data)
