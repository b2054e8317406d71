"""KPIs from a small hand-built event history, checked against values computed by hand."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
from freezegun import freeze_time
from sqlalchemy.orm import Session

from storage.cases import apply_event
from storage.kpi import StageTimes, compute_kpis, percentile_nearest_rank
from storage.lifecycle import CaseEvent as E
from storage.timeutil import utcnow
from tests.storage.conftest import Org, new_case

SH = ZoneInfo("Asia/Shanghai")


def at(day: int, hour: int, minute: int = 0, month: int = 11) -> datetime:
    return datetime(2026, month, day, hour, minute, tzinfo=SH)


def play(
    session: Session,
    org: Org,
    reported: datetime,
    steps: list[tuple[datetime, E, dict[str, object]]],
    **fields: object,
) -> None:
    with freeze_time(reported) as clock:
        case = new_case(session, org, utcnow(), **fields)
        for when, event, payload in steps:
            clock.move_to(when)
            apply_event(session, case, event, actor="t", now=utcnow(), payload=payload)
    session.commit()


@pytest.fixture()
def history(session: Session, org: Org) -> Org:
    # A: the full chain on one day, rated 5.
    play(
        session,
        org,
        at(30, 9),
        [
            (at(30, 9, 10), E.RESPOND, {}),
            (at(30, 9, 20), E.DISPATCH, {}),
            (at(30, 9, 40), E.SIGN, {}),
            (at(30, 11, 40), E.HANDLE, {}),
            (at(30, 12), E.CONFIRM, {"rating": 5}),
        ],
    )
    # B: settled on site, reopened, settled again, confirmed the next day with 3. Not auto-dispatched.
    play(
        session,
        org,
        at(30, 10),
        [
            (at(30, 10, 30), E.RESPOND, {}),
            (at(30, 11), E.HANDLE_ON_SITE, {}),
            (at(30, 12), E.REOPEN, {}),
            (at(30, 13), E.HANDLE_ON_SITE, {}),
            (at(1, 9, month=12), E.CONFIRM, {"rating": 3}),
        ],
        auto_dispatch=False,
    )
    # C: reported 23:30 (15:30 UTC), overdue, returned and re-dispatched, closed 04:00 next Shanghai day
    # (20:00 UTC: the same UTC day, so a UTC-day KPI would wrongly count it as same-day).
    play(
        session,
        org,
        at(30, 23, 30),
        [
            (at(1, 0, 30, month=12), E.ESCALATE, {"reason": "overdue", "stage": "respond", "level": 1}),
            (at(1, 0, 40, month=12), E.RESPOND, {}),
            (at(1, 0, 50, month=12), E.DISPATCH, {}),
            (at(1, 1, month=12), E.RETURN, {"reason": "路灯归市政"}),
            (at(1, 1, 10, month=12), E.DISPATCH, {"department_key": "SZWH"}),
            (at(1, 1, 30, month=12), E.SIGN, {}),
            (at(1, 3, 30, month=12), E.HANDLE, {}),
            (at(1, 4, month=12), E.CONFIRM, {"rating": 4}),
        ],
    )
    # D: cancelled at once.
    play(session, org, at(30, 8), [(at(30, 8, 5), E.CANCEL, {})])
    # E: the day before, outside the range below.
    play(session, org, at(29, 12), [(at(29, 12, 1), E.RESPOND, {})], auto_dispatch=False)
    return org


def test_kpis_over_a_day_match_the_hand_computation(session: Session, history: Org) -> None:
    kpis = compute_kpis(session, start=at(30, 0), end=at(1, 0, month=12))
    assert kpis.cases == 4
    assert kpis.same_day_closure_rate == pytest.approx(1 / 4)  # A only
    assert kpis.auto_dispatch_rate == pytest.approx(3 / 4)  # A, C, D
    assert kpis.handoffs_per_case == pytest.approx((1 + 0 + 3 + 0) / 4)
    assert kpis.respond == StageTimes(count=3, median_s=1800.0, p90_s=4200.0)  # 600, 1800, 4200
    assert kpis.dispatch == StageTimes(count=2, median_s=2400.0, p90_s=3000.0)  # 1800, 3000
    assert kpis.handle == StageTimes(count=3, median_s=7200.0, p90_s=7200.0)  # 7200, 1800 (on site), 7200
    assert kpis.overdue_count == 1
    assert (kpis.satisfaction, kpis.ratings) == (pytest.approx(4.0), 3)
    assert kpis.reopen_rate == pytest.approx(1 / 3)  # B of the handled A, B, C


def test_kpi_filters_by_department_street_and_open_range(session: Session, history: Org) -> None:
    szwh = compute_kpis(session, department_key="SZWH")
    assert (szwh.cases, szwh.handoffs_per_case, szwh.overdue_count) == (1, 3.0, 1)
    assert compute_kpis(session, street_code=history.street).cases == 5
    assert compute_kpis(session, street_code="440104999").cases == 0
    everything = compute_kpis(session)
    assert everything.cases == 5 and everything.auto_dispatch_rate == pytest.approx(3 / 5)
    assert everything.to_dict()["respond"]["count"] == 4


def test_an_empty_population_gives_none_not_zero(session: Session) -> None:
    kpis = compute_kpis(session)
    assert kpis.cases == 0 and kpis.same_day_closure_rate is None and kpis.satisfaction is None
    assert kpis.respond == StageTimes(count=0, median_s=None, p90_s=None)


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        ([], None),
        ([5.0], 5.0),
        ([1.0, 2.0], 2.0),
        ([float(v) for v in range(1, 11)], 9.0),
        ([float(v) for v in range(1, 12)], 10.0),
    ],
)
def test_p90_is_nearest_rank(values: list[float], expected: float | None) -> None:
    assert percentile_nearest_rank(values, 0.9) == expected


def test_kpis_by_department_split_the_population(session: Session, history: Org) -> None:
    from storage.kpi import compute_kpis_by

    by_department = compute_kpis_by(session, "department", start=at(30, 0), end=at(1, 0, month=12))
    assert {key: k.cases for key, k in by_department.items()} == {"HWZX": 3, "SZWH": 1}
    assert by_department["SZWH"].handoffs_per_case == 3.0
    assert by_department["HWZX"].satisfaction == pytest.approx(4.0)  # A 5, B 3
    by_street = compute_kpis_by(session, "street")
    assert {key: k.cases for key, k in by_street.items()} == {history.street: 5}
    with pytest.raises(ValueError, match="street"):
        compute_kpis_by(session, "grid")
