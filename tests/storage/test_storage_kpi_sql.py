"""The KPIs the console reads (`compute_kpis`, `compute_kpis_by`: SQL aggregation on PostgreSQL) equal the
Python fold over each case's events (`compute_kpis_folded`), figure for figure, on a seeded population of
random lifecycle walks with microsecond times, Shanghai-midnight closures and a clock that sometimes runs back."""

from __future__ import annotations

import random
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from storage.cases import apply_event
from storage.kpi import compute_kpis, compute_kpis_by, compute_kpis_by_folded, compute_kpis_folded
from storage.lifecycle import CaseEvent, CaseState, allowed_events
from storage.models import Case
from tests.storage.conftest import Org, new_case

T0 = datetime(2026, 11, 29, 14, 0, tzinfo=timezone.utc)  # 22:00 in Shanghai: closures straddle midnight


def _payload(event: CaseEvent, other_code: str, rng: random.Random) -> dict[str, object]:
    if event is CaseEvent.RETURN:
        return {"reason": "非本部门职责"}
    if event is CaseEvent.MERGE_DUPLICATE:
        return {"duplicate_of": other_code}
    if event is CaseEvent.CONFIRM:
        return rng.choice([{"rating": rng.randint(1, 5)}, {}, {"rating": None}])
    if event is CaseEvent.ESCALATE:
        return {"reason": rng.choice(["overdue", "manual"]), "stage": "respond"}
    if event is CaseEvent.DISPATCH and rng.random() < 0.3:
        return {"department_key": "SZWH"}
    return {}


def _walk(session: Session, org: Org, rng: random.Random, start: datetime, anchor: str) -> None:
    fields: dict[str, object] = {"auto_dispatch": rng.random() < 0.6}
    if rng.random() < 0.2:
        fields.update(street_code=None, community_code=None, grid_id=None, worker_id=None)
    case = new_case(session, org, start, urgency=rng.choice(["urgent", "normal", "complex"]), **fields)
    now = start
    for _ in range(rng.randint(0, 12)):
        choices = [event for event in allowed_events(CaseState(case.state)) if event is not CaseEvent.REPORT]
        if not choices:
            break
        rare = (CaseEvent.CANCEL, CaseEvent.MERGE_DUPLICATE)
        event = rng.choices(choices, weights=[0.05 if e in rare else 1.0 for e in choices])[0]
        step = timedelta(minutes=rng.randint(1, 600), microseconds=rng.randint(0, 999_999))
        now = now - step / 7 if rng.random() < 0.08 else now + step  # now and then a clock runs back
        apply_event(session, case, event, actor="t", now=now, payload=_payload(event, anchor, rng))


@pytest.fixture()
def population(session: Session, org: Org) -> Org:
    rng = random.Random(20261129)
    anchor = new_case(session, org, T0 - timedelta(days=3))
    for number in range(70):
        start = T0 + timedelta(minutes=rng.randint(-2000, 2000), microseconds=rng.randint(0, 999_999))
        _walk(session, org, rng, start, anchor.code)
        if number % 10 == 0:
            session.commit()
    session.commit()
    assert session.execute(select(func.count()).select_from(Case)).scalar_one() == 71
    return org


RANGES = [
    (None, None),
    (T0 - timedelta(days=1), T0 + timedelta(days=1)),
    (T0 + timedelta(hours=2), T0 + timedelta(hours=26)),  # one Shanghai calendar day
    (T0 - timedelta(hours=5, microseconds=1), T0 + timedelta(seconds=1)),
    (T0 + timedelta(days=30), T0 + timedelta(days=31)),  # nobody
]


@pytest.mark.parametrize(("start", "end"), RANGES)
def test_sql_kpis_equal_the_python_fold(
    session: Session, population: Org, start: object, end: object
) -> None:
    for filters in (
        {},
        {"street_code": population.street},
        {"department_key": "SZWH"},
        {"department_key": "HWZX"},
    ):
        folded = compute_kpis_folded(session, start=start, end=end, **filters)  # type: ignore[arg-type]
        assert compute_kpis(session, start=start, end=end, **filters) == folded  # type: ignore[arg-type]
    whole = compute_kpis_folded(session)
    assert whole.cases == 71 and whole.respond.count > 10 and whole.ratings > 3 and whole.overdue_count > 0


@pytest.mark.parametrize(("start", "end"), RANGES[:3])
@pytest.mark.parametrize("by", ["street", "department"])
def test_sql_kpis_by_group_equal_the_python_fold(
    session: Session, population: Org, by: str, start: object, end: object
) -> None:
    folded = compute_kpis_by_folded(session, by, start=start, end=end)  # type: ignore[arg-type]
    assert compute_kpis_by(session, by, start=start, end=end) == folded  # type: ignore[arg-type]
    assert len(folded) >= 2


def test_sql_kpis_refuse_a_naive_range_and_an_unknown_grouping(session: Session, population: Org) -> None:
    from storage.errors import StorageInputError

    with pytest.raises(StorageInputError, match="timezone-aware"):
        compute_kpis(session, start=datetime(2026, 11, 29))
    with pytest.raises(ValueError, match="street"):
        compute_kpis_by(session, "grid")
