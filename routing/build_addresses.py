"""Synthetic house-number ranges laid along the real OSM road geometry (addresses.csv).

Numbers grow along each road's principal axis (west→east, or south→north for roads running
mostly north-south), one number per NUMBER_SPACING_M of axis length. The road is sampled
densely, each sample is located in its grid, each number goes to the grid holding most of its
samples, and runs of numbers in the same grid become one range. A road that crosses several
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

NUMBER_SPACING_M = 4.0
SAMPLE_SPACING_M = 1.0
ADDRESS_HEADER = ("road", "from_no", "to_no", "street", "street_code", "community", "community_code", "grid", "lat", "lng")


def _samples(geom_m: BaseGeometry) -> np.ndarray:
    """Points every SAMPLE_SPACING_M along every piece of the road (metres)."""
    pts = []
    for line in getattr(geom_m, "geoms", [geom_m]):
        n = max(int(line.length / SAMPLE_SPACING_M), 1)
        dists = np.linspace(0.0, line.length, n + 1)
        pts.append(shapely.get_coordinates(shapely.line_interpolate_point(line, dists)))
    return np.vstack(pts)


def _axis(points: np.ndarray) -> np.ndarray:
    """Unit principal direction of the points, oriented west→east (or south→north)."""
    centred = points - points.mean(axis=0)
    _, _, vt = np.linalg.svd(centred, full_matrices=False)
    u = vt[0]
    if abs(u[0]) >= abs(u[1]):
        return u if u[0] > 0 else -u
    return u if u[1] > 0 else -u


def road_ranges(name: str, geom_m: BaseGeometry, tree: shapely.STRtree, grids: list[dict[str, Any]]) -> list[tuple]:
    """Address rows (see ADDRESS_HEADER) for one road."""
    pts = _samples(geom_m)
    t = (pts - pts.mean(axis=0)) @ _axis(pts)
    numbers = 1 + np.floor((t - t.min()) / NUMBER_SPACING_M).astype(int)
    src, hit = tree.query(shapely.points(pts), predicate="intersects")
    owner = np.full(len(pts), -1)
    owner[src[::-1]] = hit[::-1]  # first hit (lowest grid index) wins on shared borders
    votes: dict[int, dict[int, int]] = {}
    for num, g in zip(numbers, owner):
        if g >= 0:
            votes.setdefault(int(num), {}).setdefault(int(g), 0)
            votes[int(num)][int(g)] += 1
    chosen = {num: min(v, key=lambda g: (-v[g], g)) for num, v in votes.items()}
    rows: list[tuple] = []
    run: list[int] = []
    for num in sorted(chosen):
        if run and (chosen[num] != chosen[run[-1]] or num != run[-1] + 1):
            rows.append(_row(name, run, chosen[run[0]], numbers, pts, grids))
            run = []
        run.append(num)
    if run:
        rows.append(_row(name, run, chosen[run[0]], numbers, pts, grids))
    return rows


def _row(name: str, run: list[int], g: int, numbers: np.ndarray, pts: np.ndarray, grids: list[dict[str, Any]]) -> tuple:
    mid = run[len(run) // 2]
    p = pts[np.flatnonzero(numbers == mid)[0]]
    lng, lat = PROJ.to_lnglat(p[0], p[1])
    gr = grids[g]
    return (name, run[0], run[-1], gr["street"], gr["street_code"], gr["community"], gr["community_code"],
            gr["grid"], f"{float(lat):.6f}", f"{float(lng):.6f}")


def write_addresses(out: Path, roads_m: dict[str, BaseGeometry], places: list[dict[str, str]],
                    grids: list[dict[str, Any]]) -> int:
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
