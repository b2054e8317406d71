"""Issue 5's must-show, end to end: signed WeChat XML over real HTTP -> WeChatInput -> the trained model ->
the action server -> routing -> the database; the bot's replies are read from the outbox, as the worker sends them.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from rasa.core.run import configure_app
from sanic import Sanic
from sqlalchemy import func, select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

from bot.channels.wechat import WeChatInput
from bot.senders.wechat import WeChatSender
from routing.geo import default_index
from storage.cases import apply_event, get_case_by_code
from storage.lifecycle import CaseEvent
from storage.models import Case, CaseMedia, CaseSubscription, OutboxMessage, Rating
from storage.outbox import deliver_due
from storage.timeutil import utcnow
from tests.channels.conftest import NOW, Webhook, fixture_xml, make_config, photo_with_text_and_gps
from tests.fakes.wechat_api import running_fake_wechat
from tests.support.sanic_server import serve_sanic

OPENID = "oYuexiuResident0000000000001"
NEIGHBOUR = "oYuexiuResident0000000000002"
POINT = (23.129163, 113.264435)  # 越华路 (the channel fixtures' location, GCJ-02 as WeChat sends it)


class Resident:
    """One WeChat user: posts signed messages, waits for the turn, returns what the bot queued for them."""

    def __init__(self, hook: Webhook, engine: Engine, openid: str) -> None:
        # a fresh openid per test: the agent (and its trackers) lives for the whole session
        self.hook, self.engine, self.openid = hook, engine, f"{openid[:-8]}{uuid.uuid4().hex[:8]}"
        self._seen = 0

    def _replies(self) -> list[str]:
        with Session(self.engine, future=True) as session:
            rows = session.execute(
                select(OutboxMessage.payload)
                .where(OutboxMessage.recipient_id == self.openid, OutboxMessage.template == "wechat.text")
                .order_by(OutboxMessage.id)
            ).scalars()
            return [str(payload["params"]["text"]) for payload in rows]

    def send(self, fixture: str, **values: str) -> list[str]:
        response = self.hook.post(fixture_xml(fixture, openid=self.openid, msg_id=_next_msg_id(), **values))
        assert response.status_code == 200 and response.text == "success"
        deadline = time.monotonic() + 120
        while self.hook.channel._tasks and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not self.hook.channel._tasks, "the turn did not finish"
        replies = self._replies()
        new, self._seen = replies[self._seen :], len(replies)
        return new

    def say(self, text: str) -> list[str]:
        return self.send("text", content=text)

    def cases(self) -> list[Case]:
        with Session(self.engine, future=True) as session:
            found = list(session.execute(select(Case).order_by(Case.id)).scalars())
            session.expunge_all()
            return found


_msg_ids = iter(range(7_000_000_000_000_000_000, 8_000_000_000_000_000_000))


def _next_msg_id() -> str:
    return str(next(_msg_ids))


def code_in(replies: list[str]) -> str:
    for reply in replies:
        if "编号 YX-" in reply:
            return reply.split("编号 ")[1][:16]
    raise AssertionError(f"no case code in {replies}")


@pytest.fixture()
def start_bot(
    bot_agent: Any, district: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Callable[..., Webhook]]:
    """`start_bot(aes=False)`: Rasa's app with our WeChat connector and the real agent, on loopback."""
    monkeypatch.setattr(Sanic, "test_mode", True)
    with running_fake_wechat() as fake, ExitStack() as stack:

        def start(*, aes: bool = False) -> Webhook:
            channel = WeChatInput(
                make_config(fake.base_url, aes=aes), engine=district, clock=lambda: NOW, media_root=tmp_path
            )
            app = configure_app([channel], enable_api=False)
            app.ctx.agent = bot_agent
            url = stack.enter_context(serve_sanic(app))
            return Webhook(url=url, channel=channel, agent=bot_agent, fake=fake, stack=stack)

        yield start


@pytest.mark.parametrize("aes", [False, True], ids=["plaintext", "aes"])
def test_a_text_only_report_opens_one_case(
    start_bot: Callable[..., Webhook], district: Engine, aes: bool
) -> None:
    resident = Resident(start_bot(aes=aes), district, OPENID)
    read_back = resident.say("越华路12号门口个井盖烂咗，好危险")
    assert "对吗" in read_back[-1] and "越华路" in read_back[-1]
    opened = resident.say("对")
    [case] = resident.cases()
    assert code_in(opened) == case.code and case.grid_id is not None and case.department_key is not None


