"""The outbox sender for Telegram (`storage.outbox.Sender`, channel `telegram`).

Renders task cards (bot/telegram/cards.py) with their buttons and sends them through a PTB `Bot`:
sendMessage, or sendPhoto when the case has a resident photo. Network trouble, timeouts, 5xx and
RetryAfter raise `RetryableSendError` (the outbox retries later); 400/403/401 raise `PermanentSendError`
(the message is parked, never dropped). After a retryable failure the sender stops calling Telegram for
`cooldown_s` (or RetryAfter's delay) and fails the rest of the batch fast, so an outage that hangs requests
does not hold the worker for a timeout per queued message. The outbox worker is synchronous, so the async
Bot runs on one event loop in a background thread, built on first use (no network in the constructor).
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Callable, Coroutine, Mapping
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy.orm import Session
from telegram import Bot, InlineKeyboardMarkup, Message
from telegram.error import (
    BadRequest,
    ChatMigrated,
    Forbidden,
    InvalidToken,
    NetworkError,
    RetryAfter,
    TelegramError,
)
from telegram.request import BaseRequest, HTTPXRequest

from bot import telegram_store as store
from bot.telegram import cards
from storage.errors import PermanentSendError, RetryableSendError
from storage.outbox import OutgoingMessage
from storage.privacy import mask_text

logger = logging.getLogger(__name__)

T = TypeVar("T")
MAX_TEXT = 4096


class _LoopThread:
    """One asyncio loop in a daemon thread; `run` submits a coroutine and waits for it (bounded)."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, name="telegram-sender", daemon=True)
        self._thread.start()

    def run(self, coroutine: Coroutine[Any, Any, T], timeout: float) -> T:
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(timeout)

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(5)
        self.loop.close()


def classify(error: TelegramError) -> RetryableSendError | PermanentSendError:
    """Map a PTB error to the outbox's retry decision (BadRequest is a NetworkError subclass: check it first)."""
    detail = f"Telegram {type(error).__name__}: {error.message}"
    if isinstance(error, (BadRequest, Forbidden, InvalidToken, ChatMigrated)):
        return PermanentSendError(detail)
    if isinstance(error, (RetryAfter, NetworkError)):  # TimedOut is a NetworkError
        return RetryableSendError(detail)
    return PermanentSendError(detail)


def _seconds(value: object) -> float:
    """RetryAfter.retry_after is an int or a timedelta depending on PTB settings."""
    return float(value.total_seconds()) if hasattr(value, "total_seconds") else float(value)  # type: ignore[arg-type]


