"""Resident conversations for the load and replay benchmarks: report -> location -> confirm.

Problem texts are grid-event phrasings (what Yuexiu's grid workers log most: garbage, manholes, street
lights, parking, noise, drains ...), written the way residents type them, and places are real Yuexiu
addresses from `routing/data/addresses.csv` (house numbers inside each row's range, its point for a
WeChat location message). Three shapes, all ending with the resident's 对 to the read-back:
- text, then the place typed ("在越华路12号");
- text, then a WeChat location message;
- text with the place in it (two turns).
"""

from __future__ import annotations

import csv
import functools
import logging
import random
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from routing.coords import wgs84_to_gcj02
from tests.bench.wechat_load import Turn

logger = logging.getLogger(__name__)

ADDRESSES = Path(__file__).resolve().parents[2] / "routing" / "data" / "addresses.csv"
PROBLEMS = (
    "门口垃圾堆了三天没人清，好臭",
    "个井盖冇咗，好危险",
    "路灯坏咗几晚，黑麻麻",
    "有人乱停车，堵住消防通道",
    "下水道堵塞，污水漫出来",
    "大树枝断了挂在电线上",
    "夜晚工地施工好嘈，瞓唔着",
    "人行道地砖松动，有老人家跌倒",
    "有流动摊贩占道经营",
    "垃圾桶满晒冇人收",
    "墙上贴满小广告",
    "路面塌陷咗一个大洞",
    "绿化带有人倒建筑垃圾",
    "自来水管爆裂，水流满街",
    "共享单车乱摆，挡住盲道",
)
CONFIRM = "对"
FIRST_CHOICE = "1"  # the answer to "您说的地方有几处，请问是哪一个？回复序号即可"
SHAPES = ("typed_place", "location_message", "place_in_text")


@dataclass(frozen=True)
class Address:
    """One side of one road stretch: a typed form and a point inside its grid."""

    road: str
    numbers: tuple[int, ...]
    lat: float
    lng: float

    def typed(self, rng: random.Random) -> str:
        return f"{self.road}{rng.choice(self.numbers)}号"


@functools.lru_cache(maxsize=1)
def addresses() -> tuple[Address, ...]:
    """Every address stretch with at least one house number."""
    found = []
    with open(ADDRESSES, encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            first, last = int(row["from_no"]), int(row["to_no"])
            numbers = tuple(range(first, last + 1, 2 if row["side"] in ("odd", "even") else 1))
            if numbers:
                found.append(Address(row["road"], numbers, float(row["lat"]), float(row["lng"])))
    return tuple(found)


def conversation(rng: random.Random, shape: str | None = None) -> list[Turn]:
    """One resident's report conversation, drawn from the problems, addresses and shapes."""
    problem = rng.choice(PROBLEMS)
    address = rng.choice(addresses())
    shape = shape or rng.choice(SHAPES)
    if shape == "typed_place":
        return [Turn(text=problem), Turn(text=f"在{address.typed(rng)}"), Turn(text=CONFIRM)]
    if shape == "location_message":  # WeChat sends GCJ-02; the address points are WGS-84
        lat, lng = wgs84_to_gcj02(address.lat, address.lng)
        location = Turn(lat=round(lat, 6), lng=round(lng, 6), label=address.road)
        return [Turn(text=problem), location, Turn(text=CONFIRM)]
    if shape == "place_in_text":
        return [Turn(text=f"{address.typed(rng)}{problem}"), Turn(text=CONFIRM)]
    raise ValueError(f"unknown conversation shape {shape!r}")


def conversation_pool(count: int, seed: int) -> Sequence[list[Turn]]:
    """`count` conversations drawn with one seed (the load generator picks among them)."""
    rng = random.Random(seed)
    return [conversation(rng) for _ in range(count)]
