"""Database helpers for the Telegram side: who may act, what a button does, and what a card shows.

Every function takes the caller's Session; `perform` changes a case only through
`storage.cases.apply_event`, so the event rows and the outbox messages to others commit together.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.telegram.cards import CardExtras, texts
from storage.cases import apply_event, get_case_by_code
from storage.errors import ChannelAuthError, InvalidTransition, StorageInputError
from storage.lifecycle import TRANSITIONS, CaseEvent, CaseState
from storage.models import (
    Case,
    CaseEventRecord,
    CaseMedia,
    ChatBinding,
    Department,
    DueItem,
    DutyShift,
    Person,
)
from storage.timeutil import SHANGHAI

logger = logging.getLogger(__name__)

E = CaseEvent
CHANNEL = "telegram"
DEPARTMENT_ACTIONS = ("sign", "dreturn", "dreturn_menu", "done")
PHOTO_ACTIONS = {"onsite": E.HANDLE_ON_SITE, "done": E.HANDLE}


class NotAuthorised(ChannelAuthError):
    """A Telegram user pressed or replied on a case they do not hold."""

    def __init__(self, user_id: int, case_code: str, action: str) -> None:
        super().__init__(f"telegram user {user_id} may not {action} case {case_code}")
        self.user_id, self.case_code, self.action = user_id, case_code, action

    def __repr__(self) -> str:
        return (
            f"NotAuthorised(user_id={self.user_id!r}, case_code={self.case_code!r}, action={self.action!r})"
        )


@dataclass(frozen=True)
class Outcome:
    """What a press did: the events recorded (in order) and the case's state afterwards."""

    case_code: str
    events: tuple[str, ...]
    state: str


def person_for_user(session: Session, user_id: int) -> Person | None:
    """The active person whose private Telegram chat (= their user id) is bound, or None."""
    return session.execute(
        select(Person)
        .join(ChatBinding, ChatBinding.person_id == Person.id)
        .where(ChatBinding.channel == CHANNEL, ChatBinding.chat_id == str(user_id), Person.active.is_(True))
    ).scalar_one_or_none()


def department_for_chat(session: Session, chat_id: int) -> str | None:
    """The department whose group chat this is, or None."""
    return session.execute(
        select(ChatBinding.department_key).where(
            ChatBinding.channel == CHANNEL, ChatBinding.chat_id == str(chat_id), ChatBinding.kind == "group"
        )
    ).scalar_one_or_none()


def _holds_as_worker(person: Person, case: Case) -> bool:
    if person.role == "command_centre":
        return case.state in (CaseState.TRIAGE.value, CaseState.RETURNED.value)
    if person.role != "grid_worker":
        return False
    if person.id == case.worker_id or (case.grid_id and person.grid_id == case.grid_id):
        return True
    return person.id.startswith("NW-") and person.community_code == case.community_code


def authorise(session: Session, case: Case, user_id: int, chat_id: int, action: str) -> Person:
    """The person acting, if they may do `action` on `case` from this chat.

    Department actions need the case's department group chat and a registered member of that
    department; worker actions need the case's grid worker (or the community's night duty).

    Raises:
        NotAuthorised: anyone else (the caller logs and refuses).
    """
    person = person_for_user(session, user_id)
    if person is not None:
        if action in DEPARTMENT_ACTIONS:
            group = department_for_chat(session, chat_id)
            if (
                person.role == "department"
                and case.department_key
                and person.department_key == case.department_key
                and group == case.department_key
            ):
                return person
        elif _holds_as_worker(person, case):
            return person
    raise NotAuthorised(user_id, case.code, action)


def load_case(session: Session, code: str) -> Case:
    """The case with this code.

    Raises:
        StorageInputError: no such case.
    """
    case = get_case_by_code(session, code)
    if case is None:
        raise StorageInputError(f"no case {code}")
    return case


def _plan(case: Case, action: str) -> list[CaseEvent]:
    state = CaseState(case.state)
    main = {
        "respond": E.RESPOND,
        "dispatch": E.DISPATCH,
        "wreturn": E.TRIAGE,
        "sign": E.SIGN,
        "dreturn": E.RETURN,
        **PHOTO_ACTIONS,
    }[action]
    plan = [main]
    # A worker who acts before pressing 响应 has responded; a department finishing unsigned has signed.
    if state is CaseState.REPORTED and main in (E.DISPATCH, E.TRIAGE, E.HANDLE_ON_SITE):
        plan.insert(0, E.RESPOND)
    if state is CaseState.DISPATCHED and main is E.HANDLE:
        plan.insert(0, E.SIGN)
    return plan


