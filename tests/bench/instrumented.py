"""Run a Rasa CLI command (`rasa run`, `rasa run actions`) with timers on the parts of a turn.

    python -m tests.bench.instrumented --stats var/bench/rasa.stats.json -- run --enable-api ...

The benchmark starts the Rasa server and the action server through this wrapper, so the per-turn split is
measured inside the real processes, not guessed from outside. It wraps, at class level:
- NLU: `MessageProcessor._parse_message_with_graph` (the NLU graph, per message);
- policy: `MessageProcessor._predict_next_with_tracker` (every next-action prediction);
- action server: `EndpointConfig.request` to the action endpoint (the HTTP round trip, seen from Rasa);
- action run: `rasa_sdk.executor.ActionExecutor.run` (time inside the action server);
- database: SQLAlchemy cursor execution on every engine in the process (channel, outbox, actions);
- turn: `MessageProcessor.handle_message` (a whole turn), and inside it tracker load/save, slot extraction
  and sending the replies (`execute_side_effects`: the WeChat output channel's outbox writes).
Totals (seconds) and counts are written as JSON to the stats file twice a second.
"""

from __future__ import annotations

import argparse
import functools
import json
import logging
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)

_lock = threading.Lock()
_totals: dict[str, list[float]] = {}


def add(name: str, seconds: float) -> None:
    """Count one timed call of `name`."""
    with _lock:
        total = _totals.setdefault(name, [0.0, 0])
        total[0] += seconds
        total[1] += 1


def snapshot() -> dict[str, dict[str, float]]:
    """{name: {"seconds": total, "count": calls}} so far."""
    with _lock:
        return {name: {"seconds": total[0], "count": total[1]} for name, total in _totals.items()}


def _timed_sync(name: str, function: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(function)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        started = time.perf_counter()
        try:
            return function(*args, **kwargs)
        finally:
            add(name, time.perf_counter() - started)

    return wrapper


def _timed_async(name: str, function: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(function)
    async def wrapper(*args: Any, **kwargs: Any) -> Any:
        started = time.perf_counter()
        try:
            return await function(*args, **kwargs)
        finally:
            add(name, time.perf_counter() - started)

    return wrapper


def install_sql_timing() -> None:
    """Time every statement any SQLAlchemy engine in this process executes."""
    from sqlalchemy import event
    from sqlalchemy.engine import Engine

    def before(conn: Any, cursor: Any, statement: str, params: Any, context: Any, many: bool) -> None:
        conn.info.setdefault("bench_started", []).append(time.perf_counter())

    def after(conn: Any, cursor: Any, statement: str, params: Any, context: Any, many: bool) -> None:
        add("database", time.perf_counter() - conn.info["bench_started"].pop())

    event.listen(Engine, "before_cursor_execute", before)
    event.listen(Engine, "after_cursor_execute", after)


def install_rasa_timing() -> None:
    """Wrap the NLU, policy, action-endpoint and whole-turn calls of Rasa, and rasa-sdk's executor."""
    from rasa.core.processor import MessageProcessor
    from rasa.utils.endpoints import EndpointConfig
    from rasa_sdk.executor import ActionExecutor

    processor: Any = MessageProcessor
    processor._parse_message_with_graph = _timed_sync("nlu", processor._parse_message_with_graph)
    processor._predict_next_with_tracker = _timed_sync("policy", processor._predict_next_with_tracker)
    processor.handle_message = _timed_async("turn", processor.handle_message)
    processor.fetch_tracker_and_update_session = _timed_async(
        "tracker_load", processor.fetch_tracker_and_update_session
    )
    processor.save_tracker = _timed_async("tracker_save", processor.save_tracker)
    processor.run_action_extract_slots = _timed_async("extract_slots", processor.run_action_extract_slots)
    processor.execute_side_effects = _timed_async("send_replies", processor.execute_side_effects)
    endpoint: Any = EndpointConfig
    endpoint.request = _timed_async("action_server", endpoint.request)
    executor: Any = ActionExecutor
    executor.run = _timed_async("action_run", executor.run)


def _write_forever(path: Path, interval_s: float = 0.5) -> None:
    while True:
        temporary = path.with_suffix(".tmp")
        temporary.write_text(json.dumps(snapshot()))
        temporary.replace(path)  # readers never see a half-written file
        time.sleep(interval_s)


def main(argv: list[str] | None = None) -> None:
    """Install the timers, start the stats writer, then run the Rasa CLI with the remaining arguments."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stats", type=Path, required=True, help="where to write the timing totals (JSON)")
    parser.add_argument("rasa_args", nargs=argparse.REMAINDER, help="arguments for the rasa CLI, after --")
    args = parser.parse_args(argv)
    rasa_args = args.rasa_args[1:] if args.rasa_args[:1] == ["--"] else args.rasa_args
    install_sql_timing()
    install_rasa_timing()
    args.stats.parent.mkdir(parents=True, exist_ok=True)
    threading.Thread(target=_write_forever, args=(args.stats,), name="bench-stats", daemon=True).start()
    from rasa.__main__ import main as rasa_main

    sys.argv = ["rasa", *rasa_args]
    rasa_main()


if __name__ == "__main__":
    main()
