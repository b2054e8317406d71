"""Alembic, driven from Python: `upgrade(url)` brings a database to the newest schema.

The Alembic configuration is built in code (script_location = storage/migrations), so no
top-level alembic.ini is needed and the same call works from the CLI, tests and `make setup`.
"""

from __future__ import annotations

import logging
from pathlib import Path

from alembic import command
from alembic.config import Config

logger = logging.getLogger(__name__)

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"


def alembic_config(url: str) -> Config:
    """An Alembic Config for `url` with our script location."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    # ConfigParser interpolates '%': escape it so URL-encoded passwords and options survive.
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    config.attributes["configure_logger"] = False
    return config


def upgrade(url: str, revision: str = "head") -> None:
    """Apply migrations up to `revision` (default: the newest) to the database at `url`."""
    logger.info("migrating database to %s", revision)
    command.upgrade(alembic_config(url), revision)


def new_revision(message: str, rev_id: str, scratch_url: str) -> None:
    """Autogenerate the next revision from the models (developer tool, not run by the app).

    `scratch_url` must be an empty database: it is upgraded to head first, then compared with the
    models, and the difference is written to storage/migrations/versions/<rev_id>_<message>.py.
    """
    config = alembic_config(scratch_url)
    command.upgrade(config, "head")
    command.revision(config, message=message, autogenerate=True, rev_id=rev_id)


def downgrade(url: str, revision: str) -> None:
    """Revert migrations down to `revision` (e.g. "base")."""
    command.downgrade(alembic_config(url), revision)
