"""Fixtures for the scale-out tests: the trained model and the expected replies, read from the domain."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from bot.config import REPO_ROOT


@pytest.fixture(scope="session")
def model_path() -> Path:
    """The trained model for the current data (trained under a file lock when missing)."""
    from bot.nlu.training import ensure_model

    return ensure_model(force=False, progress=lambda message: None)


@pytest.fixture(scope="session")
def responses() -> dict[str, list[str]]:
    """The domain's response texts by name (`utter_greet` -> its variants), so tests follow the lead's wording."""
    domain: dict[str, Any] = yaml.safe_load((REPO_ROOT / "domain.yml").read_text(encoding="utf-8"))
    return {name: [variant["text"] for variant in variants] for name, variants in domain["responses"].items()}
