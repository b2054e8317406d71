"""`python -m bot.localmode --telegram-port 8081 --wechat-port 8082`: both fake APIs until SIGTERM/Ctrl-C."""

from __future__ import annotations

import argparse
import contextlib
import logging
import signal
import threading

from bot.localmode import FAKE_TELEGRAM_PORT, FAKE_WECHAT_PORT
from bot.localmode.telegram_api import running_fake_telegram
from bot.localmode.wechat_api import running_fake_wechat

logger = logging.getLogger(__name__)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="GridSec local mode: fake Telegram Bot API and WeChat API")
    parser.add_argument("--telegram-port", type=int, default=FAKE_TELEGRAM_PORT)
    parser.add_argument("--wechat-port", type=int, default=FAKE_WECHAT_PORT)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(name)s %(message)s")
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    with (
        running_fake_telegram(args.telegram_port, hang_seconds=30.0) as telegram,
        running_fake_wechat(port=args.wechat_port) as wechat,
    ):
        logger.warning("fake Telegram Bot API %s, fake WeChat API %s", telegram.api_base, wechat.base_url)
        with contextlib.suppress(KeyboardInterrupt):
            stop.wait()


if __name__ == "__main__":
    main()
