"""Security test fixtures: a small organisation whose staff chats are Telegram group chats, and the fakes.

The fake Bot API and WeChat API are the project's own loopback fakes (bot/localmode/, shared with the
local-mode simulator).
"""

from __future__ import annotations

import io
import itertools
import logging
import time
from collections.abc import Callable, Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.localmode.telegram_api import FakeTelegramAPI, running_fake_telegram
from bot.localmode.wechat_api import FakeWeChatAPI, running_fake_wechat
from bot.telegram.app import build_application
from bot.telegram.handlers import Services
from bot.telegram.webhook import PATH, create_webhook_app
from storage.cases import open_case
from storage.models import ChatBinding, Community, Department, Grid, Person, Resident, Street
from tests.security.fuzzing import ErrorLog
from tests.support.sanic_server import serve_sanic

__all__ = ["FakeTelegramAPI", "FakeWeChatAPI", "running_fake_telegram", "running_fake_wechat"]

START = datetime(2026, 11, 30, 2, 0, tzinfo=timezone.utc)  # Monday 10:00 in Guangzhou
STREET, COMMUNITY, GRID = "440104001", "440104001007", "440104001007-03"
WORKER, WORKER_CHAT = "GW-440104001007-03", 1001
# Group chats (negative ids, as Telegram gives groups): the department, the escalation levels' offices.
CGZF_GROUP, COMMUNITY_GROUP, STREET_GROUP, COMMAND_GROUP = -5001, -3001, -3002, -4001
GROUP_CHATS = (CGZF_GROUP, COMMUNITY_GROUP, STREET_GROUP, COMMAND_GROUP)
RESIDENT_OPENID = "oSecurityResident00000000001"
RESIDENT_PHONE = "13812345678"


def seed_staff(session: Session) -> None:
    """One street, community and grid; a worker in a private chat; every other office in a group chat."""
    session.add(Street(code=STREET, name="洪桥", full_name="洪桥街道"))
    session.add(Community(code=COMMUNITY, name="三眼井社区", street_code=STREET))
    session.flush()
    session.add(Grid(id=GRID, community_code=COMMUNITY, street_code=STREET, number=3))
    for key, name in (("CGZF", "区城市管理和综合执法局"), ("DZZX", "区综合指挥调度中心")):
        session.add(Department(key=key, code=key, name=name, scope="district"))
    session.flush()
    people = [
        (WORKER, "grid_worker", {"grid_id": GRID}, WORKER_CHAT, "private"),
        ("CM-1", "community", {}, COMMUNITY_GROUP, "group"),
        ("ST-1", "street", {}, STREET_GROUP, "group"),
    ]
    for person_id, role, units, chat, kind in people:
        session.add(
            Person(
                id=person_id,
                name=person_id,
                phone="13900001111",
                role=role,
                street_code=STREET,
                community_code=COMMUNITY,
                active=True,
                grid_id=units.get("grid_id"),
            )
        )
        session.flush()
        session.add(ChatBinding(channel="telegram", chat_id=str(chat), person_id=person_id, kind=kind))
    for key, chat in (("CGZF", CGZF_GROUP), ("DZZX", COMMAND_GROUP)):
        session.add(ChatBinding(channel="telegram", chat_id=str(chat), department_key=key, kind="group"))
    session.add(Resident(openid=RESIDENT_OPENID, channel="wechat", phone=RESIDENT_PHONE, created_at=START))
    session.flush()


def open_resident_case(
    session: Session, *, now: datetime, description: str, address: str, category: str = "市政设施"
) -> str:
    """Open a case of the seeded resident in the seeded grid (worker WORKER, department CGZF); returns its code.

    Opening it queues a WeChat push to the resident and a Telegram card to the grid worker.
    """
    resident = session.execute(select(Resident).where(Resident.openid == RESIDENT_OPENID)).scalar_one()
    case = open_case(
        session,
        now=now,
        description=description,
        category=category,
        resident_id=resident.id,
        address=address,
        street_code=STREET,
        community_code=COMMUNITY,
        grid_id=GRID,
        department_key="CGZF",
        worker_id=WORKER,
    )
    return str(case.code)


@pytest.fixture()
def staff(session_factory: Callable[[], Session]) -> Callable[[], Session]:
    """The test database with `seed_staff` in it; returns the session factory."""
    with session_factory() as session, session.begin():
        seed_staff(session)
    return session_factory


@pytest.fixture()
def fake_telegram() -> Iterator[FakeTelegramAPI]:
    with running_fake_telegram(hang_seconds=2.0) as server:
        yield server


SECRET = "wh-secret-Zq8xP2"  # the Telegram webhook secret_token of `webhook`
_update_ids = itertools.count(500)


def command(text: str, user: int = WORKER_CHAT, update_id: int | None = None) -> dict[str, Any]:
    return {
        "update_id": next(_update_ids) if update_id is None else update_id,
        "message": {
            "message_id": next(_update_ids),
            "date": 1764460000,
            "chat": {"id": user, "type": "private"},
            "from": {"id": user, "is_bot": False, "first_name": "w"},
            "text": text,
            "entities": [{"type": "bot_command", "offset": 0, "length": len(text.split()[0])}],
        },
    }


@pytest.fixture()
def webhook(staff: Callable[[], Session], fake_telegram: FakeTelegramAPI, tmp_path: Path) -> Iterator[str]:
    """The webhook URL of a running bot (the update queue is worked in the background)."""
    services = Services(session_factory=staff, media_dir=tmp_path / "media", clock=lambda: START)
    application = build_application(
        "123456:webhook-test", services, api_base=fake_telegram.api_base, read_timeout=2.0, polling=False
    )
    with serve_sanic(create_webhook_app(application, SECRET)) as base:
        yield base + PATH


def wait_for_replies(fake: FakeTelegramAPI, count: int, timeout_s: float = 10.0) -> list[str]:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and len(fake.calls("sendMessage")) < count:
        time.sleep(0.05)
    return [call.params["text"] for call in fake.calls("sendMessage")]


@pytest.fixture()
def debug_log() -> Iterator[io.StringIO]:
    """Everything logged at DEBUG in this process while the test runs, formatted as the processes print it."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter("%(levelname)s:%(name)s:%(message)s"))
    root = logging.getLogger()
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    try:
        yield stream
    finally:
        root.setLevel(level)
        root.removeHandler(handler)


@pytest.fixture()
def error_log() -> Iterator[ErrorLog]:
    """Every ERROR record logged while the test runs (the fuzz tests require none)."""
    handler = ErrorLog()
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        yield handler
    finally:
        root.removeHandler(handler)
