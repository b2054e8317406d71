"""Runs every benchmark module (`tests/bench/bench_*.py`) and writes its figures to var/bench/<name>.json.

Each module has `main() -> dict` that warms up, measures, prints its figures with the target (and a
baseline from the same run where one exists) beside them, and returns the numbers.
"""

from __future__ import annotations

import importlib
import json
import logging
import time
import traceback
from collections.abc import Callable
from pathlib import Path

logger = logging.getLogger(__name__)

BENCH_DIR = Path(__file__).resolve().parent
OUT_DIR = BENCH_DIR.parents[1] / "var" / "bench"


def discover() -> list[str]:
    """Module names of the benchmarks, in a stable order."""
    return sorted(path.stem for path in BENCH_DIR.glob("bench_*.py"))


def run_all(progress: Callable[[str], None], only: list[str] | None = None) -> int:
    """Run the benchmarks; return 0 when all ran (figures are reported, not judged), 1 if one crashed."""
    OUT_DIR.mkdir(parents=True, exist_ok=True)
    failed = []
    for name in discover():
        if only and name not in only and name.removeprefix("bench_") not in only:  # db_scale = bench_db_scale
            continue
        progress(f"benchmark {name}")
        started = time.perf_counter()
        try:
            module = importlib.import_module(f"tests.bench.{name}")
            figures = module.main()
        except Exception:  # one broken benchmark must not hide the others' figures
            traceback.print_exc()
            failed.append(name)
            continue
        figures = dict(figures or {})
        figures["_seconds"] = round(time.perf_counter() - started, 2)
        (OUT_DIR / f"{name}.json").write_text(json.dumps(figures, ensure_ascii=False, indent=2, default=str))
    if failed:
        progress("benchmarks that crashed: " + ", ".join(failed))
        return 1
    return 0
