"""Replay: a simulated month of Yuexiu grid events through the whole chain, with the KPIs beside the seed's.

About 800 reports over 30 simulated days (Yuexiu logs 7,853 grid events a year; issue 8 asks for ~800 a month),
each a resident's WeChat conversation through the webhook, the trained model and the action server; workers and
departments act through the Telegram handlers' storage calls after delays drawn from distributions
(tests/bench/replay_sim.py). The simulated clock runs 100x the wall clock while anything is in flight and jumps
over idle time (nobody is waiting then), so the month takes minutes; the effective speed-up is printed.

The KPIs are computed from the event history (storage.kpi.compute_kpis) and printed next to the seed's figures
for Yuexiu: same-day closure 78.8 %, auto-dispatch 98 %.
"""

from __future__ import annotations

import logging
import os
import random
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy.orm import sessionmaker

from storage.db import make_engine
from storage.kpi import compute_kpis
from storage.timeutil import SHANGHAI
from tests.bench.inprocess_stack import SimClock, running_inprocess_stack
from tests.bench.replay_sim import Replay, month_arrivals
from tests.bench.stack import default_model, fresh_schema

logger = logging.getLogger(__name__)

SEED_KPIS = {"same_day_closure_rate": 0.788, "auto_dispatch_rate": 0.98}  # Yuexiu's figures (issue 8 brief)
DAYS = int(os.environ.get("BENCH_REPLAY_DAYS", "30"))
CASES = int(os.environ.get("BENCH_REPLAY_CASES", str(800 * DAYS // 30)))
SPEED = 100.0
START = datetime(2026, 11, 2, 0, 0, tzinfo=SHANGHAI)  # a Monday


def _jpeg(directory: Path) -> Path:
    import io

    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", (64, 48), (90, 140, 90)).save(buffer, format="JPEG")
    path = directory / "after.jpg"
    path.write_bytes(buffer.getvalue())
    return path


def _quiet_logging() -> None:
    """The in-process agent would log every turn at DEBUG (megabytes a minute, and slower turns)."""
    from rasa.utils.common import configure_logging_and_warnings
    from rasa.utils.log_utils import configure_structlog

    os.environ["LOG_LEVEL"] = "WARNING"
    configure_logging_and_warnings(logging.WARNING)
    configure_structlog(logging.WARNING)
    for name in ("", "rasa", "rasa_sdk", "jieba", "sanic", "bot", "storage", "actions", "routing"):
        logging.getLogger(name).setLevel(logging.WARNING)


def _percent(value: float | None) -> str:
    return "n/a" if value is None else f"{value * 100:.1f} %"


def main() -> dict[str, Any]:
    _quiet_logging()
    seed = int(os.environ.get("BENCH_SEED", "20261129"))
    rng = random.Random(seed)
    arrivals = month_arrivals(START, DAYS, CASES, rng)
    previous_url = os.environ.get("DATABASE_URL")
    with tempfile.TemporaryDirectory(prefix="gs-replay-") as tmp, fresh_schema() as url:
        os.environ["DATABASE_URL"] = url  # the actions build their engine from it
        engine = make_engine(url)
        factory = sessionmaker(engine, future=True)
        clock = SimClock(START, SPEED)
        try:
            with running_inprocess_stack(engine, default_model(), clock, Path(tmp) / "media") as stack:
                started = time.perf_counter()
                replay = Replay(factory, stack.wechat_endpoint, clock, rng, _jpeg(Path(tmp)))
                counts = replay.run(arrivals)
                wall = time.perf_counter() - started
            simulated = clock() - START
            with factory() as session:
                kpis = compute_kpis(session, start=START, end=START + timedelta(days=DAYS + 7))
        finally:
            engine.dispose()
            if previous_url is None:
                os.environ.pop("DATABASE_URL", None)
            else:
                os.environ["DATABASE_URL"] = previous_url
    speed = simulated.total_seconds() / wall
    print(
        f"replay: {DAYS} simulated days, {counts['reports']} reports, {counts['cases_opened']} cases opened, "
        f"{counts['messages']} resident messages; {wall:.0f} s wall, effective speed {speed:.0f}x "
        f"(100x while busy, idle time skipped)"
    )
    for transcript in replay.failed_transcripts[:3]:
        print("  a conversation that opened no case: " + " | ".join(transcript))
    print(
        f"  problems: no case opened {counts['no_case_opened']}, unanswered {counts['unanswered']}, "
        f"message errors {counts['message_errors']}, failed steps {counts['step_failed']}"
    )
    for name, seed_value in SEED_KPIS.items():
        print(f"  {name}: ours {_percent(getattr(kpis, name))}  seed (Yuexiu) {_percent(seed_value)}")
    print(
        f"  also: respond median {kpis.respond.median_s or 0:.0f} s, overdue {kpis.overdue_count}, "
        f"satisfaction {kpis.satisfaction}, reopen {_percent(kpis.reopen_rate)}"
    )
    return {
        "days": DAYS,
        "reports": counts["reports"],
        "counts": dict(counts),
        "failed_transcripts": replay.failed_transcripts,
        "wall_s": round(wall, 1),
        "effective_speed": round(speed, 1),
        "kpis": kpis.to_dict(),
        "seed_kpis": SEED_KPIS,
    }


if __name__ == "__main__":
    main()
