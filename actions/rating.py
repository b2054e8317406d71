"""Close-out: 问题解决了吗? 是 -> ask for 1-5 (or take it at once), 否 -> reopen; the rating closes the case."""

from __future__ import annotations

import re

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from actions import deps, replies
from storage.resident import awaiting_confirmation, confirm, reopen

DIGIT = re.compile(r"[1-9]\d*")
CHINESE_SCORES = {"一": 1, "二": 2, "两": 2, "三": 3, "四": 4, "五": 5}


def score_of(tracker: Tracker) -> int | None:
    """The score the resident gave: the `score` entity, else a lone number in the text ("5", "五星")."""
    raw = next(tracker.get_latest_entity_values("score"), None)
    text = str(raw if raw is not None else tracker.latest_message.get("text") or "")
    if match := DIGIT.search(text):
        return int(match.group())
    for word, value in CHINESE_SCORES.items():
        if word in text:
            return value
    return None


class CloseOutAction(Action):
    """Answers 是/否/a score about the resident's newest handled case."""

    def name(self) -> str:
        return "action_close_out"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        intent = (tracker.latest_message.get("intent") or {}).get("name")
        score = score_of(tracker) if intent in {"rate", "affirm"} else None
        openid = tracker.sender_id
        now = deps.now()
        with deps.transaction() as session:
            case = awaiting_confirmation(session, openid)
            if case is None:
                dispatcher.utter_message(text=replies.NOTHING_TO_CONFIRM)
                return [SlotSet("awaiting_rating", None)]
            if intent == "deny":
                reopen(
                    session, case, openid, now, reason=str(tracker.latest_message.get("text") or "") or None
                )
                dispatcher.utter_message(text=replies.REOPENED.format(code=case.code))
                return [SlotSet("awaiting_rating", None)]
            if score is None:
                dispatcher.utter_message(text=replies.ASK_RATING)
                return [SlotSet("awaiting_rating", case.code)]
            if not 1 <= score <= 5:
                dispatcher.utter_message(text=replies.BAD_RATING)
                return [SlotSet("awaiting_rating", case.code)]
            confirm(session, case, openid, now, rating=score)
            dispatcher.utter_message(text=replies.RATED.format(score=score, code=case.code))
        return [SlotSet("awaiting_rating", None)]
