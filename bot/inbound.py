"""Inbound WeChat messages, normalised through one registry (STYLE.md §4).

`NORMALISERS` maps a wechatpy message type (`text`, `image`, `location`, `voice`, `event`) to a pure
function that turns the message into an `Inbound`: the text for Rasa (or None when there is no turn to
run), the metadata the conversation reads (`tracker.latest_message["metadata"]`), and a direct reply for
things the bot answers without a turn. Unknown types fall to `unsupported`, which never raises.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from wechatpy.messages import BaseMessage

from routing.coords import gcj02_to_wgs84

logger = logging.getLogger(__name__)

WELCOME = (
    "您好，欢迎关注越秀区网格秘书！身边有井盖破损、垃圾堆放、噪音扰民等问题，直接发文字、照片或位置给我，"
    "我会帮您登记并转给负责的网格员和部门。点击菜单「我要反映」开始，「我的事项」查看进度。"
)
NOT_SUPPORTED = "抱歉，暂时还不能处理这类消息。请用文字描述问题，也可以发照片或位置给我。"
VOICE_UNRECOGNISED = "抱歉，没听清这段语音。请用文字描述一下问题，或者发照片、位置给我。"

# Menu keys as configured in the official account's custom menu, and the titles shown on it.
MENU_PAYLOADS: dict[str, str] = {
    "REPORT_ISSUE": "/report_issue",  # 我要反映
    "MY_CASES": "/list_cases",  # 我的事项
    "RATE": "/rate",  # 评价
}
MENU_TITLES: dict[str, str] = {"我要反映": "REPORT_ISSUE", "我的事项": "MY_CASES", "评价": "RATE"}
PHOTO_PAYLOAD = "/report_issue"
MAX_TEXT_CHARS = 1000
LOCATION_PAYLOAD = "/provide_location"


@dataclass(frozen=True)
class Inbound:
    """One normalised inbound message.

    Attributes:
        text: what Rasa gets as the user's message; None when no conversation turn should run.
        metadata: goes into `UserMessage(metadata=...)`; always has `openid` and `msg_type`.
        reply: a text the channel sends itself (welcome, "not supported"), or None.
        media_id: a WeChat media id to fetch in the background (images), or None.
    """

    text: str | None
    metadata: dict[str, Any] = field(default_factory=dict)
    reply: str | None = None
    media_id: str | None = None


Normaliser = Callable[[BaseMessage], Inbound]
NORMALISERS: dict[str, Normaliser] = {}


def register(msg_type: str) -> Callable[[Normaliser], Normaliser]:
    """Register the normaliser for one wechatpy message type (`msg.type`)."""

    def decorator(function: Normaliser) -> Normaliser:
        NORMALISERS[msg_type] = function
        return function

    return decorator


def base_metadata(msg: BaseMessage) -> dict[str, Any]:
    """Metadata every inbound carries: who (openid), what kind, and WeChat's own ids and time."""
    metadata: dict[str, Any] = {
        "openid": msg.source,
        "msg_type": msg.type,
        "create_time": msg.time,
    }
    if msg.id:
        metadata["msg_id"] = str(msg.id)
    return metadata


def unsupported(msg: BaseMessage) -> Inbound:
    """Any type we do not handle (shortvideo, link, file, ...): a polite reply, no turn.

    An event wechatpy does not know (WeChat adds them, e.g. subscribe-message pop-up results) is not
    something the resident said: it gets no reply. wechatpy keeps the raw fields only in `_data`.
    """
    raw_type = str(getattr(msg, "_data", {}).get("MsgType", "")).lower()
    if raw_type == "event" or raw_type.startswith("device_"):
        return Inbound(text=None, metadata=base_metadata(msg) | {"event": "unknown"})
    return Inbound(text=None, metadata=base_metadata(msg), reply=NOT_SUPPORTED)


def normalise(msg: BaseMessage) -> Inbound:
    """Normalise any wechatpy message; never raises for a well-formed message of an unknown type."""
    return NORMALISERS.get(msg.type, unsupported)(msg)


