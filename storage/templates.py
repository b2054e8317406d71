"""Default texts for outbox templates (storage/data/templates.yml), for plain-text channels and the console."""

from __future__ import annotations

import functools
import logging
import string
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

logger = logging.getLogger(__name__)

TEMPLATES_PATH = Path(__file__).resolve().parent / "data" / "templates.yml"


@functools.lru_cache(maxsize=2)
def load_templates(path: Path = TEMPLATES_PATH) -> dict[str, str]:
    """Template key -> text, loaded once."""
    with open(path, encoding="utf-8") as handle:
        return {str(key): str(text) for key, text in yaml.safe_load(handle)["templates"].items()}


def placeholders(text: str) -> set[str]:
    """The str.format field names a template uses."""
    return {field for _, field, _, _ in string.Formatter().parse(text) if field}


def render(template: str, params: Mapping[str, Any]) -> str:
    """The text for `template` with `params` filled in (a missing param renders as empty).

    Raises:
        KeyError: no text for `template`.
    """
    text = load_templates()[template]
    values = {name: "" if params.get(name) is None else params[name] for name in placeholders(text)}
    return text.format(**values)
