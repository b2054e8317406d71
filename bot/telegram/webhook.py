"""Webhook mode on Sanic (PTB's own webhook server needs tornado, which is not installed here).

Order: check the `X-Telegram-Bot-Api-Secret-Token` header (403 on mismatch) → parse → drop a repeated
`update_id` (Telegram redelivers when an answer is lost) → hand the update to the Application's queue → 200
at once; the Application works through the queue in the background.
"""

from __future__ import annotations

import asyncio
import hmac
import logging

from sanic import Sanic, response
from sanic.request import Request
from sqlalchemy.exc import SQLAlchemyError
from telegram import Update
from telegram.ext import Application

from storage.dedupe import first_seen

logger = logging.getLogger(__name__)

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
PATH = "/telegram/webhook"
MAX_BODY_BYTES = 1024 * 1024  # Telegram's updates are a few KB; Sanic's default would accept 100 MB


def create_webhook_app(
    application: Application, secret_token: str, *, webhook_url: str | None = None
) -> Sanic:
    """A Sanic app serving POST /telegram/webhook for `application` (started and stopped with the server).

    Raises:
        ValueError: for an empty `secret_token` (it would let a request without the header through).
    """
    if not secret_token:
        raise ValueError("the Telegram webhook needs a non-empty secret_token")
    app = Sanic(f"gridsec_telegram_{id(application)}")
    app.config.REQUEST_MAX_SIZE = MAX_BODY_BYTES

    @app.before_server_start
    async def start(_app: Sanic, _loop: object) -> None:
        await application.initialize()
        await application.start()
        if webhook_url:
            await application.bot.set_webhook(
                webhook_url, secret_token=secret_token, allowed_updates=Update.ALL_TYPES
            )

    @app.before_server_stop
    async def stop(_app: Sanic, _loop: object) -> None:
        await application.stop()
        await application.shutdown()

    @app.post(PATH)
    async def receive(request: Request) -> response.HTTPResponse:
        given = request.headers.get(SECRET_HEADER, "")
        if not hmac.compare_digest(given.encode(), secret_token.encode()):
            logger.warning("webhook request with a wrong secret token from %s", request.ip)
            return response.json({"ok": False}, status=403)
        try:
            body = request.json
            if not isinstance(body, dict) or not isinstance(body.get("update_id"), int):
                raise ValueError("not an update object")
            update = Update.de_json(body, application.bot)
        except Exception as error:  # bad input, not a fault of ours: answer 400, no traceback in the log
            logger.warning("unparseable webhook body: %s: %s", type(error).__name__, str(error)[:200])
            return response.json({"ok": False}, status=400)
        try:
            first = await asyncio.to_thread(_first_delivery, application, update.update_id)
        except SQLAlchemyError:  # not acknowledged, so Telegram delivers it again once the database is back
            logger.warning("telegram update %s not recorded: database unavailable", update.update_id)
            return response.json({"ok": False}, status=503)
        if not first:
            logger.info("dropped repeated telegram update %s", update.update_id)
            return response.json({"ok": True})
        await application.update_queue.put(update)
        return response.json({"ok": True})

    return app


def _first_delivery(application: Application, update_id: int) -> bool:
    svc = application.bot_data["services"]
    with svc.session_factory() as session, session.begin():
        return first_seen(session, "telegram", f"update:{update_id}", svc.clock())


def run_webhook(application: Application, webhook_url: str, secret_token: str, port: int) -> None:
    """Serve the webhook on 0.0.0.0:`port` and register `webhook_url` with Telegram."""
    create_webhook_app(application, secret_token, webhook_url=webhook_url).run(
        host="0.0.0.0", port=port, access_log=False
    )
