"""Telegram test fixtures: a small organisation with Telegram bindings, the fake Bot API, update builders.

Everything is real: PTB Application and Bot, the loopback fake Bot API, SQLite/PostgreSQL, the outbox.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Callable, Coroutine, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any, TypeVar

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session
from telegram import Update
from telegram.ext import Application

from bot.senders.telegram import TelegramSender
from bot.telegram.app import build_application
from bot.telegram.handlers import Services
from storage.cases import apply_event, case_events, get_case_by_code, open_case
from storage.models import ChatBinding, Community, Department, Grid, Person, Resident, Street
from storage.outbox import LocalConsoleSender, Sender, deliver_due
from tests.fakes.telegram_api import FakeTelegramAPI, running_fake_telegram
from tests.fakes.wechat_api import FakeWeChatAPI, running_fake_wechat

T = TypeVar("T")
TOKEN = "123456:test-token"
START = datetime(2026, 11, 30, 2, 0, tzinfo=timezone.utc)  # Monday 10:00 in Guangzhou

WORKER, WORKER_CHAT = "GW-440104001007-03", 1001
OTHER_WORKER = 1009  # a grid worker of another grid
CGZF_STAFF, SWJ_STAFF, HWZX_STAFF = 2001, 2002, 2003
CGZF_GROUP, SWJ_GROUP, HWZX_GROUP = -5001, -5002, -5003
STRANGER = 9999
COMMAND_CENTRE = 4001


def run(coroutine: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coroutine)


@dataclass
class Clock:
    """A settable clock for the handlers (the database needs aware datetimes)."""

    now: datetime = START

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> datetime:
        self.now += timedelta(**delta)
        return self.now


def seed_org(session: Session) -> None:
    """洪桥 street, one community, two grids, four departments, people and their Telegram chats."""
    session.add(Street(code="440104001", name="洪桥", full_name="洪桥街道"))
    session.add(Community(code="440104001007", name="三眼井社区", street_code="440104001"))
    session.flush()
    for number in (3, 4):
        session.add(
            Grid(
                id=f"440104001007-0{number}",
                community_code="440104001007",
                street_code="440104001",
                number=number,
            )
        )
    for code, name in (
        ("CGZF", "区城市管理和综合执法局"),
        ("SWJ", "区水务局"),
        ("HWZX", "区环境卫生事务中心"),
        ("DZZX", "区综合指挥调度中心"),
    ):
        session.add(Department(key=code, code=code, name=name, scope="district"))
    session.add(
        Department(
            key="JDB-440104001", code="JDB", name="街道办事处", scope="street", street_code="440104001"
        )
    )
    session.flush()
    people = [
        (WORKER, "grid_worker", {"grid_id": "440104001007-03"}, WORKER_CHAT),
        ("GW-440104001007-04", "grid_worker", {"grid_id": "440104001007-04"}, OTHER_WORKER),
        ("DEP-CGZF-1", "department", {"department_key": "CGZF"}, CGZF_STAFF),
        ("DEP-SWJ-1", "department", {"department_key": "SWJ"}, SWJ_STAFF),
        ("DEP-HWZX-1", "department", {"department_key": "HWZX"}, HWZX_STAFF),
        ("CM-440104001007-1", "community", {"community_code": "440104001007"}, 3001),
        ("DZZX-1", "command_centre", {"department_key": "DZZX"}, COMMAND_CENTRE),
    ]
    for person_id, role, units, chat in people:
        session.add(
            Person(
                id=person_id,
                name=person_id,
                phone="13900001111",
                role=role,
                street_code="440104001",
                community_code=units.get("community_code", "440104001007"),
                active=True,
                grid_id=units.get("grid_id"),
                department_key=units.get("department_key"),
            )
        )
        session.flush()
        session.add(ChatBinding(channel="telegram", chat_id=str(chat), person_id=person_id, kind="private"))
    for key, chat in (("CGZF", CGZF_GROUP), ("SWJ", SWJ_GROUP), ("HWZX", HWZX_GROUP)):
        session.add(ChatBinding(channel="telegram", chat_id=str(chat), department_key=key, kind="group"))
    session.add(Resident(openid="o-resident-1", channel="wechat", phone="13812345678", created_at=START))
    session.flush()


def report_case(
    session: Session, now: datetime = START, description: str = "三眼井12号门口垃圾堆了三天没人清"
) -> str:
    resident = session.execute(select(Resident).where(Resident.openid == "o-resident-1")).scalar_one()
    case = open_case(
        session,
        now=now,
        description=description,
        category="环境卫生",
        resident_id=resident.id,
        address="三眼井12号",
        street_code="440104001",
        community_code="440104001007",
        grid_id="440104001007-03",
        department_key="CGZF",
        worker_id=WORKER,
    )
    return str(case.code)


def dispatched_case(session_factory: Callable[[], Session], clock: Clock) -> str:
    """A reported case the worker responded to and dispatched to CGZF; returns its code."""
    with session_factory() as session, session.begin():
        code = report_case(session, clock.now)
        case = get_case_by_code(session, code)
        assert case is not None
        apply_event(session, case, "respond", actor="t", now=clock.now)
        apply_event(session, case, "dispatch", actor="t", now=clock.now, payload={"department_key": "CGZF"})
    return code


def events_of(session_factory: Callable[[], Session], code: str) -> list[str]:
    """The event names of a case's history, in order."""
    with session_factory() as session:
        case = get_case_by_code(session, code)
        assert case is not None
        return [record.event for record in case_events(session, case.id)]


