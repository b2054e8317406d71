"""Duplicate reports: the same problem, reported again near an open case (pure).

A new report is a duplicate of an open case of the same category that lies within the category's
radius (metres) and was opened within its time window (hours), both from `rules.yml` `duplicates`.
The storage layer supplies the candidate open cases; this module only decides. Of several matches the
nearest wins (then the most recent), so a resident is linked to the case on their own doorstep.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Protocol

from routing.rules import Rules
from routing.types import GeoPoint, OpenCaseSummary

logger = logging.getLogger(__name__)

_EARTH_RADIUS_M = 6371008.8


class ReportLike(Protocol):
    """What the duplicate check needs of a new report (a `Decision` has both)."""

    @property
    def category(self) -> str | None: ...

    @property
    def point(self) -> GeoPoint | None: ...

    @property
    def grid(self) -> str | None: ...


def distance_m(a: GeoPoint, b: GeoPoint) -> float:
    """Great-circle (haversine) distance in metres."""
    lat1, lat2 = math.radians(a.lat), math.radians(b.lat)
    dlat, dlng = lat2 - lat1, math.radians(b.lng - a.lng)
    h = math.sin(dlat / 2) ** 2 + math.cos(lat1) * math.cos(lat2) * math.sin(dlng / 2) ** 2
    return 2 * _EARTH_RADIUS_M * math.asin(min(1.0, math.sqrt(h)))


def _age(now: datetime, opened_at: datetime) -> timedelta:
    # Storage may hand back naive UTC datetimes (SQLite); compare like with like.
    if (now.tzinfo is None) != (opened_at.tzinfo is None):
        now = now.replace(tzinfo=None) if opened_at.tzinfo is None else now.astimezone(opened_at.tzinfo)
    return now - opened_at


def find_duplicate(
    report: ReportLike, open_cases: Sequence[OpenCaseSummary], rules: Rules, now: datetime
) -> OpenCaseSummary | None:
    """The open case this report duplicates, or None.

    Args:
        report: the new report's category and point (e.g. its `Decision`).
        open_cases: open cases near the report, from storage.
        rules: the routing data (duplicate radius and window per category).
        now: the time of the new report.

    Returns:
        The nearest open case of the same category inside the radius and window; None when there is
        none or the report has no category. Where either side has no point, the distance is unknown:
        the case still counts when both lie in the same grid (ranked after every measured match).
    """
    if not report.category or (report.point is None and report.grid is None):
        return None
    window = rules.duplicate_window(report.category)
    limit = timedelta(hours=window.window_h)
    best: tuple[float, float, OpenCaseSummary] | None = None
    for case in open_cases:
        if case.category != report.category:
            continue
        age = max(_age(now, case.opened_at), timedelta(0))  # a case stamped a moment "later" is still open
        if age > limit:
            continue
        if report.point is not None and case.point is not None:
            distance = distance_m(report.point, case.point)
            if distance > window.radius_m:
                continue
        elif report.grid is not None and case.grid == report.grid:
            distance = math.inf
        else:
            continue
        if best is None or (distance, age.total_seconds()) < best[:2]:
            best = (distance, age.total_seconds(), case)
    if best is not None:
        logger.debug("duplicate of %s at %.0f m", best[2].case_code, best[0])
    return best[2] if best is not None else None
