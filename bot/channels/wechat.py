"""The WeChat official-account channel: `WeChatInput` (webhook) and `WeChatOutput` (replies via the outbox).

Webhook: `/webhooks/wechat/webhook`. A POST runs in one fixed order (STYLE.md §2):
verify (signature, freshness) -> decrypt (AES safe mode) -> parse (defusedxml first) -> dedupe (database)
-> ack (`success` at once) -> work (normalise, fetch media, `on_new_message`) as a background task.
Replies never call WeChat here: `WeChatOutput` writes outbox rows, and the delivery worker sends them
with `bot.senders.wechat.WeChatSender` (customer-service API, template fallback outside 48 hours).
"""

from __future__ import annotations

import asyncio
import logging
import os
import uuid
import weakref
from collections.abc import Awaitable, Callable, Mapping
from datetime import datetime
from functools import cached_property
from pathlib import Path
from typing import Any

from rasa.core.channels.channel import InputChannel, OutputChannel, UserMessage
from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse
from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session
from wechatpy import WeChatClient
from wechatpy.crypto import WeChatCrypto
from wechatpy.exceptions import InvalidAppIdException, InvalidSignatureException
from wechatpy.messages import BaseMessage
from wechatpy.utils import check_signature

from bot.channels.wechat_config import WeChatChannelConfig, build_client
from bot.channels.wechat_media import PhotoReader, fetch_photo
from bot.channels.wechat_store import Arrival, inbound_key, record_arrival, signature_key
from bot.inbound import Inbound, normalise
from bot.wechat_xml import MAX_BODY_BYTES, InboundXMLError, encrypted_envelope, parse_safely
from storage.errors import ChannelAuthError
from storage.outbox import enqueue
from storage.timeutil import utcnow

logger = logging.getLogger(__name__)

CHANNEL_NAME = "wechat"
MAX_SIGNATURE_AGE_S = 300  # WeChat signs each push when it sends it; older signatures are replays
TEXT_TEMPLATE = "wechat.text"
Clock = Callable[[], datetime]


class PayloadTooLarge(InboundXMLError):
    """The body is over `MAX_BODY_BYTES`."""


class WeChatOutput(OutputChannel):
    """Rasa's replies to a WeChat resident, written to the outbox (channel `wechat`, recipient openid).

    Each reply is its own transaction, so a reply is queued once Rasa produced it, whatever happens next.
    Keys are `<inbound key>:r<n>`: a turn that is run again after a crash re-queues nothing twice.
    """

    @classmethod
    def name(cls) -> str:
        return CHANNEL_NAME

    def __init__(
        self, session_factory: Callable[[], Session], *, clock: Clock = utcnow, turn_key: str | None = None
    ):
        self._session_factory = session_factory
        self._clock = clock
        self._turn_key = turn_key or f"out:{uuid.uuid4().hex}"
        self._count = 0

    def _next_key(self) -> str:
        self._count += 1
        return f"wechat:{self._turn_key}:r{self._count}"

    def enqueue_text(self, recipient_id: str, text: str) -> str:
        """Queue one text for the resident (synchronously); returns its idempotency key."""
        from sqlalchemy import select

        from storage.models import OutboxMessage

        key = self._next_key()
        with self._session_factory() as session, session.begin():
            if session.execute(select(OutboxMessage.id).where(OutboxMessage.idempotency_key == key)).first():
                return key
            enqueue(
                session,
                recipient_kind="resident",
                recipient_id=recipient_id,
                template=TEXT_TEMPLATE,
                params={"text": text},
                idempotency_key=key,
                now=self._clock(),
                channel=CHANNEL_NAME,
            )
        return key

    async def send_text_message(self, recipient_id: str, text: str, **kwargs: Any) -> None:
        """Queue a text reply (WeChat shows it as one customer-service message)."""
        if text and text.strip():
            await asyncio.to_thread(self.enqueue_text, recipient_id, text.strip())

    async def send_image_url(self, recipient_id: str, image: str, **kwargs: Any) -> None:
        """Queue an image as its link (the customer-service API sends images by uploaded media id only)."""
        await self.send_text_message(recipient_id, image)

    async def send_text_with_buttons(
        self, recipient_id: str, text: str, buttons: list[dict[str, Any]], **kwargs: Any
    ) -> None:
        """One message: the text, then the choices numbered (WeChat text has no buttons)."""
        lines = [text] + [f"{number}. {button.get('title', '')}" for number, button in enumerate(buttons, 1)]
        await self.send_text_message(recipient_id, "\n".join(lines))


