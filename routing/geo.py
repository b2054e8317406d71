"""GridIndex: which of the 1,893 grids holds a WGS-84 point, and how close it is to a grid border.

Built once from routing/data/grids.geojson. Geometry is held in the local metric projection
(`routing.coords.YUEXIU_PROJECTION`), so both the point-in-polygon query and the border
distance are plain planar operations in metres on a shapely STRtree.
"""

from __future__ import annotations

import json
import logging
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

    @classmethod
    def from_features(cls, features: Iterable[tuple[dict[str, Any], BaseGeometry]]) -> GridIndex:
        """Build from (properties, lon/lat geometry) pairs."""
        records, geoms = [], []
        for props, geom in features:
            records.append(GridRecord(props["grid"], props["community_code"], props["community"],
                                      props["street"], props["street_code"]))
            geoms.append(geom)
        return cls(records, geoms)

    @classmethod
    def from_geojson(cls, path: Path = GRIDS_PATH) -> GridIndex:
        """Build from a grids.geojson file."""
        with path.open(encoding="utf-8") as fh:
            feats = json.load(fh)["features"]
        return cls.from_features((f["properties"], shape(f["geometry"])) for f in feats)

    def _point_m(self, lat: float, lng: float) -> Point:
        x, y = PROJ.to_xy(lng, lat)
        return Point(float(x), float(y))

    def index_of(self, lat: float, lng: float) -> int | None:
        """Index of the grid containing the point, or None outside the district."""
        p = self._point_m(lat, lng)
        hits = self.tree.query(p, predicate="intersects")
        if len(hits):
            return int(hits.min())  # on a shared border, the lower index wins: deterministic
        near, dist = self.tree.query_nearest(p, max_distance=SLIVER_TOLERANCE_M, return_distance=True)
        return int(near[np.argmin(dist)]) if len(near) else None

    def locate_point(self, lat: float, lng: float) -> GridHit | None:
        """The grid holding a WGS-84 point, with the distance in metres to that grid's border.

        Args:
            lat: WGS-84 latitude.
            lng: WGS-84 longitude.

        Returns:
            GridHit(grid, community, street, distance_to_boundary_m), or None outside the district.
        """
        i = self.index_of(lat, lng)
        if i is None:
            return None
        r = self.records[i]
        dist = float(self.boundaries_m[i].distance(self._point_m(lat, lng)))
        return GridHit(r.grid, r.community, r.street, dist)

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
