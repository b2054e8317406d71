"""The WeChat official-account channel: `WeChatInput` (webhook) and `WeChatOutput` (replies via the outbox).

Webhook: `/webhooks/wechat/webhook`. A POST runs in one fixed order (STYLE.md §2):
verify (signature, freshness) -> decrypt (AES safe mode) -> parse (defusedxml first) -> dedupe (database)
-> ack (`success` at once) -> work (fetch media, `on_new_message`) as a background task. The normalised
message is recorded as a pending `inbound_turns` row with the dedupe key, before the ack, and marked done when
the turn ends: a Rasa process killed mid-turn loses nothing, a restarted (or another) instance re-runs it.
Replies never call WeChat here: `WeChatOutput` writes outbox rows, and the delivery worker sends them
with `bot.senders.wechat.WeChatSender` (customer-service API, template fallback outside 48 hours).
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import uuid
import weakref
from collections.abc import Awaitable, Callable, Coroutine, Mapping, Sequence
from datetime import datetime, timedelta
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
from wechatpy.messages import BaseMessage

from bot import endpoint_sessions, rasa_patches
from bot.channels.wechat_config import WeChatChannelConfig, build_client
from bot.channels.wechat_media import PhotoReader, fetch_photo
from bot.channels.wechat_store import (
    Arrival,
    choice_payload,
    claim_unfinished_turns,
    finish_turn,
    inbound_key,
    postpone_turn,
    queue_reply,
    recent_inbound_count,
    record_arrival,
    record_turn,
    signature_key,
)
from bot.channels.wechat_turns import (  # noqa: F401 - RATE_LIMIT, TOO_FAST still importable from here
    RATE_LIMIT,
    RATE_WINDOW,
    TOO_FAST,
    normalised,
    rate_limited,
    tracker_has_message,
)
from bot.channels.wechat_verify import PayloadTooLarge, decrypted, read_body, refusal, verified_query
from bot.inbound import Inbound
from bot.log_redaction import protect_environment
from bot.wechat_xml import InboundXMLError, parse_safely
from storage.errors import ChannelAuthError
from storage.timeutil import utcnow

logger = logging.getLogger(__name__)

# Every Rasa server GridSec runs loads this channel (credentials.yml): the place to fix Rasa's hot path, and
# to keep the configured secrets and residents' personal data out of its logs (`rasa run` is not `gridsec`).
rasa_patches.install()
protect_environment(os.environ)

CHANNEL_NAME = "wechat"
DRAIN_TIMEOUT_S = 30.0  # shutdown waits this long for turns in flight
CHOICE_TTL = timedelta(hours=2)  # a numbered list of choices is answerable this long
TURN_LEASE = timedelta(minutes=2)  # after this, another instance may take over a turn still pending
TURN_RETRY_DELAY = timedelta(seconds=30)  # a turn that raised is tried again this much later
RESUME_INTERVAL_S = 15.0  # how often an instance looks for turns nobody alive is running
Clock = Callable[[], datetime]
OnNewMessage = Callable[[UserMessage], Awaitable[Any]]


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

    def enqueue_text(self, recipient_id: str, text: str, choices: Sequence[Mapping[str, str]] = ()) -> str:
        """Queue one text for the resident (synchronously, its own transaction); returns its key."""
        key = self._next_key()
        with self._session_factory() as session, session.begin():
            queue_reply(session, recipient_id, text, idempotency_key=key, now=self._clock(), choices=choices)
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
        """One message: the text, then the choices numbered; "2" or a title answers with that payload."""
        lines = [text] + [f"{number}. {button.get('title', '')}" for number, button in enumerate(buttons, 1)]
        await asyncio.to_thread(self.enqueue_text, recipient_id, "\n".join(lines).strip(), buttons)


class WeChatInput(InputChannel):
    """The WeChat webhook, a Rasa custom connector (`credentials.yml`: `bot.channels.wechat.WeChatInput:`)."""

    @classmethod
    def name(cls) -> str:
        return CHANNEL_NAME

    @classmethod
    def from_credentials(cls, credentials: Mapping[str, Any] | None) -> WeChatInput:
        """Copy the configuration (credentials first, then environment); no I/O, no clients."""
        return cls(
            WeChatChannelConfig.from_sources(credentials, os.environ), instance=os.environ.get("GRIDSEC_INSTANCE")
        )

    def __init__(
        self,
        config: WeChatChannelConfig,
        *,
        engine: Engine | None = None,
        client: WeChatClient | None = None,
        clock: Clock = utcnow,
        media_root: Path | None = None,
        photo_reader: PhotoReader | None = None,
        instance: str | None = None,
        turn_lease: timedelta = TURN_LEASE,
        resume_interval_s: float = RESUME_INTERVAL_S,
    ) -> None:
        self.config = config
        # `instance` names this process across restarts (gridsec serve sets GRIDSEC_INSTANCE); the boot id
        # tells this life from an earlier one, whose unfinished turns are resumed at once.
        self.instance = instance or socket.gethostname()
        self.owner = f"{self.instance}:{uuid.uuid4().hex[:12]}"
        self._turn_lease = turn_lease
        self._running: set[str] = set()  # keys of the turns this process is running now
        self._resume_interval_s = resume_interval_s
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
        return verified_query(self.config.token.reveal(), request.args, self._clock())

    def _extract_plaintext(self, body: bytes, query: Mapping[str, str]) -> bytes:
        return decrypted(self.crypto, body, query)

    def _record(
        self, msg: BaseMessage, inbound: Inbound | None, query: Mapping[str, str]
    ) -> tuple[Arrival, Inbound | None]:
        """Dedupe, replay check and (for a new message) the pending turn, in one transaction.

        Returns the arrival and the turn to run now (None when there is nothing to run).
        """
        signed = query["msg_signature"] or query["signature"]
        now = self._clock()
        with self._session() as session:
            arrival = record_arrival(
                session, inbound_key(msg), signature_key(query["timestamp"], query["nonce"], signed), now
            )
            if arrival is Arrival.REPLAY:
                session.rollback()  # a refused request leaves nothing behind
                return arrival, None
            turn = None
            if arrival is Arrival.NEW and inbound is not None:
                turn = rate_limited(msg.source, inbound, recent_inbound_count(session, msg.source, now - RATE_WINDOW))
            if turn is not None and (turn.text is not None or turn.reply is not None):
                payload = {"msg_type": msg.type, "text": turn.text, "metadata": turn.metadata,
                           "reply": turn.reply, "media_id": turn.media_id}
                record_turn(session, inbound_key(msg), msg.source, payload, self.owner, now, self._turn_lease)
            else:
                turn = None
            session.commit()
        return arrival, turn

    # -- the background work ----------------------------------------------------------------------------
    def _schedule(self, coroutine: Coroutine[Any, Any, None], name: str) -> None:
        task = asyncio.get_running_loop().create_task(coroutine, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def drain(self, timeout_s: float = DRAIN_TIMEOUT_S) -> None:
        """Wait (at most `timeout_s`) for the background turns in flight; called before the server stops."""
        if self._tasks:
            _, stuck = await asyncio.wait(set(self._tasks), timeout=timeout_s)
            for task in stuck:
                logger.error("WeChat turn still running at shutdown, abandoned: %s", task.get_name())

    def _finish(self, key: str, *, failed: bool) -> None:
        with self._session() as session, session.begin():
            if failed:
                postpone_turn(session, key, self.owner, self._clock() + TURN_RETRY_DELAY)
            else:
                finish_turn(session, key, self.owner, self._clock())

    def _claim_unfinished(self, running: frozenset[str]) -> list[tuple[str, str, dict[str, Any]]]:
        with self._session() as session, session.begin():
            turns = claim_unfinished_turns(
                session, self.owner, self.instance, self._clock(), self._turn_lease, running=running
            )
            return [(turn.key, turn.sender_id, dict(turn.payload)) for turn in turns]

    async def resume_unfinished(self, on_new_message: OnNewMessage, agent: Any = None) -> int:
        """Re-run the acknowledged turns nobody alive is running (or that failed and waited); returns how many.

        A turn Rasa had already saved to the tracker (it died between saving and marking the row done) is only
        marked done: its replies were queued before the save, under keys a re-run would not duplicate anyway.
        """
        started = 0
        for key, openid, payload in await asyncio.to_thread(self._claim_unfinished, frozenset(self._running)):
            if await tracker_has_message(agent, openid, key):
                await asyncio.to_thread(self._finish, key, failed=False)
                continue
            inbound = Inbound(text=payload.get("text"), metadata=dict(payload.get("metadata") or {}),
                              reply=payload.get("reply"), media_id=payload.get("media_id"))
            logger.warning("resuming unfinished WeChat turn %s", key)
            self._schedule(self._work(key, openid, str(payload.get("msg_type")), inbound, on_new_message),
                           name=f"wechat turn {key} (resumed)")
            started += 1
        return started

    async def _resume_forever(self, on_new_message: OnNewMessage, agent: Any) -> None:
        while True:
            try:
                await self.resume_unfinished(on_new_message, agent)
            except Exception:  # a database outage must not end the loop
                logger.exception("resuming unfinished WeChat turns failed; retrying")
            await asyncio.sleep(self._resume_interval_s)

    def _resolve_choice(self, openid: str, text: str) -> dict[str, str] | None:
        with self._session() as session:
            return choice_payload(session, openid, text, self._clock() - CHOICE_TTL)

    async def _work(
        self, key: str, openid: str, msg_type: str, inbound: Inbound, on_new_message: OnNewMessage
    ) -> None:
        """Run one acknowledged turn, then mark its row done (or leave it pending to be tried again)."""
        self._running.add(key)
        try:
            await self._work_in_order(key, openid, msg_type, inbound, on_new_message)
        finally:
            self._running.discard(key)

    async def _work_in_order(
        self, key: str, openid: str, msg_type: str, inbound: Inbound, on_new_message: OnNewMessage
    ) -> None:
        lock = self._sender_locks.setdefault(openid, asyncio.Lock())
        async with lock:  # one resident's messages run in arrival order
            failed = False
            try:
                await self._run_turn(key, openid, msg_type, inbound, on_new_message)
            except Exception:  # the edge: log with the traceback; WeChat has had its answer already
                logger.exception("WeChat turn for %s failed; it stays pending and is tried again", key)
                failed = True
            try:
                await asyncio.to_thread(self._finish, key, failed=failed)
            except SQLAlchemyError:  # still pending: resumed later, and its replies are keyed, so none doubles
                logger.exception("WeChat turn %s ran but could not be marked done", key)

    async def _run_turn(
        self, key: str, openid: str, msg_type: str, inbound: Inbound, on_new_message: OnNewMessage
    ) -> None:
        output = self.get_output_channel(turn_key=key)
        if inbound.reply:
            await output.send_text_message(openid, inbound.reply)
        if inbound.text is None:
            return
        text, metadata = inbound.text, dict(inbound.metadata)
        if msg_type == "text" and (choice := await asyncio.to_thread(self._resolve_choice, openid, text)):
            text, metadata = choice["payload"], metadata | {"choice": choice}
        if inbound.media_id:
            text, metadata = await fetch_photo(
                self.client, inbound.media_id, text, metadata, self._media_root, self._photo_reader
            )
        message = UserMessage(
            text, output, openid, input_channel=CHANNEL_NAME, message_id=key, metadata=metadata
        )
        await on_new_message(message)

    # -- the blueprint --------------------------------------------------------------------------------
    def blueprint(self, on_new_message: OnNewMessage) -> Blueprint:
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
                return refusal(403, error)
            return response.text(request.args.get("echostr", ""))

        @wechat_webhook.route("/webhook", methods=["POST"], stream=True)
        async def receive(request: Request) -> HTTPResponse:
            try:
                query = self._extract_verified_query(request)
                plaintext = self._extract_plaintext(await read_body(request), query)
                msg = parse_safely(plaintext)
                arrival, turn = await asyncio.to_thread(self._record, msg, normalised(msg), query)
            except ChannelAuthError as error:
                return refusal(403, error)
            except PayloadTooLarge as error:
                return refusal(413, error)
            except InboundXMLError as error:
                return refusal(400, error)
            except SQLAlchemyError:  # not acknowledged, so WeChat retries once the database is back
                logger.exception("WeChat post not recorded: database unavailable")
                return response.text("try again", status=503)
            if arrival is Arrival.REPLAY:
                return refusal(403, ChannelAuthError(f"signature replayed for {inbound_key(msg)}"))
            if turn is not None:
                key = inbound_key(msg)
                self._schedule(self._work(key, msg.source, msg.type, turn, on_new_message), name=f"wechat turn {key}")
            return response.text("success")

        @wechat_webhook.listener("after_server_start")
        async def resume_turns(app: Any, _: Any) -> None:
            # Rasa loads the agent before the server starts, so its tracker store is there to check against.
            agent = getattr(app.ctx, "agent", None)
            app.ctx.wechat_resumer = asyncio.get_running_loop().create_task(
                self._resume_forever(on_new_message, agent), name="wechat resume unfinished turns"
            )

        @wechat_webhook.listener("before_server_stop")
        async def finish_turns(app: Any, _: Any) -> None:
            resumer = getattr(app.ctx, "wechat_resumer", None)
            if resumer is not None:
                resumer.cancel()
            await self.drain()
            await endpoint_sessions.close_all()  # the action calls' kept-alive connections

        return wechat_webhook

