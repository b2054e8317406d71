"""Shared database fixtures: every storage test runs on SQLite and on PostgreSQL.

`engine` is parametrised over a SQLite file and the PostgreSQL server at 127.0.0.1:5432 (db `test`,
override with TEST_POSTGRES_URL). Each test run migrates its own PostgreSQL schema (search_path), so
parallel runs and other engineers' runs do not collide, and drops it at the end. Tables are emptied
after every test. PostgreSQL params are marked `postgres`; when the server is unreachable they FAIL
(CI starts PostgreSQL), they are never skipped.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator

import pytest
from sqlalchemy import text
from sqlalchemy.engine import Engine
from sqlalchemy.future import create_engine
from sqlalchemy.orm import Session, sessionmaker

from storage.db import make_engine
from storage.migrate import upgrade
from storage.models import metadata

POSTGRES_URL = os.environ.get("TEST_POSTGRES_URL", "postgresql+psycopg2://postgres@127.0.0.1:5432/test")

BACKENDS = ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]


@pytest.fixture(scope="session", params=BACKENDS)
def db_url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A freshly migrated database for this test run; yields its URL."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('db') / 'gridsec-test.db'}"
        upgrade(url)
        yield url
        return
    schema = f"gs_test_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    admin = create_engine(POSTGRES_URL)
    with admin.begin() as connection:  # an unreachable server raises here: the test errors, never skips
        connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    url = f"{POSTGRES_URL}?options=-csearch_path%3D{schema}"
    try:
        upgrade(url)
        yield url
    finally:
        with admin.begin() as connection:
            connection.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        admin.dispose()


@pytest.fixture(scope="session")
def _shared_engine(db_url: str) -> Iterator[Engine]:
    engine = make_engine(db_url)
    yield engine
    engine.dispose()


def _empty_tables(engine: Engine) -> None:
    # DELETE, children first: on tables this small it is much faster than TRUNCATE on PostgreSQL.
    with engine.begin() as connection:
        for table in reversed(metadata.sorted_tables):
            connection.execute(table.delete())


@pytest.fixture()
def engine(_shared_engine: Engine) -> Iterator[Engine]:
    """The migrated test database (SQLite or PostgreSQL), emptied after the test."""
    _empty_tables(_shared_engine)
    yield _shared_engine
    _empty_tables(_shared_engine)


@pytest.fixture()
def session_factory(engine: Engine) -> Callable[[], Session]:
    """A `sessionmaker` for the test database (2.0 style)."""
    return sessionmaker(engine, future=True)


@pytest.fixture()
def session(engine: Engine) -> Iterator[Session]:
    """One Session on the test database; commit explicitly, it is closed (rolled back) at the end."""
    with Session(engine, future=True) as db_session:
        yield db_session
