"""A resident reports a problem to the real bot: asks only what routing needs, reads back, opens the case."""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import select
from sqlalchemy.orm import Session

from routing.geo import default_index
from storage.models import CaseSubscription, OutboxMessage
from tests.conversation.conftest import Chat, case_by_code

# A point on 越华路 (WGS-84), inside 越秀区.
YUEHUA_LAT, YUEHUA_LNG = 23.1300, 113.2620
YUEHUA_POINT = {"lat": YUEHUA_LAT, "lng": YUEHUA_LNG, "source": "gps"}


def code_in(replies: list[str]) -> str:
    for reply in replies:
        if "编号 YX-" in reply:
            return reply.split("编号 ")[1].split("，")[0].split("。")[0].strip()
    raise AssertionError(f"no case code in {replies}")


def test_text_report_with_its_place_is_read_back_then_opened(chat: Callable[[], Chat]) -> None:
    resident = chat()
    read_back = resident.say("越华路12号门口个井盖烂咗，好危险")
    assert len(read_back) == 1 and "对吗" in read_back[0] and "越华路" in read_back[0]
    assert "井盖" in read_back[0]
    assert resident.cases() == []  # nothing is opened before the resident says 对

    opened = resident.say("对")
    code = code_in(opened)
    case = case_by_code(resident.engine, code)
    assert case.category is not None and "井盖" in read_back[0]
    assert case.street_code is not None and case.grid_id is not None and case.department_key is not None
    assert "越华路12号" in case.description
    with Session(resident.engine, future=True) as session:
        pushes = (
            session.execute(select(OutboxMessage).where(OutboxMessage.case_id == case.id)).scalars().all()
        )
    # the worker gets the task; the resident was answered in the chat, so no second "已受理" push
    assert {m.template for m in pushes} == {"task.new_case"}
    assert resident.tracker_slot("report_draft") is None


def test_missing_place_is_asked_and_a_location_message_completes_it(chat: Callable[[], Chat]) -> None:
    resident = chat()
    asked = resident.say("门口啲垃圾堆咗成个礼拜冇人清")
    assert asked and "在哪里" in asked[-1]
    read_back = resident.say("/provide_location", location=YUEHUA_POINT, msg_type="location")
    assert "对吗" in read_back[-1]
    code = code_in(resident.say("好"))
    case = case_by_code(resident.engine, code)
    expected = default_index().grid_at(YUEHUA_LAT, YUEHUA_LNG)
    assert expected is not None and case.grid_id == expected.grid
    assert (case.lat, case.lng) == (YUEHUA_LAT, YUEHUA_LNG)


def test_a_correction_of_the_place_is_read_back_again(chat: Callable[[], Chat]) -> None:
    resident = chat()
    first = resident.say("越华路有盏路灯唔着")
    assert "越华路" in first[-1]
    corrected = resident.say("不是，是在仓边路")
    assert "仓边路" in corrected[-1] and "越华路" not in corrected[-1] and "对吗" in corrected[-1]
    case = case_by_code(resident.engine, code_in(resident.say("对")))
    assert case.address is not None and "仓边路" in case.address and "越华路" not in case.address


def test_an_ambiguous_road_is_one_tap_between_its_streets(chat: Callable[[], Chat]) -> None:
    resident = chat()
    asked = resident.say("中山五路有盏路灯坏咗")
    assert "哪一个" in asked[-1] and "中山五路（光塔街道段）" in asked[-1]
    read_back = resident.say('/provide_location{"place_choice":"2"}')
    assert "中山五路" in read_back[-1] and "光塔街" in read_back[-1] and "对吗" in read_back[-1]
    case = case_by_code(resident.engine, code_in(resident.say("对")))
    assert case.street_code is not None and case.category == "STREETLIGHT"


def test_emergency_advice_comes_first_and_the_case_is_urgent(chat: Callable[[], Chat]) -> None:
    resident = chat()
    replies = resident.say("越华路12号楼道好大煤气味，好似漏气")
    assert "119" in replies[0] and "对吗" in replies[-1]
    case = case_by_code(resident.engine, code_in(resident.say("对")))
    assert case.urgency == "urgent"


