"""`PromptRedisLockStore`: Rasa's `RedisLockStore`, with a queued turn checking for its turn every 50 ms, not every 1 s.

Rasa serialises one conversation's turns across instances with a ticket lock in Redis. A turn whose ticket
is not yet being served sleeps `wait_time_in_seconds` between checks. `Agent.handle_message` leaves that at
Rasa's default of one second. Behind the balancer, a resident's photo and the text sent right after it usually
land on different Rasa instances, so the text waited up to a second after the photo's turn ended. Under load
this got worse: once replies fall behind residents' think time, every overlapping turn waits. A check is one
Redis GET, so checking 20 times a second costs next to nothing.

`endpoints.production.yml`: `lock_store: type: bot.lock_store.PromptRedisLockStore` with the same keys as
Rasa's `type: redis`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from rasa.core.lock import TicketLock
from rasa.core.lock_store import LOCK_LIFETIME, RedisLockStore
from rasa.utils.endpoints import EndpointConfig

QUEUE_CHECK_S = 0.05  # how often a queued turn checks whether its ticket is being served


class PromptRedisLockStore(RedisLockStore):
    """`RedisLockStore` whose queued turns check for their turn every `QUEUE_CHECK_S`."""

    def __init__(self, endpoint_config: EndpointConfig | None = None, **kwargs: Any) -> None:
        # Rasa builds a lock store named by module path with `endpoint_config=` only; `type: redis` gets
        # host=url plus the other keys, and so does this class.
        if endpoint_config is not None:
            kwargs = {"host": endpoint_config.url, **endpoint_config.kwargs, **kwargs}
        super().__init__(**kwargs)

    @asynccontextmanager
    async def lock(
        self,
        conversation_id: str,
        lock_lifetime: float = LOCK_LIFETIME,
        wait_time_in_seconds: float = QUEUE_CHECK_S,
    ) -> AsyncIterator[TicketLock]:
        """Rasa's `lock`, with `QUEUE_CHECK_S` as the default wait between checks."""
        async with super().lock(conversation_id, lock_lifetime, wait_time_in_seconds) as ticket_lock:
            yield ticket_lock
