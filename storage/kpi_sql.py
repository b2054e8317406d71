"""The KPIs of storage.kpi computed inside PostgreSQL: one aggregate query instead of a Python fold.

Same population and definitions as `storage.kpi.kpis_from_histories`, value for value:
- "the first X event" is the one with the lowest `seq`, found as `min(ARRAY[seq, ...])` over the
  case's X events, so a clock that ran backwards changes nothing;
- durations are whole microseconds divided by 1e6 in float8, the same rounding as
  `timedelta.total_seconds()`;
- median and p90 come from `percentile_disc`, which picks the ceil(fraction * n)-th value exactly as
  `percentile_nearest_rank` does; an even count's median is the mean of the two middle values
  (the ascending and the descending 0.5 pick), added in Python like `statistics.median`.
The query returns one row per group (a street, a department, or the whole population).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, text
from sqlalchemy.orm import Session
from sqlalchemy.types import String

from storage.timeutil import UTCDateTime

logger = logging.getLogger(__name__)

_TRUTHY_AUTO_DISPATCH = """
  CASE jsonb_typeof(e.payload -> 'auto_dispatch')
    WHEN 'boolean' THEN (e.payload -> 'auto_dispatch')::boolean
    WHEN 'number' THEN (e.payload ->> 'auto_dispatch')::numeric <> 0
    WHEN 'string' THEN (e.payload ->> 'auto_dispatch') <> ''
    WHEN 'array' THEN jsonb_array_length(e.payload -> 'auto_dispatch') > 0
    WHEN 'object' THEN (e.payload -> 'auto_dispatch') <> '{}'::jsonb
    ELSE false END"""
_MICROS = "(extract(epoch FROM e.at) * 1000000)::bigint"
_SHANGHAI_DAY = "(timezone('Asia/Shanghai', timezone('UTC', e.at))::date - DATE '2000-01-01')"
_HAS_RATING = "e.event = 'confirm' AND coalesce(jsonb_typeof(e.payload -> 'rating'), 'null') <> 'null'"
_STAGE_AGGREGATES = ",\n".join(
    f"""  count({stage}_s) AS {stage}_n,
  percentile_disc(0.5) WITHIN GROUP (ORDER BY {stage}_s) AS {stage}_lower_mid,
  percentile_disc(0.5) WITHIN GROUP (ORDER BY {stage}_s DESC) AS {stage}_upper_mid,
  percentile_disc(0.9) WITHIN GROUP (ORDER BY {stage}_s) AS {stage}_p90"""
    for stage in ("respond", "dispatch", "handle")
)

KPI_QUERY = text(
    f"""
