"""kill -9 of a worker in the middle of delivering a case chain's pushes: nothing lost, nothing sent twice.

The worker leases a batch of outbox rows, then sends them one by one. The fake Telegram API holds one send
without answering; while it hangs, the worker is SIGKILLed (the message never reached Telegram). Restarted,
two workers deliver the rest; the rows the dead worker had leased come back when its lease runs out (a pass
at now + LEASE stands for "five minutes later"). Each text reaches the fakes exactly once, and each missed
limit escalated exactly once.
"""

from __future__ import annotations

from collections import Counter
from functools import partial
from pathlib import Path

import pytest
from sqlalchemy.orm import Session

from bot.worker import channel_senders, run_once
from storage.db import make_engine
from storage.outbox import LEASE
from storage.timeutil import utcnow
from tests.fakes.telegram_api import running_fake_telegram
from tests.fakes.wechat_api import running_fake_wechat
from tests.scaleout.stack import postgres_schema, running_stack, wait_until
from tests.scaleout.test_scaleout_workers import sent_counts
from tests.scaleout.workers import escalations, outbox_report, pending_work, queue_workload

pytestmark = [pytest.mark.postgres, pytest.mark.slow]


def test_a_worker_killed_mid_send_loses_and_doubles_nothing(tmp_path: Path) -> None:
    with (
        postgres_schema() as url,
        running_fake_wechat() as wechat,
        running_fake_telegram(hang_seconds=120) as telegram,
        running_stack(
            url, tmp_path, WECHAT_API_BASE=wechat.base_url, TELEGRAM_API_BASE=telegram.api_base
        ) as stack,
    ):
        engine = make_engine(url)
        with Session(engine, future=True) as session:
            work = queue_workload(session, utcnow(), cases=6, messages=20)
            texts = work.resident_texts + work.worker_texts
            telegram.hang("sendMessage", times=1)
            victim = stack.worker("worker-1").start()
            wait_until(
                lambda: telegram.received("sendMessage") > len(telegram.sent()),
                60,
                what="the worker to be stuck in a Telegram send",
            )
            victim.kill9()
            assert sum(sent_counts(wechat, telegram, texts).values()) < len(texts)  # killed with work left

            victim.start()
            stack.worker("worker-2").start()
            # What the dead worker had leased waits for its lease; everything else is delivered now.
            wait_until(
                lambda: pending_work(session, utcnow(), leased=False) == 0,
                90,
                what="the restarted workers to deliver what the dead one had not leased",
            )
            wait_until(
                lambda: telegram.received("sendMessage") == len(telegram.sent()) + 1,
                30,
                what="the sends in flight to finish",
            )
            later = utcnow() + LEASE
            senders = channel_senders(stack.env, partial(Session, engine, future=True))
            for _ in range(5):  # bounded: a message that keeps failing shows up in the assertion below
                if pending_work(session, later, leased=False) == 0:
                    break
                run_once(partial(Session, engine, future=True), senders, later, "after-the-lease")

            assert "pending" not in outbox_report(session) and "parked" not in outbox_report(session), (
                outbox_report(session)
            )
            assert sent_counts(wechat, telegram, texts) == Counter({text: 1 for text in texts})
            assert escalations(session) == Counter({(case_id, 1): 1 for case_id in work.case_ids})
        engine.dispose()
