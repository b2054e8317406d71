"""Engine and session plumbing. No module-level engine: callers build one with `make_engine(url)`."""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.future import create_engine
from sqlalchemy.orm import Session
from sqlalchemy.pool import QueuePool

logger = logging.getLogger(__name__)

REPO_ROOT = Path(__file__).resolve().parent.parent
SQLITE_BUSY_TIMEOUT_MS = 10_000


def database_url(environ: Mapping[str, str]) -> str:
    """The database URL: `DATABASE_URL` if set, else a SQLite file under `<repo>/var/`.

    Args:
        environ: the process environment (passed in, never read globally).

    Returns:
        A SQLAlchemy URL string. For the SQLite default the `var/` directory is created.
    """
    url = environ.get("DATABASE_URL", "").strip()
    if url:
        return url
    var_dir = REPO_ROOT / "var"
    var_dir.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{var_dir / 'gridsec.db'}"


def is_sqlite(engine_or_url: Engine | str) -> bool:
    """True when the engine or URL points at SQLite."""
    url = engine_or_url if isinstance(engine_or_url, str) else str(engine_or_url.url)
    return make_url(url).get_backend_name() == "sqlite"


def _sqlite_on_connect(dbapi_connection: Any, _record: Any) -> None:
    # Let SQLAlchemy, not pysqlite, issue BEGIN, so transactions behave like PostgreSQL's.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    # WAL + NORMAL never corrupts; a power cut (not a crash) may lose the last commits. FULL costs an
    # fsync per commit, which on slow disks caps SQLite at a few dozen transactions per second.
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
    cursor.close()


def _sqlite_on_begin(connection: Any) -> None:
    # BEGIN IMMEDIATE takes the write lock up front: two writers queue on busy_timeout instead of
    # one failing with SQLITE_BUSY when it upgrades a read snapshot that another writer made stale.
    connection.exec_driver_sql("BEGIN IMMEDIATE")


def make_engine(url: str, **kwargs: Any) -> Engine:
    """Build an Engine (2.0 style) tuned for the backend.

    SQLite gets WAL (synchronous=NORMAL), foreign keys, a busy timeout and write-locking transactions (BEGIN IMMEDIATE),
    which serialise writers safely across processes. PostgreSQL gets `pool_pre_ping`.
    Both hide SQL parameters from error messages and logs: they hold residents' words and phone numbers.

    On SQLite every transaction, reads included, holds the database write lock until it ends, so
    keep sessions short: commit or roll back before another session (a scheduler pass, a delivery
    run) needs to write, or it waits `SQLITE_BUSY_TIMEOUT_MS` and fails with "database is locked".

    Args:
        url: a SQLAlchemy URL (see `database_url`).
        **kwargs: passed on to `create_engine`.
    """
    kwargs.setdefault("hide_parameters", True)
    if is_sqlite(url):
        kwargs.setdefault("connect_args", {}).setdefault("check_same_thread", False)
        if make_url(url).database not in (None, "", ":memory:"):
            # SQLAlchemy 1.4 defaults to NullPool for SQLite files: a new connection (and its
            # pragmas) per session. A small pool cuts that cost.
            kwargs.setdefault("poolclass", QueuePool)
        engine = create_engine(url, **kwargs)
        event.listen(engine, "connect", _sqlite_on_connect)
        event.listen(engine, "begin", _sqlite_on_begin)
        return engine
    kwargs.setdefault("pool_pre_ping", True)
    return create_engine(url, **kwargs)


@contextmanager
def session_scope(engine: Engine) -> Iterator[Session]:
    """A session in one transaction: commits on success, rolls back on any exception, always closes."""
    session = Session(engine, future=True)
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()
