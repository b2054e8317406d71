"""The "next photo" after 现场处置完成/办结 is remembered in the database and survives a bot restart.

Each `make_app` is a fresh PTB Application (fresh `user_data`), as a restarted `gridsec telegram` would be.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from bot.telegram.callbacks import ButtonPress, encode
from storage.cases import apply_event, get_case_by_code
from storage.models.messaging import PendingPhoto
from tests.fakes.telegram_api import FakeTelegramAPI
from tests.telegram.conftest import (
    CGZF_GROUP,
    CGZF_STAFF,
    WORKER_CHAT,
    Clock,
    Updates,
    dispatched_case,
    events_of,
    feed,
    make_app,
    report_case,
    run,
)


def pending_rows(session_factory: Callable[[], Session]) -> list[tuple[str, str, str]]:
    with session_factory() as session:
        rows = session.execute(select(PendingPhoto.user_id, PendingPhoto.chat_id, PendingPhoto.action)).all()
        return [(row[0], row[1], row[2]) for row in rows]



def test_onsite_press_then_restart_then_photo_settles_the_case(
    org: Callable[[], Session], fake: FakeTelegramAPI, clock: Clock, updates: Updates, tmp_path: Path
) -> None:
    with org() as session, session.begin():
        code = report_case(session, clock.now)
    fake.add_file("after-1", b"\xff\xd8after")

    async def press() -> None:
        async with make_app(org, fake, clock, tmp_path) as app:
            await feed(app, updates.press(WORKER_CHAT, WORKER_CHAT, encode(ButtonPress(code, "onsite"))))

    async def photo_after_restart() -> None:
        async with make_app(org, fake, clock, tmp_path) as app:
            await feed(app, updates.message(WORKER_CHAT, WORKER_CHAT, photo_id="after-1"))

    run(press())
    assert events_of(org, code) == ["report"]  # nothing recorded until the photo comes
    assert pending_rows(org) == [(str(WORKER_CHAT), str(WORKER_CHAT), "onsite")]
    clock.advance(minutes=20)
    run(photo_after_restart())
    assert events_of(org, code) == ["report", "respond", "handle_on_site"]
    assert pending_rows(org) == []  # answered: the next photo is an ordinary photo again
    assert "已记录为处置完毕" in fake.calls("sendMessage")[-1].params["text"]


def test_department_done_press_survives_a_restart_and_a_later_press_replaces_it(
    org: Callable[[], Session], fake: FakeTelegramAPI, clock: Clock, updates: Updates, tmp_path: Path
) -> None:
    first = dispatched_case(org, clock)
    second = dispatched_case(org, clock)
    fake.add_file("fixed-2", b"\xff\xd8fixed")

    async def press_both() -> None:
        async with make_app(org, fake, clock, tmp_path) as app:
            await feed(app, updates.press(CGZF_STAFF, CGZF_GROUP, encode(ButtonPress(first, "done"))))
            await feed(app, updates.press(CGZF_STAFF, CGZF_GROUP, encode(ButtonPress(second, "done"))))

    async def photo_after_restart() -> None:
        async with make_app(org, fake, clock, tmp_path) as app:
            await feed(app, updates.message(CGZF_STAFF, CGZF_GROUP, photo_id="fixed-2"))

    run(press_both())
    assert pending_rows(org) == [
        (str(CGZF_STAFF), str(CGZF_GROUP), "done")
    ]  # one request per person and chat
    run(photo_after_restart())
    assert events_of(org, first) == ["report", "respond", "dispatch"]
    assert events_of(org, second) == ["report", "respond", "dispatch", "sign", "handle"]
    assert pending_rows(org) == []


def test_a_request_in_one_chat_does_not_capture_photos_in_another(
    org: Callable[[], Session], fake: FakeTelegramAPI, clock: Clock, updates: Updates, tmp_path: Path
) -> None:
    code = dispatched_case(org, clock)
    fake.add_file("private-1", b"\xff\xd8private")

    async def scenario() -> None:
        async with make_app(org, fake, clock, tmp_path) as app:
            await feed(app, updates.press(CGZF_STAFF, CGZF_GROUP, encode(ButtonPress(code, "done"))))
            await feed(app, updates.message(CGZF_STAFF, CGZF_STAFF, photo_id="private-1"))  # private chat

    run(scenario())
    assert events_of(org, code) == ["report", "respond", "dispatch"]
    assert pending_rows(org) == [(str(CGZF_STAFF), str(CGZF_GROUP), "done")]
    assert not fake.calls("getFile")


def test_a_request_the_case_has_moved_past_is_dropped_after_the_refusal(
    org: Callable[[], Session], fake: FakeTelegramAPI, clock: Clock, updates: Updates, tmp_path: Path
) -> None:
    with org() as session, session.begin():
        code = report_case(session, clock.now)
    fake.add_file("late-1", b"\xff\xd8late")

    async def press() -> None:
        async with make_app(org, fake, clock, tmp_path) as app:
            await feed(app, updates.press(WORKER_CHAT, WORKER_CHAT, encode(ButtonPress(code, "onsite"))))

    async def photo() -> None:
        async with make_app(org, fake, clock, tmp_path) as app:
            await feed(app, updates.message(WORKER_CHAT, WORKER_CHAT, photo_id="late-1"))

    run(press())
    with org() as session, session.begin():  # meanwhile the case went to a department
        case = get_case_by_code(session, code)
        assert case is not None
        apply_event(session, case, "respond", actor="t", now=clock.now)
        apply_event(session, case, "dispatch", actor="t", now=clock.now, payload={"department_key": "CGZF"})
    run(photo())
    assert events_of(org, code) == ["report", "respond", "dispatch"]
    assert "不能执行" in fake.calls("sendMessage")[-1].params["text"]
    with org() as session:
        assert session.execute(select(func.count()).select_from(PendingPhoto)).scalar_one() == 0
