"""Text normalisation for residents' messages: the pure function behind the `TextNormaliser` component.

Residents write colloquial, often Cantonese-flavoured Chinese with full-width characters, traditional
characters, emoji and runs of punctuation. `normalise` rewrites such text into plain simplified
Mandarin so that the tokenizer, DIET and the category classifier see one vocabulary:

1. full-width ASCII -> half-width, ideographic space -> space;
2. Cantonese words -> Mandarin (data table `data/cantonese.yml`, longest match first, so 唔该 or 关系
   are never split into 唔/系), applied before OpenCC so that 係 is still distinguishable from 系;
3. traditional -> simplified (OpenCC `t2s`), then the Cantonese table once more;
4. meaningful emoji -> words (👍 -> 好, 🔥 -> 火), other emoji removed, ⭐⭐⭐ -> 3星;
5. runs of punctuation collapsed to their first character, whitespace collapsed;
6. Chinese numerals followed by a unit (五楼, 两个月, 十一点, 五分) -> digits with cn2an, never
   inside a protected place name (一德路, 三眼井, 五羊新城) and never in words such as 十分 or 一点;
7. case codes typed loosely (yx20261129 0007) -> YX-20261129-0007.
"""

from __future__ import annotations

import csv
import functools
import logging
import os
import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import cn2an
import yaml
from opencc import OpenCC

logger = logging.getLogger(__name__)

DATA_DIR = Path(__file__).resolve().parent / "data"
CANTONESE_TABLE = DATA_DIR / "cantonese.yml"
REPO_ROOT = Path(__file__).resolve().parents[2]

_NUMERAL_CHARS = "零〇一二两三四五六七八九十百千万"
_UNITS = (
    "号楼|号|栋|座|单元|层|楼|室|房|星|岁|公里|米|块钱|块|元|个月|个小时|个钟|个人|个|天|次|年级|年|月|日|"
    "点钟|点半|点|分钟|分|小时|周|辆|架|台|只|条|棵|间|户|位|名|趟|路车"
)
_NUMERAL_RE = re.compile(f"([{_NUMERAL_CHARS}]+)(?=({_UNITS}))")
# numeral + unit pairs that are words, not quantities (十分满意, 快一点, 一点都不)
_NUMERAL_WORDS = frozenset({"十分", "万分", "百分", "一点", "一分", "一天到晚", "一次性", "一楼一"})
_CASE_CODE_RE = re.compile(r"(?i)(?<![A-Za-z0-9])yx[\s_\-—]*(\d{8})[\s_\-—]*(\d{4})(?![0-9])")
_STARS_RE = re.compile("[⭐🌟★☆]+")
_PUNCT_RUN_RE = re.compile(r"([!?,.;:~、。，！？；：…～·\-—_*#])[!?,.;:~、。，！？；：…～·\-—_*#]+")
_SPACE_RE = re.compile(r"\s+")
# emoji blocks, dingbats, variation selectors, zero-width joiner, skin tones, keycaps
_EMOJI_RE = re.compile(
    "[\U0001f000-\U0001faff\U00002600-\U000027bf\U0001f1e6-\U0001f1ff\U00002b00-\U00002bff"
    "\ufe0e\ufe0f\u200d\u20e3\U000e0020-\U000e007f]"
)


@dataclass(frozen=True)
class NormaliserTables:
    """The data `normalise` works from: word map (keep-words map to themselves), emoji map, protected words."""

    words: dict[str, str]
    lengths: dict[str, tuple[int, ...]]
    emoji: dict[str, str]
    protected: frozenset[str]
    numeral_places: re.Pattern[str] | None = None


def load_cantonese_table(path: Path = CANTONESE_TABLE) -> tuple[dict[str, str], dict[str, str]]:
    """Read the Cantonese table: (word map incl. keep-words and traditional variants, emoji map).

    Raises:
        ValueError: when the file lacks the `replace` mapping.
    """
    raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    if not isinstance(raw.get("replace"), dict):
        raise ValueError(f"{path}: expected a 'replace' mapping")
    s2t = OpenCC("s2t")
    words: dict[str, str] = {}
    for source, target in raw["replace"].items():
        words[str(source)] = str(target)
        words.setdefault(s2t.convert(str(source)), str(target))
    for word in raw.get("keep") or ():
        words[str(word)] = str(word)
        words.setdefault(s2t.convert(str(word)), s2t.convert(str(word)))
    emoji = {str(k): str(v) for k, v in (raw.get("emoji") or {}).items()}
    return words, emoji


def _shared_data_dir() -> Path:
    env = os.environ.get("GRIDSEC_SHARED_DATA")
    return Path(env) if env else REPO_ROOT.parent / "shared" / "data"


def gazetteer_names(data_dir: Path | None = None) -> list[str]:
    """Street, community and place names (with aliases) from ../shared/data, for protection and jieba."""
    data_dir = data_dir or _shared_data_dir()
    names: set[str] = set()
    gazetteer = data_dir / "yuexiu_gazetteer.csv"
    if gazetteer.exists():
        with gazetteer.open(encoding="utf-8") as handle:
            for row in csv.DictReader(handle):
                community = row["community_short"]
                names.update({row["street_name"], row["street_short"], row["street_short"] + "街", community})
                names.add(community.removesuffix("社区"))
    places = data_dir / "yuexiu_places.csv"
    if places.exists():
        with places.open(encoding="utf-8") as handle:
            for row in csv.DictReader(handle):
                names.add(row["name"])
                names.update(a for a in (row.get("aliases") or "").split("|") if _has_cjk(a))
    return sorted(n for n in names if len(n) >= 2)


