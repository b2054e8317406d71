"""The Telegram PTB application: builder, handler wiring, and the `gridsec telegram` entry point.

`TELEGRAM_API_BASE` points PTB at another Bot API server (`ApplicationBuilder.base_url`), e.g. the fake on
loopback in tests and local mode. Polling by default; with `TELEGRAM_WEBHOOK_URL` the bot runs a webhook
whose `secret_token` is checked on every request (bot/telegram/webhook.py).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from functools import partial

from telegram import Update
from telegram.ext import Application, CallbackQueryHandler, CommandHandler, MessageHandler, filters

from bot.config import ConfigError, load_settings
from bot.telegram import handlers
from bot.telegram.handlers import Services

logger = logging.getLogger(__name__)

LOCAL_TOKEN = "123456:gridsec-local"


def file_base_for(api_base: str) -> str:
    """The file-download base that goes with an API base (`…/bot` -> `…/file/bot`)."""
    root, _, _ = api_base.rstrip("/").rpartition("/bot")
    return f"{root}/file/bot"


def build_application(
    token: str,
    services: Services,
    *,
    api_base: str | None = None,
    read_timeout: float = 10.0,
    polling: bool = True,
) -> Application:
    """An Application with every GridSec handler; no network until it is initialised."""
    from bot.log_redaction import protect

    protect(token)  # httpx logs every request URL, and a Bot API URL holds the token
    builder = Application.builder().token(token).read_timeout(read_timeout).connect_timeout(read_timeout)
    if api_base:
        builder = builder.base_url(api_base).base_file_url(file_base_for(api_base))
    if not polling:
        builder = builder.updater(None)
    application = builder.build()
    application.bot_data["services"] = services
    add_handlers(application)
    if application.job_queue is not None:
        from bot.telegram.digest import DIGEST_AT, digest_job

        application.job_queue.run_daily(digest_job, DIGEST_AT, name="overdue-digest")
    return application


def add_handlers(application: Application) -> None:
    """Buttons, photos, department replies (groups) and the worker commands, plus the error handler."""
    application.add_handler(CallbackQueryHandler(handlers.on_button))
    application.add_handler(CommandHandler("start", handlers.cmd_start))
    application.add_handler(CommandHandler("tasks", handlers.cmd_tasks))
    application.add_handler(CommandHandler("overdue", handlers.cmd_overdue))
    application.add_handler(CommandHandler("case", handlers.cmd_case))
    application.add_handler(CommandHandler("duty", handlers.cmd_duty))
    application.add_handler(MessageHandler(filters.PHOTO, handlers.on_photo))
    application.add_handler(
        MessageHandler(
            filters.ChatType.GROUPS & filters.REPLY & filters.TEXT & ~filters.COMMAND,
            handlers.on_department_reply,
        )
    )
    application.add_error_handler(handlers.on_error)


def _parser_from_models() -> handlers.Parser | None:
    from bot.telegram.understanding import rasa_parser, trained_model_path

    path = trained_model_path()
    if path is None:
        logger.warning("no trained NLU model (run `gridsec train`); department replies work by buttons only")
        return None
    try:
        return rasa_parser(path)
    except Exception:  # the bot still works by buttons without the model
        logger.exception(
            "NLU model %s failed to load; department free-text replies will not be understood", path
        )
        return None


def main(environ: Mapping[str, str] | None = None) -> None:
    """Run the Telegram bot (polling, or webhook when TELEGRAM_WEBHOOK_URL is set)."""
    from sqlalchemy.orm import Session

    from storage.db import make_engine

    environ = os.environ if environ is None else environ
    settings = load_settings(environ)
    if settings.telegram_token is None and settings.telegram_api_base is None:
        raise ConfigError("set TELEGRAM_TOKEN (or TELEGRAM_API_BASE for a fake Bot API in local mode)")
    token = settings.telegram_token.reveal() if settings.telegram_token else LOCAL_TOKEN
    session_factory = partial(Session, make_engine(settings.database_url), future=True)
    services = Services(session_factory=session_factory, parser=_parser_from_models())
    webhook_url = environ.get("TELEGRAM_WEBHOOK_URL")
    if webhook_url:
        from bot.telegram.webhook import run_webhook

        if settings.telegram_webhook_secret is None:
            raise ConfigError("TELEGRAM_WEBHOOK_SECRET is required with TELEGRAM_WEBHOOK_URL")
        application = build_application(token, services, api_base=settings.telegram_api_base, polling=False)
        run_webhook(
            application,
            webhook_url,
            settings.telegram_webhook_secret.reveal(),
            int(environ.get("TELEGRAM_WEBHOOK_PORT", "8443")),
        )
        return
    application = build_application(token, services, api_base=settings.telegram_api_base)
    application.run_polling(allowed_updates=Update.ALL_TYPES)