class WeChatInput(InputChannel):
    """The WeChat webhook, a Rasa custom connector (`credentials.yml`: `bot.channels.wechat.WeChatInput:`)."""

    @classmethod
    def name(cls) -> str:
        return CHANNEL_NAME

    @classmethod
    def from_credentials(cls, credentials: Mapping[str, Any] | None) -> WeChatInput:
        """Copy the configuration (credentials first, then environment); no I/O, no clients."""
        return cls(WeChatChannelConfig.from_sources(credentials, os.environ))

    def __init__(
        self,
        config: WeChatChannelConfig,
        *,
        engine: Engine | None = None,
        client: WeChatClient | None = None,
        clock: Clock = utcnow,
        media_root: Path | None = None,
        photo_reader: PhotoReader | None = None,
    ) -> None:
        self.config = config
        self._engine = engine
        self._client = client
        self._clock = clock
        self._media_root = media_root
        self._photo_reader = photo_reader
        self._tasks: set[asyncio.Task[None]] = set()
        self._sender_locks: weakref.WeakValueDictionary[str, asyncio.Lock] = weakref.WeakValueDictionary()

    # -- lazily built dependencies ------------------------------------------------------------------
    @cached_property
    def engine(self) -> Engine:
        """The database engine (injected, or built from DATABASE_URL on first use)."""
        if self._engine is not None:
            return self._engine
        from storage.db import database_url, make_engine

        return make_engine(database_url(os.environ))

    @cached_property
    def client(self) -> WeChatClient:
        """The wechatpy client (injected, or built on first use with the configured API base URL)."""
        return self._client or build_client(self.config)

    @cached_property
    def crypto(self) -> WeChatCrypto | None:
        """wechatpy's AES crypto in safe mode, None in plaintext mode."""
        if self.config.aes_key is None:
            return None
        return WeChatCrypto(self.config.token.reveal(), self.config.aes_key.reveal(), self.config.app_id)

    def _session(self) -> Session:
        return Session(self.engine, future=True)

    def get_output_channel(self, turn_key: str | None = None) -> WeChatOutput:
        """An outbox-backed output channel (no network; Rasa may call this for proactive messages)."""
        return WeChatOutput(self._session, clock=self._clock, turn_key=turn_key)

    # -- the steps of the webhook ---------------------------------------------------------------------
    def _extract_verified_query(self, request: Request) -> dict[str, str]:
        """Check the URL signature and its freshness; raise ChannelAuthError when either fails."""
        args = {
            name: request.args.get(name, "") for name in ("signature", "timestamp", "nonce", "msg_signature")
        }
        try:
            check_signature(self.config.token.reveal(), args["signature"], args["timestamp"], args["nonce"])
            age = abs(self._clock().timestamp() - int(args["timestamp"]))
        except (InvalidSignatureException, ValueError) as error:
            raise ChannelAuthError("bad WeChat signature") from error
        if age > MAX_SIGNATURE_AGE_S:
            raise ChannelAuthError(f"stale WeChat signature ({age:.0f} s old)")
        return args

    @staticmethod
    def _extract_body(request: Request) -> bytes:
        declared = int(request.headers.get("content-length") or 0)
        body = request.body or b""
        if declared > MAX_BODY_BYTES or len(body) > MAX_BODY_BYTES:
            raise PayloadTooLarge(f"body of {max(declared, len(body))} bytes is over {MAX_BODY_BYTES}")
        return body

    def _extract_plaintext(self, body: bytes, query: Mapping[str, str]) -> bytes:
        """The message XML: the body itself in plaintext mode, wechatpy's decryption in safe mode."""
        if self.crypto is None:
            return body
        envelope = encrypted_envelope(body)
        try:
            plain = self.crypto.decrypt_message(
                envelope, query["msg_signature"], query["timestamp"], query["nonce"]
            )
        except (InvalidSignatureException, InvalidAppIdException) as error:
            raise ChannelAuthError("bad WeChat message signature or app id") from error
        except (ValueError, TypeError, UnicodeDecodeError) as error:
            raise InboundXMLError(f"undecryptable message: {type(error).__name__}") from error
        return plain.encode("utf-8") if isinstance(plain, str) else plain

    def _record(self, msg: BaseMessage, query: Mapping[str, str]) -> Arrival:
        request_key = signature_key(
            query["timestamp"], query["nonce"], query["msg_signature"] or query["signature"]
        )
        with self._session() as session:
            arrival = record_arrival(session, inbound_key(msg), request_key, self._clock())
            if arrival is Arrival.REPLAY:
                session.rollback()  # a refused request leaves nothing behind
            else:
                session.commit()
        return arrival

    # -- the background work ----------------------------------------------------------------------------
    def _schedule(self, coroutine: Awaitable[None]) -> None:
        task = asyncio.ensure_future(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def drain(self) -> None:
        """Wait for every background turn in flight (called before the server stops)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    async def _work(
        self, msg: BaseMessage, inbound: Inbound, on_new_message: Callable[[UserMessage], Awaitable[Any]]
    ) -> None:
        openid = msg.source
        lock = self._sender_locks.setdefault(openid, asyncio.Lock())
        async with lock:  # one resident's messages run in arrival order
            try:
                output = self.get_output_channel(turn_key=inbound_key(msg))
                if inbound.reply:
                    await output.send_text_message(openid, inbound.reply)
                if inbound.text is None:
                    return
                text, metadata = inbound.text, dict(inbound.metadata)
                if inbound.media_id:
                    text, metadata = await fetch_photo(
                        self.client, inbound.media_id, text, metadata, self._media_root, self._photo_reader
                    )
                message = UserMessage(
                    text,
                    output,
                    sender_id=openid,
                    input_channel=CHANNEL_NAME,
                    message_id=inbound_key(msg),
                    metadata=metadata,
                )
                await on_new_message(message)
            except Exception:  # the edge: log with the traceback; WeChat has had its answer already
                logger.exception("WeChat turn for %s failed", inbound_key(msg))

    # -- the blueprint --------------------------------------------------------------------------------
    def blueprint(self, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> Blueprint:
        """`GET /` health, `GET /webhook` echo verification, `POST /webhook` messages."""
        wechat_webhook = Blueprint("wechat_webhook", __name__)

        @wechat_webhook.route("/", methods=["GET"])
        async def health(_: Request) -> HTTPResponse:
            return response.json({"status": "ok"})

        @wechat_webhook.route("/webhook", methods=["GET"])
        async def verify(request: Request) -> HTTPResponse:
            try:
                self._extract_verified_query(request)
            except ChannelAuthError as error:
                logger.warning("WeChat verification refused: %s", error.detail)
                return response.text("forbidden", status=403)
            return response.text(request.args.get("echostr", ""))

        @wechat_webhook.route("/webhook", methods=["POST"])
        async def receive(request: Request) -> HTTPResponse:
            try:
                query = self._extract_verified_query(request)
                plaintext = self._extract_plaintext(self._extract_body(request), query)
                msg = parse_safely(plaintext)
                inbound = normalise(msg)
                arrival = await asyncio.to_thread(self._record, msg, query)
            except ChannelAuthError as error:
                logger.warning("WeChat post refused: %s", error.detail)
                return response.text("forbidden", status=403)
            except PayloadTooLarge as error:
                logger.warning("WeChat post refused: %s", error.detail)
                return response.text("payload too large", status=413)
            except InboundXMLError as error:
                logger.warning("WeChat post refused: %s", error.detail)
                return response.text("bad request", status=400)
            except SQLAlchemyError:  # not acknowledged, so WeChat retries once the database is back
                logger.exception("WeChat post not recorded: database unavailable")
                return response.text("try again", status=503)
            if arrival is Arrival.REPLAY:
                logger.warning("WeChat post refused: signature replayed for %s", inbound_key(msg))
                return response.text("forbidden", status=403)
            if arrival is Arrival.NEW:
                self._schedule(self._work(msg, inbound, on_new_message))
            return response.text("success")

        @wechat_webhook.listener("before_server_stop")
        async def finish_turns(*_: Any) -> None:
            await self.drain()

        return wechat_webhook
