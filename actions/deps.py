"""What the actions share: the database engine (from DATABASE_URL) and the clock.

Built lazily on first use, so importing the action package (rasa-sdk does it at start) connects to nothing.
Tests point `DATABASE_URL` at their database and call `reset()`.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from functools import lru_cache

from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from storage.timeutil import utcnow


@lru_cache(maxsize=1)
def engine() -> Engine:
    from storage.db import database_url, make_engine

    return make_engine(database_url(os.environ))


def reset() -> None:
    """Forget the engine (the next action builds one from the current environment)."""
    if engine.cache_info().currsize:
        engine().dispose()
    engine.cache_clear()


@contextmanager
def transaction() -> Iterator[Session]:
    """One transaction: committed when the block ends, rolled back if it raises."""
    with Session(engine(), future=True) as session, session.begin():
        yield session


def now() -> datetime:
    return utcnow()
