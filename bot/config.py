"""One typed reader for GridSec's configuration.

Everything configurable comes from the environment (or a credentials file that the operator fills in);
nothing secret lives in the repository. Secrets are wrapped so that they never print.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

logger = logging.getLogger(__name__)

REPO_ROOT = Path(__file__).resolve().parents[1]
LOCAL_WECHAT_TOKEN = "gridsec-local"
LOCAL_OPEN311_KEY = "local-dev-key"


class ConfigError(ValueError):
    """A configuration value is missing or malformed; the message names the variable."""


class Secret:
    """A string that hides itself from repr/str, so logs and tracebacks never show it."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "Secret('**********')"

    def __str__(self) -> str:
        return "**********"

    def __bool__(self) -> bool:
        return bool(self._value)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)


def _secret(environ: Mapping[str, str], key: str) -> Secret | None:
    value = environ.get(key, "").strip()
    return Secret(value) if value else None


def _int(environ: Mapping[str, str], key: str, default: int) -> int:
    raw = environ.get(key)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError as error:
        raise ConfigError(f"{key} must be an integer, got {raw!r}") from error


@dataclass(frozen=True)
class Settings:
    """GridSec settings. `local_mode` is on when neither WeChat nor Telegram credentials are set."""

    database_url: str = field(repr=False)  # may hold a password
    shared_data: Path
    wechat_app_id: str | None
    wechat_secret: Secret | None
    wechat_token: Secret
    wechat_aes_key: Secret | None
    wechat_api_base: str | None
    telegram_token: Secret | None
    telegram_api_base: str | None
    telegram_webhook_secret: Secret | None
    rasa_port: int
    action_port: int
    console_port: int

    @property
    def local_mode(self) -> bool:
        return self.wechat_secret is None and self.telegram_token is None


def load_settings(environ: Mapping[str, str]) -> Settings:
    """Read settings from an environment mapping (pass `os.environ`; tests pass a dict)."""
    from storage.db import database_url

    wechat_secret = _secret(environ, "WECHAT_APP_SECRET")
    wechat_token = _secret(environ, "WECHAT_TOKEN")
    if wechat_secret is not None and wechat_token is None:
        raise ConfigError("WECHAT_TOKEN is required when WECHAT_APP_SECRET is set")
    shared = Path(environ.get("GRIDSEC_SHARED_DATA", str(REPO_ROOT.parent / "shared" / "data")))
    return Settings(
        database_url=database_url(environ),
        shared_data=shared,
        wechat_app_id=environ.get("WECHAT_APP_ID") or None,
        wechat_secret=wechat_secret,
        wechat_token=wechat_token or Secret(LOCAL_WECHAT_TOKEN),
        wechat_aes_key=_secret(environ, "WECHAT_AES_KEY"),
        wechat_api_base=environ.get("WECHAT_API_BASE") or None,
        telegram_token=_secret(environ, "TELEGRAM_TOKEN"),
        telegram_api_base=environ.get("TELEGRAM_API_BASE") or None,
        telegram_webhook_secret=_secret(environ, "TELEGRAM_WEBHOOK_SECRET"),
        rasa_port=_int(environ, "RASA_PORT", 5005),
        action_port=_int(environ, "ACTION_PORT", 5055),
        console_port=_int(environ, "CONSOLE_PORT", 8000),
    )
