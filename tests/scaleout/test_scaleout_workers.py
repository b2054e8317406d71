"""Two real worker processes on one PostgreSQL database never send a message twice or fire a limit twice.

Both `gridsec worker` processes poll the same outbox and due items (FOR UPDATE SKIP LOCKED). The fake WeChat
and Telegram APIs record every send: each queued text must arrive exactly once, and each overdue case must
escalate exactly once (level 1; level 2 is not due yet).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy.orm import Session

from storage.db import make_engine
from storage.timeutil import utcnow
from tests.fakes.telegram_api import FakeTelegramAPI, running_fake_telegram
from tests.fakes.wechat_api import FakeWeChatAPI, running_fake_wechat
from tests.scaleout.stack import postgres_schema, running_stack, wait_until
from tests.scaleout.workers import escalations, fired_by, outbox_report, pending_work, queue_workload

pytestmark = [pytest.mark.postgres, pytest.mark.slow]

CASES = 12
MESSAGES = 60


def sent_counts(wechat: FakeWeChatAPI, telegram: FakeTelegramAPI, texts: list[str]) -> Counter[str]:
    """How many times each text reached either fake API."""
    delivered = [str(body.get("text", {}).get("content", "")) for body in wechat.sent("message/custom/send")]
    delivered += [str(call.params.get("text", "")) for call in telegram.sent()]
    return Counter({text: sum(text in sent for sent in delivered) for text in texts})


def count_is(expected: int, read: Callable[[], int]) -> Callable[[], bool]:
    return lambda: read() == expected


def test_two_workers_deliver_each_message_once_and_fire_each_limit_once(tmp_path: Path) -> None:
    with (
        postgres_schema() as url,
        running_fake_wechat() as wechat,
        running_fake_telegram() as telegram,
        running_stack(
            url, tmp_path, WECHAT_API_BASE=wechat.base_url, TELEGRAM_API_BASE=telegram.api_base
        ) as stack,
    ):
        engine = make_engine(url)
        with Session(engine, future=True) as session:
            work = queue_workload(session, utcnow(), CASES, MESSAGES)
            workers = [stack.worker("worker-1").start(), stack.worker("worker-2").start()]
            wait_until(
                lambda: pending_work(session, utcnow()) == 0, 120, what="the two workers to drain the queue"
            )
            texts = work.resident_texts + work.worker_texts
            assert "parked" not in outbox_report(session), outbox_report(session)
            assert all(worker.alive() for worker in workers)
            assert sent_counts(wechat, telegram, texts) == Counter({text: 1 for text in texts})
            assert escalations(session) == Counter({(case_id, 1): 1 for case_id in work.case_ids})
            assert set(fired_by(session)) <= {"worker-1", "worker-2"}
            assert sum(fired_by(session).values()) == CASES
        engine.dispose()
