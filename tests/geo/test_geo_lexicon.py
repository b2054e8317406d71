"""The place lexicon: generated surface forms and the order that settles shared surfaces."""

from __future__ import annotations

import pytest

from routing.lexicon import (
    AMBIGUOUS_STREET_SHORTS,
    community_surfaces,
    load_lexicon,
    place_surfaces,
    street_surfaces,
)


@pytest.mark.parametrize(
    ("surface", "kind", "value", "level"),
    [
        ("起义路", "road", "广州起义路", "generated"),  # 广州 prefix stripped
        ("北京路步行街", "landmark", "北京路商业步行街", "colloquial"),
        ("火车站", "metro_station", "广州火车站", "colloquial"),
        ("三眼井", "community", "三眼井社区", "generated"),
        ("三眼井居委会", "community", "三眼井社区", "generated"),
        ("三眼井社区居委会", "community", "三眼井社区", "source alias"),
        ("洪桥街", "street", "洪桥", "generated"),
        ("洪桥街道", "street", "洪桥", "name"),
        ("北京街", "street", "北京", "generated"),
        ("北京路", "road", "北京路", "name"),  # the road wins over the metro station of the same name
        ("东湖", "lake", "东湖", "name"),  # the lake wins over the station …
        ("东湖站", "metro_station", "东湖", "generated"),  # … unless 站 says otherwise
        ("地铁公园前站", "metro_station", "公园前", "generated"),
        ("农讲所地铁站", "metro_station", "农讲所", "source alias"),
        ("团一大广场", "landmark", "团一大广场", "name"),
        ("广东华侨中学", "landmark", "广东华侨中学(起义路校区)", "source alias"),
        ("第七中学", "landmark", "广州市第七中学(高中部)", "generated"),
    ],
)
def test_surface_resolution(surface: str, kind: str, value: str, level: str) -> None:
    entry = load_lexicon()[surface]
    assert (entry.kind, entry.value, entry.level) == (kind, value, level)


@pytest.mark.parametrize("surface", ["北京", "人民", "建设", "幸福", "大道中", "大桥", "朝阳", "x"])
def test_ordinary_words_are_not_places(surface: str) -> None:
    assert surface not in load_lexicon()


def test_street_forms() -> None:
    forms = dict(street_surfaces("洪桥", "洪桥街道"))
    assert forms == {
        "洪桥街道": "name",
        "洪桥街": "generated",
        "洪桥街道办": "generated",
        "洪桥街办": "generated",
        "洪桥": "generated",
    }
    assert "北京" in AMBIGUOUS_STREET_SHORTS and "北京" not in dict(street_surfaces("北京", "北京街道"))


def test_community_forms_skip_a_stem_that_is_a_street_name() -> None:
    forms = dict(community_surfaces("大塘社区", "大塘社区居委会", frozenset({"大塘"})))
    assert "大塘" not in forms and forms["大塘社区"] == "name" and forms["大塘居委"] == "generated"


def test_place_forms() -> None:
    forms = dict(place_surfaces("road", "广州大道中", []))
    assert forms == {"广州大道中": "name"}  # 大道中 alone is not a name
    metro = dict(place_surfaces("metro_station", "西门口", ["西门口地铁站", "地铁西门口站", "Ximenkou"]))
    assert {"西门口站", "西门口地铁站", "地铁西门口站", "地铁西门口"} <= set(
        metro
    ) and "Ximenkou" not in metro


def test_every_entry_points_at_real_data() -> None:
    from routing.geo_data import load_geo_data

    data = load_geo_data()
    for entry in load_lexicon().values():
        if entry.kind == "street":
            assert entry.value in data.street_codes
        elif entry.kind == "community":
            assert entry.value in data.communities
        else:
            assert (entry.kind, entry.value) in data.places, entry
