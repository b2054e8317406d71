"""Synthetic duty roster (roster.csv): every person the router and escalation chain can name.

- one day-shift grid worker per grid: GW-<grid id>, 08:00-20:00 Asia/Shanghai;
- one night-duty worker per community: NW-<community_code>, 20:00-08:00, covering its grids;
- community staff CM-<community_code>, street office staff ST-<street_code>, department staff
  DP-<code> (DP-<code>-<street_code> for street-scoped JDB/JDZF), office hours 08:30-17:30;
- the district command centre (DZZX) around the clock: CC-01 day, CC-02 night, CC-03 supervisor.
Names and phone numbers are synthetic and deterministic (phones 1380000NNNN: obviously not real).
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml

from routing.build_geo import Community, Street, write_csv

logger = logging.getLogger(__name__)

ROSTER_HEADER = (
    "person_id",
    "name",
    "phone",
    "role",
    "scope_type",
    "scope",
    "street_code",
    "department",
    "shift",
    "start",
    "end",
    "timezone",
)
TZ = "Asia/Shanghai"
SURNAMES = "陈李黄张梁林刘吴罗何郑谢冯邓曾彭许苏叶蔡潘杜钟卢朱杨周伍麦关"
GIVEN = "志伟敏婷俊杰丽华明芳建国嘉欣家豪晓东海燕秀英子健淑仪文辉美玲少峰慧珊国强永锋惠玲冠宇雅琪"


def synthetic_name(person_id: str) -> str:
    """A deterministic two- or three-character Chinese name derived from the person id."""
    h = hashlib.sha256(person_id.encode("utf-8")).digest()
    name = SURNAMES[h[0] % len(SURNAMES)] + GIVEN[h[1] % len(GIVEN)]
    return name + GIVEN[h[3] % len(GIVEN)] if h[2] % 3 else name


def load_departments(path: Path) -> list[dict[str, str]]:
    """The 44 departments of the spec, in file order."""
    with path.open(encoding="utf-8") as fh:
        return list(yaml.safe_load(fh)["departments"])


def roster_rows(
    departments: Sequence[dict[str, str]],
    streets: Sequence[Street],
    communities: Sequence[Community],
    grids: Sequence[dict[str, Any]],
) -> list[tuple]:
    """People in a stable order: grid workers, night duty, community, street, departments, command centre."""
    people: list[tuple[str, str, str, str, str, str, str, str, str]] = []
    for g in grids:
        people.append(
            (
                f"GW-{g['grid']}",
                "grid_worker",
                "grid",
                g["grid"],
                g["street_code"],
                "",
                "day",
                "08:00",
                "20:00",
            )
        )
    for c in communities:
        people.append(
            (f"NW-{c.code}", "night_duty", "community", c.code, c.street_code, "", "night", "20:00", "08:00")
        )
    for c in communities:
        people.append(
            (
                f"CM-{c.code}",
                "community_staff",
                "community",
                c.code,
                c.street_code,
                "",
                "office",
                "08:30",
                "17:30",
            )
        )
    for s in streets:
        people.append(
            (f"ST-{s.code}", "street_staff", "street", s.code, s.code, "", "office", "08:30", "17:30")
        )
    for d in departments:
        if d["scope"] == "street":
            for s in streets:
                people.append(
                    (
                        f"DP-{d['code']}-{s.code}",
                        "department_staff",
                        "street",
                        s.code,
                        s.code,
                        d["code"],
                        "office",
                        "08:30",
                        "17:30",
                    )
                )
        else:
            people.append(
                (
                    f"DP-{d['code']}",
                    "department_staff",
                    "district",
                    "440104",
                    "",
                    d["code"],
                    "office",
                    "08:30",
                    "17:30",
                )
            )
    for pid, shift, start, end in (
        ("CC-01", "day", "08:00", "20:00"),
        ("CC-02", "night", "20:00", "08:00"),
        ("CC-03", "office", "08:30", "17:30"),
    ):
        people.append((pid, "command_centre", "district", "440104", "", "DZZX", shift, start, end))
    return [
        (pid, synthetic_name(pid), f"1380000{i:04d}", *rest, TZ)
        for i, (pid, *rest) in enumerate(people, start=1)
    ]


def write_roster(
    out: Path,
    departments_yml: Path,
    streets: Sequence[Street],
    communities: Sequence[Community],
    grids: Sequence[dict[str, Any]],
) -> int:
    """roster.csv; returns the number of people."""
    rows = roster_rows(load_departments(departments_yml), streets, communities, grids)
    if len(rows) > 9999:
        raise ValueError("the synthetic phone pattern 1380000NNNN holds at most 9,999 people")
    write_csv(out / "roster.csv", ROSTER_HEADER, rows)
    return len(rows)
