"""The case lifecycle: one transition table, the only place that says which event may happen when.

The chain 呼叫→响应→调度→处置: a resident reports (reported), the grid worker responds (responded),
the case is dispatched to a department (dispatched), the department signs for it (signed) and
reports it handled (handled), and the resident confirms and rates it (closed). Side paths:
a department returns a case with a reason (returned; the clock keeps running) and it is
re-dispatched or sent to command-centre triage; the grid worker settles a case on site without a
department (handle_on_site -> handled, awaiting the resident's confirmation); the resident says it is
not fixed (reopened); duplicates are merged; reports are cancelled. ESCALATE never changes the state:
it raises the case's escalation level (grid worker -> community -> street office -> DZZX).

The state of a case is never assigned: it is `fold_states` over its recorded events. The diagram
`lifecycle.mmd` beside this module is checked against TRANSITIONS by a test.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from enum import Enum

from storage.errors import InvalidTransition

logger = logging.getLogger(__name__)


class CaseState(str, Enum):
    """Where a case is in its lifecycle."""

    NEW = "new"  # before the first event; only REPORT leaves it
    REPORTED = "reported"  # 呼叫
    RESPONDED = "responded"  # 响应
    DISPATCHED = "dispatched"  # 调度
    SIGNED = "signed"  # 部门签收
    RETURNED = "returned"  # 部门退回 (with a reason)
    TRIAGE = "triage"  # 指挥中心研判 (command-centre triage)
    HANDLED = "handled"  # 处置完毕, awaiting the resident's confirmation
    REOPENED = "reopened"  # resident: not fixed
    CLOSED = "closed"
    MERGED_DUPLICATE = "merged_duplicate"
    CANCELLED = "cancelled"


class CaseEvent(str, Enum):
    """Something that happens to a case; each one is recorded as an event row."""

    REPORT = "report"
    RESPOND = "respond"
    DISPATCH = "dispatch"  # also re-dispatch after a return, triage or reopening
    SIGN = "sign"
    RETURN = "return"
    TRIAGE = "triage"
    HANDLE = "handle"  # the department reports it handled
    HANDLE_ON_SITE = "handle_on_site"  # the grid worker settles it without a department
    CONFIRM = "confirm"  # the resident confirms and rates
    REOPEN = "reopen"
    MERGE_DUPLICATE = "merge_duplicate"
    CANCEL = "cancel"
    ESCALATE = "escalate"  # a missed limit (or a manual push up the chain); state unchanged


S = CaseState
E = CaseEvent

# States in which the case is still being worked on; a limit can be missed in these.
OPEN_STATES = (S.REPORTED, S.RESPONDED, S.DISPATCHED, S.SIGNED, S.RETURNED, S.TRIAGE, S.REOPENED)
FINAL_STATES = (S.CLOSED, S.MERGED_DUPLICATE, S.CANCELLED)

TRANSITIONS: dict[tuple[CaseState, CaseEvent], CaseState] = {
    (S.NEW, E.REPORT): S.REPORTED,
    (S.REPORTED, E.RESPOND): S.RESPONDED,
    (S.REPORTED, E.MERGE_DUPLICATE): S.MERGED_DUPLICATE,
    (S.REPORTED, E.CANCEL): S.CANCELLED,
    (S.RESPONDED, E.DISPATCH): S.DISPATCHED,
    (S.RESPONDED, E.HANDLE_ON_SITE): S.HANDLED,
    (S.RESPONDED, E.TRIAGE): S.TRIAGE,
    (S.RESPONDED, E.MERGE_DUPLICATE): S.MERGED_DUPLICATE,
    (S.RESPONDED, E.CANCEL): S.CANCELLED,
    (S.DISPATCHED, E.SIGN): S.SIGNED,
    (S.DISPATCHED, E.RETURN): S.RETURNED,
    (S.SIGNED, E.HANDLE): S.HANDLED,
    (S.SIGNED, E.RETURN): S.RETURNED,
    (S.RETURNED, E.DISPATCH): S.DISPATCHED,
    (S.RETURNED, E.TRIAGE): S.TRIAGE,
    (S.RETURNED, E.HANDLE_ON_SITE): S.HANDLED,
    (S.RETURNED, E.CANCEL): S.CANCELLED,
    (S.TRIAGE, E.DISPATCH): S.DISPATCHED,
    (S.TRIAGE, E.HANDLE_ON_SITE): S.HANDLED,
    (S.TRIAGE, E.MERGE_DUPLICATE): S.MERGED_DUPLICATE,
    (S.TRIAGE, E.CANCEL): S.CANCELLED,
    (S.HANDLED, E.CONFIRM): S.CLOSED,
    (S.HANDLED, E.REOPEN): S.REOPENED,
    (S.REOPENED, E.DISPATCH): S.DISPATCHED,
    (S.REOPENED, E.HANDLE_ON_SITE): S.HANDLED,
    (S.REOPENED, E.TRIAGE): S.TRIAGE,
    **{(state, E.ESCALATE): state for state in OPEN_STATES},
}


def advance(state: CaseState, event: CaseEvent) -> CaseState:
    """The state after `event` happens in `state`.

    Raises:
        InvalidTransition: the table has no entry for (state, event).
    """
    try:
        return TRANSITIONS[(CaseState(state), CaseEvent(event))]
    except (KeyError, ValueError):
        raise InvalidTransition(state, event) from None


def fold_states(events: Iterable[CaseEvent | str]) -> CaseState:
    """Derive the current state by replaying events from NEW (raises InvalidTransition on a bad history)."""
    state = CaseState.NEW
    for event in events:
        state = advance(state, CaseEvent(event))
    return state


def allowed_events(state: CaseState) -> tuple[CaseEvent, ...]:
    """The events the table allows in `state`, in declaration order (for buttons and menus)."""
    return tuple(event for event in CaseEvent if (state, event) in TRANSITIONS)
