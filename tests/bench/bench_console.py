"""The console API over real HTTP on the million-case year (tests/bench/scale_data.py, cached PostgreSQL).

What a command-centre browser does: the first page of the live list (with its total), a filtered page, a
department user's page, a quiet poll (`since`), a deep page by keyset (`after`), a case detail, the open cases
on the map and the month's KPIs. Baselines from the same run: the deep page by OFFSET (what keyset paging
avoids) and the poll without `since` (what the cursor avoids). p50/p95/p99 after a warm-up; the target applies
to p95 of the list and poll requests.
"""

from __future__ import annotations

import logging
import math
import time
import uuid
from collections.abc import Callable
from datetime import datetime, timezone
from typing import Any

import httpx
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from bot.web.app import create_app
from storage.accounts import create_account
from storage.db import make_engine
from storage.models import Case, StaffAccount, StaffSession
from tests.bench.scale_data import ensure_scale_database
from tests.support.sanic_server import serve_sanic

logger = logging.getLogger(__name__)

CASES = 1_000_000
RUNS, WARMUP = 15, 2
TARGET_P95_MS = {"list_first_page": 300.0, "poll_quiet": 100.0}
PASSWORD = "bench-password"


def percentiles(samples_ms: list[float]) -> dict[str, float]:
    """p50/p95/p99 (nearest rank) in milliseconds."""
    ordered = sorted(samples_ms)

    def rank(fraction: float) -> float:
        return round(ordered[max(math.ceil(fraction * len(ordered)), 1) - 1], 1)

    return {"p50_ms": rank(0.5), "p95_ms": rank(0.95), "p99_ms": rank(0.99), "runs": len(ordered)}


def measure(call: Callable[[], httpx.Response]) -> dict[str, float]:
    for _ in range(WARMUP):
        call().raise_for_status()
    samples = []
    for _ in range(RUNS):
        started = time.perf_counter()
        call().raise_for_status()
        samples.append((time.perf_counter() - started) * 1000)
    return percentiles(samples)


def _accounts(session: Session, suffix: str) -> dict[str, str]:
    now = datetime.now(timezone.utc)
    department = session.execute(
        select(Case.department_key).where(Case.department_key.is_not(None)).limit(1)
    ).scalar_one()
    names = {"centre": f"bench-centre-{suffix}", "dept": f"bench-dept-{suffix}"}
    create_account(session, username=names["centre"], password=PASSWORD, role="command_centre", now=now)
    create_account(session, username=names["dept"], password=PASSWORD, role="department", now=now,
                   department_key=department)
    return names


def _remove_accounts(session: Session, suffix: str) -> None:
    ids = select(StaffAccount.id).where(StaffAccount.username.like(f"bench-%-{suffix}")).scalar_subquery()
    session.execute(delete(StaffSession).where(StaffSession.account_id.in_(ids)).execution_options(synchronize_session=False))
    session.execute(
        delete(StaffAccount).where(StaffAccount.username.like(f"bench-%-{suffix}")).execution_options(synchronize_session=False)
    )


def _scenarios(centre: httpx.Client, dept: httpx.Client) -> dict[str, Callable[[], httpx.Response]]:
    first = centre.get("/api/cases", params={"limit": 50}).json()
    cursor = first["cursor"]
    code = first["items"][0]["code"]
    token = first["next_after"]
    for _ in range(40):  # walk 40 pages deep by keyset to find the token at offset 2,000
        token = centre.get("/api/cases", params={"limit": 50, "after": token}).json()["next_after"]
    return {
        "list_first_page": lambda: centre.get("/api/cases", params={"limit": 50}),
        "list_filtered": lambda: centre.get("/api/cases", params={"limit": 50, "status": "open", "category": "GARBAGE"}),
        "list_department_user": lambda: dept.get("/api/cases", params={"limit": 50}),
        "poll_quiet": lambda: centre.get("/api/cases", params={"limit": 50, "since": cursor}),
        "baseline_poll_without_since": lambda: centre.get("/api/cases", params={"limit": 50}),
        "page_2000_keyset": lambda: centre.get("/api/cases", params={"limit": 50, "after": token}),
        "baseline_page_2000_offset": lambda: centre.get("/api/cases", params={"limit": 50, "offset": 2050}),
        "case_detail": lambda: centre.get(f"/api/cases/{code}"),
        "map_open_cases": lambda: centre.get("/api/map/cases"),
        "kpis_month": lambda: centre.get("/api/kpis", params={"period": "month"}),
    }


def main() -> dict[str, Any]:
    url = ensure_scale_database(CASES, progress=print)
    engine = make_engine(url)
    suffix = uuid.uuid4().hex[:8]
    with Session(engine, future=True) as session, session.begin():
        names = _accounts(session, suffix)
    figures: dict[str, Any] = {"cases": CASES, "targets_p95_ms": TARGET_P95_MS}
    app = create_app(engine, name=f"bench_console_{suffix}", environ={}, seed_demo_accounts=False)
    try:
        with serve_sanic(app) as base_url, httpx.Client(base_url=base_url, timeout=120) as centre, httpx.Client(
            base_url=base_url, timeout=120
        ) as dept:
            for client, name in ((centre, names["centre"]), (dept, names["dept"])):
                client.post("/api/login", json={"username": name, "password": PASSWORD}).raise_for_status()
            for label, call in _scenarios(centre, dept).items():
                figures[label] = measure(call)
                target = TARGET_P95_MS.get(label)
                verdict = "" if target is None else f"  (target p95 <= {target:.0f} ms)"
                print(f"console {label:28s} p50 {figures[label]['p50_ms']:8.1f} ms  p95 {figures[label]['p95_ms']:8.1f} ms{verdict}")
    finally:
        with Session(engine, future=True) as session, session.begin():
            _remove_accounts(session, suffix)
        engine.dispose()
    return figures


if __name__ == "__main__":
    main()
