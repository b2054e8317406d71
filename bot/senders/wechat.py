"""The outbox sender for WeChat residents (`storage.outbox.Sender`, channel `wechat`).

Inside the 48-hour customer-service window (counted from the resident's last message or event, as
recorded by the webhook's dedupe rows) a message goes out through the customer-service API
(`client.message.send_text`). Outside it, or when WeChat answers that the window has closed (45015),
it falls back to a template message (`send_template`) or, when only a subscribe template is set up,
to a subscribe message (`send_subscribe_template`). Network trouble, 5xx and WeChat's "busy" codes
raise `RetryableSendError` (the outbox retries); anything retrying cannot fix raises `PermanentSendError`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from typing import Any

import requests
from sqlalchemy.orm import Session
from wechatpy import WeChatClient
from wechatpy.exceptions import WeChatClientException

from bot.channels.wechat_config import WeChatChannelConfig, build_client
from bot.channels.wechat_store import last_inbound_at
from storage.errors import PermanentSendError, RetryableSendError
from storage.outbox import OutgoingMessage
from storage.templates import render as render_template
from storage.timeutil import SHANGHAI, utcnow

logger = logging.getLogger(__name__)

# WeChat allows customer-service messages for 48 h after the resident's last interaction; keep a margin.
SERVICE_WINDOW = timedelta(hours=48) - timedelta(minutes=5)
WINDOW_CLOSED_CODES = {45015, 45047}  # response out of time limit; too many messages since the last one
RETRYABLE_CODES = {-1, 45009, 45011}  # system busy; API quota reached; API called too often
SUBSCRIBE_SCENE = 1000
MAX_TEXT_BYTES = 2000  # WeChat caps a text message at 2,048 bytes
TEMPLATE_FIRST_CHARS = 200  # a template line is meant to be read at a glance

STAGE_NAMES = {"case.reported": "已登记", "case.handled": "已处置", "case.closed": "已办结"}


def render_text(message: OutgoingMessage) -> str:
    """The text a resident reads for an outbox message (channel replies carry their own text).

    Raises:
        PermanentSendError: for a template with no text (retrying cannot change that).
    """
    if message.template == "wechat.text":
        text = str(message.params.get("text") or "")
    else:
        try:  # case pushes: the shared texts of storage/data/templates.yml, as the console shows them
            text = render_template(message.template, message.params)
        except KeyError as error:
            raise PermanentSendError(f"no WeChat text for template {message.template!r}") from error
    if not text.strip():
        raise PermanentSendError(f"empty text for outbox message {message.id}")
    return text


def split_text(text: str, limit_bytes: int = MAX_TEXT_BYTES) -> list[str]:
    """Cut a text into customer-service messages of at most `limit_bytes` UTF-8 bytes, at line ends if possible."""
    pieces: list[str] = []  # lines, an overlong line cut by characters
    for line in text.splitlines(keepends=True):
        while len(line.encode("utf-8")) > limit_bytes:
            cut = len(line.encode("utf-8")[:limit_bytes].decode("utf-8", "ignore"))
            pieces.append(line[:cut])
            line = line[cut:]
        pieces.append(line)
    parts: list[str] = []
    current = ""
    for piece in pieces:
        if current and len((current + piece).encode("utf-8")) > limit_bytes:
            parts.append(current)
            current = ""
        current += piece
    parts.append(current)
    return [part.strip() for part in parts if part.strip()]


def _is_retryable(error: WeChatClientException) -> bool:
    if error.errcode is None:  # an HTTP-level failure: wechatpy leaves errcode empty
        status = getattr(error.response, "status_code", None)
        return status is None or status >= 500 or status == 429
    return int(error.errcode) in RETRYABLE_CODES


class WeChatSender:
    """Deliver outbox messages to residents on WeChat (see the module docstring for the rules)."""

    def __init__(
        self,
        config: WeChatChannelConfig,
        session_factory: Callable[[], Session],
        *,
        client: WeChatClient | None = None,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self._config = config
        self._session_factory = session_factory
        self._client = client
        self._clock = clock

    @property
    def client(self) -> WeChatClient:
        """The wechatpy client, built on first use (no network in the constructor)."""
        if self._client is None:
            self._client = build_client(self._config)
        return self._client

    def within_service_window(self, openid: str) -> bool:
        """True when the resident wrote to us (message or event) within the customer-service window."""
        with self._session_factory() as session:
            last = last_inbound_at(session, openid)
        return last is not None and self._clock() - last < SERVICE_WINDOW

    def send(self, message: OutgoingMessage) -> None:
        """Send one message; raise RetryableSendError or PermanentSendError when it did not go out."""
        text = render_text(message)
        openid = message.address
        try:
            if self.within_service_window(openid):
                try:
                    for part in split_text(text):
                        self.client.message.send_text(openid, part)
                    return
                except WeChatClientException as error:
                    if error.errcode is None or int(error.errcode) not in WINDOW_CLOSED_CODES:
                        raise
                    logger.info("customer-service window closed for outbox %s; using a template", message.id)
            self._send_template(openid, text, message)
        except WeChatClientException as error:
            detail = f"WeChat API error {error.errcode}: {error.errmsg}"
            if _is_retryable(error):
                raise RetryableSendError(detail) from error
            raise PermanentSendError(detail) from error
        except requests.RequestException as error:
            raise RetryableSendError(f"WeChat API unreachable: {type(error).__name__}") from error

    def _send_template(self, openid: str, text: str, message: OutgoingMessage) -> None:
        if self._config.template_id:
            self.client.message.send_template(
                openid, self._config.template_id, self.template_data(text, message)
            )
        elif self._config.subscribe_template_id:
            self.client.message.send_subscribe_template(
                openid,
                self._config.subscribe_template_id,
                SUBSCRIBE_SCENE,
                "事项进展",
                {"content": {"value": text}},
            )
        else:
            raise PermanentSendError("outside the 48-hour window and no WeChat template is configured")

    def template_data(self, text: str, message: OutgoingMessage) -> dict[str, Mapping[str, Any]]:
        """Data for the "case progress" template: first line, case code, stage, time, remark."""
        params = message.params
        at = self._clock().astimezone(SHANGHAI).strftime("%Y-%m-%d %H:%M")
        return {
            "first": {
                "value": text if len(text) <= TEMPLATE_FIRST_CHARS else text[: TEMPLATE_FIRST_CHARS - 1] + "…"
            },
            "keyword1": {"value": params.get("case_code") or "-"},
            "keyword2": {"value": STAGE_NAMES.get(message.template, params.get("state") or "新消息")},
            "keyword3": {"value": at},
            "remark": {"value": "回复本公众号可查询进度。"},
        }


def wechat_senders(
    environ: Mapping[str, str], session_factory: Callable[[], Session]
) -> dict[str, WeChatSender]:
    """The outbox senders for WeChat: `{"wechat": WeChatSender}` when there is an API to talk to.

    That is the real API (WECHAT_APP_SECRET set) or a fake one (WECHAT_API_BASE set, as in local mode
    with tests/fakes/wechat_api.py running). With neither, `{}`: the worker's console sender shows the
    messages instead (local mode). Builds no client and opens no connection.
    """
    config = WeChatChannelConfig.from_sources(None, environ)
    if config.app_secret is None and config.api_base is None:
        return {}
    return {"wechat": WeChatSender(config, session_factory)}