def test_a_duplicate_subscribes_the_second_resident(chat: Callable[[], Chat]) -> None:
    first, second = chat(), chat()
    first.say("越华路12号门口井盖冇咗")
    code = code_in(first.say("对"))
    second.say("越华路12号门口井盖唔见咗")
    replies = second.say("对")
    assert any("附近已有居民反映" in reply and code in reply for reply in replies)
    assert second.cases() == []
    with Session(first.engine, future=True) as session:
        followers = session.execute(select(CaseSubscription)).scalars().all()
    assert len(followers) == 1


def test_cancel_while_reporting_stores_nothing(chat: Callable[[], Chat]) -> None:
    resident = chat()
    resident.say("越华路有人乱摆卖")
    replies = resident.say("算了，取消")
    assert any("已取消" in reply for reply in replies)
    assert resident.cases() == [] and resident.tracker_slot("report_draft") is None


def test_a_status_question_while_asked_where_is_answered_then_the_form_resumes(
    chat: Callable[[], Chat],
) -> None:
    resident = chat()
    resident.say("有棵树倒咗压住条路")
    replies = resident.say("我之前报的事情处理得怎么样了")
    assert any("还没有反映过" in reply for reply in replies)
    assert "在哪里" in replies[-1]  # back to the question it had asked
    assert "对吗" in resident.say("/provide_location", location=YUEHUA_POINT)[-1]


def test_menu_click_asks_for_the_problem_first(chat: Callable[[], Chat]) -> None:
    resident = chat()
    assert "什么问题" in resident.say("/report_issue", event="click", event_key="REPORT_ISSUE")[-1]
    replies = resident.say("越华路12号有个井盖烂咗")
    assert "对吗" in replies[-1] and "井盖" in replies[-1]


def test_the_same_report_again_from_the_same_resident_opens_no_second_case(chat: Callable[[], Chat]) -> None:
    """What a retried WeChat turn after a crash amounts to: the resident's own open case is answered again."""
    resident = chat()
    resident.say("越华路12号门口井盖冇咗")
    code = code_in(resident.say("对"))
    resident.say("越华路12号门口井盖冇咗")
    again = resident.say("对")
    assert code_in(again) == code and not any("已有居民反映" in reply for reply in again)
    assert len(resident.cases()) == 1


def test_a_problem_read_as_a_place_still_starts_the_report(chat: Callable[[], Chat]) -> None:
    """The month replay found these: NLU read them as provide_location / a staff reply, and no case opened."""
    resident = chat()
    read_back = resident.say("越华路有流动摊贩占道经营")
    assert "对吗" in read_back[-1] and "越华路" in read_back[-1]
    case = case_by_code(resident.engine, code_in(resident.say("对")))
    assert case.category == "STREET_VENDOR"


def test_a_problem_read_as_a_staff_reply_asks_where(chat: Callable[[], Chat]) -> None:
    resident = chat()
    replies = resident.say("下水道堵塞，污水漫出来")
    assert "在哪里" in replies[-1] and not any("没太明白" in reply for reply in replies)


def test_a_place_that_cannot_be_found_is_asked_three_times_then_kept_for_a_person(
    chat: Callable[[], Chat],
) -> None:
    resident = chat()
    assert "在哪里" in resident.say("夜晚工地施工好嘈，瞓唔着")[-1]
    assert "在哪里" in resident.say("在深巷12号")[-1]
    assert "在哪里" in resident.say("在深巷12号")[-1]
    read_back = resident.say("就系深巷12号")
    assert "对吗" in read_back[-1] and "地点待确认" in read_back[-1]
    case = case_by_code(resident.engine, code_in(resident.say("对")))
    assert case.grid_id is None and "深巷12号" in case.description  # the words stay with the case


def test_a_pin_between_two_grids_is_settled_by_one_tap(chat: Callable[[], Chat]) -> None:
    """Found by the month replay: choosing a grid kept the border pin, and the bot asked again and again."""
    resident = chat()
    resident.say("绿化带有人倒建筑垃圾")
    asked = resident.say("/provide_location", location={"lat": 23.1279, "lng": 113.3042, "source": "gps"})
    assert "哪一个" in asked[-1] and "共和苑社区 03号网格" in asked[-1]
    choice = next(n for n, line in enumerate(asked[-1].split(" ["), 0) if "03号网格" in line)
    read_back = resident.say(f'/provide_location{{"place_choice":"{choice}"}}')
    assert "对吗" in read_back[-1]
    case = case_by_code(resident.engine, code_in(resident.say("对")))
    assert case.grid_id == "440104013008-03"
