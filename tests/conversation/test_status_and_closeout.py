"""After the report: status, my cases, cancel, hand-off, and the close-out (否 reopens, 是 + 1-5 closes)."""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import select
from sqlalchemy.orm import Session

from storage.cases import apply_event, get_case_by_code
from storage.lifecycle import CaseEvent
from storage.models import OutboxMessage, Rating
from storage.timeutil import utcnow
from tests.conversation.conftest import Chat, case_by_code
from tests.conversation.test_report_conversation import code_in


def report(resident: Chat, text: str = "越华路12号门口个井盖烂咗") -> str:
    resident.say(text)
    return code_in(resident.say("对"))


def drive(resident: Chat, code: str, *events: CaseEvent) -> None:
    """Staff steps of the chain, as the Telegram handlers record them."""
    with Session(resident.engine, future=True) as session, session.begin():
        case = get_case_by_code(session, code)
        assert case is not None
        for event in events:
            payload = {"department_key": case.department_key} if event is CaseEvent.DISPATCH else {}
            apply_event(session, case, event, actor="staff:test", now=utcnow(), payload=payload)


def test_status_of_the_latest_case_and_by_code(chat: Callable[[], Chat]) -> None:
    resident = chat()
    code = report(resident)
    latest = resident.say("我刚才报的井盖怎么样了")
    assert code in latest[-1] and "等待网格员响应" in latest[-1] and "时限" in latest[-1]
    by_code = resident.say(f"帮我查下{code}的进度")
    assert code in by_code[-1]


def test_someone_elses_case_code_is_not_shown(chat: Callable[[], Chat]) -> None:
    owner, stranger = chat(), chat()
    code = report(owner)
    replies = stranger.say(f"查询{code}进度")
    assert any("没有找到" in reply for reply in replies) and not any("等待" in reply for reply in replies)


def test_list_of_my_cases(chat: Callable[[], Chat]) -> None:
    resident = chat()
    first = report(resident)
    second = report(resident, "越华路有盏路灯坏咗成个礼拜")
    listing = resident.say("我的事项")[-1]
    assert listing.index(second) < listing.index(first)


def test_cancel_a_reported_case(chat: Callable[[], Chat]) -> None:
    resident = chat()
    code = report(resident)
    assert any("已撤销" in reply for reply in resident.say("我想撤销刚才反映的问题"))
    assert case_by_code(resident.engine, code).state == "cancelled"


def test_handoff_tells_the_command_centre(chat: Callable[[], Chat]) -> None:
    resident = chat()
    replies = resident.say("我要找人工客服")
    assert any("人工" in reply for reply in replies)
    with Session(resident.engine, future=True) as session:
        desk = (
            session.execute(select(OutboxMessage).where(OutboxMessage.recipient_id == "DZZX")).scalars().all()
        )
    assert [m.template for m in desk] == ["handoff.requested"]


def test_not_fixed_reopens_then_fixed_and_rated_closes(chat: Callable[[], Chat]) -> None:
    resident = chat()
    code = report(resident)
    drive(resident, code, CaseEvent.RESPOND, CaseEvent.DISPATCH, CaseEvent.SIGN, CaseEvent.HANDLE)

    assert any("重新启动" in reply for reply in resident.say("否"))
    assert case_by_code(resident.engine, code).state == "reopened"

    drive(resident, code, CaseEvent.DISPATCH, CaseEvent.SIGN, CaseEvent.HANDLE)
    assert any("打分" in reply for reply in resident.say("是"))
    assert case_by_code(resident.engine, code).state == "handled"  # closed only with the rating
    assert any("5分" in reply for reply in resident.say("5"))
    case = case_by_code(resident.engine, code)
    assert case.state == "closed"
    with Session(resident.engine, future=True) as session:
        ratings = session.execute(select(Rating.score).where(Rating.case_id == case.id)).scalars().all()
    assert ratings == [5]


def test_a_rating_out_of_range_is_asked_again(chat: Callable[[], Chat]) -> None:
    resident = chat()
    code = report(resident)
    drive(resident, code, CaseEvent.RESPOND, CaseEvent.DISPATCH, CaseEvent.SIGN, CaseEvent.HANDLE)
    resident.say("解决了")
    assert any("1到5" in reply for reply in resident.say("打10分"))
    assert case_by_code(resident.engine, code).state == "handled"
