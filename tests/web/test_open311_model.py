"""Open311 POST creates a case through the same router as the bot, with the real trained model and the real
Yuexiu organisation: the stored case carries exactly the decision `decision_for_parse` makes for that text."""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import httpx
import pytest

from bot.web.app import create_app
from routing.route_cli import decision_for_parse
from routing.types import GeoPoint
from storage.cases import case_events, get_case_by_code
from storage.seed import seed_all
from tests.support.sanic_server import serve_sanic

pytestmark = pytest.mark.model

TEXT = "三眼井社区门口垃圾堆咗三日都冇人收，好臭"
POINT = GeoPoint(23.1425, 113.2660)  # inside 洪桥 街道


@pytest.fixture(scope="session")
def open311_agent() -> Any:
    """The trained model (GRIDSEC_MODEL selects an archive instead of `ensure_model()`)."""
    os.environ.setdefault("RASA_TELEMETRY_ENABLED", "false")
    from rasa.core.agent import Agent

    from bot.nlu.training import ensure_model

    override = os.environ.get("GRIDSEC_MODEL")
    path = Path(override) if override else ensure_model(force=False, progress=lambda message: None)
    return Agent.load(str(path))


@pytest.fixture()
def model_console(engine: Any, session_factory: Any, open311_agent: Any) -> Iterator[str]:
    with session_factory() as session, session.begin():
        seed_all(session)

    async def parse(text: str) -> dict[str, Any]:
        return dict(await open311_agent.parse_message(text))

    app = create_app(engine, name=f"o311m_{uuid.uuid4().hex[:8]}", environ={}, parser=parse, seed_demo_accounts=False)
    with serve_sanic(app) as base_url:
        yield base_url


def test_a_posted_request_is_routed_like_a_wechat_report(model_console, session_factory, open311_agent) -> None:
    response = httpx.post(
        model_console + "/open311/v2/requests.json",
        data={"api_key": "local-dev-key", "service_code": "GARBAGE", "description": TEXT,
              "lat": str(POINT.lat), "long": str(POINT.lng), "address_string": "三眼井"},
        timeout=120,
    )
    assert response.status_code == 201, response.text
    [created] = response.json()
    code = created["service_request_id"]
    assert created["service_notice"] and created["account_id"] is None

    loop = asyncio.new_event_loop()
    try:
        parse = loop.run_until_complete(open311_agent.parse_message(f"{TEXT} 三眼井"))
    finally:
        loop.close()
    decision = decision_for_parse(parse, POINT, "gps", datetime.now(timezone.utc))
    assert decision.category == "GARBAGE"

    with session_factory() as session:
        case = get_case_by_code(session, code)
        assert case is not None
        assert (case.category, case.grid_id, case.worker_id) == (decision.category, decision.grid, decision.worker)
        assert case.description == TEXT and (case.lat, case.lng) == (POINT.lat, POINT.lng)
        assert case.routing["explanation"] == list(decision.explanation)
        assert [record.event for record in case_events(session, case.id)] == ["report"]

    [row] = httpx.get(model_console + f"/open311/v2/requests/{code}.json?extensions=true", timeout=30).json()
    assert row["service_code"] == "GARBAGE" and row["agency_responsible"] == decision.department == "HWZX"
    assert row["extended_attributes"]["grid"] == decision.grid
    assert row["extended_attributes"]["street"] == decision.street == "洪桥"
    assert row["extended_attributes"]["auto_dispatch"] is decision.auto_dispatch
    assert row["status"] == "open" and row["address"] == "三眼井"
