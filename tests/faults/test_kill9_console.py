"""kill -9 of the web console in the middle of dispatching cases: each case dispatched once, each limit fires once.

The command centre dispatches ten reported cases at once through `POST /api/cases/<code>/actions`; the console
process is SIGKILLed while seven of the requests are inside it, mid-transaction (the test holds their case rows
locked, so they cannot finish), and after three have committed. Each request either committed (its events, pushes and
new time limits together) or left nothing. After the restart the operator retries every dispatch: the cut-off
ones succeed (nothing of them was stored), the committed ones are refused with 409, none is applied twice.
Then the scheduler runs far in the future: every armed limit fires exactly once.
"""

from __future__ import annotations

import time
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
ANSWERED = 3  # dispatches that commit before the kill; the others are cut off mid-transaction
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
            # The last cases' rows are locked by the test, so their dispatches block inside the console's
            # transactions (mid-request, uncommitted) while the first ones commit: the kill lands in between.
            held = codes[ANSWERED:]
            with engine.connect() as locker, locker.begin():
                locker.execute(select(Case.id).where(Case.code.in_(held)).with_for_update())
                with ThreadPoolExecutor(CASES) as pool:
                    futures = {code: pool.submit(dispatch, client, code) for code in codes}
                    wait_until(
                        lambda: sum(future.done() for future in futures.values()) >= ANSWERED,
                        60,
                        what="the dispatches of the unlocked cases to be answered",
                    )
                    time.sleep(1.0)  # the held requests are all inside the console, waiting on the row locks
                    console.kill9()
                    first = {code: future.result() for code, future in futures.items()}
            assert first == {code: 200 if code not in held else None for code in codes}

            console.start()
            client = login(console)  # a fresh login; the old session row is valid too, but proves nothing
            retried = {code: dispatch(client, code) for code in codes}  # the operator retries them all
            assert retried == {code: 200 if code in held else 409 for code in codes}  # once, never twice

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
