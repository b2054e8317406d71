"""The durable inbound turn behind a WeChat `success`: who may resume it, and when (SQLite and PostgreSQL).

A turn is written pending with its dedupe row. A restarted process resumes its earlier life's turns at once;
another instance only after the lease; a live owner's turn is never taken; two claimants agree on one winner;
a turn that failed MAX_TURN_ATTEMPTS times is parked as failed. The real kill -9 is in test_kill9_rasa_wechat.py.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import datetime, timedelta, timezone

from rasa.core.channels.channel import UserMessage
from sqlalchemy import select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from bot.channels.wechat import TURN_RETRY_DELAY, WeChatInput
from bot.channels.wechat_config import WeChatChannelConfig
from bot.channels.wechat_store import (
    MAX_TURN_ATTEMPTS,
    Arrival,
    claim_unfinished_turns,
    finish_turn,
    record_arrival,
    record_turn,
)
from bot.inbound import Inbound
from storage.models import InboundTurn, OutboxMessage

NOW = datetime(2026, 11, 29, 4, 0, tzinfo=timezone.utc)
LEASE = timedelta(minutes=2)
PAYLOAD = {"msg_type": "text", "text": "你好", "metadata": {"openid": "o1"}, "reply": None, "media_id": None}


def arrive(session: Session, key: str, owner: str, now: datetime = NOW) -> None:
    assert record_arrival(session, key, f"sig-{key}", now) is Arrival.NEW
    record_turn(session, key, "o1", PAYLOAD, owner, now, LEASE)
    session.commit()


def claim(session_factory: Callable[[], Session], owner: str, instance: str, now: datetime) -> list[str]:
    with session_factory() as session, session.begin():
        return [turn.key for turn in claim_unfinished_turns(session, owner, instance, now, LEASE)]


def test_a_restarted_instance_resumes_its_earlier_lifes_turns_at_once(
    session: Session, session_factory: Callable[[], Session]
) -> None:
    arrive(session, "o1:m:1", "rasa-1:bootA")
    assert (
        claim(session_factory, "rasa-2:bootB", "rasa-2", NOW) == []
    )  # another instance: lease still running
    assert claim(session_factory, "rasa-1:bootA", "rasa-1", NOW) == []  # the live owner never claims its own
    assert claim(session_factory, "rasa-1:bootC", "rasa-1", NOW) == ["o1:m:1"]  # rasa-1 restarted
    turn = session.execute(select(InboundTurn)).scalar_one()
    assert (turn.owner, turn.attempts, turn.status) == ("rasa-1:bootC", 2, "pending")


def test_another_instance_takes_over_after_the_lease_and_only_one_claimant_wins(
    session: Session, session_factory: Callable[[], Session]
) -> None:
    arrive(session, "o1:m:2", "rasa-1:bootA")
    later = NOW + LEASE + timedelta(seconds=1)
    assert claim(session_factory, "rasa-2:bootB", "rasa-2", later) == ["o1:m:2"]
    assert claim(session_factory, "rasa-3:bootD", "rasa-3", later) == []  # rasa-2 holds a fresh lease now
    with (
        session_factory() as stale,
        stale.begin(),
    ):  # the first owner wakes up late: it no longer holds the turn
        assert finish_turn(stale, "o1:m:2", "rasa-1:bootA", later) is False
    with session_factory() as owner, owner.begin():
        assert finish_turn(owner, "o1:m:2", "rasa-2:bootB", later) is True
    assert (
        claim(session_factory, "rasa-9:bootE", "rasa-9", later + timedelta(hours=1)) == []
    )  # done stays done


def test_a_turn_that_keeps_killing_its_process_is_parked_as_failed(
    session: Session, session_factory: Callable[[], Session]
) -> None:
    arrive(session, "o1:m:3", "rasa-1:boot0")
    for life in range(1, MAX_TURN_ATTEMPTS):
        assert claim(session_factory, f"rasa-1:boot{life}", "rasa-1", NOW) == ["o1:m:3"]
    assert claim(session_factory, "rasa-1:bootLast", "rasa-1", NOW) == []
    turn = session.execute(select(InboundTurn)).scalar_one()
    assert (turn.status, turn.attempts) == ("failed", MAX_TURN_ATTEMPTS)


def test_a_replayed_signature_leaves_no_turn(session: Session) -> None:
    arrive(session, "o1:m:4", "rasa-1:bootA")
    assert record_arrival(session, "o1:m:5", "sig-o1:m:4", NOW) is Arrival.REPLAY
    session.rollback()
    assert session.execute(select(InboundTurn.key)).scalars().all() == ["o1:m:4"]


def test_a_turn_that_failed_is_retried_by_the_same_process_after_the_delay_and_answered_once(
    engine: Engine, session: Session
) -> None:
    """Rasa raised mid-turn (say, the action server was unreachable): the turn stays pending, then runs again."""
    clock = [NOW]
    channel = WeChatInput(
        WeChatChannelConfig.from_sources(None, {}), engine=engine, clock=lambda: clock[0], instance="rasa-1"
    )
    arrive(session, "o1:m:6", channel.owner)
    seen: list[str] = []

    async def flaky_rasa(message: UserMessage) -> None:
        seen.append(message.text or "")
        if len(seen) == 1:
            raise ConnectionError("action server unreachable")
        await message.output_channel.send_text_message(message.sender_id, "您好")

    inbound = Inbound(text="你好", metadata={"openid": "o1", "msg_type": "text"})
    asyncio.run(channel._work("o1:m:6", "o1", "text", inbound, flaky_rasa))
    assert session.execute(select(InboundTurn.status)).scalar_one() == "pending"
    session.rollback()  # end the read (on SQLite every transaction takes the write lock)
    assert asyncio.run(channel.resume_unfinished(flaky_rasa)) == 0  # waits out the retry delay first
    clock[0] = NOW + TURN_RETRY_DELAY + timedelta(seconds=1)

    async def resume_and_finish() -> int:
        started = await channel.resume_unfinished(flaky_rasa)
        await channel.drain()
        return started

    assert asyncio.run(resume_and_finish()) == 1
    assert session.execute(select(InboundTurn.status, InboundTurn.attempts)).one() == ("done", 2)
    assert seen == ["你好", "你好"]
    replies = session.execute(select(OutboxMessage.idempotency_key)).scalars().all()
    assert replies == ["wechat:o1:m:6:r1"]
