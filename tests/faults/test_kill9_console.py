"""kill -9 of the web console in the middle of dispatching cases: each case dispatched once, each limit fires once.

The command centre dispatches ten reported cases at once through `POST /api/cases/<code>/actions`; the console
process is SIGKILLed while the requests are in flight. Each request either committed (its events, pushes and
new time limits together) or left nothing. After the restart the operator retries every action that got no
answer: it succeeds (the first attempt was lost) or is refused with 409 (it had committed), never applied twice.
Then the scheduler runs far in the future: every armed limit fires exactly once.
"""

from __future__ import annotations

from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from functools import partial
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from storage.accounts import create_account
from storage.db import make_engine
from storage.models import Case, CaseEventRecord, DueItem, OutboxMessage
from storage.scheduler import run_due
from storage.timeutil import utcnow
from tests.scaleout.stack import Proc, postgres_schema, running_stack, wait_until
from tests.storage.conftest import build_org, new_case

pytestmark = [pytest.mark.postgres, pytest.mark.slow]

CASES = 10
PASSWORD = "kill9-console-password"


def login(console: Proc) -> httpx.Client:
    client = httpx.Client(base_url=console.url, timeout=30)
    answer = client.post("/api/login", json={"username": "dzzx", "password": PASSWORD})
    assert answer.status_code == 200, answer.text
    return client


def dispatch(client: httpx.Client, code: str) -> int | None:
    """The status of one dispatch request, or None when the console died before answering."""
    try:
        return client.post(
            f"/api/cases/{code}/actions", json={"action": "dispatch", "department": "HWZX"}
        ).status_code
    except httpx.TransportError:
        return None


def test_a_console_killed_mid_dispatch_applies_each_dispatch_once(tmp_path: Path) -> None:
    with postgres_schema() as url, running_stack(url, tmp_path) as stack:
        engine = make_engine(url)
        with Session(engine, future=True) as session:
            org = build_org(session)
            create_account(session, username="dzzx", password=PASSWORD, role="command_centre", now=utcnow())
            session.commit()
            codes = [
                new_case(session, org, utcnow() - timedelta(minutes=1), auto_dispatch=False).code
                for _ in range(CASES)
            ]
            session.commit()

            console = stack.console("console").start()
            client = login(console)
            with ThreadPoolExecutor(CASES) as pool:
                futures = {code: pool.submit(dispatch, client, code) for code in codes}
                wait_until(
                    lambda: sum(future.done() for future in futures.values()) >= 2,
                    60,
                    what="the first dispatches to be answered",
                )
                console.kill9()
                first = {code: future.result() for code, future in futures.items()}
            assert None in first.values(), "the kill came too late to interrupt anything"
            assert set(first.values()) <= {200, None}

            console.start()
            client = login(console)  # a fresh login; the old session row is valid too, but proves nothing
            retried = {code: dispatch(client, code) for code, status in first.items() if status is None}
            assert set(retried.values()) <= {200, 409}

            dispatches = Counter(
                session.execute(
                    select(Case.code)
                    .join(CaseEventRecord, CaseEventRecord.case_id == Case.id)
                    .where(CaseEventRecord.event == "dispatch")
                ).scalars()
            )
            assert dispatches == Counter({code: 1 for code in codes})
            keys = session.execute(select(OutboxMessage.idempotency_key)).scalars().all()
            assert len(keys) == len(set(keys))
            armed = session.execute(
                select(DueItem.case_id, DueItem.stage, DueItem.cycle, DueItem.escalate_to)
            ).all()
            assert len(armed) == len(set(armed))
            session.rollback()

            far = utcnow() + timedelta(days=30)
            factory = partial(Session, engine, future=True)
            fired = run_due(factory, far, worker_id="after-restart")
            assert fired > 0 and run_due(factory, far, worker_id="again") == 0
            escalated = Counter(
                session.execute(
                    select(CaseEventRecord.case_id, CaseEventRecord.escalation_level).where(
                        CaseEventRecord.event == "escalate"
                    )
                ).all()
            )
            assert escalated and set(escalated.values()) == {1}
        engine.dispose()
