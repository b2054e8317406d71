"""The generated geometry: counts, nesting, tiling of the district, real centroids, GCJ-02 conversion."""

from __future__ import annotations

import csv
import json
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import shapely
from shapely.geometry import shape

from routing.build_geo import shared_data_dir
from routing.coords import YUEXIU_PROJECTION as PROJ
from routing.coords import gcj02_to_wgs84, wgs84_to_gcj02
from routing.geo_partition import allocate

DATA = Path(__file__).resolve().parents[2] / "routing" / "data"


def _load(name: str) -> list[tuple[dict, shapely.Geometry]]:
    with (DATA / name).open(encoding="utf-8") as fh:
        return [(f["properties"], shape(f["geometry"])) for f in json.load(fh)["features"]]


def _m2(geom: shapely.Geometry) -> float:
    return float(geom.area) * PROJ.m2_per_deg2


def _is_sliver(geom: shapely.Geometry, half_width_m: float = 0.1) -> bool:
    """Float noise of 6-decimal (≈ 0.1 m) coordinates: nothing thicker than 20 cm survives a -10 cm buffer."""
    return shapely.transform(geom, PROJ.coords_to_xy).buffer(-half_width_m).is_empty


@pytest.fixture(scope="module")
def streets() -> list[tuple[dict, shapely.Geometry]]:
    return _load("streets.geojson")


@pytest.fixture(scope="module")
def communities() -> list[tuple[dict, shapely.Geometry]]:
    return _load("communities.geojson")


@pytest.fixture(scope="module")
def grids() -> list[tuple[dict, shapely.Geometry]]:
    return _load("grids.geojson")


@pytest.fixture(scope="module")
def gazetteer() -> list[dict[str, str]]:
    with (shared_data_dir() / "yuexiu_gazetteer.csv").open(encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh))


@pytest.fixture(scope="module")
def district() -> shapely.Geometry:
    with (shared_data_dir() / "yuexiu_boundary.geojson").open(encoding="utf-8") as fh:
        return shapely.union_all([shape(f["geometry"]) for f in json.load(fh)["features"]])


def test_counts_match_the_gazetteer(streets, communities, grids, gazetteer) -> None:
    assert len(streets) == 18 and len(communities) == 222 and len(grids) == 1893
    assert {p["street_code"] for p, _ in streets} == {r["street_code"] for r in gazetteer}
    assert {p["community_code"] for p, _ in communities} == {r["community_code"] for r in gazetteer}
    per_street = Counter(p["street"] for p, _ in communities)
    assert per_street == Counter(r["street_short"] for r in gazetteer)
    assert per_street["六榕"] == 16 and per_street["流花"] == 5


def test_grid_ids_are_community_code_and_sequential_number(grids) -> None:
    by_comm: dict[str, list[int]] = {}
    for p, _ in grids:
        code, nn = p["grid"].rsplit("-", 1)
        assert code == p["community_code"] and len(nn) == 2
        by_comm.setdefault(code, []).append(int(nn))
    assert len(by_comm) == 222  # every community has at least one grid
    for numbers in by_comm.values():
        assert sorted(numbers) == list(range(1, len(numbers) + 1))


def test_grids_per_street_follow_street_area(streets, grids) -> None:
    areas = [_m2(g) for _, g in streets]
    counts = Counter(p["street_code"] for p, _ in grids)
    expected = allocate(1893, areas)
    assert [counts[p["street_code"]] for p, _ in streets] == expected
    for (_, g), n in zip(streets, expected, strict=True):
        assert abs(n - 1893 * _m2(g) / sum(areas)) < 1.0


def test_allocate_is_exact_and_respects_minimum() -> None:
    assert allocate(10, [1, 1, 1]) == [4, 3, 3]
    assert sum(allocate(1893, [3.3, 1.1, 7.7, 0.01])) == 1893
    assert allocate(5, [100, 0.001, 0.001], minimum=1) == [3, 1, 1]
    with pytest.raises(ValueError):
        allocate(2, [1, 1, 1], minimum=1)


def test_each_grid_lies_in_its_community_and_each_community_in_its_street(
    streets, communities, grids
) -> None:
    comm = {p["community_code"]: g for p, g in communities}
    street = {p["street_code"]: g for p, g in streets}
    for p, g in grids:
        assert g.is_valid and g.geom_type == "Polygon", p["grid"]
        assert _is_sliver(shapely.difference(g, comm[p["community_code"]])), p["grid"]
    for p, g in communities:
        assert g.is_valid, p["community_code"]
        assert _is_sliver(shapely.difference(g, street[p["street_code"]])), p["community_code"]


