"""Session fixtures for NLU tests that need the real trained model.

The model is trained at most once per data fingerprint (models/gridsec-<fingerprint>.tar.gz, shared
with `make setup` and the server) and loaded once per test session.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest


@pytest.fixture(scope="session")
def nlu_model_path() -> Path:
    """The trained model for the current data (trains it when missing)."""
    from bot.nlu.training import ensure_model

    return ensure_model(force=False, progress=lambda message: None)


@pytest.fixture(scope="session")
def nlu_agent(nlu_model_path: Path) -> Any:
    """A Rasa Agent with the model loaded, as the server loads it."""
    os.environ.setdefault("RASA_TELEMETRY_ENABLED", "false")
    from rasa.core.agent import Agent

    return Agent.load(str(nlu_model_path))


@pytest.fixture(scope="session")
def nlu_parse(nlu_agent: Any) -> Iterator[Callable[[str], dict[str, Any]]]:
    """Parse one text with the loaded model (synchronously)."""
    loop = asyncio.new_event_loop()

    def parse(text: str) -> dict[str, Any]:
        return loop.run_until_complete(nlu_agent.parse_message(text))

    yield parse
    loop.close()
