"""The report form: take a problem in one or two messages, ask only what routing needs, read back, open.

`report_form` requires `report_draft` (everything gathered), `report_location` (filled as soon as routing
no longer `needs` a place) and `report_confirmed` (the resident's 对 to the read-back). The validation
action folds each message into the draft; the routing and storage calls live in `actions.drafts` and
`storage.resident`.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from rasa_sdk import Action, FormValidationAction, Tracker
from rasa_sdk.events import ActiveLoop, EventType, FollowupAction, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from actions import deps, replies
from actions.drafts import (
    MAX_LOCATION_ASKS,
    ReportDraft,
    add_message,
    category_name,
    choose_candidate,
    decide_draft,
    describes_a_problem,
    missing,
    place_label,
    start_draft,
)
from storage.resident import submit_report

FORM = "report_form"
# Intents that, with nothing new about the report, step out of the form (rules answer them, then it resumes).
INTERRUPTIONS = {
    "status_query",
    "list_cases",
    "greet",
    "thanks",
    "out_of_scope",
    "human_handoff",
    "consult",
    "cancel",
}
RESET_SLOTS = ("report_draft", "report_problem", "report_location", "report_confirmed", "remembered_place")


def _intent(tracker: Tracker) -> str | None:
    return (tracker.latest_message.get("intent") or {}).get("name")


def _brings_news(message: dict[str, Any]) -> bool:
    metadata = message.get("metadata") or {}
    return bool(message.get("places") or metadata.get("location") or metadata.get("photo"))


def _choice(tracker: Tracker) -> int | None:
    value = next(tracker.get_latest_entity_values("place_choice"), None)
    try:
        return int(value) - 1 if value is not None else None
    except (TypeError, ValueError):
        return None


class ValidateReportForm(FormValidationAction):
    """Fills the report form's slots from each message (custom slot mappings)."""

    def name(self) -> str:
        return "validate_report_form"

    async def extract_report_draft(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        message = tracker.latest_message
        requested = tracker.get_slot("requested_slot")
        current = tracker.get_slot("report_draft")
        if tracker.active_loop_name != FORM or current is None:
            draft = start_draft(message, tracker.get_slot("remembered_place"))
        elif _intent(tracker) in INTERRUPTIONS and not _brings_news(message):
            return {}  # not about the report: the form is rejected and a rule answers it
        elif requested == "report_location" and (choice := _choice(tracker)) is not None:
            previous = ReportDraft.from_slot(current)
            draft = choose_candidate(previous, decide_draft(previous, deps.now()), choice, deps.now())
        elif requested == "report_confirmed" and _intent(tracker) == "affirm" and not _brings_news(message):
            return {}
        else:
            draft = add_message(
                ReportDraft.from_slot(current), message, correcting=requested == "report_confirmed"
            )
        decision = decide_draft(draft, deps.now())
        if decision.emergency and not draft.advised:
            dispatcher.utter_message(text=replies.emergency_advice(decision))
            draft = ReportDraft.from_slot({**draft.as_slot(), "advised": True})
        return {"report_draft": draft.as_slot()}

    async def extract_report_problem(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        if tracker.get_slot("report_draft") is None:
            return {}
        draft = ReportDraft.from_slot(tracker.get_slot("report_draft"))
        problem = category_name(draft.category) if draft.category else ("待人工分类" if draft.texts else None)
        return {"report_problem": problem} if problem != tracker.get_slot("report_problem") else {}

    async def extract_report_location(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        if tracker.get_slot("report_draft") is None:
            return {}
        draft = ReportDraft.from_slot(tracker.get_slot("report_draft"))
        decision = decide_draft(draft, deps.now())
        asked_enough = draft.location_asks >= MAX_LOCATION_ASKS
        label = None if missing(decision) and not asked_enough else place_label(draft, decision)
        return {"report_location": label} if label != tracker.get_slot("report_location") else {}

    async def extract_report_confirmed(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        if tracker.get_slot("requested_slot") != "report_confirmed" or tracker.active_loop_name != FORM:
            return {}
        if _intent(tracker) == "affirm" and not _brings_news(tracker.latest_message):
            return {"report_confirmed": True}
        if _intent(tracker) in INTERRUPTIONS and not _brings_news(tracker.latest_message):
            return {}
        return {"report_confirmed": None}  # a correction or a 不对: read back again


class AskReportProblem(Action):
    """A menu click or a photo without readable text: ask what the problem is."""

    def name(self) -> str:
        return "action_ask_report_problem"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        draft = ReportDraft.from_slot(tracker.get_slot("report_draft"))
        dispatcher.utter_message(
            text=replies.ASK_PHOTO_PROBLEM if draft.photos else replies.ASK_PROBLEM_FIRST
        )
        return []


class AskReportLocation(Action):
    """Where? Or, when the place is ambiguous, one tap between the candidates."""

    def name(self) -> str:
        return "action_ask_report_location"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        draft = ReportDraft.from_slot(tracker.get_slot("report_draft"))
        decision = decide_draft(draft, deps.now())
        asked = SlotSet("report_draft", replace(draft, location_asks=draft.location_asks + 1).as_slot())
        if "clarify_location" in decision.needs and decision.candidates:
            buttons = [
                {"title": candidate.label, "payload": f'/provide_location{{"place_choice":"{number}"}}'}
                for number, candidate in enumerate(decision.candidates[: replies.MAX_CHOICES], 1)
            ]
            dispatcher.utter_message(text=replies.ASK_WHICH_PLACE, buttons=buttons)
        else:
            dispatcher.utter_message(text=replies.ASK_LOCATION)
        return [asked]


class AskReportConfirmed(Action):
    """The read-back: category and place in one line, answered with 对 or a correction."""

    def name(self) -> str:
        return "action_ask_report_confirmed"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        message = tracker.latest_message
        bare_no = _intent(tracker) == "deny" and not _brings_news(message)
        draft = ReportDraft.from_slot(tracker.get_slot("report_draft"))
        if (
            bare_no
            and tracker.get_slot("requested_slot") == "report_confirmed"
            and "category" not in draft.corrected[-1:]
        ):
            dispatcher.utter_message(text=replies.WHAT_IS_WRONG)
            return []
        decision = decide_draft(draft, deps.now())
        buttons = [{"title": "对，提交", "payload": "/affirm"}, {"title": "不对", "payload": "/deny"}]
        dispatcher.utter_message(text=replies.read_back(draft, decision), buttons=buttons)
        return []


class SubmitReport(Action):
    """Open the confirmed report as a case (or follow the open case it duplicates) and say so."""

    def name(self) -> str:
        return "action_submit_report"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        if tracker.get_slot("report_confirmed") is not True or tracker.get_slot("report_draft") is None:
            return []
        draft = ReportDraft.from_slot(tracker.get_slot("report_draft"))
        now = deps.now()
        decision = decide_draft(draft, now)
        channel = "wechat" if tracker.get_latest_input_channel() == "wechat" else "rest"
        with deps.transaction() as session:
            submitted = submit_report(
                session,
                decision,
                openid=tracker.sender_id,
                now=now,
                description=draft.description or place_label(draft, decision),
                point=draft.point,
                address=place_label(draft, decision),
                photos=draft.photos,
                channel=channel,
            )
        if (
            submitted.own
        ):  # e.g. WeChat retried the turn after the case was opened: same answer, no second case
            dispatcher.utter_message(text=replies.opened(submitted.case_code, decision))
        elif submitted.duplicate:
            dispatcher.utter_message(text=replies.duplicate(submitted.case_code, submitted.state))
        else:
            dispatcher.utter_message(text=replies.opened(submitted.case_code, decision))
        return [SlotSet(slot, None) for slot in RESET_SLOTS] + [
            SlotSet("last_case_code", submitted.case_code)
        ]


class CancelReport(Action):
    """取消 while a report is being taken: drop the draft, nothing is stored."""

    def name(self) -> str:
        return "action_cancel_report"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        dispatcher.utter_message(text=replies.CANCELLED_DRAFT)
        return [ActiveLoop(None), SlotSet("requested_slot", None)] + [
            SlotSet(slot, None) for slot in RESET_SLOTS
        ]


class RememberPlace(Action):
    """A location or a place sent before any problem: keep it for the report that follows."""

    def name(self) -> str:
        return "action_remember_place"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        if describes_a_problem(
            tracker.latest_message
        ):  # "越华路有流动摊贩占道经营" read as a place: report it
            return [FollowupAction(FORM)]
        draft = add_message(ReportDraft(), tracker.latest_message, correcting=True)
        if not (draft.point or draft.places):
            dispatcher.utter_message(text=replies.ASK_LOCATION)
            return []
        dispatcher.utter_message(text=replies.ASK_PROBLEM)
        return [SlotSet("remembered_place", {"point": draft.point, "places": list(draft.places)})]


class UnclearMessage(Action):
    """A resident's message NLU read as a staff reply (dept_*): a report if the words name a problem, else 没明白."""

    def name(self) -> str:
        return "action_unclear_message"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        if describes_a_problem(tracker.latest_message):
            return [FollowupAction(FORM)]
        dispatcher.utter_message(response="utter_default")
        return []