def _overlaps(geoms: list[shapely.Geometry]) -> list[shapely.Geometry]:
    tree = shapely.STRtree(geoms)
    a, b = tree.query(geoms, predicate="intersects")
    return [shapely.intersection(geoms[i], geoms[j]) for i, j in zip(a, b, strict=True) if i < j]


def test_grids_tile_the_district_without_overlaps(grids, district) -> None:
    geoms = [g for _, g in grids]
    overlaps = _overlaps(geoms)
    assert sum(_m2(o) for o in overlaps) < 0.01  # neighbours share borders exactly: lines, no area
    union = shapely.union_all(geoms)
    assert _m2(union) == pytest.approx(sum(_m2(g) for g in geoms), abs=0.01)
    assert abs(_m2(union) - _m2(district)) / _m2(district) < 1e-5
    assert _is_sliver(shapely.symmetric_difference(union, district))


def test_communities_tile_each_street(streets, communities) -> None:
    street = {p["street_code"]: g for p, g in streets}
    for code, sgeom in street.items():
        parts = [g for p, g in communities if p["street_code"] == code]
        assert abs(sum(_m2(g) for g in parts) - _m2(sgeom)) < 0.0001 * _m2(sgeom) + 50.0, code
        assert _is_sliver(shapely.symmetric_difference(shapely.union_all(parts), sgeom)), code
    assert sum(_m2(o) for o in _overlaps([g for _, g in communities])) < 0.01


def test_every_point_of_the_district_is_in_exactly_one_grid(grids, district) -> None:
    minx, miny, maxx, maxy = district.bounds
    xs, ys = np.meshgrid(np.linspace(minx, maxx, 90), np.linspace(miny, maxy, 90))
    xs, ys = xs.ravel(), ys.ravel()
    inside = shapely.contains_xy(district, xs, ys)
    pts = shapely.points(xs[inside], ys[inside])
    far = shapely.distance(pts, district.boundary) > 2e-5
    pts = pts[far]
    tree = shapely.STRtree([g for _, g in grids])
    src, _ = tree.query(pts, predicate="intersects")
    hits = np.bincount(src, minlength=len(pts))
    assert len(pts) > 4000
    assert (hits == 1).all()


@pytest.fixture(scope="module")
def centroids() -> list[dict[str, str]]:
    with (shared_data_dir() / "yuexiu_places.csv").open(encoding="utf-8", newline="") as fh:
        return [r for r in csv.DictReader(fh) if r["kind"] == "other" and r["crs"] == "gcj02"]


def test_converted_centroids_lie_in_or_near_their_official_street(streets, centroids) -> None:
    street = {p["street"]: g for p, g in streets}
    assert len(centroids) == 70
    outside = []
    for r in centroids:
        lat, lng = gcj02_to_wgs84(float(r["lat"]), float(r["lng"]))
        x, y = PROJ.to_xy(lng, lat)
        geom_m = shapely.transform(street[r["streets"]], PROJ.coords_to_xy)
        dist = geom_m.distance(shapely.Point(float(x), float(y)))
        assert dist <= 25.0, r["name"]
        if dist > 0:
            outside.append(r["name"])
    assert sorted(outside) == sorted(["仙湖社区", "象岗山社区", "观绿社区"])


def test_real_centroid_communities_hold_their_centroid(communities, centroids) -> None:
    comm = {p["community"]: g for p, g in communities}
    for r in centroids:
        lat, lng = gcj02_to_wgs84(float(r["lat"]), float(r["lng"]))
        x, y = PROJ.to_xy(lng, lat)
        geom_m = shapely.transform(comm[r["name"]], PROJ.coords_to_xy)
        assert geom_m.distance(shapely.Point(float(x), float(y))) <= 25.0, r["name"]


@pytest.mark.parametrize(
    ("wgs", "gcj"),
    [  # published vectors of googollee/eviltransform (Shanghai, Shenzhen, Beijing)
        ((31.1774276, 121.5272106), (31.17530398364597, 121.531541859215)),
        ((22.543847, 113.912316), (22.540796131694766, 113.9171764808363)),
        ((39.911954, 116.377817), (39.91334545536069, 116.38404722455657)),
    ],
)
def test_gcj02_known_answers(wgs: tuple[float, float], gcj: tuple[float, float]) -> None:
    assert wgs84_to_gcj02(*wgs) == pytest.approx(gcj, abs=1e-9)
    assert gcj02_to_wgs84(*gcj) == pytest.approx(wgs, abs=1e-8)  # iterative inverse: sub-millimetre


def test_gcj02_offset_in_guangzhou_is_hundreds_of_metres() -> None:
    lat, lng = gcj02_to_wgs84(23.130, 113.270)
    # in Guangzhou GCJ-02 lies about 300 m south and 540 m east of WGS-84
    assert 0.002 < lat - 23.130 < 0.004 and 0.004 < 113.270 - lng < 0.007