class TelegramSender:
    """Deliver outbox messages to Telegram chats (grid workers' private chats, department groups)."""

    def __init__(
        self,
        session_factory: Callable[[], Session],
        *,
        token: str,
        api_base: str | None = None,
        request: BaseRequest | None = None,
        timeout_s: float = 10.0,
        cooldown_s: float = 15.0,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._session_factory = session_factory
        self._token = token
        self._api_base = api_base
        self._request = request
        self._timeout_s = timeout_s
        self._bot: Bot | None = None
        self._runner: _LoopThread | None = None
        self._lock = threading.Lock()
        self._cooldown_s = cooldown_s
        self._monotonic = monotonic
        self._down_until = 0.0

    def _make_bot(self) -> Bot:
        from bot.log_redaction import protect

        protect(self._token)  # httpx logs every request URL, and a Bot API URL holds the token
        request = self._request or HTTPXRequest(
            connect_timeout=self._timeout_s, read_timeout=self._timeout_s, write_timeout=self._timeout_s
        )
        kwargs: dict[str, Any] = {"request": request}
        if self._api_base:
            from bot.telegram.app import file_base_for

            kwargs.update(base_url=self._api_base, base_file_url=file_base_for(self._api_base))
        return Bot(self._token, **kwargs)

    async def _bot_ready(self) -> Bot:
        if self._bot is None:
            bot = self._make_bot()
            await bot.initialize()  # getMe; a failure leaves _bot unset so the next message tries again
            self._bot = bot
        return self._bot

    def send(self, message: OutgoingMessage) -> None:
        """Send one message; raise RetryableSendError or PermanentSendError when it did not go out."""
        with self._session_factory() as session:
            extras = store.card_extras(session, str(message.params.get("case_code") or ""))
        try:
            text, markup = cards.render(message.template, message.recipient_kind, message.params, extras)
        except KeyError as error:
            raise PermanentSendError(f"no Telegram text for template {message.template!r}") from error
        if not text.strip():
            raise PermanentSendError(f"empty text for outbox message {message.id}")
        text = mask_text(text)  # Telegram chats are staff chats: rows queued before masking are masked here
        try:
            chat_id = int(message.address)
        except ValueError as error:
            raise PermanentSendError(f"not a Telegram chat id: {message.address!r}") from error
        with self._lock:  # one message at a time through the one loop
            if self._monotonic() < self._down_until:
                raise RetryableSendError("Telegram unavailable a moment ago; not calling it again yet")
            if self._runner is None:
                self._runner = _LoopThread()
            try:
                self._runner.run(
                    self._deliver(chat_id, text, markup, extras.photo), timeout=self._timeout_s * 3 + 5
                )
            except TelegramError as error:
                failure = classify(error)
                if failure.retryable:
                    pause = error.retry_after if isinstance(error, RetryAfter) else self._cooldown_s
                    self._down_until = self._monotonic() + _seconds(pause)
                raise failure from error
            except TimeoutError as error:  # the bounded wait above, if the HTTP timeouts did not fire
                self._down_until = self._monotonic() + self._cooldown_s
                raise RetryableSendError("Telegram send timed out") from error

    async def _deliver(
        self, chat_id: int, text: str, markup: InlineKeyboardMarkup | None, photo: str | None
    ) -> Message:
        bot = await self._bot_ready()
        if photo and len(text) <= cards.MAX_CAPTION:
            source: Any = photo
            if not photo.startswith(("http://", "https://")):
                path = Path(photo)
                if not path.is_file():
                    return await bot.send_message(chat_id, text[:MAX_TEXT], reply_markup=markup)
                source = path.read_bytes()
            return await bot.send_photo(chat_id, source, caption=text, reply_markup=markup)
        return await bot.send_message(chat_id, text[:MAX_TEXT], reply_markup=markup)

    def clear_buttons(self, chat_id: int, message_id: int) -> None:
        """Remove a card's buttons (editMessageReplyMarkup), e.g. when another chat already acted on it."""
        with self._lock:
            if self._runner is None:
                self._runner = _LoopThread()
            try:
                self._runner.run(self._clear(chat_id, message_id), timeout=self._timeout_s * 3 + 5)
            except TelegramError as error:
                raise classify(error) from error

    async def _clear(self, chat_id: int, message_id: int) -> None:
        bot = await self._bot_ready()
        await bot.edit_message_reply_markup(chat_id=chat_id, message_id=message_id, reply_markup=None)

    def close(self) -> None:
        """Shut the Bot's HTTP client and the loop thread down."""
        with self._lock:
            if self._runner is None:
                return
            if self._bot is not None:
                self._runner.run(self._bot.shutdown(), timeout=10)
            self._runner.close()
            self._runner, self._bot = None, None


def telegram_senders(
    environ: Mapping[str, str], session_factory: Callable[[], Session]
) -> dict[str, TelegramSender]:
    """`{"telegram": TelegramSender}` when there is a Bot API to talk to (TELEGRAM_TOKEN, or TELEGRAM_API_BASE
    for a fake); `{}` otherwise, and the console shows the messages (local mode). Opens no connection.
    """
    from bot.telegram.app import LOCAL_TOKEN

    token = (environ.get("TELEGRAM_TOKEN") or "").strip()
    api_base = (environ.get("TELEGRAM_API_BASE") or "").strip() or None
    if not token and api_base is None:
        return {}
    return {"telegram": TelegramSender(session_factory, token=token or LOCAL_TOKEN, api_base=api_base)}
