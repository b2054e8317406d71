"""Every template the notification plan or any code uses has a text, and every placeholder is a message param."""

from __future__ import annotations

import ast
from datetime import datetime, timezone
from pathlib import Path

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


SOURCE_PACKAGES = ("bot", "storage", "actions", "routing")
REPO = Path(__file__).resolve().parents[2]


def _string_constants(tree: ast.AST) -> dict[str, str]:
    """Module-level NAME = "literal" assignments (e.g. TEXT_TEMPLATE = "wechat.text")."""
    constants = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign) and isinstance(node.value, ast.Constant):
            for target in node.targets:
                if isinstance(target, ast.Name) and isinstance(node.value.value, str):
                    constants[target.id] = node.value.value
    return constants


def templates_referenced_in_code() -> dict[str, str]:
    """template key -> where: every `template="..."` (or `template=CONSTANT`) and `template == "..."` in code."""
    found: dict[str, str] = {}
    for package in SOURCE_PACKAGES:
        for path in sorted((REPO / package).rglob("*.py")):
            if "migrations" in path.parts:
                continue
            tree = ast.parse(path.read_text(encoding="utf-8"))
            constants = _string_constants(tree)
            where = str(path.relative_to(REPO))
            for node in ast.walk(tree):
                values: list[ast.expr] = []
                if isinstance(node, ast.keyword) and node.arg == "template":
                    values = [node.value]
                elif isinstance(node, ast.Compare) and _names_template(node.left):
                    values = list(node.comparators)
                for value in values:
                    if isinstance(value, ast.Constant) and isinstance(value.value, str):
                        found[value.value] = f"{where}:{getattr(node, 'lineno', '?')}"
                    elif isinstance(value, ast.Name) and value.id in constants:
                        found[constants[value.id]] = f"{where} ({value.id})"
    return found


def _names_template(node: ast.expr) -> bool:
    return (isinstance(node, ast.Name) and node.id == "template") or (
        isinstance(node, ast.Attribute) and node.attr == "template"
    )


def test_every_template_key_used_in_code_has_a_text() -> None:
    referenced = templates_referenced_in_code()
    assert {"telegram.text", "wechat.text", "task.reminder"} <= set(referenced)  # the scan finds them
    texts = load_templates()
    missing = {key: where for key, where in referenced.items() if key not in texts}
    assert missing == {}, f"templates used in code without a text in storage/data/templates.yml: {missing}"


def test_every_telegram_card_template_has_a_shared_text() -> None:
    from bot.telegram.cards import texts as telegram_texts

    assert set(telegram_texts()["cards"]) <= set(load_templates())


def test_free_text_templates_render_the_text_itself() -> None:
    assert render("telegram.text", {"text": "【超时事项日报】共 1 件"}) == "【超时事项日报】共 1 件"
    assert render("wechat.text", {"text": "请问在哪个位置？"}) == "请问在哪个位置？"
