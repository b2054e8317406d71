"""Point lookup, border ambiguity and text location resolution over the committed data."""

from __future__ import annotations

import pytest
from shapely.ops import polylabel

from routing.coords import YUEXIU_PROJECTION as PROJ
from routing.geo_data import GeoData, load_geo_data
from routing.places import BOUNDARY_AMBIGUITY_M, find_range, locate
from routing.types import GeoPoint, PlaceMention


@pytest.fixture(scope="module")
def data() -> GeoData:
    return load_geo_data()


def _latlng(x: float, y: float) -> tuple[float, float]:
    lng, lat = PROJ.to_lnglat(x, y)
    return float(lat), float(lng)


def _deepest_point(data: GeoData, grid: str) -> tuple[float, float, float]:
    i = data.index.by_id[grid]
    p = polylabel(data.index.geoms_m[i], 0.5)
    return (*_latlng(p.x, p.y), float(p.distance(data.index.boundaries_m[i])))


def _point_near_inner_border(data: GeoData, grid: str, inset_m: float) -> tuple[float, float]:
    """A point `inset_m` inside the grid whose nearest border is shared with another grid."""
    ring = data.index.geoms_m[data.index.by_id[grid]].buffer(-inset_m).exterior
    for k in range(0, 200):
        p = ring.interpolate(k / 200, normalized=True)
        lat, lng = _latlng(p.x, p.y)
        if len(data.index.grids_within(lat, lng, inset_m + 2)) > 1:
            return lat, lng
    raise AssertionError(f"no inner border found for {grid}")


def test_locate_point_inside_and_outside(data: GeoData) -> None:
    rec = data.places[("metro_station", "公园前")]
    hit = data.index.locate_point(rec.lat, rec.lng)
    assert hit is not None and hit.grid == rec.grid and hit.street in ("北京", "光塔")
    assert hit.community.endswith("社区") and hit.distance_to_boundary_m >= 0
    assert data.index.locate_point(23.13, 113.40) is None  # 天河, east of the district
    assert data.index.locate_point(0.0, 0.0) is None


def test_locate_point_on_each_grid_returns_that_grid(data: GeoData) -> None:
    for grid in [r.grid for r in data.index.records[::97]]:
        lat, lng, depth = _deepest_point(data, grid)
        hit = data.index.locate_point(lat, lng)
        assert hit is not None and hit.grid == grid
        assert hit.distance_to_boundary_m == pytest.approx(depth, abs=0.5)


def test_point_10m_from_a_grid_border_gives_candidates(data: GeoData) -> None:
    grid = "440104001007-02"
    lat, lng = _point_near_inner_border(data, grid, 10.0)
    hit = data.index.locate_point(lat, lng)
    assert hit is not None and hit.grid == grid and hit.distance_to_boundary_m == pytest.approx(10.0, abs=0.5)
    loc = locate((), GeoPoint(lat, lng), "gps", data)
    assert loc.ambiguous and loc.grid == grid and loc.precision == "grid" and loc.source == "gps"
    assert loc.candidates[0].grid == grid and len({c.grid for c in loc.candidates}) == len(loc.candidates)
    assert all(c.point is not None for c in loc.candidates)
    assert any("candidates" in e for e in loc.explanation)


def test_point_deep_inside_a_grid_is_not_ambiguous(data: GeoData) -> None:
    lat, lng, depth = _deepest_point(data, "440104018015-02")
    assert depth > 60.0 > BOUNDARY_AMBIGUITY_M
    loc = locate((), GeoPoint(lat, lng), "exif", data)
    assert not loc.ambiguous and loc.candidates == ()
    assert (loc.grid, loc.precision, loc.source) == ("440104018015-02", "grid", "exif")


def _point_near_other_community(data: GeoData, inset_m: float) -> tuple[float, float]:
    """A point `inset_m` inside some grid, near a grid of another community (and of no third one)."""
    for rec in data.index.records[::13]:
        ring = data.index.geoms_m[data.index.by_id[rec.grid]].buffer(-inset_m).exterior
        for k in range(50):
            p = ring.interpolate(k / 50, normalized=True)
            lat, lng = _latlng(p.x, p.y)
            near = data.index.grids_within(lat, lng, BOUNDARY_AMBIGUITY_M)
            if len(near) == 2 and near[1][0].community != rec.community:
                return lat, lng
    raise AssertionError("no border between communities found")


