"""Department free-text replies to task cards, understood by the real trained Rasa model (marked `model`)."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.telegram.understanding import Parser
from storage.cases import case_events, get_case_by_code
from storage.models import OutboxMessage
from tests.fakes.telegram_api import FakeTelegramAPI
from tests.telegram.conftest import (
    CGZF_GROUP,
    CGZF_STAFF,
    HWZX_STAFF,
    Clock,
    Updates,
    dispatched_case,
    feed,
    make_app,
    run,
)

pytestmark = [pytest.mark.model, pytest.mark.slow]


@pytest.fixture(scope="session")
def dept_parser() -> Parser:
    """The trained model the bot would load (bot.telegram.understanding.trained_model_path; never trains)."""
    os.environ.setdefault("RASA_TELEMETRY_ENABLED", "false")
    from bot.telegram.understanding import rasa_parser, trained_model_path

    path = trained_model_path()
    if path is None:
        pytest.fail("no trained model: run `gridsec train` first")
    return rasa_parser(path)



def reply_in_group(
    org: Callable[[], Session],
    fake: FakeTelegramAPI,
    clock: Clock,
    tmp_path: Path,
    parser: Parser,
    code: str,
    user: int,
    text: str,
) -> list[Any]:
    updates = Updates()

    async def scenario() -> None:
        async with make_app(org, fake, clock, tmp_path, parser=parser) as app:
            await feed(
                app,
                updates.message(user, CGZF_GROUP, text=text, reply_to_text=f"【派单】{code}\n类别：环境卫生"),
            )

    run(scenario())
    with org() as session:
        case = get_case_by_code(session, code)
        assert case is not None
        return case_events(session, case.id)


def last_reply(fake: FakeTelegramAPI) -> str:
    return str(fake.calls("sendMessage")[-1].params["text"])


def test_accept_reply_signs(
    org: Callable[[], Session], fake: FakeTelegramAPI, clock: Clock, tmp_path: Path, dept_parser: Parser
) -> None:
    code = dispatched_case(org, clock)
    events = reply_in_group(org, fake, clock, tmp_path, dept_parser, code, CGZF_STAFF, "收到，明天派人去")
    assert [(e.event, e.actor) for e in events][-1] == ("sign", "telegram:DEP-CGZF-1")
    assert last_reply(fake) == f"已签收 {code}。"


def test_return_reply_returns_with_reason_and_suggested_department(
    org: Callable[[], Session], fake: FakeTelegramAPI, clock: Clock, tmp_path: Path, dept_parser: Parser
) -> None:
    code = dispatched_case(org, clock)
    events = reply_in_group(
        org, fake, clock, tmp_path, dept_parser, code, CGZF_STAFF, "这个不归我们管，应该是水务"
    )
    assert events[-1].event == "return"
    assert events[-1].payload == {"reason": "这个不归我们管，应该是水务", "suggested_department_key": "SWJ"}
    with org() as session:
        to_worker = (
            session.execute(select(OutboxMessage.template).where(OutboxMessage.recipient_kind == "person"))
            .scalars()
            .all()
        )
    assert "task.returned" in to_worker  # the worker gets the case back, SWJ preselected on re-dispatch


def test_done_reply_without_a_photo_asks_for_one(
    org: Callable[[], Session], fake: FakeTelegramAPI, clock: Clock, tmp_path: Path, dept_parser: Parser
) -> None:
    code = dispatched_case(org, clock)
    events = reply_in_group(org, fake, clock, tmp_path, dept_parser, code, CGZF_STAFF, "已处理")
    assert events[-1].event == "dispatch"  # nothing recorded until the photo comes
    assert "照片" in last_reply(fake)


def test_need_info_reply_goes_to_the_worker_through_the_outbox(
    org: Callable[[], Session], fake: FakeTelegramAPI, clock: Clock, tmp_path: Path, dept_parser: Parser
) -> None:
    code = dispatched_case(org, clock)
    events = reply_in_group(
        org, fake, clock, tmp_path, dept_parser, code, CGZF_STAFF, "具体在哪个位置？请补充门牌号"
    )
    assert events[-1].event == "dispatch"
    with org() as session:
        row = session.execute(
            select(OutboxMessage).where(OutboxMessage.template == "telegram.text")
        ).scalar_one()
    assert row.recipient_id == "GW-440104001007-03" and "请补充门牌号" in row.payload["params"]["text"]


def test_a_reply_from_another_departments_member_is_refused(
    org: Callable[[], Session], fake: FakeTelegramAPI, clock: Clock, tmp_path: Path, dept_parser: Parser
) -> None:
    code = dispatched_case(org, clock)
    events = reply_in_group(org, fake, clock, tmp_path, dept_parser, code, HWZX_STAFF, "收到，明天派人去")
    assert events[-1].event == "dispatch" and "无权" in last_reply(fake)
