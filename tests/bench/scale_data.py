"""A district-year of cases on PostgreSQL for the database-scale benchmark, built in SQL and cached.

One million cases over the Asia/Shanghai year 2026, each with the events of one lifecycle path
(the full chain, settled on site, escalated and returned, reopened, triaged, cancelled, merged),
`at` times spread by a per-case pace, and the due items the clocks in `storage.clocks` would have
armed (cancelled, fired, or pending for the cases still open at `DATASET_NOW`). Every path is
replayed through `storage.lifecycle.advance` at import, so the histories are legal.

The rows are made by `INSERT ... SELECT` over `generate_series` inside PostgreSQL (no Python loop
over cases), with the secondary indexes dropped during the load and rebuilt after it. The database
is named after a key of the generator version, the migration head and the case count, so a second
run finds it ready and reuses it; a stale `gridsec_bench_*` database is dropped first.
"""

from __future__ import annotations

import hashlib
import logging
import os
import time
from collections.abc import Callable
from datetime import datetime, timezone

from alembic.script import ScriptDirectory
from sqlalchemy import text
from sqlalchemy.engine import Connection, Engine, make_url
from sqlalchemy.exc import OperationalError
from sqlalchemy.future import create_engine

from storage import kpi_sql
from storage.kpi_sql import BACKFILL_SQL
from storage.migrate import MIGRATIONS_DIR, alembic_config, upgrade
from storage.models import metadata
from tests.bench.scale_paths import CATEGORIES, LIMIT_MINUTES, PATHS, path_items, path_steps

logger = logging.getLogger(__name__)

GENERATOR_VERSION = "5"
ADMIN_URL = os.environ.get("TEST_POSTGRES_URL", "postgresql+psycopg2://postgres@127.0.0.1:5432/test")
DB_PREFIX = "gridsec_bench_"
YEAR_START = datetime(2025, 12, 31, 16, 0, tzinfo=timezone.utc)  # 2026-01-01 00:00 Asia/Shanghai
DATASET_NOW = datetime(2026, 12, 31, 12, 0, tzinfo=timezone.utc)  # the year's last afternoon
BULK_TABLES = ("cases", "case_events", "due_items", "case_kpi_facts")
def cache_key(case_count: int) -> str:
    """Changes whenever the generator, the schema (migration head and scripts, the KPI SQL) or the size does."""
    head = ScriptDirectory.from_config(alembic_config(ADMIN_URL)).get_current_head()
    digest = hashlib.sha1(f"{GENERATOR_VERSION}:{head}:{case_count}".encode())
    for script in sorted(MIGRATIONS_DIR.glob("versions/*.py")):
        digest.update(script.read_bytes())
    digest.update((kpi_sql.TRIGGER_SQL + kpi_sql.BACKFILL_SQL).encode())  # the facts' shape, not the query
    return digest.hexdigest()[:10]


def _with_database(database: str) -> str:
    return make_url(ADMIN_URL).set(database=database).render_as_string(hide_password=False)


def ensure_scale_database(case_count: int, progress: Callable[[str], None] = print) -> str:
    """The URL of a PostgreSQL database holding `case_count` generated cases (built if not cached).

    Callers in other processes (bench_console uses it too) wait on a PostgreSQL advisory lock while
    one of them builds, then reuse its database. A build cut off by a lost connection (another test
    restarting PostgreSQL) is started again once.
    """
    try:
        return _ensure_locked(case_count, progress)
    except OperationalError as error:
        progress(f"db_scale: connection lost while building ({error.orig}); building again")
        time.sleep(5)
        return _ensure_locked(case_count, progress)


def _ensure_locked(case_count: int, progress: Callable[[str], None]) -> str:
    lock = create_engine(ADMIN_URL, isolation_level="AUTOCOMMIT")
    try:
        with lock.connect() as connection:
            connection.execute(text("SELECT pg_advisory_lock(hashtext(:name))"), {"name": DB_PREFIX})
            try:
                return _ensure(case_count, progress)
            finally:
                connection.execute(text("SELECT pg_advisory_unlock(hashtext(:name))"), {"name": DB_PREFIX})
    finally:
        lock.dispose()


