"""Manual triage from the command-centre console: re-categorise, re-dispatch, merge duplicates, cancel.

Every action is one or two lifecycle events recorded by `storage.cases.apply_event` with the staff actor
(`console:<username>`), checked against the one transition table in `storage.lifecycle`; nothing here
assigns state. A category change rides on the `triage` or `dispatch` event's payload (the lifecycle has no
state-preserving event for it); a department change is a re-dispatch. On a case still `reported` the
command centre responds first (as the Telegram side does for a worker), so both events carry its name.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from storage.cases import apply_event
from storage.console_queries import categories
from storage.errors import InvalidTransition, StorageInputError
from storage.lifecycle import TRANSITIONS, CaseEvent, CaseState
from storage.models import Case, Department

logger = logging.getLogger(__name__)

E = CaseEvent
ACTION_EVENTS = {
    "triage": E.TRIAGE,
    "dispatch": E.DISPATCH,
    "merge": E.MERGE_DUPLICATE,
    "cancel": E.CANCEL,
}
# The command centre may respond on the grid's behalf before these (a case still waiting for 响应).
_RESPOND_FIRST = (E.TRIAGE, E.DISPATCH)
MAX_NOTE = 500


@dataclass(frozen=True)
class TriageResult:
    """The events recorded, in order, and the state after them."""

    recorded: tuple[str, ...]
    state: str


def plan_for(state: str, action: str) -> list[CaseEvent]:
    """The events `action` records in `state`.

    Raises:
        StorageInputError: not a triage action.
        InvalidTransition: the lifecycle table does not allow it now.
    """
    main = ACTION_EVENTS.get(action)
    if main is None:
        raise StorageInputError(f"action must be one of {sorted(ACTION_EVENTS)}, got {action!r}")
    current = CaseState(state)
    plan = [main]
    if current is CaseState.REPORTED and main in _RESPOND_FIRST:
        plan.insert(0, E.RESPOND)
    for event in plan:
        if (current, event) not in TRANSITIONS:
            raise InvalidTransition(current, main)
        current = TRANSITIONS[(current, event)]
    return plan


def allowed_actions(state: str) -> list[str]:
    """The triage actions the lifecycle allows in `state` (for the console's buttons)."""
    allowed = []
    for action in ACTION_EVENTS:
        try:
            plan_for(state, action)
        except InvalidTransition:
            continue
        allowed.append(action)
    return allowed


def department_key_for(session: Session, case: Case, code_or_key: str) -> str:
    """A department key from a key (`JDB-440104001`) or plain code (`SWJ`; street units take the case's street).

    Raises:
        StorageInputError: no such department (or a street unit for a case without a street).
    """
    if session.get(Department, code_or_key) is not None:
        return code_or_key
    if case.street_code and session.get(Department, Department.key_for(code_or_key, case.street_code)):
        return Department.key_for(code_or_key, case.street_code)
    raise StorageInputError(f"no department {code_or_key!r} for this case (e.g. HWZX, or JDB for its street)")


def _utf8(value: str) -> bool:
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _text(body: Mapping[str, Any], key: str) -> str | None:
    value = body.get(key)
    if value is None or value == "":
        return None
    if not isinstance(value, str) or "\x00" in value or not _utf8(value):
        raise StorageInputError(f"{key} must be UTF-8 text without NUL characters")
    value = value.strip()
    if len(value) > MAX_NOTE:
        raise StorageInputError(f"{key} is longer than {MAX_NOTE} characters")
    return value or None


def _payload(session: Session, case: Case, action: str, body: Mapping[str, Any]) -> dict[str, Any]:
    """Validate the body of an action and build the event payload it records."""
    payload: dict[str, Any] = {"source": "console"}
    note = _text(body, "note")
    if note:
        payload["note"] = note
    category = _text(body, "category")
    if category is not None and category != case.category:
        if action not in ("triage", "dispatch"):
            raise StorageInputError("category can be changed only with triage or dispatch")
        if category not in categories():
            raise StorageInputError(f"unknown category {category!r}")
        payload.update(category=category, previous_category=case.category)
    if action == "dispatch":
        department = _text(body, "department") or (
            categories().get(category, {}).get("department") if category else None
        )
        if department is None:
            raise StorageInputError("dispatch needs `department` (a key like HWZX or a code like JDB)")
        payload.update(department_key=department_key_for(session, case, department),
                       previous_department_key=case.department_key)
    if action == "merge":
        original = _text(body, "duplicate_of")
        if original is None:
            raise StorageInputError("merge needs `duplicate_of`, the code of the original case")
        payload["duplicate_of"] = original
    if action == "cancel" and not note:
        raise StorageInputError("cancel needs a `note` saying why")
    return payload


def perform_triage(
    session: Session, case: Case, action: str, body: Mapping[str, Any], *, actor: str, now: datetime
) -> TriageResult:
    """Record a console triage action on `case` in the caller's transaction.

    Raises:
        StorageInputError: a bad body (unknown category/department, missing field).
        InvalidTransition: the lifecycle does not allow the action in the case's state (nothing recorded).
    """
    plan = plan_for(case.state, action)
    payload = _payload(session, case, action, body)
    for event in plan:
        apply_event(session, case, event, actor=actor, now=now, payload=payload if event is plan[-1] else {"source": "console"})
    logger.info("console %s on %s by %s: %s", action, case.code, actor, [e.value for e in plan])
    return TriageResult(recorded=tuple(event.value for event in plan), state=case.state)
