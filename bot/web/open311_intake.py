"""Open a case for an Open311 POST through the same router as the bot: parse -> decide -> open_case_from_decision."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from routing.route_cli import decision_for_parse
from routing.types import GeoPoint, ResolvedLocation
from storage.idempotency import IdempotentPost, record_answer
from storage.intake import open_case_from_decision

logger = logging.getLogger(__name__)

Parser = Callable[[str], Awaitable[Mapping[str, Any]]]


def open_request(
    session: Session,
    post: Mapping[str, Any],
    parse: Mapping[str, Any],
    now: datetime,
    idempotent: IdempotentPost | None = None,
) -> tuple[str, str]:
    """Route a validated Open311 POST (see bot.web.open311.validated_post) and open its case.

    With `idempotent` (the POST carried an Idempotency-Key), the answer is recorded in the same transaction;
    IntegrityError means a concurrent POST with that key committed first (see storage.idempotency).

    Returns:
        (case code, service notice): the notice says whether the case went straight to its department, and
        carries the emergency advice (e.g. call 119) when the category has one.
    """
    point = GeoPoint(post["lat"], post["lng"]) if post["lat"] is not None else None
    decision = decision_for_parse(parse, point, "gps" if point else None, now)
    media = ({"kind": "photo", "uri": post["media_url"], "meta": {"source": "open311"}},) if post["media_url"] else ()
    case = open_case_from_decision(
        session,
        decision,
        now=now,
        description=post["description"],
        location=ResolvedLocation(point=point, source="gps", precision="none") if point else None,
        address=post["address"],
        media=media,
    )
    if post["service_code"] and post["service_code"] != decision.category:
        logger.info("open311 %s: client said %s, the router found %s", case.code, post["service_code"], decision.category)
    notice = "已自动派发" if decision.auto_dispatch else "转指挥中心人工分拨"
    if decision.emergency_advice:
        notice += f"; {decision.emergency_advice}"
    if idempotent is not None:
        record_answer(session, idempotent, case.code, notice, now)
    return case.code, notice


def lazy_model_parser() -> Parser:
    """A parser that loads the trained Rasa model on first use (never trains; LookupError if none exists)."""
    import asyncio

    state: dict[str, Any] = {}
    lock = asyncio.Lock()

    async def parse(text: str) -> Mapping[str, Any]:
        async with lock:
            if "agent" not in state:
                state["agent"] = await asyncio.to_thread(_load_agent)
        return dict(await state["agent"].parse_message(text))

    return parse


def _load_agent() -> Any:
    from rasa.core.agent import Agent

    from bot.telegram.understanding import trained_model_path

    path = trained_model_path()
    if path is None:
        raise LookupError("no trained NLU model yet (run `gridsec train`); try again later")
    logger.info("open311: loading model %s", path)
    return Agent.load(str(path))
