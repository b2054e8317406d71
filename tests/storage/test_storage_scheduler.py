"""The scheduler survives being killed mid-pass (nothing missed, nothing doubled) and shares work on PostgreSQL."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable
from datetime import datetime, timedelta, timezone

import pytest
from freezegun import freeze_time
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from storage.models import CaseEventRecord, DueItem, OutboxMessage
from storage.scheduler import claim_due, fire, run_due
from storage.timeutil import utcnow
from tests.storage.conftest import Org, new_case

T0 = datetime(2026, 11, 30, 2, 0, tzinfo=timezone.utc)
CASES = 6


def open_overdue_cases(session: Session, org: Org, count: int = CASES) -> list[int]:
    ids = [new_case(session, org, T0 + timedelta(seconds=i), urgency="urgent").id for i in range(count)]
    session.commit()
    return ids


def escalation_counts(session: Session) -> Counter[tuple[int, int]]:
    rows = session.execute(
        select(CaseEventRecord.case_id, CaseEventRecord.escalation_level).where(
            CaseEventRecord.event == "escalate"
        )
    ).all()
    return Counter((case_id, level) for case_id, level in rows)


def escalation_message_count(session: Session) -> int:
    return session.execute(
        select(func.count()).select_from(OutboxMessage).where(OutboxMessage.template == "task.escalated")
    ).scalar_one()


class SchedulerKilled(Exception):
    """Stands for the process dying between firing and committing."""


def test_a_scheduler_killed_mid_pass_leaves_everything_for_the_restart(
    session: Session, session_factory: Callable[[], Session], org: Org
) -> None:
    case_ids = open_overdue_cases(session, org)
    with freeze_time(T0 + timedelta(minutes=20)):
        with pytest.raises(SchedulerKilled), session_factory() as doomed, doomed.begin():
            items = claim_due(doomed, utcnow(), limit=100, worker_id="doomed")
            assert len(items) == CASES
            for item in items[: CASES // 2]:
                fire(doomed, item, utcnow(), "doomed")
            doomed.flush()  # the escalations reached the database, uncommitted
            raise SchedulerKilled
        assert escalation_counts(session) == Counter()
        session.rollback()
        assert run_due(session_factory, utcnow(), worker_id="restarted") == CASES
        assert run_due(session_factory, utcnow(), worker_id="restarted") == 0  # fired items never fire again
    assert escalation_counts(session) == Counter({(case_id, 1): 1 for case_id in case_ids})
    assert escalation_message_count(session) == CASES
    fired_by = session.execute(select(DueItem.fired_by).where(DueItem.status == "fired")).scalars().all()
    assert fired_by == ["restarted"] * CASES


def test_a_restart_after_commit_fires_nothing_twice_and_picks_up_later_levels(
    session: Session, session_factory: Callable[[], Session], org: Org
) -> None:
    case_ids = open_overdue_cases(session, org)
    with freeze_time(T0 + timedelta(minutes=20)) as clock:
        assert run_due(session_factory, utcnow(), worker_id="first", limit=4) == 4
        assert run_due(session_factory, utcnow(), worker_id="second") == CASES - 4
        clock.tick(timedelta(minutes=15))  # level-2 limits (15 min after each firing) are now due
        assert run_due(session_factory, utcnow(), worker_id="second") == CASES
    expected = Counter({(case_id, level): 1 for case_id in case_ids for level in (1, 2)})
    assert escalation_counts(session) == expected


@pytest.mark.postgres
@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
def test_two_schedulers_on_postgresql_skip_each_others_locked_items(
    session: Session, session_factory: Callable[[], Session], org: Org
) -> None:
    """SKIP LOCKED is PostgreSQL's; on SQLite schedulers take turns with the write lock (threads test below)."""
    assert session.get_bind().dialect.name == "postgresql"
    case_ids = open_overdue_cases(session, org)
    now = T0 + timedelta(minutes=20)
    with session_factory() as first, first.begin(), session_factory() as second, second.begin():
        mine = claim_due(first, now, limit=2, worker_id="a")
        theirs = claim_due(second, now, limit=100, worker_id="b")
        assert len(mine) == 2 and len(theirs) == CASES - 2
        assert not {item.id for item in mine} & {item.id for item in theirs}
        for worker, claimed, db in (("a", mine, first), ("b", theirs, second)):
            for item in claimed:
                fire(db, item, now, worker)
    assert escalation_counts(session) == Counter({(case_id, 1): 1 for case_id in case_ids})


def test_concurrent_scheduler_threads_fire_each_item_exactly_once(
    session: Session, session_factory: Callable[[], Session], org: Org
) -> None:
    case_ids = open_overdue_cases(session, org, count=12)
    now = T0 + timedelta(minutes=20)
    fired: list[int] = []
    errors: list[BaseException] = []
    start = threading.Barrier(3)

    def worker(name: str) -> None:
        try:
            start.wait()
            while (count := run_due(session_factory, now, worker_id=name, limit=2)) > 0:
                fired.append(count)
        except BaseException as error:  # surfaced by the assertion below
            errors.append(error)

    threads = [threading.Thread(target=worker, args=(f"w{i}",)) for i in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert sum(fired) == 12
    assert escalation_counts(session) == Counter({(case_id, 1): 1 for case_id in case_ids})
    assert escalation_message_count(session) == 12


def test_run_loop_drains_a_backlog_in_full_batches_then_stops(
    session: Session, session_factory: Callable[[], Session], org: Org
) -> None:
    import threading

    from storage.scheduler import run_loop

    open_overdue_cases(session, org, count=5)
    stop = threading.Event()
    ticks: list[int] = []

    def clock() -> datetime:  # the operator asks to stop during the third pass
        ticks.append(1)
        if len(ticks) == 3:
            stop.set()
        return T0 + timedelta(minutes=20)

    fired = run_loop(session_factory, stop, worker_id="loop", limit=2, clock=clock)
    assert len(ticks) == 3  # full batches (2, 2) ran back to back, the last (1) ended the loop
    assert fired == 5
    assert sum(escalation_counts(session).values()) == 5


KILLED_WORKER = """
import sys
from datetime import datetime
from sqlalchemy.orm import sessionmaker
from storage.db import make_engine
from storage.scheduler import claim_due, fire

url, now = sys.argv[1], datetime.fromisoformat(sys.argv[2])
session = sessionmaker(make_engine(url), future=True)()
session.begin()
items = claim_due(session, now, limit=100, worker_id="victim")
for item in items[: len(items) // 2]:
    fire(session, item, now, "victim")
session.flush()
print(len(items), flush=True)
sys.stdin.read()  # hold the transaction open until killed
"""


def test_a_scheduler_process_killed_with_sigkill_mid_transaction_misses_and_doubles_nothing(
    db_url: str, session: Session, session_factory: Callable[[], Session], org: Org
) -> None:
    import signal
    import subprocess
    import sys

    case_ids = open_overdue_cases(session, org)
    now = T0 + timedelta(minutes=20)
    victim = subprocess.Popen(
        [sys.executable, "-c", KILLED_WORKER, db_url, now.isoformat()],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert victim.stdout is not None
        assert victim.stdout.readline().strip() == str(CASES)  # claimed all, fired half, not committed
    finally:
        victim.send_signal(signal.SIGKILL)
        victim.wait()
    assert run_due(session_factory, now, worker_id="restarted") == CASES
    assert run_due(session_factory, now, worker_id="restarted") == 0
    assert escalation_counts(session) == Counter({(case_id, 1): 1 for case_id in case_ids})
    assert escalation_message_count(session) == CASES
