"""The text normaliser's pure function: width, script, Cantonese, emoji, punctuation, numerals, case codes."""

from __future__ import annotations

import pytest

from bot.nlu.normalise import (
    build_tables,
    convert_numerals,
    default_tables,
    load_cantonese_table,
    normalise,
    replace_words,
    to_half_width,
    word_lengths,
)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        # Cantonese -> Mandarin, multi-character entries before single characters
        ("井盖冇咗", "井盖没有了"),
        ("佢哋喺度搞嘢", "他们在度搞东西"),
        ("边度可以投诉", "哪里可以投诉"),
        ("乜嘢事", "什么事"),
        ("我唔知", "我不知道"),
        ("唔好意思", "不好意思"),
        ("唔好乱停车", "不要乱停车"),
        ("系唔系你哋管", "是不是你们管"),
        ("有冇人管", "有没有人管"),
        ("冇错冇错", "没错没错"),
        ("啲垃圾", "些垃圾"),
        ("快啲嚟", "快点来"),
        ("夜晚瞓唔着", "夜晚睡不着"),
        ("琴日开始停水", "昨天开始停水"),
        ("有好多曱甴", "有好多蟑螂"),
        ("唔该晒", "谢谢"),
        # keep-words survive: 关系 is not 关是, 蚊子 stays
        ("关系好差", "关系好差"),
        ("好多蚊子", "好多蚊子"),
        # traditional -> simplified, including traditional Cantonese spellings
        ("邊度可以投訴", "哪里可以投诉"),
        ("係咪冇人管", "是不是没有人管"),
        ("電梯壞咗", "电梯坏了"),
        ("關係", "关系"),
        # full width -> half width
        ("ＡＢＣ１２３", "ABC123"),
        ("你好！！！", "你好!"),
        # punctuation runs collapse to their first character
        ("快点。。。。", "快点。"),
        ("点解？？？！！", "为什么?"),
        ("好臭~~~~", "好臭~"),
        # emoji: meaningful ones become words, runs count once, others vanish, stars count
        ("好嬲😡😡😡", "好生气生气"),
        ("处理得好👍", "处理得好好"),
        ("垃圾😂😂", "垃圾"),
        ("⭐⭐⭐⭐⭐", "5星"),
        ("有🔥", "有火"),
        # whitespace collapses and is trimmed
        ("  井盖   烂咗  ", "井盖 烂了"),
    ],
)
def test_normalise_rewrites_colloquial_text(raw: str, expected: str) -> None:
    assert normalise(raw) == expected


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("五楼", "5楼"),
        ("两个月", "2个月"),
        ("晚上十一点", "晚上11点"),
        ("打五分", "打5分"),
        ("三号楼二单元", "3号楼2单元"),
        ("二零二六年", "2026年"),
        ("一百二十号", "120号"),
        # words that contain numerals stay words
        ("十分满意", "十分满意"),
        ("快一点", "快一点"),
        ("一些人", "一些人"),
        ("一下", "一下"),
        ("一直", "一直"),
    ],
)
def test_normalise_converts_numerals_with_units_only(raw: str, expected: str) -> None:
    assert normalise(raw) == expected


@pytest.mark.parametrize("place", ["一德路", "三眼井", "五羊新城", "六榕"])
def test_normalise_protects_place_names_with_numerals(place: str) -> None:
    assert normalise(f"{place}有个井盖冇咗") == f"{place}有个井盖没有了"


def test_protected_place_beats_numeral_unit_pattern() -> None:
    tables = build_tables(["三元里"])
    assert normalise("三元里有人乱停车", tables) == "三元里有人乱停车"
    assert normalise("三元钱", tables) == "3元钱"


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("查询yx20261129 0007进度", "查询YX-20261129-0007进度"),
        ("ＹＸ－２０２６１１２９－０００７", "YX-20261129-0007"),
        ("YX-20261129-0007", "YX-20261129-0007"),
        ("yx_20261129_0007", "YX-20261129-0007"),
    ],
)
def test_normalise_canonicalises_case_codes(raw: str, expected: str) -> None:
    assert normalise(raw) == expected


def test_normalise_leaves_too_short_codes_alone() -> None:
    assert normalise("yx2026112 0007") == "yx2026112 0007"


def test_normalise_is_idempotent_on_its_output() -> None:
    samples = ["佢哋喺五楼嘈到三点😡！！", "邊度可以投訴？係咪冇人管", "三眼井社区那边垃圾成日冇人收"]
    for sample in samples:
        once = normalise(sample)
        assert normalise(once) == once


def test_normalise_empty_and_emoji_only() -> None:
    assert normalise("") == ""
    assert normalise("😂😂") == ""


def test_to_half_width_maps_ideographic_space() -> None:
    assert to_half_width("Ａ\u3000Ｂ") == "A B"


def test_replace_words_prefers_longest_match() -> None:
    words = {"唔": "不", "唔该": "唔该", "唔该晒": "谢谢"}
    assert replace_words("唔该晒唔该唔", words, word_lengths(words)) == "谢谢唔该不"


def test_cantonese_table_derives_traditional_keys() -> None:
    words, emoji = load_cantonese_table()
    assert words["边度"] == words["邊度"] == "哪里"
    assert emoji["👍"] == "好"


def test_cantonese_table_rejects_a_file_without_replace(tmp_path) -> None:
    bad = tmp_path / "bad.yml"
    bad.write_text("keep: [关系]\n", encoding="utf-8")
    with pytest.raises(ValueError, match="replace"):
        load_cantonese_table(bad)


def test_convert_numerals_without_protection() -> None:
    assert convert_numerals("一德路") == "一德路"  # 路 is not a unit
    assert convert_numerals("七楼") == "7楼"


def test_default_tables_protect_gazetteer_names() -> None:
    assert "三眼井社区" in default_tables().protected
