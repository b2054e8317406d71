"""The KPIs of storage.kpi computed inside PostgreSQL, from a per-case projection of the events.

`case_kpi_facts` holds, per case, what the KPIs need from its history (first respond/sign/handle
times, hops, ratings, ...) and the case's street and current department. A trigger on `case_events`
inserts keeps it current in the same transaction as the event (and one on `cases` the owners), and `BACKFILL_SQL` rebuilds it from the events (migration 0007), so the
dashboard aggregates one narrow row per case instead of folding every event.

Same population and definitions as `storage.kpi.kpis_from_histories`, value for value:
- "the first X event" is the one with the lowest `seq` (the backfill takes `min(ARRAY[seq, ...])`;
  the trigger sees events in seq order), so a clock that ran backwards changes nothing;
- durations are whole microseconds, divided by 10**6 in Python: the same rounding as
  `timedelta.total_seconds()`;
- median and p90 are picked by rank from each stage's sorted durations: p90 is the ceil(0.9 * n)-th
  value (float8 arithmetic, as `percentile_nearest_rank` computes it), and an even count's median is
  the mean of the two middle values, added in Python like `statistics.median`.
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


def _micros(column: str) -> str:
    """Whole microseconds since the epoch (date_part's float8 is exact to well under a microsecond)."""
    return f"round(date_part('epoch', {column}) * 1000000)::bigint"


def _shanghai_day(column: str) -> str:
    return f"(timezone('Asia/Shanghai', timezone('UTC', {column}))::date - DATE '2000-01-01')"


def _truthy_auto_dispatch(payload: str) -> str:
    """Python's truthiness of payload["auto_dispatch"] (absent and null are false)."""
    value = f"({payload} -> 'auto_dispatch')"
    return f"""CASE jsonb_typeof({value})
      WHEN 'boolean' THEN {value}::boolean
      WHEN 'number' THEN ({payload} ->> 'auto_dispatch')::numeric <> 0
      WHEN 'string' THEN ({payload} ->> 'auto_dispatch') <> ''
      WHEN 'array' THEN jsonb_array_length({value}) > 0
      WHEN 'object' THEN {value} <> '{{}}'::jsonb
      ELSE false END"""


def _is_overdue(event: str, payload: str) -> str:
    return (
        f"coalesce({event} = 'escalate' AND jsonb_typeof({payload} -> 'reason') = 'string'"
        f" AND {payload} ->> 'reason' = 'overdue', false)"
    )


def _has_rating(event: str, payload: str) -> str:
    return f"({event} = 'confirm' AND coalesce(jsonb_typeof({payload} -> 'rating'), 'null') <> 'null')"


def _rating(payload: str) -> str:
    return f"trunc(({payload} ->> 'rating')::numeric)::bigint"


FACT_COLUMNS = (
    "case_id, street_code, department_key, report_at, report_us, report_day, auto_dispatch, respond_us, sign_us, handled_us,"
    " handled_on_site, confirm_day, hops, overdue, reopened, rating_sum, rating_n"
)

# Rebuild the facts of every case from its events (the migration's backfill, and the bulk generator's).
BACKFILL_SQL = f"""
INSERT INTO case_kpi_facts ({FACT_COLUMNS})
SELECT case_id, c.street_code, c.department_key, report_at, {_micros("report_at")}, {_shanghai_day("report_at")},
       auto, respond[2], sign[2], handled[2], handled[3] = 1, confirm[2], hops, overdue, reopened, rating_sum, rating_n
FROM (
  SELECT e.case_id,
    min(e.at) FILTER (WHERE e.event = 'report') AS report_at,
    coalesce(bool_or({_truthy_auto_dispatch("e.payload")}) FILTER (WHERE e.event = 'report'), false) AS auto,
    min(ARRAY[e.seq, {_micros("e.at")}]) FILTER (WHERE e.event = 'respond') AS respond,
    min(ARRAY[e.seq, {_micros("e.at")}]) FILTER (WHERE e.event = 'sign') AS sign,
    min(ARRAY[e.seq, {_micros("e.at")}, (e.event = 'handle_on_site')::int])
      FILTER (WHERE e.event IN ('handle', 'handle_on_site')) AS handled,
    min(ARRAY[e.seq, {_shanghai_day("e.at")}]) FILTER (WHERE e.event = 'confirm') AS confirm,
    count(*) FILTER (WHERE e.event IN ('dispatch', 'return', 'triage')) AS hops,
    bool_or({_is_overdue("e.event", "e.payload")}) AS overdue,
    bool_or(e.event = 'reopen') AS reopened,
    coalesce(sum({_rating("e.payload")}) FILTER (WHERE {_has_rating("e.event", "e.payload")}), 0) AS rating_sum,
    count(*) FILTER (WHERE {_has_rating("e.event", "e.payload")}) AS rating_n
  FROM case_events e
  GROUP BY e.case_id
) AS per_case
JOIN cases c ON c.id = per_case.case_id
WHERE report_at IS NOT NULL
ON CONFLICT (case_id) DO NOTHING
"""

# Events are appended in `seq` order under the case's row lock (storage.cases.apply_event), so the
# first event of a kind to arrive is the first by seq: each column is set once, counters add up.
TRIGGER_SQL = f"""
CREATE OR REPLACE FUNCTION case_kpi_facts_on_event() RETURNS trigger LANGUAGE plpgsql AS $fn$
DECLARE
  has_rating boolean := {_has_rating("NEW.event", "NEW.payload")};
  handled boolean := NEW.event IN ('handle', 'handle_on_site');
BEGIN
  IF NEW.event = 'report' THEN
    INSERT INTO case_kpi_facts ({FACT_COLUMNS})
    SELECT NEW.case_id, c.street_code, c.department_key, NEW.at, {_micros("NEW.at")}, {_shanghai_day("NEW.at")},
           {_truthy_auto_dispatch("NEW.payload")}, NULL, NULL, NULL, NULL, NULL, 0, false, false, 0, 0
    FROM cases c WHERE c.id = NEW.case_id
    ON CONFLICT (case_id) DO NOTHING;
    RETURN NULL;
  END IF;
  UPDATE case_kpi_facts SET
    respond_us = CASE WHEN NEW.event = 'respond' AND respond_us IS NULL THEN {_micros("NEW.at")} ELSE respond_us END,
    sign_us = CASE WHEN NEW.event = 'sign' AND sign_us IS NULL THEN {_micros("NEW.at")} ELSE sign_us END,
    handled_us = CASE WHEN handled AND handled_us IS NULL THEN {_micros("NEW.at")} ELSE handled_us END,
    handled_on_site = CASE WHEN handled AND handled_us IS NULL THEN NEW.event = 'handle_on_site'
                      ELSE handled_on_site END,
    confirm_day = CASE WHEN NEW.event = 'confirm' AND confirm_day IS NULL THEN {_shanghai_day("NEW.at")}
                  ELSE confirm_day END,
    hops = hops + CASE WHEN NEW.event IN ('dispatch', 'return', 'triage') THEN 1 ELSE 0 END,
    overdue = overdue OR {_is_overdue("NEW.event", "NEW.payload")},
    reopened = reopened OR NEW.event = 'reopen',
    rating_sum = rating_sum + CASE WHEN has_rating THEN {_rating("NEW.payload")} ELSE 0 END,
    rating_n = rating_n + CASE WHEN has_rating THEN 1 ELSE 0 END
  WHERE case_id = NEW.case_id;
  RETURN NULL;
END
$fn$;
CREATE TRIGGER case_kpi_facts_on_event AFTER INSERT ON case_events
  FOR EACH ROW EXECUTE FUNCTION case_kpi_facts_on_event();

CREATE OR REPLACE FUNCTION case_kpi_facts_on_owner() RETURNS trigger LANGUAGE plpgsql AS $fn$
BEGIN
  UPDATE case_kpi_facts SET street_code = NEW.street_code, department_key = NEW.department_key
  WHERE case_id = NEW.id;
  RETURN NULL;
END
$fn$;
CREATE TRIGGER case_kpi_facts_on_owner AFTER UPDATE OF street_code, department_key ON cases
  FOR EACH ROW WHEN (OLD.street_code IS DISTINCT FROM NEW.street_code
                     OR OLD.department_key IS DISTINCT FROM NEW.department_key)
  EXECUTE FUNCTION case_kpi_facts_on_owner();
"""

DROP_TRIGGER_SQL = """
DROP TRIGGER IF EXISTS case_kpi_facts_on_owner ON cases;
DROP FUNCTION IF EXISTS case_kpi_facts_on_owner();
DROP TRIGGER IF EXISTS case_kpi_facts_on_event ON case_events;
DROP FUNCTION IF EXISTS case_kpi_facts_on_event();
"""

# Each stage's durations, whole microseconds (bigint sorts fast), are sorted once per group by one ordered-set
# aggregate and picked at three ranks. `percentile_disc(p)` picks rank ceil(p * n) in float8, not less than 1
# (PostgreSQL's orderedsetaggs.c): p = 0.5 is the lower middle, (n + 1) / 2 in integers; p = 0.9 is the
# nearest-rank p90 exactly as Python computes it; p = 0.5 + 2**-30 is the upper middle, n / 2 + 1 (for an odd
# count the lower one again), exact while a group has fewer than 2**29 cases. Python turns the picks into
# seconds. One sort per stage and group with no array built: at 1M cases about 8% faster than three
# `array_agg(... ORDER BY ...)` picks. PostgreSQL 15 still sorts all rows by group first (GroupAggregate).
PICKS = "ARRAY[0.5, 0.5 + 2 ^ -30, 0.9]::float8[]"
_STAGE_AGGREGATES = ",\n".join(
    f"""  count({stage}_s) AS {stage}_n,
  percentile_disc({PICKS}) WITHIN GROUP (ORDER BY {stage}_s) AS {stage}_picks"""
    for stage in ("respond", "dispatch", "handle")
)

KPI_QUERY = text(
    f"""
WITH stages AS (
  SELECT CASE CAST(:by AS text) WHEN 'street' THEN f.street_code WHEN 'department' THEN f.department_key END
           COLLATE "C" AS grp,  -- groups are only told apart, never ordered for people: bytewise is fastest
    f.report_day, f.confirm_day, f.auto_dispatch, f.hops, f.overdue, f.handled_us, f.reopened,
    f.rating_sum, f.rating_n,
    f.respond_us - f.report_us AS respond_s,
    f.sign_us - f.respond_us AS dispatch_s,
    CASE WHEN f.handled_on_site THEN f.handled_us - f.respond_us ELSE f.handled_us - f.sign_us END AS handle_s
  FROM case_kpi_facts f
  WHERE (CAST(:start AS timestamp) IS NULL OR f.report_at >= :start)
    AND (CAST(:end AS timestamp) IS NULL OR f.report_at < :end)
    AND (CAST(:street AS text) IS NULL OR f.street_code = :street)
    AND (CAST(:department AS text) IS NULL OR f.department_key = :department)
)
SELECT grp,
  count(*) AS cases,
  count(*) FILTER (WHERE confirm_day = report_day) AS same_day,
  count(*) FILTER (WHERE auto_dispatch) AS auto,
  coalesce(sum(hops), 0) AS hops,
  count(*) FILTER (WHERE overdue) AS overdue,
  count(handled_us) AS handled,
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
    picks = getattr(row, f"{stage}_picks")  # None when the stage has no durations in the group
    lower_mid, upper_mid, p90 = (None, None, None) if picks is None else (int(pick) / 1_000_000 for pick in picks)
    return StageRow(int(getattr(row, f"{stage}_n")), lower_mid, upper_mid, p90)


def aggregate(
    session: Session,
    *,
    start: datetime | None,
    end: datetime | None,
    street_code: str | None = None,
    department_key: str | None = None,
    by: str | None = None,
) -> dict[str | None, GroupRow]:
    """The per-group aggregates (PostgreSQL only); `by` is None (one group, key None), street or department.

    Sets `work_mem` for the rest of the caller's transaction (SET LOCAL): a read-only dashboard session.
    """
    # Sorting a year's durations (a million per stage) takes ~30 MB; the 4 MB default spills to disk.
    session.execute(text("SET LOCAL work_mem = '128MB'"))
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
