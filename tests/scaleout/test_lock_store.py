"""`bot.lock_store.PromptRedisLockStore` on the real Redis: built as Rasa builds it from endpoints.production.yml,
it keeps Rasa's ticket order and has a queued turn check every QUEUE_CHECK_S instead of every second."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from rasa.core.lock_store import LockStore
from rasa.core.utils import read_endpoints_from_path

from bot.config import REPO_ROOT
from bot.lock_store import QUEUE_CHECK_S, PromptRedisLockStore
from bot.serve import production_environment
from tests.conftest import POSTGRES_URL


@pytest.fixture()
def store(monkeypatch: pytest.MonkeyPatch) -> Iterator[PromptRedisLockStore]:
    """The lock store of endpoints.production.yml, with a key prefix of its own."""
    environment = production_environment({"DATABASE_URL": POSTGRES_URL})
    environment["REDIS_LOCK_PREFIX"] = f"gstest{uuid.uuid4().hex[:10]}"
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    endpoints = read_endpoints_from_path(REPO_ROOT / "endpoints.production.yml")
    built = LockStore.create(endpoints.lock_store)
    assert isinstance(built, PromptRedisLockStore)
    yield built
    for key in built.red.scan_iter(f"{built.key_prefix}*"):
        built.red.delete(key)


def test_a_queued_turn_waits_its_turn_checking_every_queue_check(
    store: PromptRedisLockStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    conversation = f"resident-{uuid.uuid4().hex[:8]}"
    order: list[str] = []
    waits: list[float] = []
    real_sleep = asyncio.sleep

    async def observed_sleep(seconds: float, *args: Any) -> Any:
        waits.append(seconds)
        return await real_sleep(0)

    async def turn(name: str, hold: asyncio.Event | None) -> None:
        async with store.lock(conversation):
            order.append(f"{name} in")
            if hold is not None:
                await hold.wait()
            order.append(f"{name} out")

    async def scenario() -> None:
        release = asyncio.Event()
        first = asyncio.create_task(turn("photo", release))
        while not order:  # the photo's turn holds the lock
            await real_sleep(0)
        monkeypatch.setattr("rasa.core.lock_store.asyncio.sleep", observed_sleep)
        second = asyncio.create_task(turn("text", None))
        while len(waits) < 3:  # the text's turn is queued and keeps checking
            await real_sleep(0)
        assert order == ["photo in"]
        release.set()
        await asyncio.gather(first, second)

    asyncio.run(scenario())
    assert order == ["photo in", "photo out", "text in", "text out"]
    assert waits and set(waits) == {QUEUE_CHECK_S} and QUEUE_CHECK_S < 1  # Rasa's default is one second
    assert store.get_lock(conversation) is None  # the last turn out removed the lock: nobody waits
