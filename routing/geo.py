"""GridIndex: which of the 1,893 grids holds a WGS-84 point, and how close it is to a grid border.

Built once from routing/data/grids.geojson. Geometry is held in the local metric projection
(`routing.coords.YUEXIU_PROJECTION`), so both the point-in-polygon query and the border
distance are plain planar operations in metres on a shapely STRtree.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import shapely
from shapely.geometry import Point, shape
from shapely.geometry.base import BaseGeometry

from routing.coords import YUEXIU_PROJECTION as PROJ

logger = logging.getLogger(__name__)

GRIDS_PATH = Path(__file__).resolve().parent / "data" / "grids.geojson"
# A point this close to the outside of every grid still counts as inside: the precision of
# the generated file is 1e-6° (≈ 0.1 m), far below any GPS fix.
SLIVER_TOLERANCE_M = 0.5
CELL_M = 25.0  # bucket size of the lookup grid; most buckets lie inside one grid


Segment = tuple[float, float, float, float, float]


def _segments(geom_m: BaseGeometry) -> list[Segment]:
    """The border segments of a polygon as (ax, ay, dx, dy, dx²+dy²) tuples."""
    rings = (
        [geom_m.exterior, *geom_m.interiors]
        if geom_m.geom_type == "Polygon"
        else [r for p in geom_m.geoms for r in (p.exterior, *p.interiors)]
    )
    out: list[Segment] = []
    for ring in rings:
        c = np.asarray(ring.coords)
        a, d = c[:-1], c[1:] - c[:-1]
        seg = np.column_stack([a, d, (d * d).sum(axis=1)])
        out.extend(tuple(row) for row in seg[seg[:, 4] > 0].tolist())
    return out


def _distance_to_segments(segments: list[Segment], x: float, y: float) -> float:
    """Shortest distance from (x, y) to any segment. Plain floats: a grid has ~6-20 segments, where
    this loop is several times faster than numpy's per-call overhead."""
    best = math.inf
    for ax, ay, dx, dy, len2 in segments:
        px, py = x - ax, y - ay
        t = min(max((px * dx + py * dy) / len2, 0.0), 1.0)
        ex, ey = px - t * dx, py - t * dy
        best = min(best, ex * ex + ey * ey)
    return math.sqrt(best)


def _contains(segments: list[Segment], x: float, y: float) -> bool:
    """Even-odd point-in-polygon over the border segments (holes included); a border point may go either way."""
    inside = False
    for ax, ay, dx, dy, _ in segments:
        by = ay + dy
        if (ay > y) != (by > y) and x < ax + (y - ay) * dx / dy:
            inside = not inside
    return inside


class GridHit(NamedTuple):
    """Result of a point lookup: the grid, its community and street, and the distance to its border."""

    grid: str
    community: str
    street: str
    distance_to_boundary_m: float


@dataclass(frozen=True)
class GridRecord:
    """One grid's identity (the properties of grids.geojson)."""

    grid: str
    community_code: str
    community: str
    street: str
    street_code: str


