"""The conversation stack in this process, on a clock the benchmark controls (for the month replay).

Rasa's app with the WeChat channel and the trained model (`load_agent`, the agent `rasa run` builds), and
rasa-sdk's action server with `actions`, each served over real HTTP on loopback (tests/support/sanic_server).
Only time is replaced: the WeChat channel gets the clock through its `clock` argument, the actions through
their `actions.deps.now` seam, so cases, events and time limits carry simulated times.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from sqlalchemy.engine import Engine

from tests.support.sanic_server import serve_sanic

logger = logging.getLogger(__name__)


class SimClock:
    """Simulated time: runs `speed` times faster than the wall clock, and can jump ahead over idle time."""

    def __init__(self, start: datetime, speed: float) -> None:
        self._lock = threading.Lock()
        self._anchor, self._wall, self.speed = start, time.monotonic(), speed
        self.skipped = timedelta(0)

    def __call__(self) -> datetime:
        with self._lock:
            return self._anchor + timedelta(seconds=(time.monotonic() - self._wall) * self.speed)

    def jump_to(self, moment: datetime) -> datetime:
        """Move to `moment` at once if it is ahead (never backwards); returns the time now."""
        with self._lock:
            now = self._anchor + timedelta(seconds=(time.monotonic() - self._wall) * self.speed)
            if moment > now:
                self.skipped += moment - now
                self._anchor, self._wall = moment, time.monotonic()
                return moment
            return now


@dataclass
class InProcessStack:
    wechat_endpoint: str
    action_url: str


@contextmanager
def running_inprocess_stack(
    engine: Engine, model: Path, clock: Callable[[], datetime], media: Path
) -> Iterator[InProcessStack]:
    """Action server and Rasa (WeChat channel, trained model) on loopback, both on `clock`."""
    from rasa.core.agent import Agent
    from rasa.core.run import configure_app
    from rasa.utils.endpoints import EndpointConfig
    from rasa_sdk.endpoint import create_app

    import actions.deps
    from bot.channels.wechat import WeChatInput
    from bot.channels.wechat_config import LOCAL_APP_ID, WeChatChannelConfig
    from bot.config import Secret

    original_now = actions.deps.now
    actions.deps.now = clock  # the actions' time seam
    actions.deps.reset()
    with ExitStack() as stack:
        stack.callback(setattr, actions.deps, "now", original_now)
        stack.callback(actions.deps.reset)
        action_url = stack.enter_context(serve_sanic(create_app("actions")))
        channel = WeChatInput(
            WeChatChannelConfig(token=Secret("gridsec-local"), app_id=LOCAL_APP_ID),
            engine=engine,
            clock=clock,
            media_root=media,
        )
        app = configure_app([channel], enable_api=False)
        # Loaded before the server starts (as the conversation tests do): it takes longer than a start-up timeout.
        app.ctx.agent = Agent.load(str(model), action_endpoint=EndpointConfig(f"{action_url}/webhook"))
        rasa_url = stack.enter_context(serve_sanic(app))
        yield InProcessStack(wechat_endpoint=f"{rasa_url}/webhooks/wechat/webhook", action_url=action_url)