def check_allowed(case: Case, action: str) -> list[CaseEvent]:
    """The events `action` would record now.

    Raises:
        InvalidTransition: the lifecycle table does not allow it in the case's state.
    """
    plan = _plan(case, action)
    state = CaseState(case.state)
    for event in plan:
        if (state, event) not in TRANSITIONS:
            raise InvalidTransition(state, event)
        state = TRANSITIONS[(state, event)]
    return plan


def department_key_for(session: Session, case: Case, code_or_key: str) -> str | None:
    """A department key from a code (`SWJ`) or key (`JDB-440104001`); street units take the case's street."""
    if session.get(Department, code_or_key) is not None:
        return code_or_key
    if case.street_code and session.get(Department, Department.key_for(code_or_key, case.street_code)):
        return Department.key_for(code_or_key, case.street_code)
    return None


def perform(
    session: Session,
    case: Case,
    action: str,
    person: Person,
    now: datetime,
    payload: dict[str, Any] | None = None,
) -> Outcome:
    """Record what a button (or an understood reply) means, through the state machine.

    Raises:
        InvalidTransition: not allowed in the case's state (nothing is recorded).
        StorageInputError: a missing reason or unknown department.
    """
    plan = check_allowed(case, action)
    actor = f"{CHANNEL}:{person.id}"
    for event in plan:
        apply_event(session, case, event, actor=actor, now=now, payload=payload if event is plan[-1] else {})
    return Outcome(case_code=case.code, events=tuple(event.value for event in plan), state=case.state)


def record_photo(session: Session, case: Case, file_id: str, uri: str, now: datetime, stage: str) -> None:
    """Keep a photo a worker or department sent (`stage` after: the proof of handling)."""
    session.add(
        CaseMedia(
            case_id=case.id,
            kind="photo",
            uri=uri,
            content_type="image/jpeg",
            meta={"telegram_file_id": file_id, "stage": stage},
            created_at=now,
        )
    )
    session.flush()


def suggested_department(session: Session, case: Case) -> str | None:
    """The department to preselect: the latest return's suggestion, else the routed department."""
    last_return = (
        session.execute(
            select(CaseEventRecord)
            .where(CaseEventRecord.case_id == case.id, CaseEventRecord.event == E.RETURN.value)
            .order_by(CaseEventRecord.seq.desc())
        )
        .scalars()
        .first()
    )
    if last_return is not None and last_return.payload.get("suggested_department_key"):
        return str(last_return.payload["suggested_department_key"])
    return case.department_key or ((case.routing or {}).get("department_key"))


def dispatch_choices(session: Session, case: Case) -> tuple[str | None, list[tuple[str, str]]]:
    """(suggested key, [(key, name)]) for the dispatch menu: the suggestion plus the usual departments."""
    suggested = suggested_department(session, case)
    wanted = [suggested] if suggested else []
    wanted += [
        key for code in texts()["dispatch_choices"] if (key := department_key_for(session, case, code))
    ]
    choices: list[tuple[str, str]] = []
    for key in dict.fromkeys(wanted):
        department = session.get(Department, key)
        if department is not None:
            choices.append((key, department.name))
    return suggested, choices


def card_extras(session: Session, code: str) -> CardExtras:
    """The pending time limit and the resident's first photo of a case, for its card."""
    case = get_case_by_code(session, code)
    if case is None:
        return CardExtras()
    due = (
        session.execute(
            select(DueItem)
            .where(DueItem.case_id == case.id, DueItem.status == "pending")
            .order_by(DueItem.due_at)
        )
        .scalars()
        .first()
    )
    photo = (
        session.execute(
            select(CaseMedia.uri)
            .where(CaseMedia.case_id == case.id, CaseMedia.kind == "photo")
            .order_by(CaseMedia.id)
        )
        .scalars()
        .first()
    )
    return CardExtras(
        due_local=due.due_at.astimezone(SHANGHAI).strftime("%m-%d %H:%M") if due else None,
        stage=due.stage if due else None,
        limit_text=due.limit_text if due else None,
        photo=photo,
    )


def on_duty(session: Session, person_id: str, now: datetime) -> bool:
    """Whether the duty roster has the person on shift at `now` (Asia/Shanghai wall clock)."""
    local = now.astimezone(SHANGHAI)
    for shift in session.execute(select(DutyShift).where(DutyShift.person_id == person_id)).scalars():
        if str(local.isoweekday()) not in shift.weekdays:
            continue
        clock = local.time()
        inside = (
            shift.starts <= clock < shift.ends
            if shift.starts < shift.ends
            else clock >= shift.starts or clock < shift.ends
        )
        if inside:
            return True
    return False
