"""KPIs over a seeded month of synthetic cases match a hand computation (through `/api/kpis` over HTTP).

November 2026, days 1-28, five cases a day at 09:00/09:07/09:14/09:21/09:28 (Asia/Shanghai), one of each kind
(minutes after the report):

| kind | street | department | events | same-day closed | rating |
|---|---|---|---|---|---|
| 0 | 洪桥 | HWZX | respond 10, dispatch 15, sign 40, handle 120, confirm 180 | yes | 5 |
| 1 | 北京 | HWZX | respond 20, dispatch 25, sign 60, handle 20 h, confirm 26 h | no (next day) | 3 |
| 2 | 洪桥 | HWZX | respond 5, handle_on_site 30, confirm 45 | yes | 4 |
| 3 | 北京 | HWZX -> SZWH | respond 10, dispatch 12, return 30, dispatch 40 (SZWH), sign 50, handle 200 | no | - |
| 4 | 洪桥 | SWJ | respond 15, dispatch 16, sign 30, handle 60, reopen 90, escalate(overdue) 95, dispatch 100 | no | - |

A case is auto-dispatched unless its index (day-1)*5+kind is a multiple of 7. One more case on 31 October
23:50 lies outside the month.
"""

from __future__ import annotations

from datetime import datetime

import httpx
import pytest
from freezegun import freeze_time

from storage.timeutil import SHANGHAI
from tests.web.case_factory import make_case, walk
from tests.web.conftest import BEIJING, HONGQIAO

NOW = datetime(2026, 11, 29, 12, 0, tzinfo=SHANGHAI)  # a Sunday
H = 60
KINDS = [
    (HONGQIAO, "HWZX", walk(("respond", 10), ("dispatch", 15, {"department_key": "HWZX"}), ("sign", 40),
                            ("handle", 120), ("confirm", 180, {"rating": 5}))),
    (BEIJING, "HWZX", walk(("respond", 20), ("dispatch", 25, {"department_key": "HWZX"}), ("sign", 60),
                           ("handle", 20 * H), ("confirm", 26 * H, {"rating": 3}))),
    (HONGQIAO, "HWZX", walk(("respond", 5), ("handle_on_site", 30), ("confirm", 45, {"rating": 4}))),
    (BEIJING, "HWZX", walk(("respond", 10), ("dispatch", 12, {"department_key": "HWZX"}),
                           ("return", 30, {"reason": "唔系我哋"}), ("dispatch", 40, {"department_key": "SZWH"}),
                           ("sign", 50), ("handle", 200))),
    (HONGQIAO, "SWJ", walk(("respond", 15), ("dispatch", 16, {"department_key": "SWJ"}), ("sign", 30),
                           ("handle", 60), ("reopen", 90), ("escalate", 95, {"reason": "overdue"}),
                           ("dispatch", 100, {"department_key": "SWJ"}))),
]


@pytest.fixture()
def seeded_month(console, session_factory) -> None:
    for day in range(1, 29):
        for kind, (street, department, steps) in enumerate(KINDS):
            index = (day - 1) * 5 + kind
            make_case(session_factory, datetime(2026, 11, day, 9, 7 * kind, tzinfo=SHANGHAI), street=street,
                      department=department, auto_dispatch=index % 7 != 0, steps=steps)
    make_case(session_factory, datetime(2026, 10, 31, 23, 50, tzinfo=SHANGHAI), steps=KINDS[0][2])


def _request(console, **params: str) -> httpx.Response:
    # The session is made and used at the frozen NOW: made there and used at the real time, it would
    # have expired (or not) depending on when the suite runs.
    with freeze_time(NOW, ignore=["asyncio", "threading", "sanic"]):
        return console.login("centre").get("/api/kpis", params=params)


def _get(console, **params: str) -> dict:
    response = _request(console, **params)
    assert response.status_code == 200, response.text
    return response.json()


def test_month_kpis_match_the_hand_computation(console, seeded_month) -> None:
    body = _get(console, period="month")
    assert body["start"] == "2026-11-01T00:00:00+08:00" and body["end"] == "2026-11-29T12:00:00+08:00"
    kpis = body["kpis"]
    assert kpis["cases"] == 140  # 28 days x 5; the 31 October case is outside
    assert kpis["same_day_closure_rate"] == pytest.approx(56 / 140)  # kinds 0 and 2
    assert kpis["auto_dispatch_rate"] == pytest.approx(120 / 140)  # 20 of the indices 0..139 divide by 7
    assert kpis["handoffs_per_case"] == pytest.approx(28 * (1 + 1 + 0 + 3 + 2) / 140)  # dispatch/return hops
    # respond: 5 (28x), 10 (56x), 15 (28x), 20 (28x) minutes -> median 10, p90 (rank 126) 20
    assert kpis["respond"] == {"count": 140, "median_s": 600.0, "p90_s": 1200.0}
    # respond -> sign: 15 (kind 4), 30 (kind 0), 40 (kinds 1, 3) minutes; kind 2 never signs
    assert kpis["dispatch"] == {"count": 112, "median_s": 35 * 60.0, "p90_s": 40 * 60.0}
    # sign -> handle 80, 1140, 150, 30 min; respond -> on-site 25 min: median 80 min, p90 1140 min
    assert kpis["handle"] == {"count": 140, "median_s": 80 * 60.0, "p90_s": 1140 * 60.0}
    assert kpis["overdue_count"] == 28
    assert kpis["satisfaction"] == pytest.approx((5 + 3 + 4) / 3) and kpis["ratings"] == 84
    assert kpis["reopen_rate"] == pytest.approx(28 / 140)
    assert body["baseline"]["same_day_closure_rate"] == 0.788


def test_week_and_today_windows_league_table_and_streets(console, seeded_month) -> None:
    """One seeding for several views (seeding 141 cases through the repository takes a while)."""
    week = _get(console, period="week")
    assert week["start"] == "2026-11-23T00:00:00+08:00"  # the Monday
    assert week["kpis"]["cases"] == 30  # 23-28 November
    today = _get(console, period="today")["kpis"]
    assert today["cases"] == 0 and today["same_day_closure_rate"] is None and today["respond"]["median_s"] is None
    assert _request(console, period="year").status_code == 400
    league = _get(console, period="month", by="department")["groups"]
    assert [(row["rank"], row["key"], row["kpis"]["cases"]) for row in league] == [
        (1, "HWZX", 84), (2, "SZWH", 28), (3, "SWJ", 28)]  # SZWH before SWJ: no overdue cases
    assert league[0]["name"] == "区环境卫生事务中心"
    assert league[0]["kpis"]["same_day_closure_rate"] == pytest.approx(56 / 84)
    streets = {row["key"]: row["kpis"] for row in _get(console, period="month", by="street")["groups"]}
    assert streets[HONGQIAO]["cases"] == 84 and streets[HONGQIAO]["same_day_closure_rate"] == pytest.approx(56 / 84)
    assert streets[BEIJING]["cases"] == 56 and streets[BEIJING]["same_day_closure_rate"] == 0.0
    assert _request(console, by="grid").status_code == 400