def _ensure(case_count: int, progress: Callable[[str], None]) -> str:
    name = f"{DB_PREFIX}{cache_key(case_count)}"
    admin = create_engine(ADMIN_URL, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            existing = set(
                connection.execute(
                    text("SELECT datname FROM pg_database WHERE datname LIKE :p"), {"p": DB_PREFIX + "%"}
                ).scalars()
            )
            url = _with_database(name)
            if name in existing and _is_complete(url):
                progress(f"db_scale: reusing cached database {name}")
                return url
            for stale in existing:
                progress(f"db_scale: dropping stale database {stale}")
                connection.execute(text(f'DROP DATABASE "{stale}" WITH (FORCE)'))
            connection.execute(text(f'CREATE DATABASE "{name}"'))
    finally:
        admin.dispose()
    started = time.perf_counter()
    upgrade(url)
    engine = create_engine(url)
    try:
        _generate(engine, case_count, progress)
    finally:
        engine.dispose()
    progress(f"db_scale: generated {case_count} cases in {time.perf_counter() - started:.0f} s")
    return url


def _is_complete(url: str) -> bool:
    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            return bool(
                connection.execute(text("SELECT to_regclass('bench_meta') IS NOT NULL")).scalar_one()
                and connection.execute(text("SELECT bool_and(complete) FROM bench_meta")).scalar_one()
            )
    finally:
        engine.dispose()


def _generate(engine: Engine, case_count: int, progress: Callable[[str], None]) -> None:
    from sqlalchemy.orm import Session

    from storage.seed import seed_all

    with Session(engine, future=True) as session, session.begin():
        seed_all(session)
    indexes = [index for name in BULK_TABLES for index in metadata.tables[name].indexes]
    with engine.begin() as connection:
        connection.execute(
            text("CREATE TABLE bench_meta (complete boolean NOT NULL, cases integer NOT NULL)")
        )
        for index in indexes:
            connection.execute(text(f'DROP INDEX IF EXISTS "{index.name}"'))
        _load_templates(connection)
    for label, statement in _bulk_statements(case_count):
        begun = time.perf_counter()
        with engine.begin() as connection:
            connection.execute(text("SET LOCAL session_replication_role = replica"))  # skip FK triggers in bulk
            connection.execute(text("SET LOCAL work_mem = '256MB'"))
            connection.execute(text(statement), _parameters(case_count))
        progress(f"db_scale: {label} ({time.perf_counter() - begun:.0f} s)")
    begun = time.perf_counter()
    with engine.begin() as connection:
        connection.execute(text("SET LOCAL maintenance_work_mem = '256MB'"))
        for index in indexes:
            index.create(connection)
        for table in ("cases", "case_events", "due_items"):
            connection.execute(
                text(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT max(id) FROM {table}))")
            )
        connection.execute(text("INSERT INTO bench_meta VALUES (true, :n)"), {"n": case_count})
    progress(f"db_scale: indexes rebuilt ({time.perf_counter() - begun:.0f} s)")
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        connection.execute(text("VACUUM ANALYZE"))


def _parameters(case_count: int) -> dict[str, object]:
    return {
        "n": case_count,
        "year_start": YEAR_START.replace(tzinfo=None),
        "now": DATASET_NOW.replace(tzinfo=None),
        "categories": list(CATEGORIES),
    }


