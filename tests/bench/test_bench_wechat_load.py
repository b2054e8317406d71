"""The WeChat load generator measures what it claims: Poisson open-loop schedule, signed posts, reply times.

The webhook here is the real WeChat channel in Rasa's app on loopback, with an agent that answers every
message through the channel's output (it stands in for Rasa's Agent, not for our code), so each turn's reply
lands in the outbox exactly as a real turn's would.
"""

from __future__ import annotations

import itertools
import math
import random
import statistics
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path

import pytest
from rasa.core.channels.channel import UserMessage
from rasa.core.run import configure_app
from sanic import Sanic
from sqlalchemy.engine import Engine
from sqlalchemy.orm import sessionmaker

from bot.channels.wechat import WeChatInput
from bot.channels.wechat_config import LOCAL_APP_ID, WeChatChannelConfig
from bot.config import Secret
from tests.bench.loadstats import percentile, summarise, verdict
from tests.bench.wechat_load import (
    THINK_MIN_S,
    Turn,
    drain,
    poisson_arrivals,
    run_open_loop,
    schedule,
)
from tests.support.sanic_server import serve_sanic

SCRIPT = (Turn(text="起义路口垃圾堆了三天"), Turn(lat=23.1291, lng=113.2644, label="越华路"), Turn(text="对"))


class AnsweringAgent:
    """Answers each message once through the channel's output channel, as Rasa's Agent would."""

    def __init__(self) -> None:
        self.handled: list[str] = []

    async def handle_message(self, message: UserMessage) -> None:
        self.handled.append(message.sender_id or "")
        assert message.output_channel is not None
        await message.output_channel.send_text_message(message.sender_id or "", f"收到：{message.text}")


@pytest.fixture()
def webhook(
    engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[str, AnsweringAgent]]:
    monkeypatch.setattr(Sanic, "test_mode", True)
    channel = WeChatInput(
        WeChatChannelConfig(token=Secret("gridsec-local"), app_id=LOCAL_APP_ID),
        engine=engine,
        media_root=tmp_path,
    )
    app = configure_app([channel], enable_api=False)
    agent = AnsweringAgent()
    app.ctx.agent = agent
    with serve_sanic(app) as url:
        yield f"{url}/webhooks/wechat/webhook", agent


def test_poisson_arrivals_have_the_offered_rate() -> None:
    times = poisson_arrivals(20.0, 500.0, random.Random(7))
    assert abs(len(times) - 10_000) < 4 * math.sqrt(10_000)  # 4 sigma of a Poisson count
    gaps = [later - earlier for earlier, later in itertools.pairwise(times)]
    assert abs(statistics.mean(gaps) - 0.05) < 0.002
    assert abs(statistics.stdev(gaps) - 0.05) < 0.004  # exponential gaps: stdev equals the mean
    assert times == sorted(times) and times[0] > 0 and times[-1] < 500


def test_schedule_offers_the_message_rate_in_whole_conversations() -> None:
    messages = schedule(20.0, 300.0, [SCRIPT], seed=3)
    assert messages == schedule(20.0, 300.0, [SCRIPT], seed=3)  # reproducible from its seed
    arrived = [message for message in messages if message.index == 0 and message.at < 300]
    assert abs(len(arrived) * 3 / 300 - 20.0) < 1.5
    turns = defaultdict(list)
    for message in messages:
        turns[message.openid].append(message)
    assert all(len(conversation) == 3 for conversation in turns.values())
    for conversation in turns.values():
        assert [message.index for message in conversation] == [0, 1, 2]
        assert all(
            later.at - earlier.at >= THINK_MIN_S for earlier, later in itertools.pairwise(conversation)
        )
    assert len({message.msg_id for message in messages}) == len(messages)


def test_open_loop_run_measures_each_turns_reply_from_the_outbox(
    engine: Engine, webhook: tuple[str, AnsweringAgent]
) -> None:
    endpoint, agent = webhook
    messages = schedule(6.0, 2.0, [SCRIPT], seed=11)
    assert len(messages) >= 3
    result = run_open_loop(endpoint, messages, sessionmaker(engine, future=True), settle_s=15)
    assert result.errors() == [] and result.unanswered() == []
    latencies = result.latencies()
    assert len(latencies) == len(messages) == len(agent.handled)
    assert all(0 < latency < 5 for latency in latencies) and result.late() == 0
    assert all(item.ack_s < 5 and item.status == 200 for item in result.sent)
    assert drain(sessionmaker(engine, future=True), quiet_s=0.5) < 5  # nothing left in flight


def test_a_bad_signature_counts_as_an_error_and_goes_unanswered(
    engine: Engine, webhook: tuple[str, AnsweringAgent]
) -> None:
    endpoint, agent = webhook
    messages = schedule(3.0, 1.0, [SCRIPT[:1]], seed=5)
    result = run_open_loop(
        endpoint, messages, sessionmaker(engine, future=True), settle_s=1, token="not-the-token"
    )
    assert len(result.errors()) == len(messages) and all(item.status == 403 for item in result.sent)
    assert result.late() == len(messages) and agent.handled == []


def test_percentiles_interpolate_and_summaries_are_in_milliseconds() -> None:
    assert percentile([1, 2, 3, 4], 50) == 2.5
    assert percentile([5.0], 99) == 5.0 and math.isnan(percentile([], 50))
    summary = summarise([0.1] * 98 + [1.0, 2.0])
    assert summary.p50_ms == pytest.approx(100) and summary.max_ms == pytest.approx(2000)
    assert summary.p99_ms == pytest.approx(1010)
    assert verdict(250, 300) == "ok" and verdict(350, 300) == "MISSED" and verdict(math.nan, 1) == "MISSED"
    assert verdict(25, 20, higher_is_better=True) == "ok"
