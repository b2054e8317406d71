"""Local mode: fake WeChat and Telegram APIs on loopback, so a fresh clone runs the whole chain offline.

`gridsec serve` with no WeChat or Telegram credentials calls `local_environ` to point WECHAT_API_BASE and
TELEGRAM_API_BASE at the fakes (`python -m bot.localmode` runs both), binds demo Telegram chats
(`bot.localmode.bindings`), and starts the Telegram bot against the fake. The web console's simulator
(bot/web/simulator.py) reads and drives the fakes through their `/_sim/` control API.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

logger = logging.getLogger(__name__)

FAKE_TELEGRAM_PORT = 8081
FAKE_WECHAT_PORT = 8082
LOCAL_TEMPLATE_ID = "gridsec-local-progress"
LOCAL_FAKES_VARIABLE = "GRIDSEC_LOCAL_FAKES"  # "<telegram port>,<wechat port>" when serve runs the fakes


def _port(environ: Mapping[str, str], key: str, default: int) -> int:
    from bot.config import _int

    return _int(environ, key, default)


def local_environ(environ: Mapping[str, str]) -> dict[str, str]:
    """The environment for every process: in local mode, with the API bases pointed at the fakes.

    Outside local mode (credentials set), or when the operator already chose both API bases, it is a copy.
    """
    from bot.config import load_settings

    env = dict(environ)
    if not load_settings(environ).local_mode:
        return env
    telegram_port = _port(environ, "FAKE_TELEGRAM_PORT", FAKE_TELEGRAM_PORT)
    wechat_port = _port(environ, "FAKE_WECHAT_PORT", FAKE_WECHAT_PORT)
    if env.get("TELEGRAM_API_BASE") and env.get("WECHAT_API_BASE"):
        return env
    env.setdefault("TELEGRAM_API_BASE", f"http://127.0.0.1:{telegram_port}/bot")
    env.setdefault("WECHAT_API_BASE", f"http://127.0.0.1:{wechat_port}/cgi-bin/")
    # A push to a resident outside WeChat's 48-hour window needs a template; the fake accepts this one, so
    # local mode parks nothing (e.g. pushes for a case opened through Open311 or the console).
    env.setdefault("WECHAT_TEMPLATE_ID", LOCAL_TEMPLATE_ID)
    env[LOCAL_FAKES_VARIABLE] = f"{telegram_port},{wechat_port}"
    return env


def fake_ports(environ: Mapping[str, str]) -> tuple[int, int] | None:
    """(telegram, wechat) ports of the fakes `gridsec serve` runs, or None when it runs none."""
    raw = environ.get(LOCAL_FAKES_VARIABLE, "")
    if not raw:
        return None
    telegram, _, wechat = raw.partition(",")
    return int(telegram), int(wechat)


def fakes_argv(environ: Mapping[str, str], python: str) -> tuple[list[str], int] | None:
    """(argv, port to wait for) of the process running both fakes, when `environ` came from `local_environ`."""
    ports = fake_ports(environ)
    if ports is None:
        return None
    argv = [python, "-m", "bot.localmode", "--telegram-port", str(ports[0]), "--wechat-port", str(ports[1])]
    return argv, ports[0]
