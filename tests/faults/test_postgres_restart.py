"""PostgreSQL restarted under load: requests fail cleanly (503, never 500), then everything recovers by itself.

A private PostgreSQL (tests/faults/private_postgres.py) is stopped and started while residents post to the
real WeChat webhook, cases are opened and the worker delivers the outbox. No step is manual: the engine's
pool_pre_ping drops dead connections, WeChat's retries (of a 503) are simulated as WeChat makes them, the
worker's pass catches the failure and tries again, and acknowledged turns that hit the outage are resumed.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from functools import partial
from pathlib import Path

import httpx
import pytest
from rasa.core.run import configure_app
from sanic import Sanic
from sqlalchemy import func, select
from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from bot.channels.wechat import WeChatInput
from bot.senders.telegram import TelegramSender
from bot.worker import run_once
from storage.db import make_engine
from storage.migrate import upgrade
from storage.models import Case, CaseEventRecord, InboundDedupe, OutboxMessage
from storage.outbox import LocalConsoleSender, Sender
from storage.timeutil import utcnow
from tests.channels.conftest import TOKEN, RecordingAgent, fixture_xml, make_config, sign
from tests.faults.private_postgres import PrivatePostgres
from tests.security.conftest import (
    open_resident_case,
    seed_staff,
)
from tests.support.sanic_server import serve_sanic

pytestmark = pytest.mark.slow
# (messages or cases, restarts): the default, and a soak variant (make soak) with many more restarts.
LOADS = [
    pytest.param(30, 2, id="2-restarts"),
    pytest.param(150, 10, id="10-restarts", marks=pytest.mark.soak),
]


@pytest.fixture()
def private_pg() -> Iterator[tuple[PrivatePostgres, Engine]]:
    """A migrated, seeded private PostgreSQL and an engine on it (built as production builds it)."""
    server = PrivatePostgres()
    try:
        server.start()
        upgrade(server.url)
        engine = make_engine(server.url)
        with Session(engine, future=True) as session, session.begin():
            seed_staff(session)
        yield server, engine
        engine.dispose()
    finally:
        server.destroy()


def restart(server: PrivatePostgres, down_s: float, mode: str) -> None:
    server.stop(mode)
    time.sleep(down_s)
    server.start()


def restarts(server: PrivatePostgres, count: int) -> None:
    """Alternate a clean fast shutdown and a crash (immediate: recovery from the WAL on start)."""
    for number in range(count):
        time.sleep(0.5)
        restart(server, 2.0 if number % 2 == 0 else 1.5, "fast" if number % 2 == 0 else "immediate")


class SkewedClock:
    """Real time plus a jump: after the outage the test moves it past the turn-retry delay."""

    def __init__(self) -> None:
        self.skew = timedelta()

    def __call__(self) -> datetime:
        return utcnow() + self.skew


@pytest.mark.parametrize(("messages", "restart_count"), LOADS)
def test_the_wechat_webhook_answers_503_during_a_restart_and_loses_no_message(
    private_pg: tuple[PrivatePostgres, Engine],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    messages: int,
    restart_count: int,
) -> None:
    server, engine = private_pg
    monkeypatch.setattr(Sanic, "test_mode", True)
    clock = SkewedClock()
    channel = WeChatInput(
        make_config("http://127.0.0.1:9/cgi-bin/"),
        engine=engine,
        clock=clock,
        media_root=tmp_path,
        resume_interval_s=0.5,
    )
    app = configure_app([channel], enable_api=False)
    agent = RecordingAgent()
    app.ctx.agent = agent
    statuses: list[int] = []
    acknowledged: set[str] = set()

    def resident_posts(url: str) -> None:
        """Each message is posted until it gets 200, with a fresh signature per try, as WeChat retries."""
        for number in range(messages):
            msg_id = str(7_100_000 + number)
            body = fixture_xml(
                "text",
                msg_id=msg_id,
                content=f"第{number}条：井盖坏了",
                openid=f"oRestart{number % 10:020d}",  # under the rate limit
            )
            for attempt in range(200):
                stamp, nonce = str(int(clock().timestamp())), f"r{number}-{attempt}"
                query = {"signature": sign(TOKEN, stamp, nonce), "timestamp": stamp, "nonce": nonce}
                try:
                    answer = httpx.post(url, params=query, content=body.encode(), timeout=10)
                except httpx.HTTPError:
                    time.sleep(0.1)
                    continue
                statuses.append(answer.status_code)
                if answer.status_code == 200:
                    acknowledged.add(msg_id)
                    break
                time.sleep(0.1)
            time.sleep(0.05)

    with serve_sanic(app) as base:
        poster = threading.Thread(target=resident_posts, args=(f"{base}/webhooks/wechat/webhook",))
        poster.start()
        restarts(server, restart_count)
        poster.join(300)
        assert not poster.is_alive()
        clock.skew = timedelta(minutes=5)  # past the retry delay of any turn that hit the outage
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and len({m.message_id for m in agent.messages}) < messages:
            time.sleep(0.2)
    counts = Counter(statuses)
    assert set(counts) <= {200, 503}, counts  # a clean refusal WeChat retries, never a 500
    assert counts[503] >= 1, counts  # the outage really was hit
    assert len(acknowledged) == messages  # and it recovered with no manual step
    turns = Counter(str(message.message_id) for message in agent.messages)
    assert len(turns) == messages and max(turns.values()) == 1, turns  # every message once, none twice
    with Session(engine, future=True) as session:
        recorded = session.execute(
            select(func.count()).select_from(InboundDedupe).where(InboundDedupe.channel == "wechat")
        ).scalar_one()
    assert recorded == messages


@pytest.mark.parametrize(("cases", "restart_count"), LOADS)
def test_case_opening_and_outbox_delivery_recover_from_restarts(
    private_pg: tuple[PrivatePostgres, Engine], fake_telegram: object, cases: int, restart_count: int
) -> None:
    from tests.security.conftest import FakeTelegramAPI

    assert isinstance(fake_telegram, FakeTelegramAPI)
    server, engine = private_pg
    session_factory: Callable[[], Session] = partial(Session, engine, future=True)
    telegram = TelegramSender(
        session_factory,
        token="123456:restart",
        api_base=fake_telegram.api_base,
        timeout_s=2.0,
        cooldown_s=0.2,
    )
    senders: dict[str, Sender] = {"telegram": telegram, "*": LocalConsoleSender(session_factory)}
    failures = Counter[str]()
    opened: list[str] = []
    stop = threading.Event()
    simulated = [utcnow()]

    def intake() -> None:
        """Open cases one transaction each; a failed transaction is retried (as the webhook's 503 is)."""
        for number in range(cases):
            while True:
                try:
                    with session_factory() as session, session.begin():
                        code = open_resident_case(
                            session, now=simulated[0], description=f"重启测试{number}", address=f"越华路{number}号"
                        )
                    opened.append(code)
                    break
                except SQLAlchemyError:
                    failures["intake"] += 1
                    time.sleep(0.1)
            time.sleep(0.05)

    def worker() -> None:
        """bot.worker.run_forever's loop, on a simulated clock so a lost lease comes back without a real wait."""
        while not stop.is_set():
            try:
                run_once(session_factory, senders, simulated[0], "restart-worker")
            except Exception:
                failures["worker"] += 1
            simulated[0] += timedelta(seconds=20)
            stop.wait(0.05)

    threads = [threading.Thread(target=intake), threading.Thread(target=worker)]
    try:
        for thread in threads:
            thread.start()
        restarts(server, restart_count)
        threads[0].join(300)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            with session_factory() as session:
                pending = session.execute(
                    select(func.count()).select_from(OutboxMessage).where(OutboxMessage.status != "sent")
                ).scalar_one()
            if pending == 0 and len(opened) == cases:
                break
            time.sleep(0.3)
    finally:
        stop.set()
        for thread in threads:
            thread.join(30)
        telegram.close()

    assert failures["intake"] + failures["worker"] >= 1, failures  # the restarts really hit both
    assert len(opened) == cases and len(set(opened)) == cases
    with session_factory() as session:
        assert session.execute(select(func.count()).select_from(Case)).scalar_one() == cases
        reports = session.execute(
            select(CaseEventRecord.case_id, func.count())
            .where(CaseEventRecord.event == "report")
            .group_by(CaseEventRecord.case_id)
        ).all()
        rows = dict(
            session.execute(select(OutboxMessage.status, func.count()).group_by(OutboxMessage.status)).all()
        )
        first_pushes = session.execute(
            select(func.count())
            .select_from(OutboxMessage)
            .where(OutboxMessage.template.in_(("case.reported", "task.new_case")))
        ).scalar_one()
    assert len(reports) == cases and {count for _, count in reports} == {1}  # no half-opened or doubled case
    # Every message went out (later ones too: the simulated clock also runs past time limits, which escalate).
    assert set(rows) == {"sent"}, rows
    assert first_pushes == 2 * cases  # the resident's push and the worker's card for every case, once
    cards = Counter(call.params["text"] for call in fake_telegram.sent() if call.method == "sendMessage")
    delivered = {code for code in opened if any(code in text for text in cards)}
    assert delivered == set(opened)
    # At-least-once: a card is sent twice only if the database died between its send and its record.
    assert sum(count - 1 for count in cards.values()) <= restart_count
