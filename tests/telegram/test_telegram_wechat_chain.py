"""The whole chain from a resident's WeChat report to the handled push and rating prompt (issue 6, must show 1).

Resident side: signed WeChat XML over real HTTP to Rasa's app with the WeChat channel, the trained model and
the action server (report -> location -> 对). Staff side: the Telegram app against the fake Bot API (respond,
dispatch, sign, return, re-dispatch, done with photo). Pushes go out through the outbox to the fake Bot API and
the fake WeChat API. Only time is replaced: one settable clock for the channel, the actions and the bot.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from rasa.core.run import configure_app
from sanic import Sanic
from sqlalchemy import delete, select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

from actions import deps
from bot.channels.wechat import WeChatInput
from bot.channels.wechat_config import LOCAL_APP_ID, WeChatChannelConfig
from bot.config import Secret
from bot.senders.telegram import TelegramSender
from bot.worker import channel_senders
from storage.cases import case_events
from storage.models import Case, ChatBinding, Department, OutboxMessage, Person, Rating, Resident
from storage.outbox import Sender
from tests.bench.wechat_load import Message, Turn, message_xml, signed_query
from tests.conversation.conftest import (  # noqa: F401  (the real agent and action server, and the seeded district)
    action_server_url,
    bot_agent,
    district,
    nlu_agent,
    nlu_model_path,
    nlu_parse,
)
from tests.fakes.telegram_api import FakeTelegramAPI
from tests.fakes.wechat_api import FakeWeChatAPI
from tests.support.sanic_server import serve_sanic
from tests.telegram.conftest import START, TOKEN, Clock, Updates, deliver, feed, make_app, run

pytestmark = [pytest.mark.model, pytest.mark.slow]

_msg_ids = iter(range(6_300_000_000_000_000_000, 6_400_000_000_000_000_000))


class WeChatResident:
    """A WeChat user: posts signed XML as WeChat does, waits for the turn, returns what the bot queued for them."""

    def __init__(
        self, endpoint: str, channel: WeChatInput, engine: Engine, clock: Clock, chats: dict[str, int]
    ) -> None:
        self.endpoint, self.channel, self.engine, self.clock = endpoint, channel, engine, clock
        self.chats = chats  # Telegram chat of every person and department group
        self.openid = f"oChain{uuid.uuid4().hex[:22]}"  # the agent (and its trackers) lives for the session
        self._seen = 0

    def say(self, turn: Turn) -> list[str]:
        message = Message(0.0, self.openid, str(next(_msg_ids)), turn, 0, 0)
        stamp = int(self.clock().timestamp())
        response = httpx.post(
            self.endpoint,
            params=signed_query(stamp, f"c{message.msg_id[-9:]}"),
            content=message_xml(message, stamp).encode("utf-8"),
            headers={"Content-Type": "text/xml"},
            timeout=10,
        )
        assert (response.status_code, response.text) == (200, "success")
        deadline = time.monotonic() + 120
        while self.channel._tasks and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not self.channel._tasks, "the turn did not finish"
        self.clock.advance(seconds=30)
        replies = self._replies()
        new, self._seen = replies[self._seen :], len(replies)
        return new

    def _replies(self) -> list[str]:
        with Session(self.engine, future=True) as session:
            payloads = session.execute(
                select(OutboxMessage.payload)
                .where(OutboxMessage.recipient_id == self.openid, OutboxMessage.template == "wechat.text")
                .order_by(OutboxMessage.id)
            ).scalars()
            return [str(payload["params"]["text"]) for payload in payloads]


@pytest.fixture()
def chain_clock() -> Clock:
    """One clock for the channel, the actions and the Telegram bot: Monday 10:00 in Guangzhou (day shift)."""
    return Clock(now=START)


@pytest.fixture()
def resident(
    bot_agent: Any,  # noqa: F811
    district: Engine,  # noqa: F811
    chain_clock: Clock,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[WeChatResident]:
    """Rasa's app with the WeChat connector and the real agent on loopback; the actions on the same clock."""
    monkeypatch.setattr(Sanic, "test_mode", True)
    monkeypatch.setattr(deps, "now", chain_clock)
    channel = WeChatInput(
        WeChatChannelConfig(token=Secret("gridsec-local"), app_id=LOCAL_APP_ID),
        engine=district,
        clock=chain_clock,
        media_root=tmp_path / "media",
    )
    app = configure_app([channel], enable_api=False)
    app.ctx.agent = bot_agent
    with Session(district, future=True) as session, session.begin():
        chats = bind_everyone(session)
    try:
        with serve_sanic(app) as url:
            yield WeChatResident(f"{url}/webhooks/wechat/webhook", channel, district, chain_clock, chats)
    finally:  # chat bindings are organisation data the district keeps between tests: leave none behind
        with Session(district, future=True) as session, session.begin():
            session.execute(delete(ChatBinding).where(ChatBinding.channel == "telegram"))


