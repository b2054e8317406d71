"""The console's health/KPI endpoints and one worker pass, on SQLite and PostgreSQL."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta, timezone

import httpx
from freezegun import freeze_time
from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.web.app import create_app
from bot.worker import local_senders, run_once
from storage.accounts import create_account
from storage.cases import open_case
from storage.db import make_engine
from storage.models import ConsoleMessage, DueItem, OutboxMessage
from storage.outbox import enqueue
from tests.support.sanic_server import serve_sanic

START = datetime(2026, 11, 30, 2, 0, tzinfo=timezone.utc)  # a Monday, 10:00 in Guangzhou


def _get(engine, path: str) -> httpx.Response:
    app = create_app(engine, name=f"console_test_{uuid.uuid4().hex[:8]}")
    with serve_sanic(app) as base_url:
        return httpx.get(base_url + path, timeout=10)


def test_healthz_reports_ok_when_the_database_answers(engine) -> None:
    response = _get(engine, "/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "database": "ok"}


def test_healthz_reports_unavailable_when_the_database_is_down() -> None:
    unreachable = make_engine("postgresql+psycopg2://postgres@127.0.0.1:1/test", connect_args={"connect_timeout": 1})
    response = _get(unreachable, "/healthz")
    assert response.status_code == 503
    assert response.json()["database"] == "unreachable"


def test_kpi_endpoint_counts_the_cases_of_the_window(engine, session_factory) -> None:
    with freeze_time(START), session_factory() as session, session.begin():
        open_case(session, now=START, description="井盖冇咗", urgency="urgent", category="MANHOLE",
                  auto_dispatch=True)
        create_account(session, username="centre", password="pw-centre", role="command_centre", now=START)
    app = create_app(engine, name=f"console_test_{uuid.uuid4().hex[:8]}", environ={}, seed_demo_accounts=False)
    with freeze_time(START + timedelta(minutes=5), ignore=["asyncio", "threading", "sanic"]), serve_sanic(
        app
    ) as base_url, httpx.Client(base_url=base_url, timeout=10) as client:
        assert client.get("/api/kpis?days=1").status_code == 401
        assert client.post("/api/login", json={"username": "centre", "password": "pw-centre"}).status_code == 200
        response = client.get("/api/kpis?days=1")
    assert response.status_code == 200
    assert response.json()["kpis"]["cases"] == 1
    assert response.json()["kpis"]["auto_dispatch_rate"] == 1.0


def test_one_worker_pass_delivers_the_outbox_and_fires_missed_limits(engine, session_factory) -> None:
    with session_factory() as session, session.begin():
        case = open_case(session, now=START, description="路灯唔着", urgency="urgent", category="STREETLIGHT")
        enqueue(session, recipient_kind="resident", recipient_id="openid-1", template="case_opened",
                params={"code": case.code}, idempotency_key=f"opened:{case.code}", now=START, case_id=case.id)
        code = case.code
    senders = local_senders(session_factory)

    fired, sent = run_once(session_factory, senders, START + timedelta(minutes=1), "w1")
    assert fired == 0  # the 15-minute respond limit has not passed
    assert sent >= 1

    with Session(engine, future=True) as session:
        before_reminder = len(session.execute(select(ConsoleMessage.id)).all())
    fired, sent = run_once(session_factory, senders, START + timedelta(minutes=13), "w1")
    assert fired == 0 and sent >= 1  # 80% of the 15-minute limit: the holder is reminded, nothing escalates
    with Session(engine, future=True) as session:
        assert len(session.execute(select(ConsoleMessage.id)).all()) > before_reminder

    fired, _ = run_once(session_factory, senders, START + timedelta(minutes=16), "w1")
    assert fired == 1
    with Session(engine, future=True) as session:
        assert session.execute(select(OutboxMessage).where(OutboxMessage.status != "sent")).first() is None
        keys = set(session.execute(select(ConsoleMessage.idempotency_key)).scalars())
        assert f"opened:{code}" in keys
        fired_items = session.execute(select(DueItem).where(DueItem.status == "fired")).scalars().all()
        assert len(fired_items) == 1


def test_worker_senders_add_a_channel_only_when_its_api_is_configured(session_factory) -> None:
    from bot.worker import channel_senders

    assert set(channel_senders({}, session_factory)) == {"*"}
    with_fake = channel_senders({"WECHAT_API_BASE": "http://127.0.0.1:9/"}, session_factory)
    assert set(with_fake) == {"*", "wechat"}
    both = channel_senders({"WECHAT_API_BASE": "http://127.0.0.1:9/", "TELEGRAM_API_BASE": "http://127.0.0.1:9/bot"},
                           session_factory)
    assert set(both) == {"*", "wechat", "telegram"}
