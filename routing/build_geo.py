"""Generate routing/data geometry, places, aliases, addresses and roster from ../shared/data.

Run `python -m routing.build_geo [--out DIR]`. The output is deterministic: the same inputs give
byte-identical files (tests/geo regenerates and compares hashes). Inputs are read from
`<repo>/../shared/data` unless GRIDSEC_SHARED_DATA points elsewhere.

Streets are the real OSM 街道 polygons. Communities and grids are synthetic but reproducible:
communities are Voronoi cells seeded at the 70 real community centroids (GCJ-02 → WGS-84) plus
seeds placed by Lloyd's algorithm, clipped to the street; grids split each community the same
way. Counts follow the street areas (largest remainder, total exactly 1,893).
"""

from __future__ import annotations

import argparse
import csv
import dataclasses
import json
import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import shapely
from shapely.geometry import Point, shape
from shapely.geometry.base import BaseGeometry

from routing import geo_partition as part
from routing.coords import YUEXIU_PROJECTION as PROJ
from routing.coords import gcj02_to_wgs84

logger = logging.getLogger(__name__)

TOTAL_GRIDS = 1893
REPO_ROOT = Path(__file__).resolve().parent.parent
DATA_DIR = Path(__file__).resolve().parent / "data"
ROAD_SEED_MIN_SEPARATION_M = 60.0


def shared_data_dir() -> Path:
    """The shared input directory: $GRIDSEC_SHARED_DATA or <repo>/../shared/data."""
    env = os.environ.get("GRIDSEC_SHARED_DATA")
    return Path(env) if env else REPO_ROOT.parent / "shared" / "data"


def read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh))


def read_geojson(path: Path) -> list[dict[str, Any]]:
    with path.open(encoding="utf-8") as fh:
        return list(json.load(fh)["features"])


@dataclass(frozen=True)
class Community:
    code: str
    name: str  # short, e.g. 三眼井社区
    full_name: str
    street_code: str
    street: str
    geom: BaseGeometry


@dataclass(frozen=True)
class Street:
    code: str
    name: str  # 洪桥街道
    short: str  # 洪桥
    name_en: str
    osm_id: str
    geom: BaseGeometry


def load_streets(data: Path, gazetteer: list[dict[str, str]]) -> list[Street]:
    """The 18 OSM 街道 polygons, keyed by gazetteer code, in code order."""
    shorts = {r["street_code"]: r["street_short"] for r in gazetteer}
    streets = []
    for feat in read_geojson(data / "yuexiu_streets.geojson"):
        p = feat["properties"]
        code = p["ref:admin:CN:nbs"]
        if code not in shorts:
            raise ValueError(f"street {code} {p['name']} is not in the gazetteer")
        streets.append(
            Street(
                code,
                p["name"],
                shorts[code],
                p.get("name:en") or "",
                str(p["osm_id"]),
                shape(feat["geometry"]),
            )
        )
    return sorted(streets, key=lambda s: s.code)


def community_centroids(places: list[dict[str, str]]) -> dict[str, tuple[float, float]]:
    """Real community centroids from the places table (GCJ-02 → WGS-84), keyed by community name."""
    out = {}
    for row in places:
        if row["kind"] == "other" and row["name"].endswith("社区") and row["crs"] == "gcj02":
            lat, lng = gcj02_to_wgs84(float(row["lat"]), float(row["lng"]))
            out[row["name"]] = (lng, lat)
    return out


def _to_m(lng: float, lat: float) -> np.ndarray:
    x, y = PROJ.to_xy(lng, lat)
    return np.array([float(x), float(y)])


def _snap_inside(pt_m: np.ndarray, lattice: np.ndarray, region_m: BaseGeometry) -> np.ndarray:
    """Keep a seed that is inside; move one that is outside to the nearest lattice point inside."""
    if region_m.contains(Point(pt_m)):
        return pt_m
    return lattice[int(np.argmin(np.linalg.norm(lattice - pt_m, axis=1)))]


