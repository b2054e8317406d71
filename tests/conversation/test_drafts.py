"""The report draft: how each message folds in (pure functions, parse dicts shaped as Rasa gives them)."""

from __future__ import annotations

from datetime import datetime, timezone

from actions.drafts import ReportDraft, add_message, decide_draft, describes_a_problem, parse_for, start_draft

NOW = datetime(2026, 11, 30, 2, 0, tzinfo=timezone.utc)  # Monday 10:00 in Guangzhou
YUEHUA = {"kind": "road", "text": "越华路", "value": "越华路"}
ZHONGSHAN5 = {"kind": "road", "text": "中山五路", "value": "中山五路"}


def message(text: str, intent: str, **extra: object) -> dict[str, object]:
    return {"text": text, "intent": {"name": intent, "confidence": 0.95}, **extra}


def test_slot_round_trip_keeps_every_field() -> None:
    draft = ReportDraft(
        texts=("a", "b"), category="MANHOLE", places=(YUEHUA,), point={"lat": 1.0, "lng": 2.0}
    )
    assert ReportDraft.from_slot(draft.as_slot()) == draft
    assert ReportDraft.from_slot(None) == ReportDraft()


def test_first_message_gives_words_category_and_place() -> None:
    draft = start_draft(
        message(
            "越华路井盖烂咗", "report_issue", category="MANHOLE", category_confidence=0.9, places=[YUEHUA]
        )
    )
    assert draft.texts == ("越华路井盖烂咗",) and draft.category == "MANHOLE" and draft.places == (YUEHUA,)
    assert parse_for(draft)["places"] == [YUEHUA] and parse_for(draft)["text"] == "越华路井盖烂咗"


def test_payload_text_is_not_the_residents_words_and_a_pin_is_kept() -> None:
    pin = {"lat": 23.13, "lng": 113.26, "source": "gps", "label": "越华路"}
    draft = start_draft(message("/report_issue", "report_issue", metadata={"location": pin}))
    assert draft.texts == () and draft.point == {
        "lat": 23.13,
        "lng": 113.26,
        "source": "gps",
        "label": "越华路",
    }


def test_remembered_place_is_used_by_the_report_that_follows() -> None:
    draft = start_draft(message("路灯唔着", "report_issue"), {"places": [YUEHUA], "point": None})
    assert draft.places == (YUEHUA,)


def test_more_place_words_while_asked_where_are_added() -> None:
    draft = start_draft(message("井盖烂咗", "report_issue", category="MANHOLE", category_confidence=0.9))
    draft = add_message(draft, message("越华路12号", "provide_location", places=[YUEHUA]), correcting=False)
    assert draft.places == (YUEHUA,) and draft.texts == ("井盖烂咗",) and draft.category == "MANHOLE"


def test_a_correction_replaces_the_place_but_not_the_category() -> None:
    draft = start_draft(
        message(
            "越华路井盖烂咗", "report_issue", category="MANHOLE", category_confidence=0.9, places=[YUEHUA]
        )
    )
    fixed = add_message(
        draft,
        message(
            "不是，是在中山五路",
            "deny",
            category="STREETLIGHT",
            category_confidence=0.7,
            places=[ZHONGSHAN5],
        ),
        correcting=True,
    )
    assert fixed.places == (ZHONGSHAN5,) and fixed.category == "MANHOLE" and fixed.corrected == ("place",)


def test_a_confident_category_correction_replaces_the_category() -> None:
    draft = start_draft(
        message("越华路好多水", "report_issue", category="DRAINAGE", category_confidence=0.5, places=[YUEHUA])
    )
    fixed = add_message(
        draft,
        message("不是，是水管爆咗", "deny", category="WATER_SUPPLY", category_confidence=0.8),
        correcting=True,
    )
    assert fixed.category == "WATER_SUPPLY" and fixed.corrected == ("category",)
    assert fixed.texts == ("越华路好多水", "不是，是水管爆咗")


def test_a_bare_no_changes_nothing() -> None:
    draft = start_draft(
        message(
            "越华路井盖烂咗", "report_issue", category="MANHOLE", category_confidence=0.9, places=[YUEHUA]
        )
    )
    assert (
        add_message(
            draft, message("不是", "deny", category="MANHOLE", category_confidence=0.2), correcting=True
        )
        == draft
    )


def test_decision_of_a_draft_without_a_place_needs_location() -> None:
    draft = start_draft(message("井盖烂咗", "report_issue", category="MANHOLE", category_confidence=0.9))
    assert "location" in decide_draft(draft, NOW).needs
    located = add_message(draft, message("越华路12号", "provide_location", places=[YUEHUA]), correcting=False)
    assert "location" not in decide_draft(located, NOW).needs


def test_a_confident_category_ranking_names_a_problem_whatever_the_intent() -> None:
    ranking = [{"code": "STREET_VENDOR", "confidence": 0.9}, {"code": "DRAINAGE", "confidence": 0.03}]
    assert describes_a_problem(message("有流动摊贩占道经营", "provide_location", category_ranking=ranking))
    unsure = [{"code": "STREET_VENDOR", "confidence": 0.3}]
    assert not describes_a_problem(message("越华路12号", "provide_location", category_ranking=unsure))
    assert not describes_a_problem(message("/provide_location", "provide_location", category_ranking=ranking))
    draft = start_draft(message("有流动摊贩占道经营", "provide_location", category_ranking=ranking))
    assert draft.category == "STREET_VENDOR" and draft.category_confidence == 0.9