WITH population AS (
  SELECT r.case_id,
         CASE :by WHEN 'street' THEN c.street_code WHEN 'department' THEN c.department_key END AS grp
  FROM case_events r JOIN cases c ON c.id = r.case_id
  WHERE r.event = 'report'
    AND (CAST(:start AS timestamp) IS NULL OR r.at >= :start)
    AND (CAST(:end AS timestamp) IS NULL OR r.at < :end)
    AND (CAST(:street AS text) IS NULL OR c.street_code = :street)
    AND (CAST(:department AS text) IS NULL OR c.department_key = :department)
), facts AS (
  SELECT p.grp,
    min(ARRAY[e.seq, {_MICROS}, {_SHANGHAI_DAY}]) FILTER (WHERE e.event = 'report') AS report,
    min(ARRAY[e.seq, {_MICROS}]) FILTER (WHERE e.event = 'respond') AS respond,
    min(ARRAY[e.seq, {_MICROS}]) FILTER (WHERE e.event = 'sign') AS sign,
    min(ARRAY[e.seq, {_MICROS}, (e.event = 'handle_on_site')::int])
      FILTER (WHERE e.event IN ('handle', 'handle_on_site')) AS handled,
    min(ARRAY[e.seq, {_SHANGHAI_DAY}]) FILTER (WHERE e.event = 'confirm') AS confirm,
    bool_or({_TRUTHY_AUTO_DISPATCH}) FILTER (WHERE e.event = 'report') AS auto,
    count(*) FILTER (WHERE e.event IN ('dispatch', 'return', 'triage')) AS hops,
    bool_or(e.event = 'escalate' AND jsonb_typeof(e.payload -> 'reason') = 'string'
            AND e.payload ->> 'reason' = 'overdue') AS overdue,
    bool_or(e.event = 'reopen') AS reopened,
    sum(trunc((e.payload ->> 'rating')::numeric)) FILTER (WHERE {_HAS_RATING}) AS rating_sum,
    count(*) FILTER (WHERE {_HAS_RATING}) AS rating_n
  FROM population p JOIN case_events e ON e.case_id = p.case_id
  GROUP BY p.case_id, p.grp
), stages AS (
  SELECT grp, report, confirm, handled, auto, hops, overdue, reopened, rating_sum, rating_n,
    (respond[2] - report[2])::float8 / 1000000::float8 AS respond_s,
    (sign[2] - respond[2])::float8 / 1000000::float8 AS dispatch_s,
    (CASE WHEN handled[3] = 1 THEN handled[2] - respond[2] ELSE handled[2] - sign[2] END)::float8
      / 1000000::float8 AS handle_s
  FROM facts
)
SELECT grp,
  count(*) AS cases,
  count(*) FILTER (WHERE confirm[2] = report[3]) AS same_day,
  count(*) FILTER (WHERE auto) AS auto,
  coalesce(sum(hops), 0) AS hops,
  count(*) FILTER (WHERE overdue) AS overdue,
  count(handled) AS handled,
  count(*) FILTER (WHERE reopened) AS reopened,
  coalesce(sum(rating_sum), 0) AS rating_sum,
  coalesce(sum(rating_n), 0) AS rating_n,
{_STAGE_AGGREGATES}
FROM stages
GROUP BY grp
"""
).bindparams(
    bindparam("start", type_=UTCDateTime()),
    bindparam("end", type_=UTCDateTime()),
    bindparam("street", type_=String()),
    bindparam("department", type_=String()),
    bindparam("by", type_=String()),
)


@dataclass(frozen=True)
class StageRow:
    """One stage's figures as the query returns them (the median's two middle picks)."""

    count: int
    lower_mid: float | None
    upper_mid: float | None
    p90: float | None

    @property
    def median(self) -> float | None:
        """`statistics.median`: the middle value, or the mean of the two middle ones."""
        if not self.count or self.lower_mid is None or self.upper_mid is None:
            return None
        return self.lower_mid if self.count % 2 else (self.lower_mid + self.upper_mid) / 2


@dataclass(frozen=True)
class GroupRow:
    """The aggregate counts of one group, before the ratios (see storage.kpi.Kpis)."""

    cases: int
    same_day: int
    auto: int
    hops: int
    overdue: int
    handled: int
    reopened: int
    rating_sum: int
    rating_n: int
    respond: StageRow
    dispatch: StageRow
    handle: StageRow


def _stage(row: Any, stage: str) -> StageRow:
    def number(name: str) -> float | None:
        value = getattr(row, f"{stage}_{name}")
        return None if value is None else float(value)

    return StageRow(int(getattr(row, f"{stage}_n")), number("lower_mid"), number("upper_mid"), number("p90"))


def aggregate(
    session: Session,
    *,
    start: datetime | None,
    end: datetime | None,
    street_code: str | None = None,
    department_key: str | None = None,
    by: str | None = None,
) -> dict[str | None, GroupRow]:
    """The per-group aggregates (PostgreSQL only); `by` is None (one group, key None), street or department."""
    rows = session.execute(
        KPI_QUERY,
        {"start": start, "end": end, "street": street_code, "department": department_key, "by": by},
    )
    return {
        row.grp: GroupRow(
            cases=int(row.cases),
            same_day=int(row.same_day),
            auto=int(row.auto),
            hops=int(row.hops),
            overdue=int(row.overdue),
            handled=int(row.handled),
            reopened=int(row.reopened),
            rating_sum=int(row.rating_sum),
            rating_n=int(row.rating_n),
            respond=_stage(row, "respond"),
            dispatch=_stage(row, "dispatch"),
            handle=_stage(row, "handle"),
        )
        for row in rows
    }
