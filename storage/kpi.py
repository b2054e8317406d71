"""Command-centre KPIs, computed from the case event history only.

Population: the cases whose `report` event falls in [start, end), optionally of one street or one
(current) department. Definitions:

- same_day_closure_rate: cases closed (resident `confirm`) on the Asia/Shanghai calendar day they
  were reported, over cases reported;
- auto_dispatch_rate: cases whose `report` event says auto_dispatch, over cases reported;
- handoffs_per_case: dispatch + return + triage events (each a hop between owners), over cases;
- stage times in seconds, median and p90 (nearest rank): respond = report -> first respond;
  dispatch = first respond -> first sign; handle = first sign -> first handle, or for a case settled
  on site, first respond -> first handle_on_site;
- overdue_count: cases with at least one scheduler escalation (payload reason "overdue");
- satisfaction: mean of the ratings given with `confirm` events;
- reopen_rate: cases reopened at least once, over cases that were handled at least once.
A rate or statistic with an empty population is None, never 0.

On PostgreSQL the figures come from one SQL aggregate (storage.kpi_sql), fast at district-year scale;
the Python fold over each case's events (`compute_kpis_folded`) is the reference it must equal.
"""

from __future__ import annotations

import logging
import math
import statistics
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from storage import kpi_sql
from storage.lifecycle import CaseEvent
from storage.models import Case, CaseEventRecord
from storage.timeutil import require_aware, shanghai_date

logger = logging.getLogger(__name__)

E = CaseEvent
HOP_EVENTS = {E.DISPATCH.value, E.RETURN.value, E.TRIAGE.value}
HANDLED_EVENTS = {E.HANDLE.value, E.HANDLE_ON_SITE.value}


@dataclass(frozen=True)
class StageTimes:
    """Median and 90th percentile (nearest rank) in seconds, over `count` cases."""

    count: int
    median_s: float | None
    p90_s: float | None


@dataclass(frozen=True)
class Kpis:
    """The KPI figures for one population of cases (see the module docstring for definitions)."""

    cases: int
    same_day_closure_rate: float | None
    auto_dispatch_rate: float | None
    handoffs_per_case: float | None
    respond: StageTimes
    dispatch: StageTimes
    handle: StageTimes
    overdue_count: int
    satisfaction: float | None
    ratings: int
    reopen_rate: float | None

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready dict (for the console API)."""
        return asdict(self)


def percentile_nearest_rank(values: list[float], fraction: float) -> float | None:
    """The nearest-rank percentile: the ceil(fraction * n)-th smallest value; None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(math.ceil(fraction * len(ordered)), 1) - 1]


def stage_times(values: list[float]) -> StageTimes:
    """Median and p90 of a list of durations in seconds."""
    return StageTimes(
        count=len(values),
        median_s=float(statistics.median(values)) if values else None,
        p90_s=percentile_nearest_rank(values, 0.9),
    )


def _ratio(numerator: float, denominator: int) -> float | None:
    return numerator / denominator if denominator else None


def _first(events: list[CaseEventRecord], names: set[str]) -> CaseEventRecord | None:
    return next((record for record in events if record.event in names), None)


def _seconds(later: CaseEventRecord | None, earlier: CaseEventRecord | None) -> float | None:
    if later is None or earlier is None:
        return None
    return (later.at - earlier.at).total_seconds()


def _population(
    session: Session,
    start: datetime | None,
    end: datetime | None,
    street_code: str | None,
    department_key: str | None,
) -> dict[int, list[CaseEventRecord]]:
    reports = select(CaseEventRecord.case_id).join(Case, Case.id == CaseEventRecord.case_id)
    reports = reports.where(CaseEventRecord.event == E.REPORT.value)
    if start is not None:
        reports = reports.where(CaseEventRecord.at >= require_aware(start, "start"))
    if end is not None:
        reports = reports.where(CaseEventRecord.at < require_aware(end, "end"))
    if street_code is not None:
        reports = reports.where(Case.street_code == street_code)
    if department_key is not None:
        reports = reports.where(Case.department_key == department_key)
    rows = session.execute(
        select(CaseEventRecord)
        .where(CaseEventRecord.case_id.in_(reports.scalar_subquery()))
        .order_by(CaseEventRecord.case_id, CaseEventRecord.seq)
    ).scalars()
    by_case: dict[int, list[CaseEventRecord]] = defaultdict(list)
    for record in rows:
        by_case[record.case_id].append(record)
    return by_case


def compute_kpis(
    session: Session,
    *,
    start: datetime | None = None,
    end: datetime | None = None,
    street_code: str | None = None,
    department_key: str | None = None,
) -> Kpis:
    """The KPIs over cases reported in [start, end), optionally one street's or one department's.

    On PostgreSQL one aggregate query (storage.kpi_sql) does the work; elsewhere (SQLite) the event
    histories are folded in Python by `compute_kpis_folded`. Both give identical figures.
    """
    if not _in_database(session):
        return compute_kpis_folded(
            session, start=start, end=end, street_code=street_code, department_key=department_key
        )
    groups = kpi_sql.aggregate(
        session, start=_aware(start, "start"), end=_aware(end, "end"), street_code=street_code,
        department_key=department_key,
    )  # fmt: skip
    return _from_group(groups[None]) if None in groups else kpis_from_histories(())