def _load_templates(connection: Connection) -> None:
    connection.execute(
        text(
            "CREATE TABLE bench_paths (path int, lo float8, hi float8);"
            "CREATE TABLE bench_steps (path int, step int, event text, from_state text, to_state text,"
            " minutes int, level int, stage text);"
            "CREATE TABLE bench_items (path int, stage text, cycle int, escalate_to int, armed_step int,"
            " end_step int, end_status text);"
            "CREATE TABLE bench_limits (urgency text, stage text, minutes int, limit_text text)"
        )
    )
    total, low, rows = sum(weight for weight, _ in PATHS), 0.0, []
    for path, (weight, _) in enumerate(PATHS):
        high = 1.0 if path == len(PATHS) - 1 else low + weight / total
        rows.append({"path": path, "lo": low, "hi": high})
        low = high
    connection.execute(text("INSERT INTO bench_paths VALUES (:path, :lo, :hi)"), rows)
    connection.execute(
        text(
            "INSERT INTO bench_steps VALUES (:path, :step, :event, :from_state, :to_state, :minutes, :level, :stage)"
        ),
        [vars(step) for step in path_steps()],
    )
    connection.execute(
        text(
            "INSERT INTO bench_items VALUES (:path, :stage, :cycle, :escalate_to, :armed_step, :end_step,"
            " :end_status)"
        ),
        [vars(item) for item in path_items()],
    )
    connection.execute(
        text("INSERT INTO bench_limits VALUES (:urgency, :stage, :minutes, :text)"),
        [
            {"urgency": urgency, "stage": stage, "minutes": minutes, "text": label}
            for urgency, stages in LIMIT_MINUTES.items()
            for stage, (minutes, label) in stages.items()
        ],
    )


# u(g, k): a deterministic uniform [0, 1) per case and purpose, from PostgreSQL's integer hash.
_U = "((hashint8(g.g * 16 + {k})::bigint + 2147483648) / 4294967296.0)"


