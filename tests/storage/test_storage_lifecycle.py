"""Every (state, event) pair of the lifecycle, allowed or forbidden, in pure code and on both databases."""

from __future__ import annotations

import re
import threading
from collections import deque
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path

import pytest
from freezegun import freeze_time
from sqlalchemy import func, select
from sqlalchemy.orm import Session

import storage.lifecycle as lifecycle
from storage.cases import apply_event, case_events, derive_state
from storage.errors import GridSecretaryError, InvalidTransition
from storage.lifecycle import (
    OPEN_STATES,
    TRANSITIONS,
    CaseEvent,
    CaseState,
    advance,
    allowed_events,
    fold_states,
)
from storage.models import AppendOnlyViolation, Case, CaseEventRecord
from storage.timeutil import utcnow
from tests.storage.conftest import Org, new_case

ALL_PAIRS = [(state, event) for state in CaseState for event in CaseEvent]
T0 = datetime(2026, 11, 30, 2, 0, tzinfo=timezone.utc)


def path_to(target: CaseState) -> list[CaseEvent]:
    """The shortest event sequence from NEW to `target` through the table."""
    queue: deque[tuple[CaseState, list[CaseEvent]]] = deque([(CaseState.NEW, [])])
    seen = {CaseState.NEW}
    while queue:
        state, path = queue.popleft()
        if state is target:
            return path
        for (source, event), destination in TRANSITIONS.items():
            if source is state and destination not in seen:
                seen.add(destination)
                queue.append((destination, [*path, event]))
    raise AssertionError(f"{target} is unreachable")


def test_every_state_is_reachable_and_every_open_state_can_finish() -> None:
    for state in CaseState:
        assert fold_states(path_to(state)) is state
    finals = {CaseState.CLOSED, CaseState.MERGED_DUPLICATE, CaseState.CANCELLED}
    for state in OPEN_STATES:
        assert any(TRANSITIONS.get((state, event)) not in (None, state) for event in CaseEvent), state
    assert not any(source in finals for source, _ in TRANSITIONS)


@pytest.mark.parametrize(("state", "event"), ALL_PAIRS, ids=[f"{s.value}-{e.value}" for s, e in ALL_PAIRS])
def test_advance_follows_the_table_for_every_pair(state: CaseState, event: CaseEvent) -> None:
    if (state, event) in TRANSITIONS:
        assert advance(state, event) is TRANSITIONS[(state, event)]
    else:
        with pytest.raises(InvalidTransition) as raised:
            advance(state, event)
        assert raised.value.state is state and raised.value.event is event
        assert isinstance(raised.value, GridSecretaryError)
        assert event.value in str(raised.value) and state.value in str(raised.value)


def test_escalation_never_changes_state_and_only_open_states_escalate() -> None:
    for state in CaseState:
        if state in OPEN_STATES:
            assert advance(state, CaseEvent.ESCALATE) is state
        else:
            with pytest.raises(InvalidTransition):
                advance(state, CaseEvent.ESCALATE)


def test_the_four_level_chain_and_side_paths() -> None:
    chain = [
        CaseEvent.REPORT,
        CaseEvent.RESPOND,
        CaseEvent.DISPATCH,
        CaseEvent.SIGN,
        CaseEvent.HANDLE,
        CaseEvent.CONFIRM,
    ]
    assert fold_states(chain) is CaseState.CLOSED
    assert fold_states([*chain[:4], CaseEvent.RETURN, CaseEvent.DISPATCH]) is CaseState.DISPATCHED
    assert fold_states([*chain[:5], CaseEvent.REOPEN, CaseEvent.HANDLE_ON_SITE]) is CaseState.HANDLED
    assert fold_states([CaseEvent.REPORT, CaseEvent.RESPOND, CaseEvent.HANDLE_ON_SITE]) is CaseState.HANDLED
    assert allowed_events(CaseState.NEW) == (CaseEvent.REPORT,)


def test_every_table_entry_is_in_the_mermaid_diagram_and_nothing_else() -> None:
    diagram = (Path(lifecycle.__file__).parent / "lifecycle.mmd").read_text(encoding="utf-8")
    edges = set(re.findall(r"^\s*(\w+) --> (\w+): (\w+)\s*$", diagram, flags=re.MULTILINE))
    table = {(source.value, target.value, event.value) for (source, event), target in TRANSITIONS.items()}
    assert table == edges


