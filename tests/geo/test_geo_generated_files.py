"""The generated tables: reproducibility, places in WGS-84, address ranges along the roads, the roster."""

from __future__ import annotations

import csv
import hashlib
import re
from collections import Counter, defaultdict
from pathlib import Path

import pytest

from routing.build_geo import build_all, shared_data_dir
from routing.geo import GridIndex

DATA = Path(__file__).resolve().parents[2] / "routing" / "data"
GENERATED = (
    "streets.geojson",
    "communities.geojson",
    "grids.geojson",
    "addresses.csv",
    "places.csv",
    "roster.csv",
    "ATTRIBUTION.md",
)


def _rows(name: str) -> list[dict[str, str]]:
    with (DATA / name).open(encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh))


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.mark.slow
def test_generator_reproduces_the_committed_files(tmp_path: Path) -> None:
    counts = build_all(tmp_path)
    assert counts["grids"] == 1893 and counts["communities"] == 222 and counts["streets"] == 18
    for name in GENERATED:
        assert _sha(tmp_path / name) == _sha(DATA / name), f"{name} is stale: run python -m routing.build_geo"


def test_shared_data_dir_can_be_overridden(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("GRIDSEC_SHARED_DATA", str(tmp_path))
    assert shared_data_dir() == tmp_path
    monkeypatch.delenv("GRIDSEC_SHARED_DATA")
    assert shared_data_dir().name == "data" and shared_data_dir().parent.name == "shared"


def test_places_are_all_wgs84_and_located() -> None:
    places = _rows("places.csv")
    assert len(places) == 766
    with (shared_data_dir() / "yuexiu_places.csv").open(encoding="utf-8", newline="") as fh:
        source = {(r["kind"], r["name"]): r for r in csv.DictReader(fh)}
    for p in places:
        src = source[(p["kind"], p["name"])]
        moved = abs(float(p["lat"]) - float(src["lat"])) + abs(float(p["lng"]) - float(src["lng"]))
        if p["source_crs"] == "gcj02":
            assert 0.006 < moved < 0.010, p["name"]  # the GCJ-02 offset was removed
        else:
            assert moved < 1e-6, p["name"]
    located = [p for p in places if p["grid"]]
    assert len(located) == 766
    # a point's street agrees with the source's street list, except the 3 centroids just outside theirs
    disagree = [p["name"] for p in places if p["street"] not in p["streets"].split("|")]
    assert len(disagree) <= 3 + 5, disagree


def test_place_points_lie_in_the_grid_they_name() -> None:
    index = GridIndex.from_geojson(DATA / "grids.geojson")
    for p in _rows("places.csv")[::7]:
        hit = index.locate_point(float(p["lat"]), float(p["lng"]))
        assert hit is not None and hit.grid == p["grid"], p["name"]


def test_address_ranges_cover_every_road_without_overlaps() -> None:
    ranges = _rows("addresses.csv")
    roads = {p["name"] for p in _rows("places.csv") if p["kind"] == "road"}
    assert {r["road"] for r in ranges} == roads
    by_side: dict[tuple[str, str], list[tuple[int, int]]] = defaultdict(list)
    for r in ranges:
        lo, hi = int(r["from_no"]), int(r["to_no"])
        assert lo <= hi and lo % 2 == hi % 2 == (1 if r["side"] == "odd" else 0), r
        assert r["grid"].startswith(r["community_code"] + "-") and r["grid"][:9] == r["street_code"]
        by_side[(r["road"], r["side"])].append((lo, hi))
    for key, spans in by_side.items():
        spans.sort()
        assert all(a[1] < b[0] for a, b in zip(spans, spans[1:], strict=False)), key


def test_a_road_crossing_several_streets_has_ranges_per_street() -> None:
    ranges = [r for r in _rows("addresses.csv") if r["road"] == "东风东路"]
    streets = Counter(r["street"] for r in ranges)
    assert len(streets) >= 3
    # numbers grow along the road: the street changes only a few times along each side
    for side in ("odd", "even"):
        seq = [
            r["street"]
            for r in sorted((r for r in ranges if r["side"] == side), key=lambda r: int(r["from_no"]))
        ]
        changes = sum(a != b for a, b in zip(seq, seq[1:], strict=False))
        assert changes <= 2 * len(streets), (side, seq)


def test_address_points_lie_in_their_grid() -> None:
    index = GridIndex.from_geojson(DATA / "grids.geojson")
    for r in _rows("addresses.csv")[::25]:
        hit = index.locate_point(float(r["lat"]), float(r["lng"]))
        assert hit is not None and hit.grid == r["grid"], r


def test_roster_has_every_worker_and_office() -> None:
    roster = _rows("roster.csv")
    ids = [r["person_id"] for r in roster]
    assert len(ids) == len(set(ids))
    grids = {p["grid"] for p in _rows("places.csv")} | {r["grid"] for r in _rows("addresses.csv")}
    day = {r["scope"] for r in roster if r["role"] == "grid_worker"}
    assert len(day) == 1893 and grids <= day
    assert all(
        r["person_id"] == f"GW-{r['scope']}" and (r["start"], r["end"]) == ("08:00", "20:00")
        for r in roster
        if r["role"] == "grid_worker"
    )
    night = [r for r in roster if r["role"] == "night_duty"]
    assert len(night) == 222 and all((r["start"], r["end"]) == ("20:00", "08:00") for r in night)
    assert sum(r["role"] == "community_staff" for r in roster) == 222
    assert sum(r["role"] == "street_staff" for r in roster) == 18
    assert {r["person_id"] for r in roster if r["person_id"].startswith("DP-JDB-")} == {
        f"DP-JDB-{code}" for code in {r["street_code"] for r in roster if r["role"] == "street_staff"}
    }
    assert sum(r["role"] == "department_staff" for r in roster) == 42 + 2 * 18
    assert any(r["person_id"] == "CC-01" for r in roster)
    assert all(re.fullmatch(r"1380000\d{4}", r["phone"]) for r in roster)
    assert len({r["phone"] for r in roster}) == len(roster)
    assert all(re.fullmatch(r"[\u4e00-\u9fff]{2,3}", r["name"]) for r in roster)


def test_attribution_is_kept() -> None:
    text = (DATA / "ATTRIBUTION.md").read_text(encoding="utf-8")
    assert "© OpenStreetMap contributors, ODbL 1.0" in text and "Vonng/adcode, CC BY 4.0" in text
