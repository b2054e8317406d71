"""The web console app (Sanic, which Rasa already brings). Health and KPI endpoints.

The app is built by `create_app(engine)` so that tests give it their own database; nothing connects at import.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta, timezone
from typing import Any

from sanic import Sanic
from sanic.request import Request
from sanic.response import HTTPResponse, json
from sqlalchemy import text
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

logger = logging.getLogger(__name__)


def _kpis_as_dict(kpis: Any) -> dict[str, Any]:
    from dataclasses import asdict

    return asdict(kpis)


def create_app(engine: Engine, name: str = "gridsec_console") -> Sanic:
    """Build the console app on an existing engine."""
    app = Sanic(name)

    @app.get("/healthz")
    async def healthz(_: Request) -> HTTPResponse:
        try:
            with engine.connect() as connection:
                connection.execute(text("SELECT 1"))
        except Exception as error:  # report, don't crash: this is what load balancers poll
            logger.warning("health check: database unreachable: %s", error)
            return json({"status": "unavailable", "database": "unreachable"}, status=503)
        return json({"status": "ok", "database": "ok"})

    @app.get("/api/kpis")
    async def kpis(request: Request) -> HTTPResponse:
        from storage.kpi import compute_kpis

        days = int(request.args.get("days", "30"))
        end = datetime.now(timezone.utc)
        with Session(engine, future=True) as session:
            result = compute_kpis(session, start=end - timedelta(days=days), end=end)
        return json(_kpis_as_dict(result), default=str)

    return app
