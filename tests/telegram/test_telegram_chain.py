"""End to end against the fake Bot API: a case's whole chain driven by Telegram buttons and an after-photo."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.senders.telegram import TelegramSender
from bot.worker import channel_senders
from storage.cases import case_events, get_case_by_code
from storage.dedupe import first_seen
from storage.models import CaseMedia, OutboxMessage
from storage.outbox import Sender
from tests.fakes.telegram_api import FakeTelegramAPI
from tests.fakes.wechat_api import FakeWeChatAPI
from tests.telegram.conftest import (
    CGZF_GROUP,
    CGZF_STAFF,
    SWJ_GROUP,
    SWJ_STAFF,
    WORKER_CHAT,
    Clock,
    Updates,
    deliver,
    feed,
    make_app,
    report_case,
    run,
)


def buttons(call_params: dict[str, Any]) -> dict[str, str]:
    """label -> callback_data of the inline keyboard a call carried."""
    markup = call_params["reply_markup"]
    markup = json.loads(markup) if isinstance(markup, str) else markup
    return {button["text"]: button["callback_data"] for row in markup["inline_keyboard"] for button in row}


def last_to(fake: FakeTelegramAPI, chat_id: int) -> dict[str, Any]:
    return [call.params for call in fake.sent() if int(call.params["chat_id"]) == chat_id][-1]


def test_worker_and_departments_take_a_case_from_report_to_handled(
    org: Callable[[], Session],
    fake: FakeTelegramAPI,
    sender: TelegramSender,
    clock: Clock,
    updates: Updates,
    tmp_path: Path,
    fake_wechat: FakeWeChatAPI,
) -> None:
    senders: dict[str, Sender] = {
        **channel_senders({"WECHAT_API_BASE": fake_wechat.base_url}, org),
        "telegram": sender,
    }
    with org() as session, session.begin():
        first_seen(
            session, "wechat", "o-resident-1:m:1", clock.now
        )  # the resident's report opens the 48 h window
        code = report_case(session, clock.now)
    deliver(org, senders, clock.now)
    card = last_to(fake, WORKER_CHAT)
    assert code in card["text"] and "138****5678" in card["text"] and "三眼井12号" in card["text"]
    assert "13812345678" not in card["text"]
    worker_buttons = buttons(card)
    assert set(worker_buttons) == {"响应", "现场处置完成", "需部门处置", "退回/非本网格"}
    fake.add_file("after-1", b"\xff\xd8after-photo-bytes")

    async def scenario() -> None:
        app = make_app(org, fake, clock, tmp_path)
        async with app:
            clock.advance(minutes=5)
            await feed(app, updates.press(WORKER_CHAT, WORKER_CHAT, worker_buttons["响应"], card["text"]))
            after_respond = buttons(fake.calls("editMessageReplyMarkup")[-1].params)
            assert set(after_respond) == {"现场处置完成", "需部门处置", "退回/非本网格"}  # 响应 is done
            await feed(
                app, updates.press(WORKER_CHAT, WORKER_CHAT, worker_buttons["需部门处置"], card["text"])
            )
            menu = buttons(fake.calls("editMessageReplyMarkup")[-1].params)
            assert next(iter(menu)).startswith("✅") and "CGZF" in next(
                iter(menu.values())
            )  # suggestion first
            clock.advance(minutes=5)
            await feed(app, updates.press(WORKER_CHAT, WORKER_CHAT, next(iter(menu.values())), card["text"]))
            deliver(org, senders, clock.now)
            group_card = last_to(fake, CGZF_GROUP)
            dept = buttons(group_card)
            assert set(dept) == {"签收", "退回", "办结"}
            clock.advance(minutes=10)
            await feed(app, updates.press(CGZF_STAFF, CGZF_GROUP, dept["签收"], group_card["text"]))
            assert set(buttons(fake.calls("editMessageReplyMarkup")[-1].params)) == {"退回", "办结"}
            await feed(app, updates.press(CGZF_STAFF, CGZF_GROUP, dept["退回"], group_card["text"]))
            reasons = buttons(fake.calls("editMessageReplyMarkup")[-1].params)
            clock.advance(minutes=1)
            await feed(
                app, updates.press(CGZF_STAFF, CGZF_GROUP, reasons["不属于本部门职责"], group_card["text"])
            )
            deliver(org, senders, clock.now)
            returned = last_to(fake, WORKER_CHAT)
            assert "退回原因：不属于本部门职责" in returned["text"]
            again = buttons(returned)
            await feed(app, updates.press(WORKER_CHAT, WORKER_CHAT, again["需部门处置"], returned["text"]))
            menu = buttons(fake.calls("editMessageReplyMarkup")[-1].params)
            clock.advance(minutes=3)
            await feed(app, updates.press(WORKER_CHAT, WORKER_CHAT, menu["区水务局"], returned["text"]))
            deliver(org, senders, clock.now)
            swj_card = last_to(fake, SWJ_GROUP)
            clock.advance(hours=2)
            await feed(app, updates.press(SWJ_STAFF, SWJ_GROUP, buttons(swj_card)["办结"], swj_card["text"]))
            assert (
                "照片" in last_to(fake, SWJ_GROUP)["text"]
            )  # asked for the after photo, nothing recorded yet
            await feed(app, updates.message(SWJ_STAFF, SWJ_GROUP, photo_id="after-1"))

    run(scenario())
    deliver(org, senders, clock.now)
    pushes = [body["text"]["content"] for body in fake_wechat.sent("message/custom/send")]
    assert all(code in text for text in pushes) and len(pushes) == 8  # one per stage, on WeChat
    assert "为本次服务打分" in pushes[-1]  # the rating prompt once handled
    with org() as session:
        case = get_case_by_code(session, code)
        assert case is not None
        timeline = [(record.event, record.actor, record.to_state) for record in case_events(session, case.id)]
        assert timeline == [
            ("report", "resident", "reported"),
            ("respond", "telegram:GW-440104001007-03", "responded"),
            ("dispatch", "telegram:GW-440104001007-03", "dispatched"),
            ("sign", "telegram:DEP-CGZF-1", "signed"),
            ("return", "telegram:DEP-CGZF-1", "returned"),
            ("dispatch", "telegram:GW-440104001007-03", "dispatched"),
            ("sign", "telegram:DEP-SWJ-1", "signed"),
            ("handle", "telegram:DEP-SWJ-1", "handled"),
        ]
        events = case_events(session, case.id)
        assert events[4].payload["reason"] == "不属于本部门职责"
        assert [record.payload.get("department_key") for record in events if record.event == "dispatch"] == [
            "CGZF",
            "SWJ",
        ]
        assert events[-1].at == clock.now
        photo = session.execute(select(CaseMedia).where(CaseMedia.case_id == case.id)).scalar_one()
        assert Path(photo.uri).read_bytes() == b"\xff\xd8after-photo-bytes" and photo.meta["stage"] == "after"
        resident_push = (
            session.execute(
                select(OutboxMessage.template)
                .where(OutboxMessage.case_id == case.id, OutboxMessage.recipient_kind == "resident")
                .order_by(OutboxMessage.id)  # PostgreSQL returns unordered rows in any order
            )
            .scalars()
            .all()
        )
        assert resident_push[-1] == "case.handled"  # the resident's push asking to confirm and rate
    assert fake.calls("getFile") and fake.calls("answerCallbackQuery")


def test_card_goes_as_a_photo_when_the_resident_sent_one(
    org: Callable[[], Session], fake: FakeTelegramAPI, sender: TelegramSender, tmp_path: Path, clock: Clock
) -> None:
    image = tmp_path / "resident.jpg"
    image.write_bytes(b"\xff\xd8resident-photo")
    with org() as session, session.begin():
        code = report_case(session, clock.now)
        case = get_case_by_code(session, code)
        assert case is not None
        session.add(CaseMedia(case_id=case.id, kind="photo", uri=str(image), created_at=clock.now))
    deliver(org, {"telegram": sender, "*": sender}, clock.now)
    photos = fake.calls("sendPhoto")
    assert len(photos) == 1 and photos[0].files and b"resident-photo" in next(iter(photos[0].files.values()))
    assert code in photos[0].params["caption"] and "时限" in photos[0].params["caption"]


def test_worker_returns_a_case_that_is_not_in_the_grid_to_the_command_centre(
    org: Callable[[], Session], fake: FakeTelegramAPI, clock: Clock, updates: Updates, tmp_path: Path
) -> None:
    from bot.telegram.callbacks import ButtonPress, encode

    with org() as session, session.begin():
        code = report_case(session, clock.now)

    async def scenario() -> None:
        async with make_app(org, fake, clock, tmp_path) as app:
            await feed(
                app, updates.press(WORKER_CHAT, WORKER_CHAT, encode(ButtonPress(code, "wreturn_menu")))
            )
            reasons = buttons(fake.calls("editMessageReplyMarkup")[-1].params)
            assert set(reasons) == {"非本网格", "非网格员职责", "信息不全，无法核实", "« 返回"}
            await feed(app, updates.press(WORKER_CHAT, WORKER_CHAT, reasons["非本网格"]))

    run(scenario())
    with org() as session:
        case = get_case_by_code(session, code)
        assert case is not None
        events = case_events(session, case.id)
        assert [(record.event, record.to_state) for record in events] == [
            ("report", "reported"),
            ("respond", "responded"),
            ("triage", "triage"),
        ]
        assert events[-1].payload == {"reason": "非本网格"}
        to_dzzx = (
            session.execute(select(OutboxMessage.template).where(OutboxMessage.recipient_id == "DZZX"))
            .scalars()
            .all()
        )
    assert to_dzzx == ["task.triage"]


def test_worker_settles_on_site_with_the_next_photo_they_send(
    org: Callable[[], Session], fake: FakeTelegramAPI, clock: Clock, updates: Updates, tmp_path: Path
) -> None:
    from bot.telegram.callbacks import ButtonPress, encode

    with org() as session, session.begin():
        code = report_case(session, clock.now)
    fake.add_file("onsite-1", b"\xff\xd8onsite")

    async def scenario() -> None:
        async with make_app(org, fake, clock, tmp_path) as app:
            await feed(
                app, updates.message(WORKER_CHAT, WORKER_CHAT, photo_id="onsite-1")
            )  # no press yet: ignored
            await feed(app, updates.press(WORKER_CHAT, WORKER_CHAT, encode(ButtonPress(code, "onsite"))))
            await feed(app, updates.message(WORKER_CHAT, WORKER_CHAT, photo_id="onsite-1"))

    run(scenario())
    with org() as session:
        case = get_case_by_code(session, code)
        assert case is not None
        assert [record.event for record in case_events(session, case.id)] == [
            "report",
            "respond",
            "handle_on_site",
        ]
    assert len(fake.calls("getFile")) == 1
    assert "已记录为处置完毕" in fake.calls("sendMessage")[-1].params["text"]


def test_command_centre_dispatches_a_triaged_case(
    org: Callable[[], Session], fake: FakeTelegramAPI, clock: Clock, updates: Updates, tmp_path: Path
) -> None:
    from bot.telegram.callbacks import ButtonPress, encode
    from storage.cases import apply_event
    from tests.telegram.conftest import COMMAND_CENTRE

    with org() as session, session.begin():
        code = report_case(session, clock.now)
        case = get_case_by_code(session, code)
        assert case is not None
        apply_event(session, case, "respond", actor="t", now=clock.now)
        apply_event(session, case, "triage", actor="t", now=clock.now, payload={"reason": "非本网格"})

    async def scenario() -> None:
        async with make_app(org, fake, clock, tmp_path) as app:
            press = encode(ButtonPress(code, "dispatch", "HWZX"))
            await feed(app, updates.press(WORKER_CHAT + 1, WORKER_CHAT + 1, press))  # unbound user: refused
            await feed(app, updates.press(COMMAND_CENTRE, COMMAND_CENTRE, press))

    run(scenario())
    with org() as session:
        case = get_case_by_code(session, code)
        assert case is not None and case.department_key == "HWZX"
        last = case_events(session, case.id)[-1]
        assert (last.event, last.actor, last.to_state) == ("dispatch", "telegram:DZZX-1", "dispatched")


def test_department_photo_reply_to_the_card_signs_and_closes_out(
    org: Callable[[], Session], fake: FakeTelegramAPI, clock: Clock, updates: Updates, tmp_path: Path
) -> None:
    from storage.cases import apply_event

    with org() as session, session.begin():
        code = report_case(session, clock.now)
        case = get_case_by_code(session, code)
        assert case is not None
        apply_event(session, case, "respond", actor="t", now=clock.now)
        apply_event(session, case, "dispatch", actor="t", now=clock.now, payload={"department_key": "CGZF"})
    fake.add_file("fixed-1", b"\xff\xd8fixed")

    async def scenario() -> None:
        async with make_app(org, fake, clock, tmp_path) as app:
            card = f"【派单】{code}\n类别：环境卫生"
            await feed(app, updates.message(CGZF_STAFF, CGZF_GROUP, photo_id="fixed-1", reply_to_text=card))

    run(scenario())
    with org() as session:
        case = get_case_by_code(session, code)
        assert case is not None
        events = case_events(session, case.id)
        assert [(record.event, record.actor) for record in events[-2:]] == [
            ("sign", "telegram:DEP-CGZF-1"),
            ("handle", "telegram:DEP-CGZF-1"),
        ]
        assert events[-1].payload["after_photo"].endswith("fixed-1-u.jpg")
