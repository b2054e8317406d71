"""Whole conversations with the real bot: the trained model, the real action server on loopback, a real database.

The action server (rasa-sdk's own app with the `actions` package) and the Rasa Agent are started once per
session; each test gets the seeded test database (organisation data kept, cases emptied), points the actions
at it through DATABASE_URL, and talks as a fresh resident.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from rasa.core.channels.channel import CollectingOutputChannel, UserMessage
from sqlalchemy import select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from actions import deps
from storage.models import Case, metadata
from tests.nlu.conftest import nlu_agent, nlu_model_path, nlu_parse  # noqa: F401  (session fixtures: the model)
from tests.support.sanic_server import serve_sanic

# What seed_all writes: kept between tests of a module, everything else is emptied.
ORG_TABLES = {"streets", "communities", "grids", "departments", "people", "duty_shifts", "chat_bindings"}


@pytest.fixture(scope="session")
def action_server_url() -> Iterator[str]:
    """rasa-sdk's action server with our `actions` package, on a loopback port."""
    from rasa_sdk.endpoint import create_app

    app = create_app("actions", cors_origins=None)
    with serve_sanic(app) as url:
        yield f"{url}/webhook"


@pytest.fixture(scope="session")
def bot_agent(nlu_model_path: Any, action_server_url: str) -> Any:  # noqa: F811 (the imported fixture)
    """The Rasa Agent with the trained model, calling the action server (as `rasa run` does)."""
    os.environ.setdefault("RASA_TELEMETRY_ENABLED", "false")
    from rasa.core.agent import Agent
    from rasa.utils.endpoints import EndpointConfig

    return Agent.load(str(nlu_model_path), action_endpoint=EndpointConfig(url=action_server_url))


@pytest.fixture(scope="session")
def bot_loop() -> Iterator[asyncio.AbstractEventLoop]:
    loop = asyncio.new_event_loop()
    yield loop
    loop.close()


def _empty_case_tables(engine: Engine) -> None:
    with engine.begin() as connection:
        for table in reversed(metadata.sorted_tables):
            if table.name not in ORG_TABLES:
                connection.execute(table.delete())


def _ensure_seeded(engine: Engine) -> None:
    """Seed the district unless it is there (other modules' tests empty every table after themselves)."""
    from storage.models import Grid
    from storage.seed import seed_all

    with Session(engine, future=True) as session, session.begin():
        if session.execute(select(Grid.id).limit(1)).first() is None:
            seed_all(session)


@pytest.fixture()
def district(db_url: str, _shared_engine: Engine, monkeypatch: pytest.MonkeyPatch) -> Iterator[Engine]:
    """The seeded test database with no cases; the action server's DATABASE_URL points at it."""
    _empty_case_tables(_shared_engine)
    _ensure_seeded(_shared_engine)
    monkeypatch.setenv("DATABASE_URL", db_url)
    deps.reset()
    yield _shared_engine
    deps.reset()
    _empty_case_tables(_shared_engine)


@dataclass
class Chat:
    """One resident talking to the bot over the REST-like collecting channel."""

    agent: Any
    loop: asyncio.AbstractEventLoop
    engine: Engine
    sender: str = field(default_factory=lambda: f"o{uuid.uuid4().hex[:27]}")
    replies: list[dict[str, Any]] = field(default_factory=list)

    def say(self, text: str, **metadata: Any) -> list[str]:
        """Send one message; return the bot's texts (buttons appended as "[title]")."""
        output = CollectingOutputChannel()
        message = UserMessage(text, output, self.sender, input_channel="rest", metadata=metadata or None)
        self.loop.run_until_complete(self.agent.handle_message(message))
        self.replies += output.messages
        return [_render(item) for item in output.messages]

    def cases(self) -> list[Case]:
        from storage.queries import resident_cases

        with Session(self.engine, future=True) as session:
            found = resident_cases(session, self.sender, limit=50)
            session.expunge_all()
            return found

    def tracker_slot(self, name: str) -> Any:
        tracker = self.loop.run_until_complete(self.agent.tracker_store.retrieve(self.sender))
        return tracker.get_slot(name) if tracker else None


def _render(item: dict[str, Any]) -> str:
    text = str(item.get("text") or "")
    buttons = item.get("buttons") or []
    return text + "".join(f" [{button.get('title')}]" for button in buttons)


@pytest.fixture()
def chat(bot_agent: Any, bot_loop: asyncio.AbstractEventLoop, district: Engine) -> Callable[[], Chat]:
    """`chat()` starts a conversation as a new resident."""
    return lambda: Chat(bot_agent, bot_loop, district)


def case_by_code(engine: Engine, code: str) -> Case:
    with Session(engine, future=True) as session:
        case = session.execute(select(Case).where(Case.code == code)).scalar_one()
        session.expunge(case)
        return case
