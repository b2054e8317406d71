"""Outbox delivery to the fake WeChat and Telegram APIs on loopback (issue 8), on SQLite and PostgreSQL.

Queues messages, then drains them with `storage.outbox.deliver_due` (lease a batch, send, record the
outcome) through the real senders: `WeChatSender` (wechatpy, customer-service text inside the
48-hour window) and `TelegramSender` (PTB sendMessage), each over real HTTP to its fake server.
Reported: messages/s for the whole drain, and p50/p95/p99 of one send (the HTTP round trip and the
sender's own reads), after a warm-up. Baseline from the same run: `LocalConsoleSender`, which only
writes a row (no HTTP), so the difference is what the channel costs.

Targets: 30 msg/s per worker, Telegram's own broadcast limit per bot, so one worker drains a backlog
of thousands (after an outage) in minutes; a send's p95 <= 100 ms, so a batch of 100 never holds
its lease for long.
"""

from __future__ import annotations

import json
import logging
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from bot.channels.wechat_config import LOCAL_APP_ID, WeChatChannelConfig
from bot.config import Secret
from bot.senders.telegram import TelegramSender
from bot.senders.wechat import WeChatSender
from storage.db import make_engine
from storage.dedupe import first_seen
from storage.migrate import upgrade
from storage.outbox import LocalConsoleSender, OutgoingMessage, Sender, deliver_due, enqueue
from tests.bench.bench_db_scale import percentiles
from tests.bench.bench_storage import _postgres_schema_url
from tests.bench.runner import OUT_DIR
from tests.fakes.telegram_api import running_fake_telegram
from tests.fakes.wechat_api import running_fake_wechat
from tests.telegram.conftest import seed_org

logger = logging.getLogger(__name__)

T0 = datetime(2026, 11, 30, 2, 0, tzinfo=timezone.utc)
MESSAGES = 300
WARMUP = 20
OPENID = "oYuexiuBenchResident000000001"
TARGETS = {"msgs_per_s": 30.0, "send_p95_ms": 100.0}


class TimedSender:
    """Wraps a sender and records how long each send takes (milliseconds)."""

    def __init__(self, inner: Sender) -> None:
        self.inner = inner
        self.samples: list[float] = []

    def send(self, message: OutgoingMessage) -> None:
        started = time.perf_counter()
        try:
            self.inner.send(message)
        finally:
            self.samples.append((time.perf_counter() - started) * 1000)


def _enqueue(factory: Callable[[], Session], channel: str, count: int, prefix: str) -> None:
    with factory() as session, session.begin():
        for n in range(count):
            code = f"YX-20261130-{n:04d}"
            if channel == "wechat":
                kind, recipient, template = "resident", OPENID, "wechat.text"
                params: dict[str, Any] = {"text": f"您反映的问题已受理，编号 {code}"}
            else:
                kind, recipient, template = "person", "GW-440104001007-03", "task.new_case"
                params = {
                    "case_code": code,
                    "category": "环境卫生",
                    "description": "垃圾",
                    "address": "三眼井12号",
                }
            enqueue(
                session,
                recipient_kind=kind,
                recipient_id=recipient,
                template=template,
                params=params,
                idempotency_key=f"{prefix}-{n}",
                now=T0,
                channel="wechat" if channel == "wechat" else None,  # staff: resolved from their chat binding
            )


def _drain(factory: Callable[[], Session], channel: str, sender: Sender, count: int) -> float:
    """Deliver `count` queued messages; returns messages per second."""
    started = time.perf_counter()
    sent = 0
    while sent < count:
        report = deliver_due(factory, {channel: sender}, T0, limit=100)
        if not report.sent:
            raise RuntimeError(f"{channel} delivery stalled after {sent}: {report}")
        sent += len(report.sent)
    return sent / (time.perf_counter() - started)


def _measure(factory: Callable[[], Session], channel: str, sender: Sender, tag: str) -> dict[str, Any]:
    timed = TimedSender(sender)
    _enqueue(factory, channel, WARMUP, f"{tag}-warm")
    _drain(factory, channel, timed, WARMUP)
    timed.samples.clear()
    _enqueue(factory, channel, MESSAGES, tag)
    rate = _drain(factory, channel, timed, MESSAGES)
    return {"msgs_per_s": round(rate, 1), "send": percentiles(timed.samples)}


@contextmanager
def _database(backend: str) -> Iterator[Callable[[], Session]]:
    with tempfile.TemporaryDirectory() as tmp:
        if backend == "sqlite":
            url, drop = f"sqlite:///{Path(tmp) / 'outbox.db'}", None
        else:
            url, drop = _postgres_schema_url()
        engine = make_engine(url)
        try:
            upgrade(url)
            factory = sessionmaker(engine, future=True)
            with factory() as session, session.begin():
                seed_org(session)
                first_seen(session, "wechat", f"{OPENID}:m:1", T0)  # the resident wrote: the window is open
            yield factory
        finally:
            engine.dispose()
            if drop is not None:
                drop()


def _backend(backend: str) -> dict[str, Any]:
    with _database(backend) as factory, running_fake_wechat() as wechat, running_fake_telegram() as telegram:
        config = WeChatChannelConfig(
            token=Secret("gridsec-local"), app_id=LOCAL_APP_ID, api_base=wechat.base_url
        )
        figures = {
            "wechat": _measure(factory, "wechat", WeChatSender(config, factory, clock=lambda: T0), "wx")
        }
        sender = TelegramSender(factory, token="123456:bench", api_base=telegram.api_base, timeout_s=5.0)
        try:
            figures["telegram"] = _measure(factory, "telegram", sender, "tg")
        finally:
            sender.close()
        figures["baseline_console"] = _measure(factory, "telegram", LocalConsoleSender(factory), "console")
        figures["fake_wechat_received"] = {"count": len(wechat.sent())}
        figures["fake_telegram_received"] = {"count": len(telegram.sent())}
    return figures


def _report(backend: str, figures: dict[str, Any]) -> None:
    base = figures["baseline_console"]
    for channel in ("wechat", "telegram"):
        got = figures[channel]
        send = got["send"]
        rate_ok = "ok" if got["msgs_per_s"] >= TARGETS["msgs_per_s"] else "MISSED"
        p95_ok = "ok" if send["p95_ms"] <= TARGETS["send_p95_ms"] else "MISSED"
        print(
            f"outbox [{backend}] {channel}: {got['msgs_per_s']} msg/s (target >= {TARGETS['msgs_per_s']:.0f}) "
            f"{rate_ok}; one send p50 {send['p50_ms']} ms, p95 {send['p95_ms']} ms, p99 {send['p99_ms']} ms "
            f"(target p95 <= {TARGETS['send_p95_ms']:.0f} ms) {p95_ok}; baseline console sender "
            f"{base['msgs_per_s']} msg/s, p95 {base['send']['p95_ms']} ms"
        )


def main() -> dict[str, Any]:
    """Measure on SQLite and PostgreSQL (if reachable); print each figure beside its target."""
    figures: dict[str, Any] = {"messages": MESSAGES, "targets": TARGETS}
    for backend in ("sqlite", "postgresql"):
        try:
            figures[backend] = _backend(backend)
        except Exception as error:  # PostgreSQL down: report it, the SQLite figures still stand
            if backend == "sqlite":
                raise
            print(f"outbox [{backend}] not measured: {error}")
            continue
        _report(backend, figures[backend])
    OUT_DIR.mkdir(parents=True, exist_ok=True)
    (OUT_DIR / "outbox.json").write_text(json.dumps(figures, ensure_ascii=False, indent=2, default=str))
    return figures


if __name__ == "__main__":
    main()
