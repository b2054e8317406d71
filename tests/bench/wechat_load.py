"""Open-loop load for the WeChat webhook: Poisson arrivals of multi-turn resident conversations.

A closed loop (N callers, each waiting for its answer) only measures queueing, so here every message has a
send time fixed before the run: conversations arrive as a Poisson process, and each conversation's turns
follow at think-time offsets (report -> location -> confirm). The driver posts each message at its time
whether or not earlier ones were answered, signed as WeChat signs them (plaintext mode).

The webhook answers `success` at once and runs the turn in the background; the resident's answer is an
outbox row keyed `wechat:<openid>:m:<MsgId>:r<n>` whose `created_at` is when the bot queued it. A turn's
latency is that time minus the send time (both this machine's clock).
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from xml.sax.saxutils import escape

import httpx
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from wechatpy.utils import WeChatSigner

from storage.models import OutboxMessage

logger = logging.getLogger(__name__)

TOKEN = "gridsec-local"  # local mode (contracts.md)
ACCOUNT = "gh_yuexiu_gridsec"
THINK_MIN_S = 1.5  # a resident reads the bot's question before answering
THINK_MEAN_S = 4.0


@dataclass(frozen=True)
class Turn:
    """One resident message: text, or a location (lat/lng/label) as WeChat's location message."""

    text: str | None = None
    lat: float | None = None
    lng: float | None = None
    label: str = ""

    @property
    def kind(self) -> str:
        return "text" if self.text is not None else "location"


@dataclass(frozen=True)
class Message:
    """A message of the schedule: when (seconds from the start), who, which turn."""

    at: float
    openid: str
    msg_id: str
    turn: Turn
    conversation: int
    index: int  # 0: the report, then the answers

    @property
    def inbound_key(self) -> str:
        """The channel's dedupe key, which its replies' outbox keys start with."""
        return f"{self.openid}:m:{self.msg_id}"


def poisson_arrivals(rate_per_s: float, duration_s: float, rng: random.Random) -> list[float]:
    """Arrival times in [0, duration) of a Poisson process (exponential gaps of mean 1/rate)."""
    if rate_per_s <= 0 or duration_s <= 0:
        raise ValueError("rate and duration must be positive")
    times, now = [], rng.expovariate(rate_per_s)
    while now < duration_s:
        times.append(now)
        now += rng.expovariate(rate_per_s)
    return times


def schedule(
    msg_rate: float,
    duration_s: float,
    scripts: Sequence[Sequence[Turn]],
    *,
    seed: int,
    first_openid: int = 0,
    msg_ids: Callable[[], int] | None = None,
) -> list[Message]:
    """Messages offered at `msg_rate` on average: conversations arrive at msg_rate / (mean turns per script).

    Each conversation follows one script; a turn comes THINK_MIN_S + Exp(THINK_MEAN_S - THINK_MIN_S) after
    the previous one. Openids are unique per conversation (the per-openid rate limit must not bite).
    """
    rng = random.Random(seed)
    mean_turns = sum(len(script) for script in scripts) / len(scripts)
    next_id = msg_ids or itertools.count(6_100_000_000_000_000_000 + seed * 1_000_000).__next__
    messages = []
    for number, start in enumerate(poisson_arrivals(msg_rate / mean_turns, duration_s, rng)):
        script = scripts[rng.randrange(len(scripts))]
        openid = f"oBench{first_openid + number:022d}"
        at = start
        for index, turn in enumerate(script):
            if index:
                at += THINK_MIN_S + rng.expovariate(1 / (THINK_MEAN_S - THINK_MIN_S))
            messages.append(Message(at, openid, str(next_id()), turn, first_openid + number, index))
    return sorted(messages, key=lambda message: message.at)


def message_xml(message: Message, create_time: int) -> str:
    """The plaintext XML WeChat posts for a text or location message."""
    head = (
        f"<xml><ToUserName><![CDATA[{ACCOUNT}]]></ToUserName>"
        f"<FromUserName><![CDATA[{message.openid}]]></FromUserName><CreateTime>{create_time}</CreateTime>"
    )
    turn = message.turn
    if turn.kind == "text":
        body = f"<MsgType><![CDATA[text]]></MsgType><Content><![CDATA[{turn.text}]]></Content>"
    else:
        body = (
            f"<MsgType><![CDATA[location]]></MsgType><Location_X>{turn.lat}</Location_X>"
            f"<Location_Y>{turn.lng}</Location_Y><Scale>16</Scale><Label>{escape(turn.label)}</Label>"
        )
    return f"{head}{body}<MsgId>{message.msg_id}</MsgId></xml>"


def signed_query(timestamp: int, nonce: str, token: str = TOKEN) -> dict[str, str]:
    """The query string WeChat adds: signature over (token, timestamp, nonce)."""
    signer = WeChatSigner()
    signer.add_data(token, str(timestamp), nonce)
    return {"signature": str(signer.signature), "timestamp": str(timestamp), "nonce": nonce}


@dataclass
class Sent:
    """What happened when one message was posted (times are epoch seconds)."""

    message: Message
    sent_at: float = 0.0
    lag_s: float = 0.0  # how late the generator was against the schedule
    ack_s: float = 0.0
    status: int = 0
    error: str | None = None