def bind_everyone(session: Session) -> dict[str, int]:
    """A Telegram chat for every person and a group for every department (who gets the case is the router's call).

    Returns person id or department key -> chat id.
    """
    chats: dict[str, int] = {}
    for number, person_id in enumerate(session.execute(select(Person.id).order_by(Person.id)).scalars(), 1):
        chats[person_id] = 100_000 + number
        session.add(ChatBinding(channel="telegram", chat_id=str(chats[person_id]), person_id=person_id))
    for number, key in enumerate(
        session.execute(select(Department.key).order_by(Department.key)).scalars(), 1
    ):
        chats[key] = -100_000 - number
        session.add(
            ChatBinding(channel="telegram", chat_id=str(chats[key]), department_key=key, kind="group")
        )
    return chats


def staff_of(session: Session, department_key: str) -> str:
    staff = (
        session.execute(
            select(Person.id)
            .where(Person.role == "department", Person.department_key == department_key)
            .order_by(Person.id)
        )
        .scalars()
        .first()
    )
    assert staff is not None, f"the seed has staff for {department_key}"
    return str(staff)


def buttons(call_params: dict[str, Any]) -> dict[str, str]:
    markup = call_params["reply_markup"]
    markup = json.loads(markup) if isinstance(markup, str) else markup
    return {button["text"]: button["callback_data"] for row in markup["inline_keyboard"] for button in row}


def last_to(fake: FakeTelegramAPI, chat_id: int) -> dict[str, Any]:
    return [call.params for call in fake.sent() if int(call.params["chat_id"]) == chat_id][-1]


