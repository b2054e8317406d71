"""Latency statistics for the load benchmarks: percentiles, summaries, and a printable line with the target.

Percentiles use linear interpolation between closest ranks (numpy's default), so p99 of 100 samples is
not simply the maximum. Pure functions; the benchmarks print and store what these return.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass

logger = logging.getLogger(__name__)


def percentile(samples: Sequence[float], q: float) -> float:
    """The q-th percentile (0..100) of `samples`, interpolated; NaN when there are none."""
    if not 0 <= q <= 100:
        raise ValueError(f"percentile must be within 0..100, got {q}")
    if not samples:
        return math.nan
    ordered = sorted(samples)
    position = (len(ordered) - 1) * q / 100
    low, high = math.floor(position), math.ceil(position)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


@dataclass(frozen=True)
class Summary:
    """Latencies in milliseconds of one measured run."""

    count: int
    p50_ms: float
    p95_ms: float
    p99_ms: float
    max_ms: float
    mean_ms: float

    def as_dict(self) -> dict[str, float]:
        return {
            key: round(value, 2) if isinstance(value, float) else value for key, value in asdict(self).items()
        }


def summarise(seconds: Sequence[float]) -> Summary:
    """p50/p95/p99/max/mean in milliseconds of latencies given in seconds."""
    ms = [value * 1000 for value in seconds]
    return Summary(
        count=len(ms),
        p50_ms=percentile(ms, 50),
        p95_ms=percentile(ms, 95),
        p99_ms=percentile(ms, 99),
        max_ms=max(ms) if ms else math.nan,
        mean_ms=sum(ms) / len(ms) if ms else math.nan,
    )


def verdict(value: float, target: float, *, higher_is_better: bool = False) -> str:
    """`ok` or `MISSED` for a figure against its target (NaN misses)."""
    if math.isnan(value):
        return "MISSED"
    met = value >= target if higher_is_better else value <= target
    return "ok" if met else "MISSED"
