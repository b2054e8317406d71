"""The place lexicon: every surface form a resident may write, mapped to one canonical place.

Shared by the place extractor (bot/nlu/places.py) and text location resolution
(routing/places.py). Built from the generated routing/data files plus the hand list of
colloquial forms in routing/data/place_aliases.yml; the systematic forms are generated here:

- streets: 洪桥街道 / 洪桥街 / 洪桥街道办, and the bare short name where it is not a common word;
- communities: 三眼井社区 / 三眼井社区居委会 / 三眼井居委(会) / 三眼井;
- places: the name, the source's own aliases, the name without the 广州/广州市 prefix, schools
  without their campus in brackets, and metro stations as 公园前站 / 公园前地铁站 / 地铁公园前站.

When two places share a surface, a fixed order decides: hand-listed colloquial forms, then real
names, then the source's aliases, then generated forms; within a level, road > landmark > lake >
metro_station > community > street (北京路 is the road, 东湖 the lake, 东湖站 the station).
"""

from __future__ import annotations

import csv
import json
import logging
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import yaml

logger = logging.getLogger(__name__)

DATA_DIR = Path(__file__).resolve().parent / "data"
PLACE_KINDS = ("road", "landmark", "lake", "metro_station", "community", "street")
LEVELS = ("colloquial", "name", "source alias", "generated")
# Street short names that are ordinary words or other places (北京 the city, 人民, 建设 …):
# only their 街/街道 forms are matched.
AMBIGUOUS_STREET_SHORTS = frozenset({"北京", "人民", "建设", "白云", "东山", "大东"})
# Bare forms that are everyday words or estate/company names in Cantonese-flavoured Chinese.
GENERIC_SURFACES = frozenset(
    {
        "幸福",
        "明月",
        "共和",
        "朝阳",
        "芳草",
        "龙腾",
        "启明",
        "童心",
        "邮电",
        "花苑",
        "铁通",
        "北站",
        "兴隆",
        "乐景",
        "科苑",
        "海傍",
        "东环",
        "东里",
        "云道",
        "许地",
        "深巷",
        "新南",
        "启正",
        "福今",
        "天胜",
        "永福",
    }
)
_BRACKETS = re.compile(r"[(（][^)）]*[)）]")


@dataclass(frozen=True)
class LexiconEntry:
    """One surface form and the canonical place it stands for."""

    surface: str
    kind: str  # one of PLACE_KINDS
    value: str  # street short name, community short name (…社区) or places.csv name
    level: str  # one of LEVELS: why this surface maps to this place

    @property
    def rank(self) -> tuple[int, int]:
        return LEVELS.index(self.level), PLACE_KINDS.index(self.kind)


def _strip_guangzhou(name: str) -> str | None:
    """起义路 from 广州起义路; None when the rest would be generic (广州大道中 → 大道中 is not a name)."""
    for prefix in ("广州市", "广州"):
        if name.startswith(prefix):
            rest = name[len(prefix) :]
            if len(rest) >= 2 and not rest.startswith("大"):
                return rest
    return None


def street_surfaces(short: str, official: str) -> list[tuple[str, str]]:
    """(surface, level) forms of a street."""
    out = [
        (official, "name"),
        (short + "街", "generated"),
        (short + "街道", "generated"),
        (short + "街道办", "generated"),
        (short + "街办", "generated"),
    ]
    if short not in AMBIGUOUS_STREET_SHORTS:
        out.append((short, "generated"))
    return [(form, level) for form, level in out if form != official or level == "name"]


def community_surfaces(short: str, official: str, street_shorts: frozenset[str]) -> list[tuple[str, str]]:
    """(surface, level) forms of a community: 三眼井社区, 三眼井社区居委会, 三眼井居委, 三眼井."""
    stem = short.removesuffix("社区")
    out = [
        (short, "name"),
        (official, "source alias"),
        (stem + "居委会", "generated"),
        (stem + "居委", "generated"),
    ]
    if len(stem) >= 2 and stem not in street_shorts and stem not in GENERIC_SURFACES:
        out.append((stem, "generated"))
    return out


def place_surfaces(kind: str, name: str, aliases: list[str]) -> list[tuple[str, str]]:
    """(surface, level) forms of a places.csv row."""
    out = [(name, "name")] + [(a, "source alias") for a in aliases if a and not a.isascii()]
    for base in [name] + [a for a in aliases if a and not a.isascii()]:
        plain = _BRACKETS.sub("", base)
        if plain != base:
            out.append((plain, "generated"))
        for form in (base, plain):
            stripped = _strip_guangzhou(form)
            if stripped:
                out.append((stripped, "generated"))
    if kind == "metro_station":
        out += [
            (name + "站", "generated"),
            (name + "地铁站", "generated"),
            ("地铁" + name + "站", "generated"),
            ("地铁" + name, "generated"),
        ]
    return out


def _read_properties(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8") as fh:
        return [f["properties"] for f in json.load(fh)["features"]]


def _kind_of(row: dict[str, str]) -> str | None:
    if row["kind"] == "other":
        return None if row["name"].endswith("社区") else "lake"
    return row["kind"]


def build_lexicon(data_dir: Path = DATA_DIR) -> dict[str, LexiconEntry]:
    """surface → entry, resolving shared surfaces by level, then kind (see module docstring)."""
    candidates: list[LexiconEntry] = []
    streets = _read_properties(data_dir / "streets.geojson")
    shorts = frozenset(s["street"] for s in streets)
    for s in streets:
        candidates += [
            LexiconEntry(f, "street", s["street"], lvl) for f, lvl in street_surfaces(s["street"], s["name"])
        ]
    for c in _read_properties(data_dir / "communities.geojson"):
        candidates += [
            LexiconEntry(f, "community", c["community"], lvl)
            for f, lvl in community_surfaces(c["community"], c["name"], shorts)
        ]
    with (data_dir / "places.csv").open(encoding="utf-8", newline="") as fh:
        for row in csv.DictReader(fh):
            kind = _kind_of(row)
            if kind:
                candidates += [
                    LexiconEntry(f, kind, row["name"], lvl)
                    for f, lvl in place_surfaces(kind, row["name"], row["aliases"].split("|"))
                ]
    with (data_dir / "place_aliases.yml").open(encoding="utf-8") as fh:
        for a in yaml.safe_load(fh)["aliases"]:
            candidates.append(LexiconEntry(a["alias"], a["kind"], a["name"], "colloquial"))
    lexicon: dict[str, LexiconEntry] = {}
    for e in sorted(candidates, key=lambda e: (e.rank, e.surface, e.value)):
        if len(e.surface) >= 2 and e.surface not in GENERIC_SURFACES:
            lexicon.setdefault(e.surface, e)
    return lexicon


@lru_cache(maxsize=4)
def load_lexicon(data_dir: Path = DATA_DIR) -> dict[str, LexiconEntry]:
    """The lexicon over routing/data, built once per process."""
    return build_lexicon(data_dir)
