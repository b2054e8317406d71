"""Random (seeded) walks through the transition table, with scheduler passes in between, checking the
invariants that must hold after every step: the state projection equals the fold of the events, a case
has at most one running clock, final and handled cases have none, and every escalation fired once."""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Callable
from datetime import datetime, timedelta, timezone

import pytest
from freezegun import freeze_time
from sqlalchemy import select
from sqlalchemy.orm import Session

from storage.cases import apply_event, case_events, derive_state
from storage.lifecycle import TRANSITIONS, CaseEvent, CaseState
from storage.models import Case, DueItem
from storage.scheduler import run_due
from storage.timeutil import utcnow
from tests.storage.conftest import Org, new_case

T0 = datetime(2026, 9, 28, 1, 0, tzinfo=timezone.utc)  # the week before National Day
QUIET = (CaseState.HANDLED, CaseState.CLOSED, CaseState.MERGED_DUPLICATE, CaseState.CANCELLED)


def payload(event: CaseEvent, other_code: str, rng: random.Random) -> dict[str, object]:
    if event is CaseEvent.RETURN:
        return {"reason": "非本部门职责"}
    if event is CaseEvent.MERGE_DUPLICATE:
        return {"duplicate_of": other_code}
    if event is CaseEvent.CONFIRM:
        return {"rating": rng.randint(1, 5)}
    return {}


def check_invariants(session: Session, case_id: int) -> None:
    case = session.get(Case, case_id)
    assert case.state == derive_state(session, case_id).value
    pending = (
        session.execute(select(DueItem).where(DueItem.case_id == case_id, DueItem.status == "pending"))
        .scalars()
        .all()
    )
    assert len(pending) <= 1, [(p.stage, p.escalate_to) for p in pending]
    if CaseState(case.state) in QUIET:
        assert pending == []
    levels = [e.escalation_level for e in case_events(session, case_id)]
    assert levels == sorted(levels) and max(levels) == case.escalation_level <= 3


@pytest.mark.parametrize("seed", range(6))
def test_random_walks_keep_the_invariants(
    session: Session, session_factory: Callable[[], Session], org: Org, seed: int
) -> None:
    rng = random.Random(seed)
    with freeze_time(T0) as clock:
        anchor = new_case(session, org, utcnow())  # a case to merge duplicates into
        session.commit()
        for _ in range(4):
            case = new_case(session, org, utcnow(), urgency=rng.choice(["urgent", "normal", "complex"]))
            case_id = case.id
            session.commit()
            for _step in range(14):
                state = CaseState(session.get(Case, case_id).state)
                choices = [event for (source, event) in TRANSITIONS if source is state]
                if not choices:
                    break
                event = rng.choice(choices)
                case = session.get(Case, case_id)
                apply_event(session, case, event, "walker", utcnow(), payload(event, anchor.code, rng))
                session.commit()
                clock.tick(timedelta(minutes=rng.choice([1, 20, 90, 600, 3000])))
                run_due(session_factory, utcnow(), worker_id="walk")
                check_invariants(session, case_id)
                session.commit()
    fired = session.execute(
        select(DueItem.case_id, DueItem.stage, DueItem.cycle, DueItem.escalate_to).where(
            DueItem.status == "fired"
        )
    ).all()
    assert all(count == 1 for count in Counter(fired).values())
