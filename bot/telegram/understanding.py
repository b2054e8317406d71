"""Department replies in group chats, understood through the NLU department intents.

A reply to a task card ("收到，明天派人去", "这个不归我们管，应该是水务", "已处理") is parsed by the
Rasa model; `reply_action` maps the parse to what the card's buttons would do. Pure: the parse is an input.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)

MIN_CONFIDENCE = 0.5
INTENT_ACTIONS = {
    "dept_accept": "sign",
    "dept_return": "dreturn",
    "dept_done": "done",
    "dept_need_info": "need_info",
}

Parser = Callable[[str], Awaitable[Mapping[str, Any]]]


@dataclass(frozen=True)
class ReplyAction:
    """What a department's reply asks for: action (sign | dreturn | done | need_info), reason, suggestion."""

    action: str
    reason: str | None = None
    suggested_department: str | None = None


def reply_action(parse: Mapping[str, Any], text: str) -> ReplyAction | None:
    """The action a parsed department reply means, or None when it is not a confident department intent.

    A return keeps the whole reply as its reason and the `department` entity (a department code) as
    the suggested new owner.
    """
    intent = parse.get("intent") or {}
    action = INTENT_ACTIONS.get(str(intent.get("name")))
    if action is None or float(intent.get("confidence") or 0.0) < MIN_CONFIDENCE:
        return None
    if action != "dreturn":
        return ReplyAction(action=action)
    suggestion = next(
        (
            str(entity["value"])
            for entity in parse.get("entities") or ()
            if entity.get("entity") == "department"
        ),
        None,
    )
    return ReplyAction(action=action, reason=text.strip(), suggested_department=suggestion)


def trained_model_path(models_dir: Path | None = None) -> Path | None:
    """The model for the current NLU data if trained, else the newest trained one, else None (never trains)."""
    from bot.nlu.training import MODELS_DIR, data_fingerprint, model_path_for

    directory = models_dir or MODELS_DIR
    current = model_path_for(data_fingerprint(), directory)
    if current.exists():
        return current
    trained = sorted(directory.glob("gridsec-*.tar.gz"), key=lambda path: path.stat().st_mtime)
    return trained[-1] if trained else None


def rasa_parser(model_path: Path) -> Parser:
    """A parser backed by the trained Rasa model (loaded now; call once at start-up, not per message)."""
    from rasa.core.agent import Agent

    agent = Agent.load(str(model_path))

    async def parse(text: str) -> Mapping[str, Any]:
        return await agent.parse_message(text)

    return parse