def test_a_wechat_report_runs_the_whole_telegram_chain_to_the_residents_rating_prompt(
    resident: WeChatResident,
    district: Engine,  # noqa: F811
    fake: FakeTelegramAPI,
    fake_wechat: FakeWeChatAPI,
    chain_clock: Clock,
    updates: Updates,
    tmp_path: Path,
    request: pytest.FixtureRequest,
) -> None:
    session_factory: Callable[[], Session] = sessionmaker(district, future=True)
    clock = chain_clock
    assert "在哪里" in resident.say(Turn(text="门口个井盖冇咗，好危险"))[-1]  # asks only for the place
    read_back = resident.say(Turn(lat=23.129163, lng=113.264435, label="广州市越秀区越华路"))
    assert "对吗" in read_back[-1]  # reads the case back before opening it
    opened = resident.say(Turn(text="对"))
    with session_factory() as session:
        case = session.execute(
            select(Case)
            .join(Resident, Resident.id == Case.resident_id)
            .where(Resident.openid == resident.openid)
        ).scalar_one()
        assert case.worker_id and case.department_key, "routed to a grid worker and a department"
        code, first = case.code, case.department_key
        worker_chat, first_group = resident.chats[case.worker_id], resident.chats[first]
        first_staff = resident.chats[staff_of(session, first)]
    assert any(code in text for text in opened), opened
    telegram = TelegramSender(session_factory, token=TOKEN, api_base=fake.api_base, cooldown_s=0.0)
    request.addfinalizer(telegram.close)
    senders: dict[str, Sender] = {
        **channel_senders({"WECHAT_API_BASE": fake_wechat.base_url}, session_factory),
        "telegram": telegram,
    }
    deliver(session_factory, senders, clock())
    card = last_to(fake, worker_chat)
    assert code in card["text"] and set(buttons(card)) == {
        "响应",
        "现场处置完成",
        "需部门处置",
        "退回/非本网格",
    }
    fake.add_file("after-chain", b"\xff\xd8after-photo")
    second: list[str] = []
    app: Any = None  # the Telegram application, once started

    async def worker(label: str, on: dict[str, Any]) -> dict[str, str]:
        """The grid worker presses `label` on a card; returns the buttons the card shows next."""
        await feed(app, updates.press(worker_chat, worker_chat, buttons(on)[label], on["text"]))
        return buttons(fake.calls("editMessageReplyMarkup")[-1].params)

    async def staff() -> None:
        nonlocal app
        async with make_app(session_factory, fake, clock, tmp_path) as app:
            clock.advance(minutes=5)
            await worker("响应", card)
            menu = await worker("需部门处置", card)
            suggested = next(data for label, data in menu.items() if label.startswith("✅"))
            assert suggested.endswith(f"|{first}")  # the routed department is preselected
            await feed(app, updates.press(worker_chat, worker_chat, suggested, card["text"]))
            deliver(session_factory, senders, clock())
            group_card = last_to(fake, first_group)
            clock.advance(minutes=10)
            for label in ("签收", "退回"):
                await feed(
                    app,
                    updates.press(first_staff, first_group, buttons(group_card)[label], group_card["text"]),
                )
            reasons = buttons(fake.calls("editMessageReplyMarkup")[-1].params)
            await feed(
                app, updates.press(first_staff, first_group, reasons["不属于本部门职责"], group_card["text"])
            )
            deliver(session_factory, senders, clock())
            returned = last_to(fake, worker_chat)
            assert "退回原因：不属于本部门职责" in returned["text"]
            menu = await worker("需部门处置", returned)
            other = next(
                data for label, data in menu.items() if "|dispatch|" in data and not label.startswith("✅")
            )
            second.append(other.rsplit("|", 1)[1])
            clock.advance(minutes=3)
            await feed(app, updates.press(worker_chat, worker_chat, other, returned["text"]))
            deliver(session_factory, senders, clock())
            group, user = resident.chats[second[0]], resident.chats[staff_of_key(second[0])]
            second_card = last_to(fake, group)
            clock.advance(hours=2)
            await feed(app, updates.press(user, group, buttons(second_card)["办结"], second_card["text"]))
            assert "照片" in last_to(fake, group)["text"]  # asked for the after photo; nothing recorded yet
            await feed(app, updates.message(user, group, photo_id="after-chain"))

    def staff_of_key(key: str) -> str:
        with session_factory() as session:
            return staff_of(session, key)

    run(staff())
    deliver(session_factory, senders, clock())
    pushes = [body["text"]["content"] for body in fake_wechat.sent("message/custom/send")]
    assert "为本次服务打分" in pushes[-1] and code in pushes[-1]  # the handled push asks to confirm and rate
    assert any("打分" in reply for reply in resident.say(Turn(text="是")))
    assert any("5分" in reply for reply in resident.say(Turn(text="5")))
    with session_factory() as session:
        case = session.execute(select(Case).where(Case.code == code)).scalar_one()
        records = case_events(session, case.id)
        worker_id, first_staff_id, second_staff_id = (
            case.worker_id,
            staff_of(session, first),
            staff_of(session, second[0]),
        )
        rating = session.execute(select(Rating.score).where(Rating.case_id == case.id)).scalar_one()
    assert [(record.event, record.to_state) for record in records] == [
        ("report", "reported"),
        ("respond", "responded"),
        ("dispatch", "dispatched"),
        ("sign", "signed"),
        ("return", "returned"),
        ("dispatch", "dispatched"),
        ("sign", "signed"),
        ("handle", "handled"),
        ("confirm", "closed"),
    ]
    staff_actors = [
        f"telegram:{person}"
        for person in (
            worker_id,
            worker_id,
            first_staff_id,
            first_staff_id,
            worker_id,
            second_staff_id,
            second_staff_id,
        )
    ]
    assert [record.actor for record in records[1:8]] == staff_actors
    assert [record.payload.get("department_key") for record in records if record.event == "dispatch"] == [
        first,
        second[0],
    ]
    assert records[4].payload["reason"] == "不属于本部门职责" and records[7].payload["after_photo"].endswith(
        ".jpg"
    )
    assert [record.at for record in records] == sorted(record.at for record in records) and rating == 5
