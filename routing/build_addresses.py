"""Synthetic house-number ranges laid along the real OSM road geometry (addresses.csv).

Numbers grow along each road's principal axis (west→east, or south→north for roads running
mostly north-south): odd numbers on the left-hand side, even on the right, one pair per
PAIR_SPACING_M. The road is sampled densely, each sample's house position (FRONTAGE_OFFSET_M to
either side) is located in its grid, each number goes to the grid holding most of its houses,
and runs of numbers in the same grid become one range. A road along a street border thus has
its odd side in one street and its even side in the other, as real roads do. A road that crosses several
streets therefore has one range per street (and per community and grid) along its real course.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np
import shapely
from shapely.geometry.base import BaseGeometry

from routing.build_geo import write_csv
from routing.coords import YUEXIU_PROJECTION as PROJ

logger = logging.getLogger(__name__)

PAIR_SPACING_M = 8.0  # one odd and one even number per 8 m of road
SAMPLE_SPACING_M = 1.0
FRONTAGE_OFFSET_M = 15.0  # where the houses stand, either side of the centreline
MIN_RUN = 3  # number pairs (24 m of frontage)
ADDRESS_HEADER = (
    "road",
    "side",
    "from_no",
    "to_no",
    "street",
    "street_code",
    "community",
    "community_code",
    "grid",
    "lat",
    "lng",
)


def _samples(geom_m: BaseGeometry) -> tuple[np.ndarray, np.ndarray]:
    """Points every SAMPLE_SPACING_M along every piece of the road, with unit tangents (metres)."""
    pts, tangents = [], []
    for line in getattr(geom_m, "geoms", [geom_m]):
        n = max(int(line.length / SAMPLE_SPACING_M), 1)
        p = shapely.get_coordinates(
            shapely.line_interpolate_point(line, np.linspace(0.0, line.length, n + 1))
        )
        d = np.gradient(p, axis=0)
        norm = np.linalg.norm(d, axis=1, keepdims=True)
        pts.append(p)
        tangents.append(d / np.where(norm > 0, norm, 1.0))
    return np.vstack(pts), np.vstack(tangents)


def _axis(points: np.ndarray) -> np.ndarray:
    """Unit principal direction of the points, oriented west→east (or south→north)."""
    centred = points - points.mean(axis=0)
    _, _, vt = np.linalg.svd(centred, full_matrices=False)
    u = vt[0]
    if abs(u[0]) >= abs(u[1]):
        return u if u[0] > 0 else -u
    return u if u[1] > 0 else -u


def _owners(tree: shapely.STRtree, pts: np.ndarray) -> np.ndarray:
    """Grid index holding each point (-1 outside); the lowest index wins on a shared border."""
    src, hit = tree.query(shapely.points(pts), predicate="intersects")
    owner = np.full(len(pts), -1)
    owner[src[::-1]] = hit[::-1]
    return owner


def road_ranges(
    name: str, geom_m: BaseGeometry, tree: shapely.STRtree, grids: list[dict[str, Any]]
) -> list[tuple]:
    """Address rows (see ADDRESS_HEADER) for one road: odd numbers on the left, even on the right."""
    pts, tangents = _samples(geom_m)
    u = _axis(pts)
    t = (pts - pts.mean(axis=0)) @ u
    pair = np.floor((t - t.min()) / PAIR_SPACING_M).astype(int)
    tangents = tangents * np.where(tangents @ u < 0, -1.0, 1.0)[:, None]  # along the numbering direction
    left = np.column_stack([-tangents[:, 1], tangents[:, 0]])
    centre = _owners(tree, pts)
    rows: list[tuple] = []
    for side, sign, first in (("odd", 1.0, 1), ("even", -1.0, 2)):
        houses = pts + sign * FRONTAGE_OFFSET_M * left
        owner = _owners(tree, houses)
        outside = owner < 0  # a road on the district edge: its houses stand on the inner side
        owner = np.where(outside, centre, owner)
        houses = np.where(outside[:, None], pts, houses)
        votes: dict[int, dict[int, int]] = {}
        for k, g in zip(pair, owner, strict=True):
            if g >= 0:
                votes.setdefault(int(k), {}).setdefault(int(g), 0)
                votes[int(k)][int(g)] += 1
        chosen = {k: min(v, key=lambda g: (-v[g], g)) for k, v in votes.items()}
        for g, run in _smooth(_runs(chosen)):
            in_run = np.isin(pair, run)
            mine = (
                np.flatnonzero(in_run & (owner == g))
                if (in_run & (owner == g)).any()
                else np.flatnonzero(in_run)
            )
            rows.append(
                _row(name, side, [2 * k + first for k in run], g, houses[mine[len(mine) // 2]], grids)
            )
    return sorted(rows, key=lambda r: (r[2], r[1]))


def _runs(chosen: dict[int, int]) -> list[tuple[int, list[int]]]:
    """Consecutive numbers with the same grid, as (grid, numbers) runs; a gap starts a new run."""
    runs: list[tuple[int, list[int]]] = []
    for num in sorted(chosen):
        if runs and runs[-1][0] == chosen[num] and runs[-1][1][-1] == num - 1:
            runs[-1][1].append(num)
        else:
            runs.append((chosen[num], [num]))
    return runs


def _smooth(runs: list[tuple[int, list[int]]]) -> list[tuple[int, list[int]]]:
    """Fold runs shorter than MIN_RUN numbers into the longer adjoining run.

    A road along a grid border flickers between the two grids; a few metres of frontage is
    not a house-number range anyone would use.
    """
    changed = True
    while changed and len(runs) > 1:
        changed = False
        for i, (_, nums) in enumerate(runs):
            if len(nums) >= MIN_RUN:
                continue
            left = runs[i - 1] if i > 0 and runs[i - 1][1][-1] == nums[0] - 1 else None
            right = runs[i + 1] if i + 1 < len(runs) and runs[i + 1][1][0] == nums[-1] + 1 else None
            target = max((r for r in (left, right) if r is not None), key=lambda r: len(r[1]), default=None)
            if target is None:
                continue
            runs[i] = (target[0], nums)
            runs = _coalesce(runs)
            changed = True
            break
    return runs


def _coalesce(runs: list[tuple[int, list[int]]]) -> list[tuple[int, list[int]]]:
    out: list[tuple[int, list[int]]] = []
    for g, nums in runs:
        if out and out[-1][0] == g and out[-1][1][-1] == nums[0] - 1:
            out[-1] = (g, out[-1][1] + nums)
        else:
            out.append((g, list(nums)))
    return out


def _row(
    name: str, side: str, numbers: list[int], g: int, house_m: np.ndarray, grids: list[dict[str, Any]]
) -> tuple:
    lng, lat = PROJ.to_lnglat(house_m[0], house_m[1])
    gr = grids[g]
    return (
        name,
        side,
        numbers[0],
        numbers[-1],
        gr["street"],
        gr["street_code"],
        gr["community"],
        gr["community_code"],
        gr["grid"],
        f"{float(lat):.6f}",
        f"{float(lng):.6f}",
    )


def write_addresses(
    out: Path, roads_m: dict[str, BaseGeometry], places: list[dict[str, str]], grids: list[dict[str, Any]]
) -> int:
    """addresses.csv for every road of the places table that has geometry."""
    tree = shapely.STRtree([shapely.transform(g["geom"], PROJ.coords_to_xy) for g in grids])
    names = sorted({p["name"] for p in places if p["kind"] == "road"})
    rows: list[tuple] = []
    for name in names:
        if name not in roads_m:
            logger.warning("road %s has no geometry; no address ranges", name)
            continue
        rows.extend(road_ranges(name, roads_m[name], tree, grids))
    write_csv(out / "addresses.csv", ADDRESS_HEADER, rows)
    return len(rows)