@register("text")
def normalise_text(msg: BaseMessage) -> Inbound:
    """Text: the resident's words as they are (the NLU pipeline normalises Cantonese, numerals, ...)."""
    content = (msg.content or "").strip()
    if not content:
        return Inbound(text=None, metadata=base_metadata(msg), reply=NOT_SUPPORTED)
    if len(content) > MAX_TEXT_CHARS:  # keep the report, not a novel: NLU cost grows with length
        return Inbound(
            text=content[:MAX_TEXT_CHARS], metadata=base_metadata(msg) | {"truncated_from": len(content)}
        )
    return Inbound(text=content, metadata=base_metadata(msg))


@register("image")
def normalise_image(msg: BaseMessage) -> Inbound:
    """Image: a report by photo. The media is fetched in the background; OCR text may replace the text."""
    metadata = base_metadata(msg) | {"media_id": msg.media_id, "pic_url": msg.image}
    return Inbound(text=PHOTO_PAYLOAD, metadata=metadata, media_id=msg.media_id)


def _coordinate(value: str | None, low: float, high: float) -> float | None:
    try:
        number = float(value) if value is not None else None
    except ValueError:
        return None
    return number if number is not None and low <= number <= high else None


@register("location")
def normalise_location(msg: BaseMessage) -> Inbound:
    """Location: WeChat's Location_X is the latitude, Location_Y the longitude, in GCJ-02.

    `location.lat/lng` are converted to WGS-84 (what routing and the contract use); the raw pair is kept.
    """
    lat = _coordinate(msg.location_x, -90.0, 90.0)
    lng = _coordinate(msg.location_y, -180.0, 180.0)
    if lat is None or lng is None:
        return Inbound(text=None, metadata=base_metadata(msg), reply=NOT_SUPPORTED)
    wgs_lat, wgs_lng = gcj02_to_wgs84(lat, lng)
    location = {
        "lat": round(wgs_lat, 7),
        "lng": round(wgs_lng, 7),
        "label": msg.label or None,
        "source": "wechat",
        "gcj02": {"lat": lat, "lng": lng},
    }
    return Inbound(text=LOCATION_PAYLOAD, metadata=base_metadata(msg) | {"location": location})


@register("voice")
def normalise_voice(msg: BaseMessage) -> Inbound:
    """Voice: WeChat's speech recognition text when present, else ask the resident to type."""
    recognition = (msg.recognition or "").strip().rstrip("。")
    metadata = base_metadata(msg) | {"media_id": msg.media_id, "voice_format": msg.format}
    if not recognition:
        return Inbound(text=None, metadata=metadata, reply=VOICE_UNRECOGNISED)
    return Inbound(text=recognition, metadata=metadata | {"recognition": recognition})


def menu_payload(key: str | None) -> str | None:
    """The intent payload for a menu click, by event key (`REPORT_ISSUE`) or by its title (`我要反映`)."""
    if not key:
        return None
    return MENU_PAYLOADS.get(key) or MENU_PAYLOADS.get(MENU_TITLES.get(key, ""))


@register("event")
def normalise_event(msg: BaseMessage) -> Inbound:
    """Events: subscribe gets the welcome, menu clicks become intent payloads, the rest are ignored."""
    metadata = base_metadata(msg) | {"event": msg.event}
    if msg.event in {"subscribe", "subscribe_scan"}:
        return Inbound(text=None, metadata=metadata, reply=WELCOME)
    if msg.event == "click":
        payload = menu_payload(getattr(msg, "key", None))
        if payload is None:
            return Inbound(text=None, metadata=metadata | {"event_key": msg.key}, reply=NOT_SUPPORTED)
        return Inbound(text=payload, metadata=metadata | {"event_key": msg.key})
    # unsubscribe, VIEW (a link was opened), LOCATION reports, ...: nothing to say, nothing to run.
    return Inbound(text=None, metadata=metadata)