def road_seed(stem: str, street_m: BaseGeometry, roads_m: dict[str, BaseGeometry]) -> np.ndarray | None:
    """Midpoint of the road a community is named after (中山二路社区 → 中山二路), if it runs in the street."""
    for name in (stem, stem + "路", stem + "街", stem + "巷", stem + "里", stem + "坊"):
        line = roads_m.get(name)
        if line is None:
            continue
        inside = shapely.intersection(line, street_m)
        if inside.length > 0:
            pieces = sorted(getattr(inside, "geoms", [inside]), key=lambda g: -g.length)
            mid = pieces[0].interpolate(0.5, normalized=True)
            return np.array([mid.x, mid.y])
    return None


def build_communities(
    streets: Sequence[Street],
    gazetteer: list[dict[str, str]],
    centroids: dict[str, tuple[float, float]],
    roads_m: dict[str, BaseGeometry],
) -> list[Community]:
    """Voronoi communities per street, seeded at real centroids, then road namesakes, then Lloyd."""
    out: list[Community] = []
    for st in streets:
        rows = sorted(
            (r for r in gazetteer if r["street_code"] == st.code), key=lambda r: r["community_code"]
        )
        street_m = shapely.transform(st.geom, PROJ.coords_to_xy)
        lattice = part.lattice_points(street_m, 4000)
        fixed: dict[int, np.ndarray] = {}
        for i, r in enumerate(rows):
            if r["community_short"] in centroids:
                fixed[i] = _snap_inside(_to_m(*centroids[r["community_short"]]), lattice, street_m)
        for i, r in enumerate(rows):
            if i in fixed:
                continue
            seed = road_seed(r["community_short"].removesuffix("社区"), street_m, roads_m)
            if seed is not None and all(
                np.linalg.norm(seed - f) >= ROAD_SEED_MIN_SEPARATION_M for f in fixed.values()
            ):
                fixed[i] = seed
        fixed_idx = sorted(fixed)
        fixed_arr = np.array([fixed[i] for i in fixed_idx]).reshape(-1, 2)
        free_idx = [i for i in range(len(rows)) if i not in fixed]
        free = part.place_seeds(lattice, fixed_arr, len(free_idx))
        free_sorted = sorted(range(len(free)), key=lambda j: (-round(free[j][1] / 150.0), free[j][0]))
        seeds = np.zeros((len(rows), 2))
        for i in fixed_idx:
            seeds[i] = fixed[i]
        for i, j in zip(free_idx, free_sorted, strict=True):
            seeds[i] = free[j]
        cells = part.voronoi_cells(seeds, st.geom, PROJ)
        for r, cell in zip(rows, cells, strict=True):
            if cell.is_empty:
                raise ValueError(f"community {r['community_code']} got an empty cell")
            out.append(
                Community(
                    r["community_code"], r["community_short"], r["community_name"], st.code, st.short, cell
                )
            )
    return out


def area_m2(geom: BaseGeometry) -> float:
    return float(geom.area) * PROJ.m2_per_deg2


def build_grids(streets: Sequence[Street], communities: Sequence[Community]) -> list[dict[str, Any]]:
    """1,893 grids: per street by area, per community by area (≥ 1), Lloyd + Voronoi inside each community."""
    per_street = part.allocate(TOTAL_GRIDS, [area_m2(s.geom) for s in streets])
    grids: list[dict[str, Any]] = []
    for st, n_street in zip(streets, per_street, strict=True):
        comms = [c for c in communities if c.street_code == st.code]
        for comm, n in zip(
            comms, part.allocate(n_street, [area_m2(c.geom) for c in comms], minimum=1), strict=True
        ):
            comm_m = shapely.transform(comm.geom, PROJ.coords_to_xy)
            lattice = part.lattice_points(comm_m, max(60 * n, 200))
            seeds = part.place_seeds(lattice, np.zeros((0, 2)), n)
            cells = part.voronoi_cells(seeds, comm.geom, PROJ)
            for nn, k in enumerate(part.reading_order(cells, PROJ), start=1):
                grids.append(
                    {
                        "grid": f"{comm.code}-{nn:02d}",
                        "community_code": comm.code,
                        "community": comm.name,
                        "street": st.short,
                        "street_code": st.code,
                        "geom": cells[k],
                    }
                )
    for g, geom in zip(grids, part.exact_coverage([g["geom"] for g in grids]), strict=True):
        g["geom"] = geom
    return grids


