"""Keep secrets out of every log line, whichever library writes it.

Libraries log what they send: httpx logs each request URL at INFO (a Telegram URL holds the bot token),
urllib3 logs WeChat's `token?appid=..&secret=..` and `access_token=..` URLs at DEBUG, PTB logs each Bot API
call's parameters at DEBUG (`setWebhook` carries the webhook `secret_token`). `protect` installs, once per
process, a log-record factory that rewrites every record as it is made: the known secret values, bot tokens,
secret-bearing query parameters and URL passwords become `[redacted]`, in the message and in the traceback.
A factory, not a handler filter, so it covers handlers that Sanic, Rasa or PTB set up after start-up too.

Residents' personal data is masked on the same pass (`storage.privacy.mask_text`: phone, ID card and plate
numbers): Rasa logs every user message at DEBUG, and a traceback may quote one.
"""

from __future__ import annotations

import contextlib
import logging
import re
import threading
from collections.abc import Mapping
from typing import Any

from bot.config import LOCAL_OPEN311_KEY, LOCAL_WECHAT_TOKEN, Secret
from storage.privacy import mask_text

REDACTED = "[redacted]"
MIN_SECRET_CHARS = 6  # shorter values would redact ordinary words
# Local mode's documented stand-ins are not secrets (and appear in paths and names): never redacted.
NOT_SECRET = {LOCAL_WECHAT_TOKEN, LOCAL_OPEN311_KEY, "gridsec-local-secret", "123456:gridsec-local"}
SECRET_ENV_KEYS = (
    "TELEGRAM_TOKEN",
    "TELEGRAM_WEBHOOK_SECRET",
    "WECHAT_APP_SECRET",
    "WECHAT_TOKEN",
    "WECHAT_AES_KEY",
    "TRACKER_DB_PASSWORD",  # endpoints.production.yml's tracker store, when not derived from DATABASE_URL
)
LIST_ENV_KEYS = ("OPEN311_API_KEYS",)  # comma-separated lists of secrets
_PATTERNS = (
    (re.compile(r"(?<!\d)\d{5,12}:[A-Za-z0-9_-]{20,}"), REDACTED),  # a Telegram bot token, in a URL or not
    (
        re.compile(
            r"(?i)\b((?:access_token|secret|appsecret|app_secret|api_key|password|secret_token)=)[^&\s'\"]+"
        ),
        rf"\1{REDACTED}",
    ),
    (
        re.compile(r"(?i)(['\"](?:secret_token|password|access_token|api_key)['\"]\s*:\s*['\"])[^'\"]+"),
        rf"\1{REDACTED}",
    ),
    (
        re.compile(r"(\b[a-z][a-z0-9+.-]*://[^:/@\s]*:)[^@\s]+(@)"),
        rf"\1{REDACTED}\2",
    ),  # scheme://user:password@
)
_lock = threading.Lock()
_secrets: set[str] = set()
_installed = False


def redact(text: str) -> str:
    """`text` with every known secret and secret-looking token replaced by `[redacted]`, personal data masked."""
    for value in sorted(_secrets, key=len, reverse=True):
        text = text.replace(value, REDACTED)
    for pattern, replacement in _PATTERNS:
        text = pattern.sub(replacement, text)
    return mask_text(text)


def _redact_record(record: logging.LogRecord) -> None:
    try:
        message = record.getMessage()
    except Exception:  # a broken format string: logging reports it later, as it would have anyway
        return
    cleaned = redact(message)
    if cleaned != message:
        record.msg, record.args = cleaned, None
    if record.exc_info and record.exc_info[1] is not None and not record.exc_text:
        record.exc_text = redact(logging.Formatter().formatException(record.exc_info))


def protect(*values: str | Secret | None) -> None:
    """Redact these values from every log record made from now on (installs the factory on first use)."""
    global _installed
    with _lock:
        for value in values:
            raw = value.reveal() if isinstance(value, Secret) else value
            if raw and len(raw) >= MIN_SECRET_CHARS and raw not in NOT_SECRET:
                _secrets.add(raw)
        if _installed:
            return
        previous = logging.getLogRecordFactory()

        def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
            record = previous(*args, **kwargs)
            _redact_record(record)
            return record

        logging.setLogRecordFactory(factory)
        _installed = True


def protect_environment(environ: Mapping[str, str]) -> None:
    """Redact the secrets configured in `environ` (tokens, keys, the database password)."""
    values: list[str | None] = [environ.get(key, "").strip() or None for key in SECRET_ENV_KEYS]
    values += [item.strip() for key in LIST_ENV_KEYS for item in environ.get(key, "").split(",")]
    for key in ("DATABASE_URL", "WECHAT_TOKEN_STORE"):
        url = environ.get(key, "").strip()
        if "://" in url:
            from sqlalchemy.engine import make_url

            with contextlib.suppress(Exception):  # a malformed URL fails loudly where it is used, not here
                values.append(make_url(url).password)  # type: ignore[arg-type]
    protect(*values)