@dataclass
class RunResult:
    """One open-loop run: every message as sent, and the first reply time of each (epoch seconds)."""

    sent: list[Sent]
    replies: dict[str, float] = field(default_factory=dict)
    started_at: float = 0.0
    duration_s: float = 0.0

    def latencies(self) -> list[float]:
        """Seconds from send to the first queued reply, for the messages that were answered."""
        return [
            self.replies[item.message.inbound_key] - item.sent_at
            for item in self.sent
            if item.message.inbound_key in self.replies
        ]

    def unanswered(self) -> list[Sent]:
        return [item for item in self.sent if item.message.inbound_key not in self.replies]

    def errors(self) -> list[Sent]:
        return [item for item in self.sent if item.error is not None or item.status != 200]

    def late(self, window_s: float = 5.0) -> int:
        """Messages with no reply within `window_s` (WeChat's window), unanswered ones included."""
        return sum(1 for latency in self.latencies() if latency > window_s) + len(self.unanswered())


async def _post(client: httpx.AsyncClient, endpoint: str, item: Sent, nonce: str, token: str) -> None:
    stamp = int(time.time())
    body = message_xml(item.message, stamp).encode("utf-8")
    item.sent_at = time.time()
    started = time.perf_counter()
    try:
        response = await client.post(
            endpoint,
            params=signed_query(stamp, nonce, token),
            content=body,
            headers={"Content-Type": "text/xml"},
        )
        item.status = response.status_code
        if response.status_code != 200 or response.text != "success":
            item.error = f"{response.status_code}: {response.text[:120]}"
    except httpx.HTTPError as error:
        item.error = f"{type(error).__name__}: {error}"
    item.ack_s = time.perf_counter() - started


async def drive(
    endpoint: str, messages: Sequence[Message], *, timeout_s: float = 10.0, token: str = TOKEN
) -> list[Sent]:
    """Post every message at its scheduled time (open loop); returns when every post has been answered."""
    sent = [Sent(message) for message in messages]
    limits = httpx.Limits(max_connections=500, max_keepalive_connections=100)
    async with httpx.AsyncClient(timeout=timeout_s, limits=limits) as client:
        loop = asyncio.get_running_loop()
        origin = loop.time()
        tasks = []
        for number, item in enumerate(sent):
            delay = origin + item.message.at - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            item.lag_s = max(0.0, loop.time() - origin - item.message.at)
            tasks.append(asyncio.create_task(_post(client, endpoint, item, f"b{number:09d}", token)))
        await asyncio.gather(*tasks)
    return sent


def reply_times(session_factory: Callable[[], Session], since: float) -> dict[str, float]:
    """inbound key -> epoch seconds of its first reply queued since `since` (WeChat outbox rows)."""
    cutoff = datetime.fromtimestamp(since - 1, tz=timezone.utc)
    with session_factory() as session:
        rows = session.execute(
            select(OutboxMessage.idempotency_key, OutboxMessage.created_at).where(
                OutboxMessage.channel == "wechat",
                OutboxMessage.idempotency_key.like("wechat:%"),
                OutboxMessage.created_at >= cutoff,
            )
        ).all()
    first: dict[str, float] = {}
    for key, created_at in rows:
        inbound, _, reply = key.removeprefix("wechat:").rpartition(":")
        if not reply.startswith("r"):
            continue
        stamp = created_at.timestamp()
        first[inbound] = min(stamp, first.get(inbound, stamp))
    return first


def run_open_loop(
    endpoint: str,
    messages: Sequence[Message],
    session_factory: Callable[[], Session],
    *,
    settle_s: float = 10.0,
    token: str = TOKEN,
) -> RunResult:
    """Drive the schedule, then wait (at most `settle_s` after the last post) for every reply."""
    started = time.time()
    sent = asyncio.run(drive(endpoint, messages, token=token))
    wanted = {item.message.inbound_key for item in sent if item.error is None}
    deadline = time.time() + settle_s
    replies = reply_times(session_factory, started)
    while not wanted <= set(replies) and time.time() < deadline:
        time.sleep(0.25)
        replies = reply_times(session_factory, started)
    return RunResult(sent=sent, replies=replies, started_at=started, duration_s=time.time() - started)


def drain(session_factory: Callable[[], Session], *, quiet_s: float = 3.0, limit_s: float = 180.0) -> float:
    """Wait until no new WeChat reply has been queued for `quiet_s` (the backlog of a run is worked off).

    Returns the seconds waited. An overloaded run leaves turns queued behind the last post; the next run must
    not inherit them.
    """
    started = time.monotonic()
    last_count, last_change = -1, started
    while time.monotonic() - started < limit_s:
        with session_factory() as session:
            count = session.execute(
                select(func.count()).select_from(OutboxMessage).where(OutboxMessage.channel == "wechat")
            ).scalar_one()
        if count != last_count:
            last_count, last_change = count, time.monotonic()
        elif time.monotonic() - last_change >= quiet_s:
            break
        time.sleep(0.5)
    return time.monotonic() - started