def test_text_settles_a_border_ambiguity(data: GeoData) -> None:
    lat, lng = _point_near_other_community(data, 10.0)
    loc = locate((), GeoPoint(lat, lng), "gps", data)
    assert loc.ambiguous and len(loc.candidates) == 2
    other = loc.candidates[1]
    settled = locate(
        (PlaceMention("community", other.community, other.community),), GeoPoint(lat, lng), "gps", data
    )
    assert not settled.ambiguous and (settled.community, settled.grid) == (other.community, other.grid)
    assert any("the text settles it" in e for e in settled.explanation)


def test_point_outside_the_district_falls_back_to_text(data: GeoData) -> None:
    loc = locate((PlaceMention("community", "三眼井", "三眼井社区"),), GeoPoint(23.13, 113.40), "gps", data)
    assert (loc.street, loc.community, loc.precision, loc.source) == (
        "洪桥",
        "三眼井社区",
        "community",
        "text",
    )
    assert "outside" in loc.explanation[0]
    assert locate((), GeoPoint(23.13, 113.40), "gps", data).precision == "none"


def test_road_without_number_across_streets_gives_candidates_per_street(data: GeoData) -> None:
    loc = locate((PlaceMention("road", "起义路", "广州起义路"),), None, None, data)
    assert loc.ambiguous and loc.street is None and loc.precision == "none"
    assert [c.street for c in loc.candidates] == list(data.places[("road", "广州起义路")].streets)
    assert all("广州起义路" in c.label for c in loc.candidates)


def test_road_with_number_gives_one_street_and_grid(data: GeoData) -> None:
    loc = locate((PlaceMention("address", "起义路100号", "广州起义路", number=100),), None, None, data)
    r, exact = find_range("广州起义路", 100, data)
    assert exact and r is not None and r.side == "even"
    assert not loc.ambiguous and (loc.street, loc.grid, loc.precision) == (r.street, r.grid, "grid")
    assert loc.point == GeoPoint(r.lat, r.lng) and loc.community == r.community


def test_house_number_beyond_the_ranges_uses_the_nearest_and_says_so(data: GeoData) -> None:
    loc = locate((PlaceMention("address", "一德路9999号", "一德路", number=9999),), None, None, data)
    assert loc.precision == "grid" and any("beyond" in e for e in loc.explanation)


def test_one_street_road_resolves_to_its_street(data: GeoData) -> None:
    loc = locate((PlaceMention("road", "一间巷", "一间巷"),), None, None, data)
    assert not loc.ambiguous and loc.street == "大塘" and loc.precision in ("street", "community", "grid")


def test_street_mention_disambiguates_a_road(data: GeoData) -> None:
    places = (PlaceMention("road", "中山五路", "中山五路"), PlaceMention("street", "六榕街", "六榕", 5, 8))
    loc = locate(places, None, None, data)
    assert not loc.ambiguous and loc.street == "六榕"


def test_two_crossing_roads_narrow_to_their_junction(data: GeoData) -> None:
    one = locate((PlaceMention("road", "东风东路", "东风东路"),), None, None, data)
    both = locate(
        (PlaceMention("road", "东风东路", "东风东路"), PlaceMention("road", "农林下路", "农林下路", 5, 9)),
        None,
        None,
        data,
    )
    assert len(both.candidates) < len(one.candidates)
    assert {both.street} | {c.street for c in both.candidates} <= set(data.road_streets("农林下路")) | {None}


