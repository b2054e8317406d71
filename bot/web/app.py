"""The web console app (Sanic, which Rasa already brings): console JSON API, Open311 GeoReport v2, health.

The app is built by `create_app(engine, ...)` so that tests give it their own database and NLU parser; nothing
connects or loads a model at import. The routes are documented in docs/console-api.md.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from datetime import datetime, timezone
from pathlib import Path

from sanic import Sanic
from sanic.request import Request
from sanic.response import HTTPResponse, file, json
from sqlalchemy import text
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from bot.web import auth, cases_api, kpi_api, map_api, open311
from bot.web.open311 import Parser

logger = logging.getLogger(__name__)

STATIC_DIR = Path(__file__).resolve().parent / "static"


def create_app(
    engine: Engine,
    name: str = "gridsec_console",
    *,
    environ: Mapping[str, str] | None = None,
    parser: Parser | None = None,
    media_roots: list[Path] | None = None,
    seed_demo_accounts: bool | None = None,
) -> Sanic:
    """Build the console app on an existing engine.

    Args:
        environ: settings source (default `os.environ`): local mode and `OPEN311_API_KEYS`.
        parser: async text -> Rasa parse for Open311 POSTs; default loads the trained model on first use.
        media_roots: directories `/api/media` may serve files from (default: var/ and GRIDSEC_MEDIA_ROOT).
        seed_demo_accounts: create the demo logins at start-up; default: in local mode.
    """
    from bot.config import load_settings
    from bot.web.open311_intake import lazy_model_parser

    environ = os.environ if environ is None else environ
    settings = load_settings(environ)
    app = Sanic(name)
    app.config.FALLBACK_ERROR_FORMAT = "json"
    app.ctx.engine = engine
    app.ctx.parser = parser or lazy_model_parser()
    app.ctx.media_roots = [root.resolve() for root in (media_roots or cases_api.media_roots())]
    app.ctx.open311_key_digests = open311.api_keys_from(environ, settings.local_mode)
    auth.register(app)
    cases_api.register(app)
    map_api.register(app)
    kpi_api.register(app)
    open311.register(app)
    _register_console_pages(app)
    from bot.web.simulator_pages import register_simulator_pages  # local mode: /simulator (front-end side)

    register_simulator_pages(app, engine, environ)

    @app.get("/healthz")
    async def healthz(_: Request) -> HTTPResponse:
        try:
            with engine.connect() as connection:
                connection.execute(text("SELECT 1"))
        except Exception as error:  # report, don't crash: this is what load balancers poll
            logger.warning("health check: database unreachable: %s", error)
            return json({"status": "unavailable", "database": "unreachable"}, status=503)
        return json({"status": "ok", "database": "ok"})

    if settings.local_mode if seed_demo_accounts is None else seed_demo_accounts:
        app.register_listener(_seed_demo_accounts, "before_server_start")
    return app


async def _seed_demo_accounts(app: Sanic, _loop: object) -> None:
    import asyncio

    from storage.accounts import DEMO_PASSWORD, ensure_demo_accounts

    def work() -> list[str]:
        with Session(app.ctx.engine, future=True) as session, session.begin():
            return ensure_demo_accounts(session, datetime.now(timezone.utc))

    try:
        created = await asyncio.to_thread(work)
    except Exception:  # an unmigrated/unreachable database must not stop the console from starting
        logger.exception("could not create the local-mode demo accounts")
        return
    if created:
        logger.warning("local mode: demo console logins %s, password %r", ", ".join(created), DEMO_PASSWORD)


def _register_console_pages(app: Sanic) -> None:
    """Serve the console front-end (bot/web/static/, built by the front-end side) at `/` and `/static/`."""
    if STATIC_DIR.is_dir():
        app.static("/static", str(STATIC_DIR), name="console_static")

    @app.get("/")
    async def index(_: Request) -> HTTPResponse:
        page = STATIC_DIR / "index.html"
        if page.is_file():
            return await file(str(page), mime_type="text/html; charset=utf-8")
        return json({"console": "front-end not built yet", "api": "docs/console-api.md"})