class GridIndex:
    """STRtree point-in-polygon over the grids, in metres."""

    def __init__(self, records: list[GridRecord], geoms_lnglat: list[BaseGeometry]) -> None:
        if len(records) != len(geoms_lnglat):
            raise ValueError("one geometry per grid record is required")
        self.records = records
        self.geoms_m = [shapely.transform(g, PROJ.coords_to_xy) for g in geoms_lnglat]
        for g in self.geoms_m:
            shapely.prepare(g)
        self.boundaries_m = [g.boundary for g in self.geoms_m]
        self.tree = shapely.STRtree(self.geoms_m)
        self.by_id = {r.grid: i for i, r in enumerate(records)}
        self._segments = [_segments(g) for g in self.geoms_m]
        self._kx, self._ky = PROJ.m_per_deg_lng, PROJ.m_per_deg_lat
        self._build_cells()

    def _build_cells(self) -> None:
        """Bucket the plane in CELL_M squares: a cell inside one grid answers without any geometry test."""
        minx, miny, maxx, maxy = shapely.total_bounds(self.geoms_m)
        self._x0, self._y0 = minx, miny
        self._nx, self._ny = int((maxx - minx) // CELL_M) + 1, int((maxy - miny) // CELL_M) + 1
        ix, iy = np.meshgrid(np.arange(self._nx), np.arange(self._ny))
        ix, iy = ix.ravel(), iy.ravel()
        boxes = shapely.box(
            minx + ix * CELL_M, miny + iy * CELL_M, minx + (ix + 1) * CELL_M, miny + (iy + 1) * CELL_M
        )
        cell_idx, grid_idx = self.tree.query(boxes, predicate="intersects")
        cells: list[list[int]] = [[] for _ in range(len(boxes))]
        for c, g in zip(cell_idx.tolist(), grid_idx.tolist(), strict=True):
            cells[c].append(g)
        single = [c for c, gs in enumerate(cells) if len(gs) == 1]
        covered = shapely.covers(
            np.array(self.geoms_m, dtype=object)[[cells[c][0] for c in single]], boxes[single]
        )
        self._cells: list[int | tuple[int, ...]] = [tuple(sorted(gs)) for gs in cells]
        for c, inside in zip(single, covered.tolist(), strict=True):
            if inside:
                self._cells[c] = cells[c][0]

    @classmethod
    def from_features(cls, features: Iterable[tuple[dict[str, Any], BaseGeometry]]) -> GridIndex:
        """Build from (properties, lon/lat geometry) pairs."""
        records, geoms = [], []
        for props, geom in features:
            records.append(
                GridRecord(
                    props["grid"],
                    props["community_code"],
                    props["community"],
                    props["street"],
                    props["street_code"],
                )
            )
            geoms.append(geom)
        return cls(records, geoms)

    @classmethod
    def from_geojson(cls, path: Path = GRIDS_PATH) -> GridIndex:
        """Build from a grids.geojson file."""
        with path.open(encoding="utf-8") as fh:
            feats = json.load(fh)["features"]
        return cls.from_features((f["properties"], shape(f["geometry"])) for f in feats)

    def _xy(self, lat: float, lng: float) -> tuple[float, float]:
        return (lng - PROJ.lng0) * self._kx, (lat - PROJ.lat0) * self._ky

    def _point_m(self, lat: float, lng: float) -> Point:
        return Point(*self._xy(lat, lng))

    def _index_xy(self, x: float, y: float) -> int | None:
        cx, cy = int((x - self._x0) // CELL_M), int((y - self._y0) // CELL_M)
        if 0 <= cx < self._nx and 0 <= cy < self._ny:
            cell = self._cells[cy * self._nx + cx]
            if isinstance(cell, int):
                return cell
            for i in cell:
                if _contains(self._segments[i], x, y):
                    return i
        # on a border, in a float-noise sliver, or outside: the exact (slower) path decides
        p = Point(x, y)
        hits = self.tree.query(p, predicate="intersects")
        if len(hits):
            return int(hits.min())  # on a shared border, the lower index wins: deterministic
        near, dist = self.tree.query_nearest(p, max_distance=SLIVER_TOLERANCE_M, return_distance=True)
        return int(near[np.argmin(dist)]) if len(near) else None

    def index_of(self, lat: float, lng: float) -> int | None:
        """Index of the grid containing the point, or None outside the district."""
        return self._index_xy(*self._xy(lat, lng))

    def grid_at(self, lat: float, lng: float) -> GridRecord | None:
        """The grid record holding a WGS-84 point (no border distance), or None outside the district."""
        i = self.index_of(lat, lng)
        return None if i is None else self.records[i]

    def locate_point(self, lat: float, lng: float) -> GridHit | None:
        """The grid holding a WGS-84 point, with the distance in metres to that grid's border.

        Args:
            lat: WGS-84 latitude.
            lng: WGS-84 longitude.

        Returns:
            GridHit(grid, community, street, distance_to_boundary_m), or None outside the district.
        """
        x, y = self._xy(lat, lng)
        i = self._index_xy(x, y)
        if i is None:
            return None
        r = self.records[i]
        return GridHit(r.grid, r.community, r.street, _distance_to_segments(self._segments[i], x, y))

    def grids_within(self, lat: float, lng: float, radius_m: float) -> list[tuple[GridRecord, float]]:
        """All grids within `radius_m` of the point, nearest first, with their distances in metres."""
        p = self._point_m(lat, lng)
        idx = self.tree.query(p, predicate="dwithin", distance=radius_m)
        pairs = [(self.records[int(i)], float(self.geoms_m[int(i)].distance(p))) for i in idx]
        return sorted(pairs, key=lambda rd: (rd[1], rd[0].grid))

    def record(self, grid_id: str) -> GridRecord:
        """The record of a grid id; KeyError for an unknown id."""
        return self.records[self.by_id[grid_id]]

    def representative_point(self, grid_id: str) -> tuple[float, float]:
        """A (lat, lng) point guaranteed inside the grid."""
        p = self.geoms_m[self.by_id[grid_id]].representative_point()
        lng, lat = PROJ.to_lnglat(p.x, p.y)
        return float(lat), float(lng)


@lru_cache(maxsize=1)
def default_index() -> GridIndex:
    """The GridIndex over routing/data/grids.geojson, built once per process."""
    return GridIndex.from_geojson(GRIDS_PATH)


def locate_point(lat: float, lng: float) -> GridHit | None:
    """Module-level shortcut: `default_index().locate_point(lat, lng)`."""
    return default_index().locate_point(lat, lng)
