"""The simulator's resident: WeChat XML as WeChat's servers send it, signed, posted to the real webhook.

The XML is built with the standard library (text is escaped, never templated in), signed with wechatpy's
`WeChatSigner` over the channel token (`gridsec-local` in local mode), and, when WECHAT_AES_KEY puts the channel
in safe mode, encrypted with wechatpy's `WeChatCrypto` exactly as the official account platform does.
"""

from __future__ import annotations

import itertools
import logging
import secrets
import time
import xml.etree.ElementTree as ElementTree  # building only; parsing goes through defusedxml
from dataclasses import dataclass
from typing import Any

import httpx
from defusedxml.ElementTree import fromstring as defused_fromstring
from wechatpy.crypto import WeChatCrypto
from wechatpy.utils import WeChatSigner

from bot.channels.wechat_config import WeChatChannelConfig

logger = logging.getLogger(__name__)

ACCOUNT = "gh_yuexiu_gridsec"
MAX_TEXT = 600
_counter = itertools.count(1)


class SimulatorInputError(ValueError):
    """What the simulator was asked to send is not a message a resident could send (400)."""


def _msg_id() -> str:
    """A MsgId unique across restarts (the channel dedupes on it, in the database)."""
    return str(time.time_ns() // 1000 * 100 + next(_counter) % 100)


def _xml(fields: list[tuple[str, str]]) -> str:
    root = ElementTree.Element("xml")
    for tag, value in fields:
        ElementTree.SubElement(root, tag).text = value
    return ElementTree.tostring(root, encoding="unicode")


def message_xml(openid: str, message: dict[str, Any]) -> str:
    """The XML for one resident message: `{"text"}`, `{"location": {lat, lng, label}}`, `{"media_id"}`
    or `{"event": "subscribe"}`.

    Raises:
        SimulatorInputError: an empty or unknown message, or coordinates that are not numbers.
    """
    head = [("ToUserName", ACCOUNT), ("FromUserName", openid), ("CreateTime", str(int(time.time())))]
    if message.get("text") is not None:
        text = str(message["text"]).strip()
        if not text or len(text) > MAX_TEXT:
            raise SimulatorInputError(f"text must be 1 to {MAX_TEXT} characters")
        return _xml([*head, ("MsgType", "text"), ("Content", text), ("MsgId", _msg_id())])
    if isinstance(message.get("location"), dict):
        place = message["location"]
        try:
            lat, lng = float(place["lat"]), float(place["lng"])
        except (KeyError, TypeError, ValueError) as error:
            raise SimulatorInputError("location needs numeric lat and lng") from error
        return _xml([*head, ("MsgType", "location"), ("Location_X", f"{lat:.6f}"), ("Location_Y", f"{lng:.6f}"),
                     ("Scale", "16"), ("Label", str(place.get("label") or "")), ("MsgId", _msg_id())])
    if message.get("media_id"):
        return _xml([*head, ("MsgType", "image"), ("PicUrl", f"http://simulator.local/{message['media_id']}"),
                     ("MediaId", str(message["media_id"])), ("MsgId", _msg_id())])
    if message.get("event") == "subscribe":
        return _xml([*head, ("MsgType", "event"), ("Event", "subscribe")])
    raise SimulatorInputError("send text, a location, a photo or the subscribe event")


def _sign(*parts: str) -> str:
    signer = WeChatSigner()
    signer.add_data(*parts)
    return str(signer.signature)


@dataclass(frozen=True)
class SignedPost:
    """The query string and body of one webhook POST."""

    params: dict[str, str]
    body: str


def signed_post(config: WeChatChannelConfig, xml: str) -> SignedPost:
    """Sign (and in safe mode encrypt) a message as WeChat does for the webhook."""
    token = config.token.reveal()
    timestamp, nonce = str(int(time.time())), secrets.token_hex(8)
    params = {"signature": _sign(token, timestamp, nonce), "timestamp": timestamp, "nonce": nonce}
    if config.aes_key is None:
        return SignedPost(params, xml)
    crypto = WeChatCrypto(token, config.aes_key.reveal(), config.app_id)
    envelope = crypto.encrypt_message(xml, nonce, timestamp)
    encrypted = defused_fromstring(envelope).findtext("Encrypt") or ""
    params |= {"encrypt_type": "aes", "msg_signature": _sign(token, timestamp, nonce, encrypted)}
    body = _xml([("ToUserName", ACCOUNT), ("Encrypt", encrypted)])
    return SignedPost(params, body)


async def post_to_webhook(client: httpx.AsyncClient, url: str, config: WeChatChannelConfig, xml: str) -> str:
    """POST the signed message; returns the webhook's answer (`success`).

    Raises:
        httpx.HTTPError: Rasa is not reachable or refused the message.
    """
    post = signed_post(config, xml)
    response = await client.post(url, params=post.params, content=post.body.encode("utf-8"),
                                 headers={"Content-Type": "text/xml"})
    response.raise_for_status()
    return response.text