@pytest.fixture()
def org(session_factory: Callable[[], Session]) -> Callable[[], Session]:
    with session_factory() as session, session.begin():
        seed_org(session)
    return session_factory


@pytest.fixture()
def fake() -> Iterator[FakeTelegramAPI]:
    with running_fake_telegram(hang_seconds=3.0) as server:
        yield server


@pytest.fixture()
def fake_wechat() -> Iterator[FakeWeChatAPI]:
    """The fake WeChat API, so the resident's pushes of a chain go out as they would in production."""
    with running_fake_wechat() as server:
        yield server


@pytest.fixture()
def clock() -> Clock:
    return Clock()


@pytest.fixture()
def sender(org: Callable[[], Session], fake: FakeTelegramAPI) -> Iterator[TelegramSender]:
    # No cool-off here: these tests follow each failure one by one (see the cool-off test in test_telegram_resilience).
    telegram = TelegramSender(org, token=TOKEN, api_base=fake.api_base, timeout_s=0.5, cooldown_s=0.0)
    yield telegram
    telegram.close()


@pytest.fixture()
def senders(org: Callable[[], Session], sender: TelegramSender) -> dict[str, Sender]:
    return {"telegram": sender, "*": LocalConsoleSender(org)}


def deliver(session_factory: Callable[[], Session], senders: dict[str, Sender], now: datetime) -> Any:
    return deliver_due(session_factory, senders, now)


@dataclass
class Updates:
    """Builds Bot API update dicts as Telegram would send them."""

    ids: Iterator[int] = field(default_factory=lambda: itertools.count(1))

    @staticmethod
    def _chat(chat_id: int) -> dict[str, Any]:
        return {"id": chat_id, "type": "private" if chat_id > 0 else "supergroup", "title": "g"}

    @staticmethod
    def _user(user_id: int) -> dict[str, Any]:
        return {"id": user_id, "is_bot": False, "first_name": f"u{user_id}"}

    def press(
        self, user_id: int, chat_id: int, data: str, card_text: str = "card", message_id: int = 1
    ) -> dict[str, Any]:
        message = {
            "message_id": message_id,
            "date": 1764460000,
            "chat": self._chat(chat_id),
            "text": card_text,
        }
        return {
            "update_id": next(self.ids),
            "callback_query": {
                "id": str(next(self.ids)),
                "from": self._user(user_id),
                "chat_instance": "ci",
                "data": data,
                "message": message,
            },
        }

    def message(
        self,
        user_id: int,
        chat_id: int,
        *,
        text: str | None = None,
        photo_id: str | None = None,
        reply_to_text: str | None = None,
        entities: list[dict[str, Any]] | None = None,
    ) -> dict[str, Any]:
        message: dict[str, Any] = {
            "message_id": next(self.ids) + 100,
            "date": 1764460000,
            "chat": self._chat(chat_id),
            "from": self._user(user_id),
        }
        if text is not None:
            message["text"] = text
        if entities:
            message["entities"] = entities
        if photo_id is not None:
            message["photo"] = [
                {"file_id": photo_id, "file_unique_id": photo_id + "-u", "width": 640, "height": 480}
            ]
        if reply_to_text is not None:
            message["reply_to_message"] = {
                "message_id": 1,
                "date": 1764460000,
                "chat": self._chat(chat_id),
                "text": reply_to_text,
            }
        return {"update_id": next(self.ids), "message": message}

    def command(self, user_id: int, text: str) -> dict[str, Any]:
        command = text.split()[0]
        return self.message(
            user_id,
            user_id,
            text=text,
            entities=[{"type": "bot_command", "offset": 0, "length": len(command)}],
        )


@pytest.fixture()
def updates() -> Updates:
    return Updates()


def make_app(
    session_factory: Callable[[], Session],
    fake: FakeTelegramAPI,
    clock: Clock,
    tmp_path: Any,
    parser: Any = None,
) -> Application:
    services = Services(
        session_factory=session_factory, parser=parser, media_dir=tmp_path / "media", clock=clock
    )
    return build_application(TOKEN, services, api_base=fake.api_base, read_timeout=2.0, polling=False)


async def feed(app: Application, *raw_updates: dict[str, Any]) -> None:
    """Process updates one by one, as the Application would from its queue."""
    for raw in raw_updates:
        await app.process_update(Update.de_json(raw, app.bot))