def communities_from_grids(
    communities: Sequence[Community], grids: Sequence[dict[str, Any]]
) -> list[Community]:
    """Community polygons rebuilt as the union of their grids, so grids nest in them exactly."""
    by_comm: dict[str, list[BaseGeometry]] = {}
    for g in grids:
        by_comm.setdefault(g["community_code"], []).append(g["geom"])
    return [dataclasses.replace(c, geom=shapely.union_all(by_comm[c.code])) for c in communities]


def _coords_6(geom: BaseGeometry) -> dict[str, Any]:
    """GeoJSON geometry with coordinates rounded to 6 decimals (they already lie on that grid)."""
    gj = shapely.geometry.mapping(geom)

    def rnd(c: Any) -> Any:
        if isinstance(c, (list, tuple)) and c and isinstance(c[0], (int, float)):
            return [round(float(c[0]), 6), round(float(c[1]), 6)]
        return [rnd(x) for x in c]

    return {"type": gj["type"], "coordinates": rnd(gj["coordinates"])}


def write_geojson(path: Path, features: list[tuple[dict[str, Any], BaseGeometry]]) -> None:
    """A compact GeoJSON FeatureCollection, one feature per line (diff-friendly, small)."""
    lines = [
        json.dumps(
            {"type": "Feature", "properties": props, "geometry": _coords_6(geom)},
            ensure_ascii=False,
            separators=(",", ":"),
        )
        for props, geom in features
    ]
    path.write_text(
        '{"type":"FeatureCollection","features":[\n' + ",\n".join(lines) + "\n]}\n", encoding="utf-8"
    )


def write_csv(path: Path, header: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    with path.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh, lineterminator="\n")
        writer.writerow(header)
        writer.writerows(rows)


def load_roads_m(data: Path) -> dict[str, BaseGeometry]:
    """Named OSM road geometry in metres, merged per name."""
    by_name: dict[str, list[BaseGeometry]] = {}
    for feat in read_geojson(data / "yuexiu_roads.geojson"):
        name = feat["properties"].get("name")
        if name:
            by_name.setdefault(name, []).append(shapely.transform(shape(feat["geometry"]), PROJ.coords_to_xy))
    return {name: shapely.line_merge(shapely.union_all(parts)) for name, parts in sorted(by_name.items())}


def build_all(out: Path, data: Path | None = None) -> dict[str, int]:
    """Generate every routing/data file into `out`; returns row counts per file."""
    from routing import build_addresses, build_places, build_roster

    data = data or shared_data_dir()
    out.mkdir(parents=True, exist_ok=True)
    gazetteer = read_csv(data / "yuexiu_gazetteer.csv")
    places = read_csv(data / "yuexiu_places.csv")
    streets = load_streets(data, gazetteer)
    roads_m = load_roads_m(data)
    communities = build_communities(streets, gazetteer, community_centroids(places), roads_m)
    grids = build_grids(streets, communities)
    communities = communities_from_grids(communities, grids)
    write_geojson(
        out / "streets.geojson",
        [
            (
                {
                    "street_code": s.code,
                    "name": s.name,
                    "street": s.short,
                    "name_en": s.name_en,
                    "osm_id": s.osm_id,
                },
                s.geom,
            )
            for s in streets
        ],
    )
    write_geojson(
        out / "communities.geojson",
        [
            (
                {
                    "community_code": c.code,
                    "community": c.name,
                    "name": c.full_name,
                    "street": c.street,
                    "street_code": c.street_code,
                },
                c.geom,
            )
            for c in communities
        ],
    )
    write_geojson(
        out / "grids.geojson", [({k: v for k, v in g.items() if k != "geom"}, g["geom"]) for g in grids]
    )
    counts = {"streets": len(streets), "communities": len(communities), "grids": len(grids)}
    counts["places"] = build_places.write_places(out, places, grids)
    counts["addresses"] = build_addresses.write_addresses(out, roads_m, places, grids)
    counts["roster"] = build_roster.write_roster(
        out, data.parent / "spec" / "departments.yml", streets, communities, grids
    )
    build_places.write_attribution(out)
    return counts


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=DATA_DIR, help="output directory (default routing/data)")
    parser.add_argument("--data", type=Path, default=None, help="shared data directory")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    counts = build_all(args.out, args.data)
    logger.info("wrote %s: %s", args.out, counts)


if __name__ == "__main__":
    main()