@pytest.mark.parametrize(
    ("mention", "street", "community", "precision"),
    [
        (PlaceMention("community", "三眼井那边", "三眼井社区"), "洪桥", "三眼井社区", "community"),
        (PlaceMention("street", "洪桥街", "洪桥"), "洪桥", None, "street"),
        (PlaceMention("metro_station", "火车站", "广州火车站"), "流花", None, "grid"),
        (PlaceMention("lake", "麓湖", "麓湖"), "登峰", None, "grid"),
    ],
)
def test_single_mentions(
    data: GeoData, mention: PlaceMention, street: str, community: str | None, precision: str
) -> None:
    loc = locate((mention,), None, None, data)
    assert (loc.street, loc.precision, loc.source) == (street, precision, "text")
    if community:
        assert loc.community == community
    if precision == "grid":
        assert loc.grid and loc.point is not None


def test_landmark_in_several_streets_is_ambiguous(data: GeoData) -> None:
    loc = locate((PlaceMention("landmark", "北京路步行街", "北京路商业步行街"),), None, None, data)
    assert loc.ambiguous and {c.street for c in loc.candidates} == {"北京", "珠光", "人民"}


def test_building_is_kept_in_the_explanation_only(data: GeoData) -> None:
    places = (
        PlaceMention("community", "三眼井社区", "三眼井社区"),
        PlaceMention("building", "3号楼2单元", "3号楼2单元", 5, 11, 3, "2单元"),
    )
    loc = locate(places, None, None, data)
    assert loc.precision == "community" and any("3号楼2单元" in e for e in loc.explanation)


def test_conflicting_mentions_keep_the_most_specific(data: GeoData) -> None:
    places = (
        PlaceMention("community", "三眼井社区", "三眼井社区"),
        PlaceMention("street", "矿泉街", "矿泉", 6, 9),
    )
    loc = locate(places, None, None, data)
    assert (loc.street, loc.community) == ("洪桥", "三眼井社区") and any(
        "does not fit" in e for e in loc.explanation
    )


def test_unknown_place_and_no_place(data: GeoData) -> None:
    loc = locate((PlaceMention("road", "天河路", "不存在路"),), None, None, data)
    assert loc.precision == "none" and any("not in the gazetteer" in e for e in loc.explanation)
    assert locate((), None, None, data).precision == "none"


def test_load_geo_data_is_cached() -> None:
    assert load_geo_data() is load_geo_data()


def test_grids_within_is_sorted_by_distance(data: GeoData) -> None:
    lat, lng = _point_near_inner_border(data, "440104001007-02", 10.0)
    near = data.index.grids_within(lat, lng, 50.0)
    assert near[0][0].grid == "440104001007-02" and near[0][1] == 0.0
    assert [d for _, d in near] == sorted(d for _, d in near)


def test_bucketed_lookup_agrees_with_the_exact_strtree_query(data: GeoData) -> None:
    import numpy as np
    import shapely

    index = data.index
    minx, miny, maxx, maxy = shapely.total_bounds(index.geoms_m)
    rng = np.random.default_rng(11)
    xs, ys = rng.uniform(minx - 200, maxx + 200, 6000), rng.uniform(miny - 200, maxy + 200, 6000)
    outside = inside = 0
    for x, y in zip(xs.tolist(), ys.tolist(), strict=True):
        p = shapely.Point(x, y)
        hits = index.tree.query(p, predicate="intersects")
        if len(hits) == 0 and len(index.tree.query(p, predicate="dwithin", distance=1.0)) > 0:
            continue  # within a metre of the district edge: either answer is right
        lat, lng = _latlng(x, y)
        got = index.index_of(lat, lng)
        if len(hits) == 0:
            assert got is None
            outside += 1
        else:
            assert got in hits.tolist()
            inside += 1
    assert inside > 1000 and outside > 1000


def test_point_wins_over_text_and_the_disagreement_is_explained(data: GeoData) -> None:
    lat, lng, _ = _deepest_point(data, "440104018015-02")
    street = data.index.record("440104018015-02").street
    other = next(s for s in data.street_codes if s != street)
    loc = locate((PlaceMention("street", f"{other}街", other),), GeoPoint(lat, lng), "gps", data)
    assert (loc.grid, loc.street, loc.source) == ("440104018015-02", street, "gps")
    assert any("does not hold the point" in e for e in loc.explanation)
    same = locate((PlaceMention("street", f"{street}街", street),), GeoPoint(lat, lng), "gps", data)
    assert not any("does not hold the point" in e for e in same.explanation)
