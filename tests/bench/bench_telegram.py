"""Telegram benchmark: outbox delivery through the TelegramSender to the fake Bot API on loopback.

Measures task cards delivered per second (render card + read its time limit + PTB sendMessage over real HTTP
+ record the outcome), with LocalConsoleSender on the same database as the baseline (no HTTP). Target:
30 msg/s, Telegram's own broadcast limit per bot, so the sender is never the bottleneck.
"""

from __future__ import annotations

import logging
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from sqlalchemy.orm import sessionmaker

from bot.senders.telegram import TelegramSender
from storage.db import make_engine
from storage.migrate import upgrade
from storage.outbox import LocalConsoleSender, Sender, deliver_due, enqueue
from tests.fakes.telegram_api import running_fake_telegram
from tests.telegram.conftest import seed_org

logger = logging.getLogger(__name__)

T0 = datetime(2026, 11, 30, 2, 0, tzinfo=timezone.utc)
MESSAGES = 300
TARGET_PER_S = 30.0


def _enqueue(factory: Any, count: int, prefix: str) -> None:
    with factory() as session, session.begin():
        for n in range(count):
            enqueue(
                session,
                recipient_kind="person",
                recipient_id="GW-440104001007-03",
                template="task.new_case",
                params={
                    "case_code": f"YX-20261130-{n % 10000:04d}",
                    "category": "环境卫生",
                    "description": "垃圾",
                    "address": "三眼井12号",
                },
                idempotency_key=f"{prefix}-{n}",
                now=T0,
            )


def _rate(factory: Any, senders: dict[str, Sender], count: int) -> float:
    started = time.perf_counter()
    sent = 0
    while sent < count:
        report = deliver_due(factory, senders, T0, limit=100)
        if not report.sent:
            raise RuntimeError(f"delivery stalled: {report}")
        sent += len(report.sent)
    return sent / (time.perf_counter() - started)


def main() -> dict[str, float]:
    with tempfile.TemporaryDirectory() as tmp, running_fake_telegram() as fake:
        url = f"sqlite:///{Path(tmp) / 'bench.db'}"
        upgrade(url)
        factory = sessionmaker(make_engine(url), future=True)
        with factory() as session, session.begin():
            seed_org(session)
        sender = TelegramSender(factory, token="123456:bench", api_base=fake.api_base, timeout_s=5.0)
        try:
            _enqueue(factory, 20, "warm")
            _rate(factory, {"telegram": sender}, 20)
            _enqueue(factory, MESSAGES, "tg")
            telegram_rate = _rate(factory, {"telegram": sender}, MESSAGES)
        finally:
            sender.close()
        _enqueue(factory, MESSAGES, "console")
        console_rate = _rate(factory, {"telegram": LocalConsoleSender(factory)}, MESSAGES)
        delivered = len(fake.sent())
    print(
        f"telegram outbox delivery: {telegram_rate:.1f} msg/s (target >= {TARGET_PER_S:.0f}; baseline console sender {console_rate:.1f} msg/s); fake got {delivered}"
    )
    return {
        "telegram_msgs_per_s": telegram_rate,
        "console_msgs_per_s": console_rate,
        "target_msgs_per_s": TARGET_PER_S,
    }


if __name__ == "__main__":
    main()
