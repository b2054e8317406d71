"""Status, list, cancel and hand-off: the resident asking about cases they already reported."""

from __future__ import annotations

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from actions import deps, replies
from storage.queries import case_status, resident_cases
from storage.resident import cancel, cancellable, case_for_question, request_handoff, state_name, visible_case


def _case_code(tracker: Tracker) -> str | None:
    code = next(tracker.get_latest_entity_values("case_code"), None)
    return str(code).upper() if code else None


def _category(tracker: Tracker) -> str | None:
    """The category NLU read in the question ("我上周报的井盖"), when it is sure enough."""
    message = tracker.latest_message
    ranking = message.get("category_ranking") or []
    if ranking and float(ranking[0].get("confidence") or 0) >= 0.5:
        return str(ranking[0].get("code") or ranking[0].get("name") or "") or None
    return None


class CaseStatusAction(Action):
    """进度查询: a case code, or the resident's newest case (of the category asked about)."""

    def name(self) -> str:
        return "action_case_status"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        code = _case_code(tracker)
        now = deps.now()
        with deps.transaction() as session:
            case = (
                visible_case(session, tracker.sender_id, code)
                if code
                else case_for_question(session, tracker.sender_id, _category(tracker))
            )
            if case is None:
                dispatcher.utter_message(
                    text=replies.NOT_FOUND.format(code=code) if code else replies.NO_CASES
                )
                return []
            status = case_status(session, case.code, now)
        assert status is not None
        dispatcher.utter_message(
            text=replies.status_line(
                status.code, status.category, status.state, status.next_due_at, status.next_stage
            )
        )
        return [SlotSet("last_case_code", status.code)]


class ListCasesAction(Action):
    """我的事项: the newest five cases with their state."""

    def name(self) -> str:
        return "action_list_cases"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        with deps.transaction() as session:
            lines = [
                replies.status_line(case.code, case.category, case.state, None, None)
                for case in resident_cases(session, tracker.sender_id, limit=5)
            ]
        dispatcher.utter_message(text=replies.case_list(lines) if lines else replies.NO_CASES)
        return []


class CancelCaseAction(Action):
    """撤销 outside a report: the named case, else the newest one, if no department has it yet."""

    def name(self) -> str:
        return "action_cancel_case"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        code = _case_code(tracker)
        with deps.transaction() as session:
            case = (
                visible_case(session, tracker.sender_id, code)
                if code
                else case_for_question(session, tracker.sender_id, None)
            )
            if case is None or case.resident_id is None:
                dispatcher.utter_message(
                    text=replies.NOT_FOUND.format(code=code) if code else replies.NO_CASES
                )
                return []
            if not cancellable(case):
                dispatcher.utter_message(
                    text=replies.CANNOT_CANCEL.format(code=case.code, state=state_name(case.state))
                )
                return []
            cancel(session, case, tracker.sender_id, deps.now())
            dispatcher.utter_message(text=replies.CASE_CANCELLED.format(code=case.code))
        return []


class HandoffAction(Action):
    """转人工: the command centre's duty desk is told (outbox), the resident is told who will answer."""

    def name(self) -> str:
        return "action_handoff"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        channel = "wechat" if tracker.get_latest_input_channel() == "wechat" else "rest"
        text = str(tracker.latest_message.get("text") or "")
        with deps.transaction() as session:
            request_handoff(session, tracker.sender_id, text, deps.now(), channel=channel)
        dispatcher.utter_message(text=replies.HANDOFF)
        return []
