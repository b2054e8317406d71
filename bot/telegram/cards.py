"""Task cards and button menus for Telegram: pure functions from template params to text and keyboards.

Texts and labels live in `bot/telegram/data/telegram.yml`; other templates fall back to the shared
`storage/data/templates.yml` texts, so a reminder reads the same on Telegram and in the console.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from telegram import InlineKeyboardButton, InlineKeyboardMarkup

from bot.telegram.callbacks import ButtonPress, encode
from storage.templates import render as render_shared

logger = logging.getLogger(__name__)

DATA_PATH = Path(__file__).resolve().parent / "data" / "telegram.yml"
STAGE_NAMES = {"respond": "响应", "dispatch": "调度", "handle": "处置"}
WORKER_TEMPLATES = ("task.new_case", "task.reopened")
DEPARTMENT_TEMPLATES = ("task.dispatched",)
MAX_CAPTION = 1024  # Telegram's caption limit; longer cards go as text


@functools.lru_cache(maxsize=1)
def texts() -> dict[str, Any]:
    """The Telegram texts file, loaded once."""
    with open(DATA_PATH, encoding="utf-8") as handle:
        return dict(yaml.safe_load(handle))


def reply(key: str, **params: Any) -> str:
    """A short reply to the person who pressed or wrote (`replies` in telegram.yml)."""
    return str(texts()["replies"][key]).format(**params)


@dataclass(frozen=True)
class CardExtras:
    """What a card shows beyond the template params, read from the database at send time."""

    due_local: str | None = None
    stage: str | None = None
    limit_text: str | None = None
    photo: str | None = None  # URL, local file path or Telegram file_id of the resident's photo


def _button(label_key: str, code: str, action: str, arg: str = "") -> InlineKeyboardButton:
    return InlineKeyboardButton(
        texts()["buttons"][label_key], callback_data=encode(ButtonPress(code, action, arg))
    )


def worker_keyboard(code: str) -> InlineKeyboardMarkup:
    """响应 / 现场处置完成 / 需部门处置 / 退回/非本网格 for a grid worker's card."""
    return InlineKeyboardMarkup(
        [
            [_button("respond", code, "respond"), _button("onsite", code, "onsite")],
            [_button("dispatch_menu", code, "dispatch_menu"), _button("wreturn_menu", code, "wreturn_menu")],
        ]
    )


def returned_keyboard(code: str) -> InlineKeyboardMarkup:
    """After a department's return: re-dispatch, settle on site, or pass to the command centre."""
    return InlineKeyboardMarkup(
        [
            [_button("dispatch_menu", code, "dispatch_menu"), _button("onsite", code, "onsite")],
            [_button("wreturn_menu", code, "wreturn_menu")],
        ]
    )


def department_keyboard(code: str) -> InlineKeyboardMarkup:
    """签收 / 退回 / 办结 for a department group's card."""
    return InlineKeyboardMarkup(
        [
            [
                _button("sign", code, "sign"),
                _button("dreturn_menu", code, "dreturn_menu"),
                _button("done", code, "done"),
            ]
        ]
    )


def keyboard_for_state(code: str, state: str, *, group: bool) -> InlineKeyboardMarkup | None:
    """The buttons a card keeps once the case is in `state` (None: nothing left to press in this chat)."""
    if group:
        if state == "dispatched":
            return department_keyboard(code)
        if state == "signed":
            return InlineKeyboardMarkup(
                [[_button("dreturn_menu", code, "dreturn_menu"), _button("done", code, "done")]]
            )
        return None
    if state == "reported":
        return worker_keyboard(code)
    if state == "responded":
        return InlineKeyboardMarkup(
            [
                [_button("onsite", code, "onsite"), _button("dispatch_menu", code, "dispatch_menu")],
                [_button("wreturn_menu", code, "wreturn_menu")],
            ]
        )
    if state in ("returned", "reopened"):
        return returned_keyboard(code)
    return None


def dispatch_menu(
    code: str, suggested: str | None, choices: Sequence[tuple[str, str]]
) -> InlineKeyboardMarkup:
    """One button per department (key, name); the suggested one first, marked ✅."""
    ordered = sorted(choices, key=lambda choice: choice[0] != suggested)
    rows = [
        [
            InlineKeyboardButton(
                ("✅ " if key == suggested else "") + name,
                callback_data=encode(ButtonPress(code, "dispatch", key)),
            )
        ]
        for key, name in ordered
    ]
    rows.append([_button("back", code, "back")])
    return InlineKeyboardMarkup(rows)


def reasons_menu(code: str, action: str, reasons: Mapping[str, str]) -> InlineKeyboardMarkup:
    """One button per preset reason for a worker's (`wreturn`) or department's (`dreturn`) return."""
    rows = [
        [InlineKeyboardButton(text, callback_data=encode(ButtonPress(code, action, key)))]
        for key, text in reasons.items()
    ]
    rows.append([_button("back", code, "back")])
    return InlineKeyboardMarkup(rows)


def card_text(template: str, params: Mapping[str, Any], extras: CardExtras) -> str:
    """The task card: headline, category, place, text, time limit and the resident's masked contact."""
    headline = str(texts()["cards"][template]).format(case_code=params.get("case_code", ""))
    lines = [
        headline,
        f"类别：{params.get('category') or '未分类'}",
        f"地点：{params.get('address') or '未提供'}",
    ]
    lines.append(f"内容：{params.get('description') or ''}")
    if params.get("reason"):
        lines.append(f"退回原因：{params['reason']}")
    if extras.due_local:
        stage = STAGE_NAMES.get(extras.stage or "", extras.stage or "")
        lines.append(f"时限：{extras.limit_text or ''} 内{stage}，{extras.due_local} 前")
    if params.get("resident_contact"):
        lines.append(f"群众联系方式：{params['resident_contact']}")
    return "\n".join(lines)


def render(
    template: str, recipient_kind: str, params: Mapping[str, Any], extras: CardExtras
) -> tuple[str, InlineKeyboardMarkup | None]:
    """Text and buttons for an outbox message to a Telegram chat.

    Raises:
        KeyError: a template with no text anywhere (the sender parks such a message).
    """
    code = str(params.get("case_code") or "")
    if template == "telegram.text":
        return str(params.get("text") or ""), None
    if template in texts()["cards"]:
        text = card_text(template, params, extras)
        if template in WORKER_TEMPLATES and recipient_kind == "person":
            return text, worker_keyboard(code)
        if template == "task.returned":
            return text, returned_keyboard(code)
        if template in DEPARTMENT_TEMPLATES:
            return text, department_keyboard(code)
        if template == "task.triage":
            return text, InlineKeyboardMarkup([[_button("dispatch_menu", code, "dispatch_menu")]])
        return text, None
    return render_shared(template, params), None
