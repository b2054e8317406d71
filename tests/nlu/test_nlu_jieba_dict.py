"""The committed jieba user dictionary is generated and fresh."""

from __future__ import annotations

from bot.nlu.jieba_dict import USER_DICT, USER_DICT_DIR, build_user_dict, domain_words


def test_committed_user_dict_is_fresh() -> None:
    assert USER_DICT.read_text(encoding="utf-8") == build_user_dict(), (
        "bot/nlu/data/jieba/user_dict.txt is stale: run `.venv/bin/python -m bot.nlu.jieba_dict` and commit it"
    )


def test_user_dict_directory_holds_only_the_dictionary() -> None:
    # JiebaTokenizer loads every file in dictionary_path
    assert sorted(p.name for p in USER_DICT_DIR.iterdir()) == ["user_dict.txt"]


def test_user_dict_has_places_and_domain_words() -> None:
    words = {line.split(" ")[0] for line in build_user_dict().splitlines()}
    assert {"三眼井社区", "洪桥", "一德路"} <= words
    assert set(domain_words()) <= words
    assert all(" " not in w and w for w in words)