def compute_kpis_by(
    session: Session, by: str, *, start: datetime | None = None, end: datetime | None = None
) -> dict[str | None, Kpis]:
    """The KPIs per street (`by="street"`, keyed by street code) or per current department key."""
    if by not in ("street", "department"):
        raise ValueError(f"by must be 'street' or 'department', got {by!r}")
    if not _in_database(session):
        return compute_kpis_by_folded(session, by, start=start, end=end)
    groups = kpi_sql.aggregate(session, start=_aware(start, "start"), end=_aware(end, "end"), by=by)
    return {key: _from_group(group) for key, group in groups.items()}


def compute_kpis_folded(
    session: Session,
    *,
    start: datetime | None = None,
    end: datetime | None = None,
    street_code: str | None = None,
    department_key: str | None = None,
) -> Kpis:
    """`compute_kpis` by loading every event of the population and folding it in Python (the reference)."""
    return kpis_from_histories(_population(session, start, end, street_code, department_key).values())


def compute_kpis_by_folded(
    session: Session, by: str, *, start: datetime | None = None, end: datetime | None = None
) -> dict[str | None, Kpis]:
    """`compute_kpis_by` by the Python fold (the reference)."""
    column = {"street": Case.street_code, "department": Case.department_key}.get(by)
    if column is None:
        raise ValueError(f"by must be 'street' or 'department', got {by!r}")
    by_case = _population(session, start, end, None, None)
    groups: dict[str | None, list[list[CaseEventRecord]]] = defaultdict(list)
    if by_case:
        owners = dict(session.execute(select(Case.id, column).where(Case.id.in_(list(by_case)))).all())
        for case_id, events in by_case.items():
            groups[owners.get(case_id)].append(events)
    return {key: kpis_from_histories(histories) for key, histories in groups.items()}


def _in_database(session: Session) -> bool:
    return session.get_bind().dialect.name == "postgresql"


def _aware(value: datetime | None, name: str) -> datetime | None:
    return None if value is None else require_aware(value, name)


def _stage_times(row: kpi_sql.StageRow) -> StageTimes:
    return StageTimes(count=row.count, median_s=row.median, p90_s=row.p90 if row.count else None)


def _from_group(group: kpi_sql.GroupRow) -> Kpis:
    """The Kpis of one group's aggregates, with the same ratios as `kpis_from_histories`."""
    return Kpis(
        cases=group.cases,
        same_day_closure_rate=_ratio(group.same_day, group.cases),
        auto_dispatch_rate=_ratio(group.auto, group.cases),
        handoffs_per_case=_ratio(group.hops, group.cases),
        respond=_stage_times(group.respond),
        dispatch=_stage_times(group.dispatch),
        handle=_stage_times(group.handle),
        overdue_count=group.overdue,
        satisfaction=_ratio(group.rating_sum, group.rating_n),
        ratings=group.rating_n,
        reopen_rate=_ratio(group.reopened, group.handled),
    )


def kpis_from_histories(histories: Iterable[list[CaseEventRecord]]) -> Kpis:
    """The KPIs of a population given as each case's events in order (pure; see the module docstring)."""
    same_day = auto = hops = overdue = handled = reopened = count = 0
    respond: list[float] = []
    dispatch: list[float] = []
    handle: list[float] = []
    ratings: list[int] = []
    for events in histories:
        count += 1
        report = events[0]
        first_respond = _first(events, {E.RESPOND.value})
        first_sign = _first(events, {E.SIGN.value})
        first_handled = _first(events, HANDLED_EVENTS)
        closed = _first(events, {E.CONFIRM.value})
        same_day += bool(closed and shanghai_date(closed.at) == shanghai_date(report.at))
        auto += bool((report.payload or {}).get("auto_dispatch"))
        hops += sum(record.event in HOP_EVENTS for record in events)
        overdue += any(
            record.event == E.ESCALATE.value and (record.payload or {}).get("reason") == "overdue"
            for record in events
        )
        handled += first_handled is not None
        reopened += any(record.event == E.REOPEN.value for record in events)
        ratings += [
            int(record.payload["rating"])
            for record in events
            if record.event == E.CONFIRM.value and (record.payload or {}).get("rating") is not None
        ]
        for bucket, value in (
            (respond, _seconds(first_respond, report)),
            (dispatch, _seconds(first_sign, first_respond)),
            (handle, _handle_seconds(first_handled, first_sign, first_respond)),
        ):
            if value is not None:
                bucket.append(value)
    return Kpis(
        cases=count,
        same_day_closure_rate=_ratio(same_day, count),
        auto_dispatch_rate=_ratio(auto, count),
        handoffs_per_case=_ratio(hops, count),
        respond=stage_times(respond),
        dispatch=stage_times(dispatch),
        handle=stage_times(handle),
        overdue_count=overdue,
        satisfaction=_ratio(sum(ratings), len(ratings)),
        ratings=len(ratings),
        reopen_rate=_ratio(reopened, handled),
    )


def _handle_seconds(
    first_handled: CaseEventRecord | None,
    first_sign: CaseEventRecord | None,
    first_respond: CaseEventRecord | None,
) -> float | None:
    if first_handled is None:
        return None
    if first_handled.event == E.HANDLE_ON_SITE.value:
        return _seconds(first_handled, first_respond)
    return _seconds(first_handled, first_sign)
