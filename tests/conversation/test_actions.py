"""The actions one by one, as rasa-sdk runs them: a `Tracker` built from a real parse, a `CollectingDispatcher`."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import pytest
from rasa_sdk import Tracker
from rasa_sdk.executor import CollectingDispatcher
from sqlalchemy.engine import Engine

from actions.rating import CloseOutAction, score_of
from actions.report import SubmitReport, ValidateReportForm
from actions.status import CaseStatusAction

DOMAIN: dict[str, Any] = {
    "forms": {
        "report_form": {
            "required_slots": ["report_draft", "report_problem", "report_location", "report_confirmed"]
        }
    },
    "slots": {
        name: {"type": "any", "mappings": [{"type": "custom"}]}
        for name in (
            "report_draft",
            "report_problem",
            "report_location",
            "report_confirmed",
            "remembered_place",
        )
    },
}


def tracker(parse: dict[str, Any], *, slots: dict[str, Any] | None = None, active: bool = False) -> Tracker:
    return Tracker(
        sender_id="oActionTest0000000000000001",
        slots={"requested_slot": None, **(slots or {})},
        latest_message=parse,
        events=[],
        paused=False,
        followup_action=None,
        active_loop={"name": "report_form"} if active else {},
        latest_action_name="action_listen",
    )


def run(action: Any, dispatcher: CollectingDispatcher, state: Tracker) -> list[dict[str, Any]]:
    return asyncio.run(action.run(dispatcher, state, DOMAIN))


def slots_set(events: list[dict[str, Any]]) -> dict[str, Any]:
    return {event["name"]: event["value"] for event in events if event.get("event") == "slot"}


def test_validation_on_activation_fills_the_draft_and_asks_for_the_read_back(
    nlu_parse: Callable[[str], dict[str, Any]],
    district: Engine,
) -> None:
    dispatcher = CollectingDispatcher()
    events = run(ValidateReportForm(), dispatcher, tracker(nlu_parse("越华路12号门口个井盖烂咗")))
    slots = slots_set(events)
    assert slots["report_draft"]["category"] == "MANHOLE"
    assert slots["report_problem"] and "越华路" in slots["report_location"]
    # only the read-back is left: Rasa's FormAction asks the first empty required slot, report_confirmed
    assert "report_confirmed" not in slots and dispatcher.messages == []


def test_validation_gives_emergency_advice_first(
    nlu_parse: Callable[[str], dict[str, Any]],
    district: Engine,
) -> None:
    dispatcher = CollectingDispatcher()
    events = run(ValidateReportForm(), dispatcher, tracker(nlu_parse("越华路12号楼道好大煤气味，好似漏气")))
    assert "119" in dispatcher.messages[0]["text"] and slots_set(events)["report_draft"]["advised"] is True


def test_a_question_while_asked_where_rejects_the_form(
    nlu_parse: Callable[[str], dict[str, Any]],
    district: Engine,
) -> None:
    draft = {"texts": ["井盖烂咗"], "category": "MANHOLE", "category_confidence": 0.9}
    state = tracker(
        nlu_parse("我上次报的事情处理得怎么样"),
        slots={"report_draft": draft, "report_problem": "井盖缺失/破损", "requested_slot": "report_location"},
        active=True,
    )
    events = run(ValidateReportForm(), CollectingDispatcher(), state)
    assert [e for e in events if e.get("name") != "requested_slot"] == []


def test_submit_without_a_yes_opens_nothing(
    nlu_parse: Callable[[str], dict[str, Any]],
    district: Engine,
) -> None:
    dispatcher = CollectingDispatcher()
    assert run(SubmitReport(), dispatcher, tracker(nlu_parse("对"))) == [] and dispatcher.messages == []


def test_close_out_without_a_handled_case_says_so(
    nlu_parse: Callable[[str], dict[str, Any]],
    district: Engine,
) -> None:
    dispatcher = CollectingDispatcher()
    run(CloseOutAction(), dispatcher, tracker(nlu_parse("5分")))
    assert "反映新问题" in dispatcher.messages[0]["text"]


def test_status_without_cases_says_so(
    nlu_parse: Callable[[str], dict[str, Any]],
    district: Engine,
) -> None:
    dispatcher = CollectingDispatcher()
    run(CaseStatusAction(), dispatcher, tracker(nlu_parse("我报的井盖怎么样了")))
    assert "还没有反映过" in dispatcher.messages[0]["text"]


@pytest.mark.parametrize(("text", "score"), [("5", 5), ("打4分", 4), ("五星", 5), ("10分", 10), ("好", None)])
def test_score_of_reads_digits_and_chinese(text: str, score: int | None) -> None:
    state = tracker({"text": text, "intent": {"name": "rate"}, "entities": []})
    assert score_of(state) == score