def _bulk_statements(case_count: int) -> list[tuple[str, str]]:
    plan = f"""
    CREATE UNLOGGED TABLE bench_plan AS
    WITH base AS (
      SELECT g.g AS id,
             :year_start + make_interval(secs => floor((g.g - 1 + {_U.format(k=1)}) * extract(epoch FROM :now - :year_start) / :n)) AS created_at,
             {_U.format(k=2)} AS u_path, {_U.format(k=3)} AS u_pace, {_U.format(k=4)} AS u_misc,
             {_U.format(k=5)} AS u_rate
      FROM generate_series(1, :n) AS g(g)
    )
    SELECT b.id, b.created_at, p.path, b.u_misc, b.u_rate,
           CASE WHEN b.u_pace < 0.005 THEN 3000.0 ELSE 0.3 + 2.5 * b.u_pace * b.u_pace END AS pace,
           CASE WHEN b.u_misc < 0.15 THEN 'urgent' WHEN b.u_misc < 0.25 THEN 'complex' ELSE 'normal' END
             AS urgency
    FROM base b JOIN bench_paths p ON b.u_path >= p.lo AND b.u_path < p.hi;
    ALTER TABLE bench_plan ADD COLUMN taken int;
    UPDATE bench_plan c SET taken = (
      SELECT max(s.step) FROM bench_steps s
      WHERE s.path = c.path AND c.created_at + make_interval(mins => 1) * (s.minutes * c.pace) <= :now);
    CREATE INDEX ON bench_plan (id);
    CREATE UNLOGGED TABLE bench_org AS
      SELECT row_number() OVER (ORDER BY g.id) - 1 AS i, g.id AS grid_id, g.community_code, g.street_code,
             (SELECT p.id FROM people p WHERE p.grid_id = g.id ORDER BY p.id LIMIT 1) AS worker_id
      FROM grids g;
    CREATE UNLOGGED TABLE bench_departments AS
      SELECT row_number() OVER (ORDER BY key) - 1 AS i, key FROM departments WHERE scope = 'district';
    ANALYZE bench_plan; ANALYZE bench_org; ANALYZE bench_departments;
    """
    cases = """
    INSERT INTO cases (id, code, category, description, lat, lng, address, street_code, community_code,
                       grid_id, department_key, worker_id, urgency, auto_dispatch, state, escalation_level,
                       created_at, updated_at)
    SELECT c.id,
           'YX-' || to_char(c.created_at + interval '8 hours', 'YYYYMMDD') || '-' ||
             lpad((row_number() OVER (PARTITION BY (c.created_at + interval '8 hours')::date ORDER BY c.id))::text,
                  4, '0'),
           (:categories)[1 + (c.id * 7 + c.path) % cardinality(:categories)],
           '规模测试个案 ' || c.id, 23.10 + (c.u_rate * 0.06), 113.24 + (c.u_misc * 0.07), '越秀区测试路' || (c.id % 500) || '号',
           o.street_code, o.community_code, o.grid_id,
           d.key, o.worker_id, c.urgency, c.u_misc > 0.3,
           last.to_state, last.level, c.created_at,
           c.created_at + make_interval(mins => 1) * (last.minutes * c.pace)
    FROM bench_plan c
    JOIN bench_org o ON o.i = c.id % (SELECT count(*) FROM bench_org)
    JOIN bench_departments d ON d.i = (c.id / 7) % (SELECT count(*) FROM bench_departments)
    JOIN bench_steps last ON last.path = c.path AND last.step = c.taken
    ORDER BY c.id
    """
    events = """
    INSERT INTO case_events (case_id, seq, event, actor, at, from_state, to_state, escalation_level, payload)
    SELECT c.id, s.step, s.event,
           CASE s.event WHEN 'report' THEN 'resident' WHEN 'confirm' THEN 'resident'
                        WHEN 'escalate' THEN 'scheduler:bench' ELSE 'bench' END,
           k.created_at + make_interval(mins => 1) * (s.minutes * c.pace),
           s.from_state, s.to_state, s.level,
           CASE s.event
             WHEN 'report' THEN jsonb_build_object('category', k.category, 'urgency', k.urgency,
                  'auto_dispatch', k.auto_dispatch, 'street_code', k.street_code, 'grid_id', k.grid_id,
                  'department_key', k.department_key)
             WHEN 'escalate' THEN jsonb_build_object('reason', 'overdue', 'stage', s.stage, 'level', s.level)
             WHEN 'confirm' THEN jsonb_build_object('rating', 1 + floor(5 * sqrt(c.u_rate))::int)
             WHEN 'return' THEN jsonb_build_object('reason', '不属本部门职责')
             ELSE '{}'::jsonb END
    FROM bench_plan c
    JOIN cases k ON k.id = c.id
    JOIN bench_steps s ON s.path = c.path AND s.step <= c.taken
    ORDER BY c.id, s.step
    """
    due = """
    INSERT INTO due_items (case_id, stage, cycle, escalate_to, limit_text, started_at, due_at, status,
                           fired_at, fired_by, remind_at, reminded_at)
    SELECT c.id, i.stage, i.cycle, i.escalate_to, l.limit_text, armed.at, armed.at + make_interval(mins => l.minutes),
           CASE WHEN i.end_step BETWEEN 1 AND c.taken THEN i.end_status ELSE 'pending' END,
           CASE WHEN i.end_step BETWEEN 1 AND c.taken THEN c.created_at + make_interval(mins => 1) * (ended.minutes * c.pace) END,
           CASE WHEN i.end_step BETWEEN 1 AND c.taken AND i.end_status = 'fired' THEN 'scheduler:bench' END,
           armed.at + make_interval(secs => l.minutes * 48), NULL
    FROM bench_plan c
    JOIN bench_items i ON i.path = c.path AND i.armed_step <= c.taken
    JOIN bench_limits l ON l.urgency = c.urgency AND l.stage = i.stage
    CROSS JOIN LATERAL (
      SELECT c.created_at + make_interval(mins => 1) * (s.minutes * c.pace) AS at
      FROM bench_steps s WHERE s.path = c.path AND s.step = i.armed_step
    ) AS armed
    LEFT JOIN bench_steps ended ON ended.path = c.path AND ended.step = i.end_step
    ORDER BY c.id
    """
    return [
        ("planned paths", plan),
        (f"{case_count} cases", cases),
        ("case events", events),
        ("due items", due),
        ("KPI facts (storage.kpi_sql backfill)", BACKFILL_SQL),
        ("dropped the plan", "DROP TABLE bench_plan, bench_org, bench_departments"),
    ]
