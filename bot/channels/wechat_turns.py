"""Helpers for the WeChat channel's turns: the normalised message, the rate limit, and "did this turn finish?"."""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

from wechatpy.messages import BaseMessage

from bot.channels.wechat_store import inbound_key
from bot.inbound import Inbound, normalise

logger = logging.getLogger(__name__)

RATE_LIMIT = 20  # messages per openid per RATE_WINDOW; beyond it the resident is told once, then ignored
RATE_WINDOW = timedelta(minutes=1)
TOO_FAST = "您发送得太频繁了，请稍等一分钟再发。"


def normalised(msg: BaseMessage) -> Inbound | None:
    """The message as Rasa gets it, or None when the normaliser failed (logged; WeChat is still answered)."""
    try:
        return normalise(msg)
    except Exception:  # the edge: a normaliser bug must not turn an acknowledged message into a 500
        logger.exception("WeChat message %s could not be normalised", inbound_key(msg))
        return None


def rate_limited(openid: str, inbound: Inbound, recent: int) -> Inbound:
    """Over the per-openid rate limit: tell the resident once, then drop the rest (no turn)."""
    if recent <= RATE_LIMIT:
        return inbound
    logger.warning("WeChat resident %s over the rate limit (%s in %s)", openid, recent, RATE_WINDOW)
    return Inbound(text=None, metadata=inbound.metadata, reply=TOO_FAST if recent == RATE_LIMIT + 1 else None)


async def tracker_has_message(agent: Any, sender_id: str, message_id: str) -> bool:
    """Whether Rasa's tracker store already holds the user message `message_id` (its turn completed)."""
    tracker_store = getattr(agent, "tracker_store", None)
    if tracker_store is None:
        return False
    tracker = await tracker_store.retrieve(sender_id)
    if tracker is None:
        return False
    return any(getattr(event, "message_id", None) == message_id for event in tracker.events if event.type_name == "user")
