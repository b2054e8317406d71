"""The browser side of the console and the simulator: static pages under bot/web/static/, no CDN.

The console app (`bot.web.app.create_app`) serves `/` (static/index.html: login, live list, case detail, triage,
map, KPI dashboard) and `/static/...`. `register_simulator_pages(app, engine, environ)` is the one hook it calls
for the rest: in local mode (no WeChat/Telegram credentials) `/simulator` and the simulator's `/sim/api/...`
routes (bot/web/simulator.py). The console pages use only the JSON API (`/api/...`, docs/console-api.md).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path

from sanic import Sanic
from sanic.request import Request
from sanic.response import HTTPResponse, file, redirect
from sqlalchemy.engine import Engine

from bot.config import load_settings

logger = logging.getLogger(__name__)

STATIC = Path(__file__).resolve().parent / "static"


def register_simulator_pages(app: Sanic, engine: Engine, environ: Mapping[str, str]) -> None:
    """Local mode only: add `/simulator` and the simulator's `/sim/api/...` routes to the console app.

    The console itself (`/` = static/index.html, `/static/...`) is served by `bot.web.app.create_app`.
    """
    if not load_settings(environ).local_mode:
        logger.info("credentials set: the simulator is off")
        return
    from bot.web.simulator import register_simulator

    register_simulator(app, engine, environ)

    @app.get("/simulator")
    async def simulator_page(_: Request) -> HTTPResponse:
        return await file(str(STATIC / "simulator.html"), mime_type="text/html; charset=utf-8")

    @app.get("/sim")
    async def simulator_short(_: Request) -> HTTPResponse:
        return redirect("/simulator")
