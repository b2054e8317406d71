"""Outbox: same-transaction enqueue, delivery, deterministic retry backoff, parking, resuming, leases."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta, timezone

import pytest
from freezegun import freeze_time
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from storage.cases import apply_event
from storage.errors import PermanentSendError, RetryableSendError
from storage.lifecycle import CaseEvent
from storage.models import ConsoleMessage, OutboxMessage
from storage.outbox import (
    DEFAULT_MAX_ATTEMPTS,
    LocalConsoleSender,
    OutgoingMessage,
    backoff,
    deliver_due,
    enqueue,
    parked_messages,
    resume_parked,
)
from storage.timeutil import utcnow
from tests.storage.conftest import Org, new_case

T0 = datetime(2026, 11, 30, 2, 0, tzinfo=timezone.utc)


class FlakySender:
    """Fails the first `failures` sends with `error`, then succeeds; records every attempt."""

    def __init__(self, failures: int = 0, error: type[Exception] = RetryableSendError) -> None:
        self.failures = failures
        self.error = error
        self.attempts: list[OutgoingMessage] = []
        self.delivered: list[OutgoingMessage] = []

    def send(self, message: OutgoingMessage) -> None:
        self.attempts.append(message)
        if len(self.attempts) <= self.failures:
            raise self.error("gateway said no")
        self.delivered.append(message)


def add_message(session: Session, key: str = "k-1", channel: str = "telegram") -> int:
    message = enqueue(
        session,
        recipient_kind="person",
        recipient_id="GW-1",
        template="task.new_case",
        params={"case_code": "YX-20261130-0001"},
        idempotency_key=key,
        now=utcnow(),
        channel=channel,
    )
    session.flush()
    message_id = message.id
    session.commit()  # and touch nothing of the session afterwards: on SQLite a new read would hold the lock
    return message_id


def test_backoff_is_exponential_deterministic_and_capped() -> None:
    assert [backoff(n).total_seconds() for n in range(1, 9)] == [30, 60, 120, 240, 480, 960, 1920, 3600]


def test_messages_commit_or_roll_back_with_the_state_change(session: Session, org: Org) -> None:
    with freeze_time(T0):
        case = new_case(session, org, utcnow())
        session.rollback()
        assert session.execute(select(func.count()).select_from(OutboxMessage)).scalar_one() == 0
        case = new_case(session, org, utcnow())
        session.commit()
    rows = session.execute(select(OutboxMessage).where(OutboxMessage.case_id == case.id)).scalars().all()
    assert {(m.channel, m.recipient_kind, m.recipient_id, m.template) for m in rows} == {
        ("wechat", "resident", org.resident_openid, "case.reported"),
        ("telegram", "person", org.worker, "task.new_case"),
    }
    worker_message = next(m for m in rows if m.recipient_kind == "person")
    assert worker_message.payload["address"] == "1001"  # the worker's bound Telegram chat
    assert worker_message.payload["params"]["resident_contact"] == "139****5678"  # stored once, shown masked
    assert "13912345678" not in str(worker_message.payload)


def test_who_is_told_what_along_the_chain(session: Session, org: Org) -> None:
    with freeze_time(T0):
        case = new_case(session, org, utcnow())
        for event, payload in [
            (CaseEvent.RESPOND, {}),
            (CaseEvent.DISPATCH, {}),
            (CaseEvent.RETURN, {"reason": "非本部门职责"}),
            (CaseEvent.DISPATCH, {"department_key": "SZWH"}),
            (CaseEvent.SIGN, {}),
            (CaseEvent.HANDLE, {}),
            (CaseEvent.REOPEN, {}),
            (CaseEvent.HANDLE_ON_SITE, {}),
            (CaseEvent.CONFIRM, {"rating": 4}),
        ]:
            apply_event(session, case, event, actor="t", now=utcnow(), payload=payload)
        session.commit()
    rows = session.execute(
        select(OutboxMessage.template, OutboxMessage.recipient_kind, OutboxMessage.recipient_id)
        .where(OutboxMessage.case_id == case.id)
        .order_by(OutboxMessage.id)
    ).all()
    resident = [template for template, kind, _ in rows if kind == "resident"]
    assert resident == [
        "case.reported",
        "case.responded",
        "case.dispatched",
        "case.returned",
        "case.dispatched",
        "case.signed",
        "case.handled",
        "case.reopened",
        "case.handled",
        "case.closed",
    ]
    staff = [(template, recipient) for template, kind, recipient in rows if kind != "resident"]
    assert staff == [
        ("task.new_case", org.worker),
        ("task.dispatched", "HWZX"),
        ("task.returned", org.worker),
        ("task.dispatched", "SZWH"),
        ("task.reopened", org.worker),
    ]


def test_retry_with_backoff_then_deliver(session_factory: Callable[[], Session], session: Session) -> None:
    with freeze_time(T0) as clock:
        message_id = add_message(session)
        sender = FlakySender(failures=2)
        assert deliver_due(session_factory, {"telegram": sender}, utcnow()).retried == [message_id]
        clock.tick(timedelta(seconds=29))
        assert deliver_due(session_factory, {"telegram": sender}, utcnow()).retried == []  # not due yet
        clock.tick(timedelta(seconds=1))
        assert deliver_due(session_factory, {"telegram": sender}, utcnow()).retried == [message_id]
        clock.tick(timedelta(seconds=59))
        assert (
            len(sender.attempts) == 2
            and deliver_due(session_factory, {"telegram": sender}, utcnow()).sent == []
        )
        clock.tick(timedelta(seconds=1))
        assert deliver_due(session_factory, {"telegram": sender}, utcnow()).sent == [message_id]
    assert [m.attempt for m in sender.attempts] == [1, 2, 3]
    assert {m.idempotency_key for m in sender.attempts} == {"k-1"}
    row = session.get(OutboxMessage, message_id)
    assert (row.status, row.attempts, row.last_error, row.sent_at) == (
        "sent",
        3,
        None,
        T0 + timedelta(seconds=90),
    )


def test_park_after_max_attempts_is_visible_and_resumable(
    session_factory: Callable[[], Session], session: Session
) -> None:
    with freeze_time(T0) as clock:
        message_id = add_message(session)
        broken = FlakySender(failures=100)
        for attempt in range(1, DEFAULT_MAX_ATTEMPTS + 1):
            report = deliver_due(session_factory, {"telegram": broken}, utcnow())
            assert (report.parked if attempt == DEFAULT_MAX_ATTEMPTS else report.retried) == [message_id]
            clock.tick(backoff(attempt))
        assert deliver_due(session_factory, {"telegram": broken}, utcnow() + timedelta(days=1)).parked == []
        (parked,) = parked_messages(session)
        assert (parked.id, parked.status, parked.attempts) == (message_id, "parked", DEFAULT_MAX_ATTEMPTS)
        assert "gateway said no" in parked.last_error and parked.parked_at is not None
        session.rollback()
        assert resume_parked(session, utcnow()) == 1
        session.commit()
        assert parked_messages(session) == []
        session.rollback()
        fixed = FlakySender()
        assert deliver_due(session_factory, {"telegram": fixed}, utcnow()).sent == [message_id]
        assert fixed.delivered[0].attempt == 1  # a fresh attempt budget


def test_permanent_errors_and_missing_senders_park_at_once(
    session_factory: Callable[[], Session], session: Session
) -> None:
    with freeze_time(T0):
        rejected = add_message(session, key="k-perm")
        orphan = add_message(session, key="k-orphan", channel="fax")
        report = deliver_due(
            session_factory, {"telegram": FlakySender(failures=1, error=PermanentSendError)}, utcnow()
        )
        assert sorted(report.parked) == sorted([rejected, orphan])
        errors = {m.id: m.last_error for m in parked_messages(session)}
        assert "no sender for channel 'fax'" in errors[orphan]
        session.rollback()
        assert resume_parked(session, utcnow(), ids=[orphan]) == 1
        session.commit()
        assert [m.id for m in parked_messages(session)] == [rejected]
        session.rollback()


def test_a_sender_bug_is_retried_not_lost(session_factory: Callable[[], Session], session: Session) -> None:
    with freeze_time(T0):
        message_id = add_message(session)
        report = deliver_due(session_factory, {"telegram": FlakySender(failures=1, error=KeyError)}, utcnow())
        assert report.retried == [message_id]


def test_a_worker_that_dies_mid_send_is_covered_by_the_lease_and_the_idempotency_key(
    session_factory: Callable[[], Session], session: Session
) -> None:
    console = LocalConsoleSender(session_factory)

    class DiesAfterSending:
        def send(self, message: OutgoingMessage) -> None:
            console.send(message)
            raise SystemExit("worker killed after the send, before recording it")

    with freeze_time(T0) as clock:
        message_id = add_message(session, channel="console")
        with pytest.raises(SystemExit):
            deliver_due(session_factory, {"console": DiesAfterSending()}, utcnow())
        session.rollback()
        assert session.get(OutboxMessage, message_id).status == "pending"
        session.rollback()
        clock.tick(timedelta(minutes=4))
        assert deliver_due(session_factory, {"console": console}, utcnow()).sent == []  # still leased
        clock.tick(timedelta(minutes=1))
        assert deliver_due(session_factory, {"console": console}, utcnow()).sent == [message_id]
    shown = session.execute(select(ConsoleMessage)).scalars().all()
    assert [(m.idempotency_key, m.template, m.recipient_id) for m in shown] == [
        ("k-1", "task.new_case", "GW-1")
    ]
    assert shown[0].payload["text"].startswith("【新任务】YX-20261130-0001")


def test_two_delivery_workers_never_send_the_same_message(
    session_factory: Callable[[], Session], session: Session
) -> None:
    with freeze_time(T0):
        ids = [add_message(session, key=f"k-{i}") for i in range(5)]
        first, second = FlakySender(), FlakySender()
        deliver_due(session_factory, {"telegram": first}, utcnow(), limit=3)
        deliver_due(session_factory, {"telegram": second}, utcnow())
    assert sorted(m.id for m in first.delivered + second.delivered) == sorted(ids)
    assert len(first.delivered) == 3


def test_naive_times_are_refused(session: Session) -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        enqueue(
            session,
            recipient_kind="person",
            recipient_id="x",
            template="t",
            params={},
            idempotency_key="k",
            now=datetime(2026, 11, 30, 10, 0),
        )


def test_deliver_loop_drains_then_stops(session_factory: Callable[[], Session], session: Session) -> None:
    import threading

    from storage.outbox import deliver_loop

    with freeze_time(T0):
        ids = [add_message(session, key=f"loop-{i}") for i in range(5)]
        sender = FlakySender()
        stop = threading.Event()
        ticks: list[int] = []

        def clock() -> datetime:
            ticks.append(1)
            if len(ticks) == 3:
                stop.set()
            return utcnow()

        report = deliver_loop(session_factory, {"telegram": sender}, stop, limit=2, clock=clock)
        assert len(ticks) == 3
    assert sorted(report.sent) == sorted(ids) and len(sender.delivered) == 5


@pytest.mark.postgres
@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
def test_concurrent_leases_on_postgresql_skip_locked_rows(
    session_factory: Callable[[], Session], session: Session
) -> None:
    from storage.outbox import _lease_batch

    with freeze_time(T0):
        ids = [add_message(session, key=f"pg-{i}") for i in range(4)]
        with session_factory() as first, first.begin(), session_factory() as second, second.begin():
            mine = _lease_batch(first, utcnow(), 2)
            theirs = _lease_batch(second, utcnow(), 10)  # neither waits for nor takes the first's rows
            assert len(mine) == 2 and len(theirs) == 2
            assert sorted(m.id for m in mine + theirs) == sorted(ids)