def test_missing_location_is_asked_and_the_location_message_opens_it(
    start_bot: Callable[..., Webhook], district: Engine
) -> None:
    resident = Resident(start_bot(), district, OPENID)
    assert "在哪里" in resident.say("门口啲垃圾堆咗成个礼拜冇人清")[-1]
    assert resident.cases() == []
    read_back = resident.send("location", lat=str(POINT[0]), lng=str(POINT[1]), label="广州市越秀区越华路")
    assert "对吗" in read_back[-1]
    resident.say("对")
    [case] = resident.cases()
    assert case.lat is not None and case.lng is not None
    hit = default_index().grid_at(case.lat, case.lng)
    assert hit is not None and case.grid_id == hit.grid


def test_photo_with_exif_gps_and_drawn_text(start_bot: Callable[..., Webhook], district: Engine) -> None:
    lat, lng = (
        23.118590,
        113.252522,
    )  # WGS-84 as a phone writes EXIF: inside grid 440104010121-02, off its edges
    hook = start_bot()
    hook.fake.add_media("photo-media-1", photo_with_text_and_gps(["井盖破损", "注意安全"], lat=lat, lng=lng))
    resident = Resident(hook, district, OPENID)
    read_back = resident.send("image", media_id="photo-media-1")
    assert "井盖" in read_back[-1] and "对吗" in read_back[-1]  # category from the OCR text, place from EXIF
    resident.say("对")
    [case] = resident.cases()
    expected = default_index().grid_at(lat, lng)
    assert expected is not None and case.grid_id == expected.grid == "440104010121-02"
    assert case.category is not None and "MANHOLE" in case.category.upper()
    with Session(district, future=True) as session:
        [photo] = session.execute(select(CaseMedia).where(CaseMedia.case_id == case.id)).scalars().all()
    assert photo.kind == "photo" and Path(photo.uri).exists()


def test_a_duplicate_follows_the_open_case(start_bot: Callable[..., Webhook], district: Engine) -> None:
    hook = start_bot()
    first, second = Resident(hook, district, OPENID), Resident(hook, district, NEIGHBOUR)
    first.say("越华路12号门口井盖冇咗")
    code = code_in(first.say("对"))
    second.say("越华路12号门口井盖唔见咗")
    assert any(code in reply and "已有居民反映" in reply for reply in second.say("对"))
    assert len(first.cases()) == 1
    with Session(district, future=True) as session:
        assert session.execute(select(func.count()).select_from(CaseSubscription)).scalar() == 1


def test_status_handled_push_reopen_then_confirm_and_rate(
    start_bot: Callable[..., Webhook], district: Engine
) -> None:
    hook = start_bot()
    resident = Resident(hook, district, OPENID)
    resident.say("越华路12号门口个井盖烂咗")
    code = code_in(resident.say("对"))
    assert any(code in reply for reply in resident.say("我报的井盖处理得怎么样了"))

    def staff(*events: CaseEvent) -> None:
        with Session(district, future=True) as session, session.begin():
            case = get_case_by_code(session, code)
            assert case is not None
            for event in events:
                payload = {"department_key": case.department_key} if event is CaseEvent.DISPATCH else {}
                apply_event(session, case, event, actor="staff:test", now=utcnow(), payload=payload)

    staff(CaseEvent.RESPOND, CaseEvent.DISPATCH, CaseEvent.SIGN, CaseEvent.HANDLE)
    sender = WeChatSender(
        make_config(hook.fake.base_url), sessionmaker(district, future=True), clock=lambda: NOW
    )
    deliver_due(sessionmaker(district, future=True), {"wechat": sender}, utcnow() + timedelta(seconds=1))
    pushed = [
        body["text"]["content"]
        for body in hook.fake.sent("message/custom/send")
        if body.get("touser") == resident.openid
    ]
    assert any(code in text and "解决了吗" in text for text in pushed)

    assert any("重新启动" in reply for reply in resident.say("否"))
    staff(CaseEvent.DISPATCH, CaseEvent.SIGN, CaseEvent.HANDLE)
    assert any("打分" in reply for reply in resident.say("是"))
    assert any("5分" in reply for reply in resident.say("5"))
    [case] = resident.cases()
    assert case.state == "closed"
    with Session(district, future=True) as session:
        assert session.execute(select(Rating.score).where(Rating.case_id == case.id)).scalars().all() == [5]


def test_the_same_msgid_three_times_makes_one_case(
    start_bot: Callable[..., Webhook], district: Engine
) -> None:
    hook = start_bot()
    resident = Resident(hook, district, OPENID)
    resident.say("越华路12号门口个井盖烂咗")
    confirm = fixture_xml("text", openid=resident.openid, msg_id="6054768590064799999", content="对")
    for _ in range(3):  # WeChat's retries after 5 s: same MsgId, new nonce
        assert hook.post(confirm).text == "success"
    hook.finish()
    assert len(resident.cases()) == 1
