"""Callback data for task-card buttons: `gs|<case code>|<action>|<argument>`, at most 64 bytes.

Telegram gives a pressed button's data back verbatim, so the data names the case and the action itself;
nothing is kept in memory between the card and the press (a restart loses nothing).
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass

logger = logging.getLogger(__name__)

PREFIX = "gs"
MAX_BYTES = 64  # Telegram's limit for callback_data
CASE_CODE_RE = re.compile(r"YX-\d{8}-\d{4}")
ACTIONS = (
    "respond",
    "onsite",
    "dispatch_menu",
    "dispatch",
    "wreturn_menu",
    "wreturn",
    "sign",
    "dreturn_menu",
    "dreturn",
    "done",
    "back",
)
_ARG_RE = re.compile(r"[A-Za-z0-9_-]{0,32}")


class BadCallbackData(ValueError):
    """Callback data that GridSec did not make (old format, tampered, or another bot's)."""


@dataclass(frozen=True)
class ButtonPress:
    """What a button means: which case, which action, and an optional argument (department key, reason key)."""

    case_code: str
    action: str
    arg: str = ""


def encode(press: ButtonPress) -> str:
    """The callback_data string for a button.

    Raises:
        BadCallbackData: unknown action, malformed code or argument, or longer than 64 bytes.
    """
    check(press)
    data = f"{PREFIX}|{press.case_code}|{press.action}|{press.arg}"
    if len(data.encode("utf-8")) > MAX_BYTES:
        raise BadCallbackData(f"callback data over {MAX_BYTES} bytes: {data!r}")
    return data


def decode(data: str | None) -> ButtonPress:
    """Parse callback_data made by `encode`.

    Raises:
        BadCallbackData: anything `encode` would not have produced.
    """
    parts = (data or "").split("|")
    if len(parts) != 4 or parts[0] != PREFIX:
        raise BadCallbackData(f"not GridSec callback data: {data!r}")
    press = ButtonPress(case_code=parts[1], action=parts[2], arg=parts[3])
    check(press)
    return press


def check(press: ButtonPress) -> None:
    """Raise BadCallbackData unless the press has a case code, a known action and a plain argument."""
    if not CASE_CODE_RE.fullmatch(press.case_code):
        raise BadCallbackData(f"bad case code {press.case_code!r}")
    if press.action not in ACTIONS:
        raise BadCallbackData(f"unknown action {press.action!r}")
    if not _ARG_RE.fullmatch(press.arg):
        raise BadCallbackData(f"bad argument {press.arg!r}")


def find_case_code(text: str | None) -> str | None:
    """The first case code in a text (a card's text or caption), or None."""
    match = CASE_CODE_RE.search(text or "")
    return match.group(0) if match else None