def payload_for(session: Session, org: Org, event: CaseEvent) -> dict[str, object]:
    if event is CaseEvent.RETURN:
        return {"reason": "不属于本部门职责"}
    if event is CaseEvent.MERGE_DUPLICATE:
        original = new_case(session, org, utcnow(), description="同一堆垃圾")
        return {"duplicate_of": original.code}
    if event is CaseEvent.CONFIRM:
        return {"rating": 5}
    return {}


DB_STATES = [state for state in CaseState if state is not CaseState.NEW]


def test_open_case_records_the_report_event(session: Session, org: Org) -> None:
    case = new_case(session, org, T0)
    (record,) = session.execute(select(CaseEventRecord).where(CaseEventRecord.case_id == case.id)).scalars()
    assert (record.event, record.from_state, record.to_state, record.seq) == ("report", None, "reported", 1)
    assert record.at == T0 and record.payload["auto_dispatch"] is True


@pytest.mark.parametrize("state", DB_STATES, ids=[s.value for s in DB_STATES])
def test_every_pair_on_the_database(session: Session, org: Org, state: CaseState) -> None:
    """For a case in `state`, each allowed event records one row and moves it; each forbidden one changes nothing."""
    with freeze_time(T0):
        case = new_case(session, org, utcnow())
        for event in path_to(state)[1:]:
            apply_event(
                session, case, event, actor="test", now=utcnow(), payload=payload_for(session, org, event)
            )
        session.commit()
        for event in CaseEvent:
            nested = session.begin_nested()
            before = session.execute(
                select(func.count()).select_from(CaseEventRecord).where(CaseEventRecord.case_id == case.id)
            ).scalar_one()
            if (state, event) in TRANSITIONS:
                record = apply_event(
                    session, case, event, actor="test", now=utcnow(), payload=payload_for(session, org, event)
                )
                assert (record.from_state, record.to_state) == (
                    state.value,
                    TRANSITIONS[(state, event)].value,
                )
                assert record.seq == before + 1
                assert case.state == derive_state(session, case.id).value == TRANSITIONS[(state, event)].value
            else:
                with pytest.raises(InvalidTransition):
                    apply_event(
                        session,
                        case,
                        event,
                        actor="test",
                        now=utcnow(),
                        payload=payload_for(session, org, event),
                    )
                after = session.execute(
                    select(func.count())
                    .select_from(CaseEventRecord)
                    .where(CaseEventRecord.case_id == case.id)
                ).scalar_one()
                assert after == before and case.state == state.value
            nested.rollback()


def test_event_rows_are_append_only(session: Session, org: Org) -> None:
    case = new_case(session, org, T0)
    session.commit()
    record = session.execute(select(CaseEventRecord).where(CaseEventRecord.case_id == case.id)).scalar_one()
    record.actor = "someone else"
    with pytest.raises(AppendOnlyViolation):
        session.flush()
    session.rollback()
    session.delete(session.get(CaseEventRecord, record.id))
    with pytest.raises(AppendOnlyViolation):
        session.flush()


def test_two_people_acting_on_one_case_at_once_cannot_both_win(
    session: Session, session_factory: Callable[[], Session], org: Org
) -> None:
    """Two workers press 响应 together: one event is recorded, the other gets InvalidTransition."""
    with freeze_time(T0):
        case_id = new_case(session, org, utcnow()).id
        session.commit()
    outcomes: list[str] = []
    start = threading.Barrier(2)

    def press() -> None:
        start.wait()
        try:
            with session_factory() as db, db.begin():
                apply_event(db, db.get(Case, case_id), CaseEvent.RESPOND, actor="w", now=T0)
            outcomes.append("recorded")
        except InvalidTransition:
            outcomes.append("refused")

    threads = [threading.Thread(target=press) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes) == ["recorded", "refused"]
    assert [e.event for e in case_events(session, case_id)] == ["report", "respond"]


def test_nothing_outside_the_repository_assigns_a_case_state() -> None:
    root = Path(lifecycle.__file__).resolve().parents[1]
    offenders = []
    for package in ("bot", "actions", "routing", "storage"):
        for path in (root / package).rglob("*.py"):
            if path.name == "cases.py" and path.parent.name == "storage":
                continue
            for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
                if re.search(r"\bcase\.state\s*=[^=]", line):
                    offenders.append(f"{path.relative_to(root)}:{number}")
    assert offenders == []