def _has_cjk(text: str) -> bool:
    return any("\u4e00" <= ch <= "\u9fff" for ch in text)


def place_words() -> list[str]:
    """Place names to protect: the place extractor's lexicon when available, plus the gazetteer."""
    words = set(gazetteer_names())
    try:
        from bot.nlu.places import place_lexicon
    except ImportError:
        logger.info("bot.nlu.places not available; protecting gazetteer names only")
    else:
        words.update(w for w in place_lexicon() if len(w) >= 2)
    return sorted(words)


@functools.lru_cache(maxsize=1)
def default_tables() -> NormaliserTables:
    """The tables from the committed data files and the place lexicon (loaded once per process)."""
    return build_tables(place_words())


def build_tables(protected: Iterable[str] = (), path: Path = CANTONESE_TABLE) -> NormaliserTables:
    """Build tables from the Cantonese data file and the given protected words (place names)."""
    words, emoji = load_cantonese_table(path)
    protected_set = frozenset(protected)
    relevant_chars = set("".join(words)) | set(_NUMERAL_CHARS)
    for word in protected_set:
        # a place name that contains a mapped or numeral character must survive untouched
        if relevant_chars.intersection(word):
            words[word] = word
    with_numerals = sorted(
        (w for w in protected_set if any(c in _NUMERAL_CHARS for c in w)), key=len, reverse=True
    )
    numeral_places = re.compile("|".join(map(re.escape, with_numerals))) if with_numerals else None
    return NormaliserTables(words, word_lengths(words), emoji, protected_set, numeral_places)


@functools.lru_cache(maxsize=1)
def _t2s() -> OpenCC:
    return OpenCC("t2s")


def to_half_width(text: str) -> str:
    """Full-width ASCII (U+FF01..U+FF5E) and the ideographic space to their half-width forms."""
    out = []
    for ch in text:
        code = ord(ch)
        if 0xFF01 <= code <= 0xFF5E:
            out.append(chr(code - 0xFEE0))
        elif code == 0x3000:
            out.append(" ")
        else:
            out.append(ch)
    return "".join(out)


def replace_words(text: str, words: dict[str, str], lengths: dict[str, tuple[int, ...]]) -> str:
    """Longest-match-first replacement scanning left to right (multi-character entries win).

    Args:
        text: the text to rewrite.
        words: source word -> replacement (keep-words map to themselves).
        lengths: for each first character, the key lengths to try, longest first (`word_lengths`).
    """
    out: list[str] = []
    i, n = 0, len(text)
    while i < n:
        for size in lengths.get(text[i], ()):
            target = words.get(text[i : i + size]) if i + size <= n else None
            if target is not None:
                out.append(target)
                i += size
                break
        else:
            out.append(text[i])
            i += 1
    return "".join(out)


def word_lengths(words: Iterable[str]) -> dict[str, tuple[int, ...]]:
    """Candidate key lengths (longest first) for each first character."""
    lengths: dict[str, set[int]] = {}
    for word in words:
        lengths.setdefault(word[0], set()).add(len(word))
    return {ch: tuple(sorted(sizes, reverse=True)) for ch, sizes in lengths.items()}


def replace_emoji(text: str, emoji: dict[str, str]) -> str:
    """Stars become a count (⭐⭐⭐ -> 3星), mapped emoji become words, the rest disappear."""
    text = _STARS_RE.sub(lambda m: f"{len(m.group(0))}星", text)
    for symbol, word in emoji.items():
        if symbol in text:
            text = re.sub(f"(?:{re.escape(symbol)}\ufe0f?)+", word, text)
    return _EMOJI_RE.sub("", text)


def convert_numerals(text: str, numeral_places: re.Pattern[str] | None = None) -> str:
    """Chinese numerals followed by a unit -> Arabic digits (五楼 -> 5楼), sparing place names and words.

    Args:
        text: text already in simplified, half-width form.
        numeral_places: alternation of protected place names that contain numerals (一德路, 五羊新城).
    """
    spans = [m.span() for m in numeral_places.finditer(text)] if numeral_places else []

    def convert(match: re.Match[str]) -> str:
        numeral, unit = match.group(1), match.group(2)
        start, end = match.span(1)
        if any(s < end and start < e for s, e in spans):
            return numeral
        if numeral + unit in _NUMERAL_WORDS or text[start : start + 4] in _NUMERAL_WORDS:
            return numeral
        try:
            return str(cn2an.cn2an(numeral, "smart"))
        except (ValueError, KeyError, IndexError):
            return numeral

    return _NUMERAL_RE.sub(convert, text)


def normalise(text: str, tables: NormaliserTables | None = None) -> str:
    """Rewrite a resident's message into plain simplified Mandarin (see the module docstring).

    Args:
        text: the message as typed.
        tables: the word/emoji/protected tables; default: the committed data files + place lexicon.

    Returns:
        The normalised text (may be empty when the message was only emoji).
    """
    tables = tables or default_tables()
    text = unicodedata.normalize("NFC", text)
    text = to_half_width(text)
    text = replace_emoji(text, tables.emoji)
    text = replace_words(text, tables.words, tables.lengths)
    text = _t2s().convert(text)
    text = replace_words(text, tables.words, tables.lengths)
    text = _PUNCT_RUN_RE.sub(r"\1", text)
    text = _SPACE_RE.sub(" ", text).strip()
    text = convert_numerals(text, tables.numeral_places)
    return _CASE_CODE_RE.sub(lambda m: f"YX-{m.group(1)}-{m.group(2)}", text)
