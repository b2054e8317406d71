"""Local mode's Telegram chats: every person gets a private chat and every department a group, on the fake.

With no real Telegram, nobody has bound a chat; binding them all (idempotently, with made-up ids in ranges no
real chat uses here) lets the real Telegram sender and bot run the whole chain against the fake Bot API, and
lets the simulator open any grid worker's or department's chat. Existing bindings are never changed.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from storage.models import ChatBinding, Department, Person

logger = logging.getLogger(__name__)

CHANNEL = "telegram"
PERSON_CHAT_BASE = 100_000_000  # private chats: positive ids
GROUP_CHAT_BASE = -100_000_000  # department groups: negative ids, as Telegram's groups are


@dataclass(frozen=True)
class BoundChats:
    """How many bindings were added this time."""

    people: int
    departments: int


def bind_local_chats(session: Session) -> BoundChats:
    """Bind a private chat to each active person and a group chat to each department that has none."""
    bindings = session.execute(select(ChatBinding).where(ChatBinding.channel == CHANNEL)).scalars().all()
    bound_people = {b.person_id for b in bindings if b.person_id and b.kind == "private"}
    bound_departments = {b.department_key for b in bindings if b.department_key and b.kind == "group"}
    ids = [int(b.chat_id) for b in bindings if b.chat_id.lstrip("-").isdigit()]
    next_person = max([i for i in ids if i > PERSON_CHAT_BASE] or [PERSON_CHAT_BASE]) + 1
    next_group = min([i for i in ids if i < GROUP_CHAT_BASE] or [GROUP_CHAT_BASE]) - 1
    people = session.execute(select(Person.id).where(Person.active.is_(True)).order_by(Person.id)).scalars()
    rows: list[dict[str, object]] = []
    for person_id in people:
        if person_id not in bound_people:
            rows.append(
                {"channel": CHANNEL, "chat_id": str(next_person), "person_id": person_id, "kind": "private"}
            )
            next_person += 1
    added_people = len(rows)
    for key in session.execute(select(Department.key).order_by(Department.key)).scalars():
        if key not in bound_departments:
            rows.append(
                {"channel": CHANNEL, "chat_id": str(next_group), "department_key": key, "kind": "group"}
            )
            next_group -= 1
    if rows:
        session.execute(
            ChatBinding.__table__.insert(), [{"person_id": None, "department_key": None, **r} for r in rows]
        )
    result = BoundChats(people=added_people, departments=len(rows) - added_people)
    logger.info("local mode: bound %s", result)
    return result


def chat_for_person(session: Session, person_id: str) -> int | None:
    """The private Telegram chat (= user id) bound to a person, or None."""
    chat = session.execute(
        select(ChatBinding.chat_id).where(
            ChatBinding.channel == CHANNEL, ChatBinding.person_id == person_id, ChatBinding.kind == "private"
        )
    ).scalar_one_or_none()
    return int(chat) if chat is not None else None


def chat_for_department(session: Session, department_key: str) -> int | None:
    """The group chat bound to a department, or None."""
    chat = session.execute(
        select(ChatBinding.chat_id).where(
            ChatBinding.channel == CHANNEL,
            ChatBinding.department_key == department_key,
            ChatBinding.kind == "group",
        )
    ).scalar_one_or_none()
    return int(chat) if chat is not None else None


def department_member(session: Session, department_key: str) -> tuple[str, int] | None:
    """(person id, Telegram user id) of the first registered member of a department, or None."""
    row = session.execute(
        select(Person.id, ChatBinding.chat_id)
        .join(ChatBinding, ChatBinding.person_id == Person.id)
        .where(
            Person.department_key == department_key,
            Person.role == "department",
            Person.active.is_(True),
            ChatBinding.channel == CHANNEL,
        )
        .order_by(Person.id)
    ).first()
    return (str(row[0]), int(row[1])) if row is not None else None
