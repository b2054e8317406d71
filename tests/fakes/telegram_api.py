"""The fake Telegram Bot API now lives in `bot.localmode` (local mode runs it too); tests import it from here."""

from bot.localmode.telegram_api import (
    BOT_ID,
    BOT_USERNAME,
    Call,
    FakeTelegramAPI,
    FakeTelegramState,
    main,
    running_fake_telegram,
)

__all__ = [
    "BOT_ID",
    "BOT_USERNAME",
    "Call",
    "FakeTelegramAPI",
    "FakeTelegramState",
    "main",
    "running_fake_telegram",
]

if __name__ == "__main__":
    main()
