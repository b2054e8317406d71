"""Telegram and WeChat down for 10 simulated minutes (and for 2 hours): afterwards every message is delivered, exactly once.

The worker's real pass (`bot.worker.run_once`) runs every 15 simulated seconds (a minute for the 2 hours) under
freezegun, so the outbox backoff (30 s, 60 s, 120 s, ...) plays out as it would. During the outage the fake
Telegram API answers 502/503, hangs (the sender times out), and fails getMe; the fake WeChat API answers 503,
then is stopped altogether (connection refused). Then both come back.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from datetime import timedelta

import pytest
from freezegun import freeze_time
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from bot.channels.wechat_config import WeChatChannelConfig
from bot.config import Secret
from bot.senders.telegram import TelegramSender
from bot.senders.wechat import WeChatSender
from bot.worker import run_once
from storage.models import OutboxMessage
from storage.outbox import LocalConsoleSender, Sender
from storage.timeutil import utcnow
from tests.security.conftest import (
    START,
    FakeTelegramAPI,
    FakeWeChatAPI,
    open_resident_case,
    running_fake_wechat,
)

CASES = 6
TEMPLATE_ID = "TPL_CASE_PROGRESS"
# Real-time libraries keep real time: freezegun only moves the wall clock the worker and senders read.
REAL_TIME_MODULES = [
    "asyncio",
    "threading",
    "httpx",
    "httpcore",
    "anyio",
    "telegram",
    "urllib3",
    "requests",
    "socket",
]


class RestartableWeChat:
    """The fake WeChat API on a fixed port, which can be stopped and started again with the same memory."""

    def __init__(self) -> None:
        self._stack = ExitStack()
        self.api: FakeWeChatAPI = self._stack.enter_context(running_fake_wechat())
        self.state, self.base_url = self.api.state, self.api.base_url
        self.port = int(self.base_url.split(":")[2].split("/")[0])

    def stop(self) -> None:
        self._stack.close()

    def start(self) -> None:
        self._stack = ExitStack()
        self.api = self._stack.enter_context(running_fake_wechat(self.state, port=self.port))


@pytest.fixture()
def wechat_api() -> Iterator[RestartableWeChat]:
    fake = RestartableWeChat()
    yield fake
    fake.stop()


def open_cases(session_factory: Callable[[], Session]) -> list[str]:
    """Each case queues a WeChat push to the resident and a Telegram card to the grid worker."""
    codes = []
    with session_factory() as session, session.begin():
        for number in range(CASES):
            codes.append(
                open_resident_case(session, now=START, description=f"第{number}处井盖松动", address=f"越华路{number}号")
            )
    return codes


def outbox_by_channel(session_factory: Callable[[], Session]) -> dict[tuple[str, str], int]:
    with session_factory() as session:
        rows = session.execute(
            select(OutboxMessage.channel, OutboxMessage.status, func.count()).group_by(
                OutboxMessage.channel, OutboxMessage.status
            )
        ).all()
    return {(channel, status): count for channel, status, count in rows}


@pytest.mark.parametrize(
    ("outage", "tick", "after"),
    [
        (timedelta(minutes=10), timedelta(seconds=15), timedelta(minutes=15)),
        # Longer than the old 6-attempt budget (about 15 minutes of backoff): still no manual step.
        (timedelta(hours=2), timedelta(minutes=1), timedelta(hours=1, minutes=5)),
    ],
    ids=["10min", "2h"],
)
def test_both_apis_down_then_everything_is_delivered_once(
    staff: Callable[[], Session],
    fake_telegram: FakeTelegramAPI,
    wechat_api: RestartableWeChat,
    outage: timedelta,
    tick: timedelta,
    after: timedelta,
) -> None:
    codes = open_cases(staff)
    queued = outbox_by_channel(staff)
    assert queued == {("telegram", "pending"): CASES, ("wechat", "pending"): CASES}

    # The outage: Telegram answers 502, then hangs twice (timeouts), then 503 until healed; getMe fails too.
    fake_telegram.fail("getMe", status=503, times=2)
    fake_telegram.fail("sendMessage", status=502, times=3)
    fake_telegram.hang("sendMessage", times=2)
    fake_telegram.fail("sendMessage", status=503, times=10**6)
    wechat_api.api.fail("token", status=503, times=10**6)

    with freeze_time(START, ignore=REAL_TIME_MODULES) as frozen:
        telegram = TelegramSender(
            staff,
            token="123456:outage",
            api_base=fake_telegram.api_base,
            timeout_s=0.5,
            monotonic=lambda: utcnow().timestamp(),  # the 15 s cool-off runs on the simulated clock too
        )
        config = WeChatChannelConfig(
            token=Secret("gridsec-local"),
            app_id=wechat_api.state.app_id,
            app_secret=Secret(wechat_api.state.app_secret),
            api_base=wechat_api.base_url,
            template_id=TEMPLATE_ID,
        )
        senders: dict[str, Sender] = {
            "telegram": telegram,
            "wechat": WeChatSender(config, staff),
            "*": LocalConsoleSender(staff),
        }
        passes, sent_during_outage, wechat_stopped = 0, 0, False
        try:
            while utcnow() < START + outage:
                if utcnow() >= START + timedelta(minutes=4) and not wechat_stopped:
                    wechat_api.stop()  # from 503s to nothing listening at all
                    wechat_stopped = True
                _, sent = run_once(staff, senders, utcnow(), "outage-worker")
                sent_during_outage += sent
                passes += 1
                frozen.tick(tick)
            during = outbox_by_channel(staff)
            fake_telegram.heal()
            wechat_api.start()
            wechat_api.api.state.faults.clear()
            while utcnow() < START + outage + after:
                run_once(staff, senders, utcnow(), "outage-worker")
                frozen.tick(tick)
        finally:
            telegram.close()

    assert passes == outage // tick and sent_during_outage == 0
    assert {status for _, status in during} == {"pending"}  # retried all along, none parked or lost
    assert fake_telegram.received("sendMessage") > CASES  # it really was retried against the failing API
    final = outbox_by_channel(staff)
    assert {status for _, status in final} == {"sent"}, final

    # Exactly once: as many successful sends as rows, and no message twice.
    cards = [
        (call.params["chat_id"], call.params.get("text") or call.params.get("caption"))
        for call in fake_telegram.sent()
        if call.method in ("sendMessage", "sendPhoto")
    ]
    assert len(cards) == final[("telegram", "sent")] and len(set(cards)) == len(cards)
    new_case_cards = [text for _, text in cards if text and text.startswith("【新任务】")]
    assert Counter(code for text in new_case_cards for code in codes if code in text) == Counter(codes)
    pushes = wechat_api.api.sent("message/template/send")
    assert len(pushes) == final[("wechat", "sent")]
    assert len(
        {(push["data"]["keyword1"]["value"], push["data"]["first"]["value"]) for push in pushes}
    ) == len(pushes)
    reported = [push for push in pushes if push["data"]["keyword2"]["value"] == "已登记"]
    assert Counter(push["data"]["keyword1"]["value"] for push in reported) == Counter(codes)
