"""Time conventions for storage.

Decision: every datetime in GridSec code is timezone-aware; the database stores it as naive UTC
(`timestamp without time zone` on PostgreSQL, ISO text on SQLite) through `UTCDateTime`, and reads
it back as aware UTC. Passing a naive datetime is an error, never silently assumed to be UTC or
local, because a wrong guess shifts deadlines by eight hours. Calendar days (case codes, same-day
closure, working days) are Asia/Shanghai days.
"""

from __future__ import annotations

import logging
from datetime import date, datetime, timezone
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy.types import DateTime, TypeDecorator

from storage.errors import StorageInputError

logger = logging.getLogger(__name__)

SHANGHAI = ZoneInfo("Asia/Shanghai")


def require_aware(value: datetime, name: str = "datetime") -> datetime:
    """Return `value` converted to UTC, or raise StorageInputError if it is naive."""
    if value.tzinfo is None or value.tzinfo.utcoffset(value) is None:
        raise StorageInputError(f"{name} must be timezone-aware (got naive {value.isoformat()})")
    return value.astimezone(timezone.utc)


def utcnow() -> datetime:
    """The current time, aware UTC (freezegun-friendly)."""
    return datetime.now(timezone.utc)


def shanghai_date(value: datetime) -> date:
    """The Asia/Shanghai calendar day of an aware datetime."""
    return require_aware(value).astimezone(SHANGHAI).date()


class UTCDateTime(TypeDecorator):
    """Aware datetimes in Python, naive UTC in the database."""

    impl = DateTime(timezone=False)
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Any) -> datetime | None:
        if value is None:
            return None
        return require_aware(value).replace(tzinfo=None)

    def process_result_value(self, value: Any, dialect: Any) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=timezone.utc)
