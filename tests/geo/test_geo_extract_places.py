"""The place extractor on messages written the way residents write them."""

from __future__ import annotations

import pytest

from bot.nlu.places import extract_places, place_lexicon
from routing.places import locate

CASES = [
    ("起义路100号之一门口啲垃圾成日冇人清", [("address", "广州起义路", 100)]),
    ("三眼井那边有人乱摆卖，好阻路", [("community", "三眼井社区", None)]),
    ("中山五路123号3号楼2单元漏水好严重", [("address", "中山五路", 123), ("building", "3号楼2单元", 3)]),
    ("北京路步行街有人打交，快啲派人嚟", [("landmark", "北京路商业步行街", None)]),
    ("火车站附近好多黑车兜客", [("metro_station", "广州火车站", None)]),
    (
        "洪桥街道三眼井社区5栋楼下堆满垃圾",
        [("street", "洪桥", None), ("community", "三眼井社区", None), ("building", "5号楼", 5)],
    ),
    ("东风东路同农林下路路口红绿灯坏咗", [("road", "东风东路", None), ("road", "农林下路", None)]),
    ("东湖站C出口有个井盖冇咗好危险", [("metro_station", "东湖", None)]),
    ("越秀公园门口成日有人派传单", [("landmark", "越秀公园", None)]),
    ("我住六榕街，楼上装修好嘈", [("street", "六榕", None)]),
    ("环市东路辅路120号路灯唔着", [("address", "环市东路辅路", 120)]),
    ("请问北京街有冇办居住证嘅地方", [("street", "北京", None)]),
    ("解放北路好多共享单车乱停", [("road", "解放北路", None)]),
    ("麓湖边有死鱼，臭到不得了", [("lake", "麓湖", None)]),
    ("公园前地铁站出口有人乞讨", [("metro_station", "公园前", None)]),
    ("流花湖公园入面啲厕所好污糟", [("landmark", "流花湖公园", None)]),
    ("大塘街文德路38号有棵树就快倒", [("street", "大塘", None), ("address", "文德路", 38)]),
    ("起义路口个消防栓漏水", [("road", "广州起义路", None)]),
    ("我系住喺中山二路社区嘅，垃圾站好臭", [("community", "中山二路社区", None)]),
    ("二沙岛有人夜晚飙车", [("community", "二沙岛社区", None)]),
    ("海珠广场附近有人摆摊卖假货", [("landmark", "海珠广场", None)]),
    ("烈士陵园对面公交站个广告牌松咗", [("landmark", "广州起义烈士陵园", None)]),
    ("中山纪念堂门口啲渠塞咗", [("metro_station", "纪念堂", None)]),
    ("农林下路一百号嘅餐厅油烟好大", [("address", "农林下路", 100)]),
    ("执信中学后面条巷好黑，路灯坏咗", [("landmark", "广州市执信中学(执信路校区)", None)]),
    ("黄花岗街水荫路有啲沙井盖唔见咗", [("street", "黄花岗", None), ("road", "水荫路", None)]),
    ("我哋小区喺盘福路，3单元电梯坏咗", [("road", "盘福路", None), ("building", "3单元", None)]),
    ("德政北社区居委会附近有个大坑", [("community", "德政北社区", None)]),
    ("淘金站出口啲单车塞住晒", [("metro_station", "淘金", None)]),
    ("杨箕村口有人烧垃圾", [("metro_station", "杨箕", None)]),
    ("小北路128号之二门口漏水", [("address", "小北路", 128)]),
    ("越秀南路同越华路交界有车撞咗", [("road", "越秀南路", None), ("road", "越华路", None)]),
    ("屋企隔离成日吵交", []),
    ("你好，我想投诉", []),
    ("英雄广场啲灯成晚着住好浪费", [("landmark", "英雄广场", None)]),
    ("越华路116-2号门口积水", [("address", "越华路", 116)]),
    ("坐地铁5号线到淘金站", [("metro_station", "淘金", None)]),
]


def _summary(text: str) -> list[tuple[str, str, int | None]]:
    return [(m.kind, m.value, m.number) for m in extract_places(text)]


@pytest.mark.parametrize(("text", "expected"), CASES, ids=[c[0][:12] for c in CASES])
def test_extract_places(text: str, expected: list[tuple[str, str, int | None]]) -> None:
    assert _summary(text) == expected


def test_mentions_carry_offsets_text_and_detail() -> None:
    text = "起义路100号之一门口"
    (m,) = extract_places(text)
    assert (m.kind, m.text, m.start, m.end, m.number, m.detail) == (
        "address",
        "起义路100号之一",
        0,
        9,
        100,
        "之一",
    )
    assert text[m.start : m.end] == m.text
    (d,) = extract_places("越华路116-2号")
    assert (d.number, d.detail, d.text) == (116, "-2", "越华路116-2号")
    (v,) = extract_places("喺三眼井那边")
    assert (v.text, v.value, v.start) == ("三眼井那边", "三眼井社区", 1)


def test_empty_and_blank_text() -> None:
    assert extract_places("") == () and extract_places("   ") == ()


def test_place_lexicon_lists_the_surface_forms() -> None:
    words = place_lexicon()
    assert words == sorted(words) and len(words) > 1500
    assert {"三眼井", "三眼井社区", "起义路", "广州起义路", "洪桥街", "北京路步行街", "火车站"} <= set(words)
    assert "北京" not in words and "幸福" not in words  # ordinary words are not places


@pytest.mark.parametrize(
    ("text", "street", "ambiguous"),
    [
        ("起义路100号之一门口垃圾好多", "北京", False),
        ("起义路有个井盖冇咗", None, True),
        ("三眼井那边乱摆卖", "洪桥", False),
    ],
)
def test_extract_then_locate(text: str, street: str | None, ambiguous: bool) -> None:
    loc = locate(extract_places(text), None, None)
    assert loc.ambiguous is ambiguous
    if street:
        assert loc.street == street
