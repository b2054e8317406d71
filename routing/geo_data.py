"""Everything location resolution needs, loaded once from routing/data (no I/O per decision)."""

from __future__ import annotations

import csv
import json
import logging
from collections import defaultdict
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from routing.geo import GridIndex
from routing.lexicon import LexiconEntry, build_lexicon

logger = logging.getLogger(__name__)

DATA_DIR = Path(__file__).resolve().parent / "data"


@dataclass(frozen=True)
class PlaceRecord:
    """A road, landmark, metro station or lake (places.csv), in WGS-84, with the grid of its point."""

    kind: str
    name: str
    streets: tuple[str, ...]
    lat: float
    lng: float
    street: str
    community: str
    grid: str


@dataclass(frozen=True)
class AddressRange:
    """A synthetic house-number range of one side of a road inside one grid (addresses.csv)."""

    road: str
    side: str  # odd | even
    from_no: int
    to_no: int
    street: str
    community: str
    grid: str
    lat: float
    lng: float

    def holds(self, number: int) -> bool:
        return self.from_no <= number <= self.to_no and (number % 2 == 1) == (self.side == "odd")


@dataclass(frozen=True)
class GeoData:
    """Loaded geo data: grid index, lexicon, names, places and address ranges."""

    index: GridIndex
    lexicon: dict[str, LexiconEntry]
    street_codes: dict[str, str]  # street short → code
    communities: dict[str, tuple[str, str]]  # community short → (code, street short)
    places: dict[tuple[str, str], PlaceRecord]  # (kind, name) → record
    ranges: dict[str, tuple[AddressRange, ...]]  # road → ranges, by from_no

    def road_streets(self, road: str) -> tuple[str, ...]:
        """Streets a road runs through: places.csv order (most length first), then any from the ranges."""
        rec = self.places.get(("road", road))
        listed = list(rec.streets) if rec else []
        return tuple(listed + sorted({r.street for r in self.ranges.get(road, ())} - set(listed)))

    def road_grids(self, road: str, street: str) -> frozenset[str]:
        """Grids holding numbered frontage of `road` inside `street` (may be empty)."""
        return frozenset(r.grid for r in self.ranges.get(road, ()) if r.street == street)


def _read_properties(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8") as fh:
        return [f["properties"] for f in json.load(fh)["features"]]


def _read_places(path: Path) -> dict[tuple[str, str], PlaceRecord]:
    out = {}
    with path.open(encoding="utf-8", newline="") as fh:
        for row in csv.DictReader(fh):
            if row["kind"] == "other" and row["name"].endswith("社区"):
                continue  # community centroids: communities come from the gazetteer
            kind = "lake" if row["kind"] == "other" else row["kind"]
            out[(kind, row["name"])] = PlaceRecord(
                kind,
                row["name"],
                tuple(row["streets"].split("|")),
                float(row["lat"]),
                float(row["lng"]),
                row["street"],
                row["community"],
                row["grid"],
            )
    return out


def _read_ranges(path: Path) -> dict[str, tuple[AddressRange, ...]]:
    by_road: dict[str, list[AddressRange]] = defaultdict(list)
    with path.open(encoding="utf-8", newline="") as fh:
        for r in csv.DictReader(fh):
            by_road[r["road"]].append(
                AddressRange(
                    r["road"],
                    r["side"],
                    int(r["from_no"]),
                    int(r["to_no"]),
                    r["street"],
                    r["community"],
                    r["grid"],
                    float(r["lat"]),
                    float(r["lng"]),
                )
            )
    return {road: tuple(sorted(rs, key=lambda r: (r.from_no, r.side))) for road, rs in by_road.items()}


def read_geo_data(data_dir: Path = DATA_DIR) -> GeoData:
    """Read and index every routing/data geo file."""
    return GeoData(
        index=GridIndex.from_geojson(data_dir / "grids.geojson"),
        lexicon=build_lexicon(data_dir),
        street_codes={s["street"]: s["street_code"] for s in _read_properties(data_dir / "streets.geojson")},
        communities={
            c["community"]: (c["community_code"], c["street"])
            for c in _read_properties(data_dir / "communities.geojson")
        },
        places=_read_places(data_dir / "places.csv"),
        ranges=_read_ranges(data_dir / "addresses.csv"),
    )


@lru_cache(maxsize=1)
def load_geo_data() -> GeoData:
    """The GeoData over routing/data, built once per process (≈ 1 s)."""
    return read_geo_data(DATA_DIR)
