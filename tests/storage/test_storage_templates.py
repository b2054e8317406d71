"""Every template the notification plan uses has a text, and every placeholder is a message param."""

from __future__ import annotations

from datetime import datetime, timezone

from storage.models import Case, CaseEventRecord
from storage.notifications import NOTIFY_PLAN, message_params
from storage.templates import load_templates, placeholders, render


def sample_params() -> dict[str, object]:
    case = Case(
        code="YX-20261130-0001",
        category="GARBAGE",
        description="垃圾没清 电话13812345678",
        address="三眼井12号",
        department_key="HWZX",
        grid_id="g",
        urgency="normal",
    )
    record = CaseEventRecord(
        event="escalate",
        to_state="reported",
        escalation_level=2,
        payload={"stage": "respond"},
        at=datetime(2026, 11, 30, tzinfo=timezone.utc),
    )
    return message_params(case, record)


def test_every_planned_template_has_a_text_using_known_params() -> None:
    texts = load_templates()
    params = sample_params()
    for pairs in NOTIFY_PLAN.values():
        for _, template in pairs:
            assert template in texts, template
            assert placeholders(texts[template]) <= set(params), template


def test_render_fills_params_and_masks_nothing_new() -> None:
    text = render("task.escalated", sample_params())
    assert text == "【督办·第2级】YX-20261130-0001 respond 环节超时：垃圾没清 电话138****5678（三眼井12号）。"
    assert render("task.returned", {"case_code": "YX-1", "reason": None}).startswith(
        "【退回】YX-1 被部门退回：。"
    )


def test_reminder_template_renders() -> None:
    params = {
        "case_code": "YX-1",
        "category": "GARBAGE",
        "stage": "respond",
        "due_local": "11-30 11:00",
        "description": "垃圾",
        "address": "三眼井",
    }
    assert (
        render("task.reminder", params)
        == "【提醒】YX-1 GARBAGE respond 环节将于 11-30 11:00 到期：垃圾（三眼井）。"
    )
