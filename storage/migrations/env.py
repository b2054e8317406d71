"""Alembic environment: runs migrations online against the URL in the Config (see storage.migrate)."""

from __future__ import annotations

import logging

from alembic import context

from storage.db import make_engine
from storage.models import metadata

logger = logging.getLogger(__name__)


def run_migrations_online() -> None:
    """Migrate through our own engine factory, so SQLite gets the same pragmas as the app."""
    url = context.config.get_main_option("sqlalchemy.url")
    engine = make_engine(url)
    try:
        with engine.connect() as connection:
            context.configure(
                connection=connection,
                target_metadata=metadata,
                render_as_batch=connection.dialect.name == "sqlite",
                compare_type=True,
            )
            with context.begin_transaction():
                context.run_migrations()
            connection.commit()
    finally:
        engine.dispose()


if context.is_offline_mode():
    raise RuntimeError("offline (SQL script) migrations are not supported; call storage.migrate.upgrade(url)")
run_migrations_online()
