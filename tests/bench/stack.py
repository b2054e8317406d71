"""The real GridSec conversation stack for benchmarks: a fresh PostgreSQL schema, a Rasa server, an action server.

`running_stack()` migrates and seeds its own schema (so nobody else's data is touched and every run starts
alike), starts `rasa run` (REST + WeChat channels, /model/parse, the trained model) and `rasa run actions`
through `tests.bench.instrumented` on free loopback ports, waits until both answer, and stops both and drops
the schema at the end. Local mode: WeChat token `gridsec-local`, plaintext, nothing calls out.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
from sqlalchemy import text
from sqlalchemy.future import create_engine
from sqlalchemy.orm import Session, sessionmaker

from storage.db import make_engine
from storage.migrate import upgrade
from storage.seed import seed_all
from tests.support.sanic_server import free_port

logger = logging.getLogger(__name__)

REPO = Path(__file__).resolve().parents[2]
POSTGRES_URL = os.environ.get("BENCH_POSTGRES_URL", "postgresql+psycopg2://postgres@127.0.0.1:5432/test")
START_TIMEOUT_S = 300.0  # loading the model takes a while on a busy 2-core machine
CLEARED_VARIABLES = ("WECHAT_", "TELEGRAM_", "DATABASE_URL", "ACTION_ENDPOINT_URL")


@dataclass
class Stack:
    """A running Rasa + action server on one database."""

    rasa_url: str
    action_url: str
    database_url: str
    session_factory: Callable[[], Session]
    stats_files: dict[str, Path]

    @property
    def wechat_endpoint(self) -> str:
        return f"{self.rasa_url}/webhooks/wechat/webhook"

    def timings(self) -> dict[str, dict[str, float]]:
        """The instrumented processes' totals so far, summed ({name: {"seconds", "count"}})."""
        totals: dict[str, dict[str, float]] = {}
        for path in self.stats_files.values():
            try:
                figures = json.loads(path.read_text())
            except (OSError, ValueError):
                continue
            for name, value in figures.items():
                total = totals.setdefault(name, {"seconds": 0.0, "count": 0})
                total["seconds"] += value["seconds"]
                total["count"] += value["count"]
        return totals


def default_model() -> Path:
    """The trained model the bot would serve (never trains here)."""
    from bot.telegram.understanding import trained_model_path

    path = trained_model_path()
    if path is None:
        raise RuntimeError("no trained model under models/: run `gridsec train` (or `make setup`) first")
    return path


@contextmanager
def fresh_schema() -> Iterator[str]:
    """A migrated and seeded PostgreSQL schema of its own; yields its URL, drops it afterwards."""
    schema = f"gs_bench_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    admin = create_engine(POSTGRES_URL)
    with admin.begin() as connection:
        connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    url = f"{POSTGRES_URL}?options=-csearch_path%3D{schema}"
    try:
        upgrade(url)
        engine = make_engine(url)
        with Session(engine, future=True) as session, session.begin():
            seed_all(session)
        engine.dispose()
        yield url
    finally:
        with admin.begin() as connection:
            connection.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        admin.dispose()


def _environment(database_url: str, action_port: int) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith(CLEARED_VARIABLES)}
    return env | {
        "DATABASE_URL": database_url,
        "ACTION_PORT": str(action_port),
        "ACTION_ENDPOINT_URL": f"http://127.0.0.1:{action_port}/webhook",
        "RASA_TELEMETRY_ENABLED": "false",
        "PYTHONPATH": str(REPO),
    }


@contextmanager
def _process(argv: list[str], env: dict[str, str], log: Path) -> Iterator[subprocess.Popen[bytes]]:
    with open(log, "wb") as output:
        process = subprocess.Popen(argv, cwd=REPO, env=env, stdout=output, stderr=subprocess.STDOUT)
    try:
        yield process
    finally:
        process.terminate()
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(10)


def _wait_until_up(
    url: str, process: subprocess.Popen[bytes], log: Path, ready: Callable[[httpx.Response], bool]
) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{url} exited with {process.returncode}:\n{log.read_text()[-3000:]}")
        try:
            if ready(httpx.get(url, timeout=2)):
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    raise RuntimeError(f"{url} did not come up within {START_TIMEOUT_S:.0f} s:\n{log.read_text()[-3000:]}")


@contextmanager
def running_stack(model: Path | None = None, work_dir: Path | None = None) -> Iterator[Stack]:
    """Rasa and the action server on a fresh seeded schema, ready to take WeChat messages."""
    model = model or default_model()
    with ExitStack() as stack:
        directory = work_dir or Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="gs-bench-")))
        database_url = stack.enter_context(fresh_schema())
        rasa_port, action_port = free_port(), free_port()
        endpoints = directory / "endpoints.yml"
        endpoints.write_text(f'action_endpoint:\n  url: "http://127.0.0.1:{action_port}/webhook"\n')
        env = _environment(database_url, action_port)
        stats = {"rasa": directory / "rasa.stats.json", "actions": directory / "actions.stats.json"}
        wrapper = [sys.executable, "-m", "tests.bench.instrumented"]
        actions_log = directory / "actions.log"
        actions = stack.enter_context(
            _process(
                [
                    *wrapper,
                    "--stats",
                    str(stats["actions"]),
                    "--",
                    "run",
                    "actions",
                    "--port",
                    str(action_port),
                    "--actions",
                    "actions",
                ],
                env,
                actions_log,
            )
        )
        rasa_log = directory / "rasa.log"
        rasa = stack.enter_context(
            _process(
                [
                    *wrapper,
                    "--stats",
                    str(stats["rasa"]),
                    "--",
                    "run",
                    "--enable-api",
                    "--port",
                    str(rasa_port),
                    "--model",
                    str(model),
                    "--credentials",
                    "credentials.yml",
                    "--endpoints",
                    str(endpoints),
                ],
                env,
                rasa_log,
            )
        )
        action_url, rasa_url = f"http://127.0.0.1:{action_port}", f"http://127.0.0.1:{rasa_port}"
        _wait_until_up(f"{action_url}/health", actions, actions_log, lambda r: r.status_code == 200)
        _wait_until_up(
            f"{rasa_url}/status",
            rasa,
            rasa_log,
            lambda r: r.status_code == 200 and bool(r.json().get("model_file")),
        )
        engine = make_engine(database_url)
        stack.callback(engine.dispose)
        yield Stack(
            rasa_url=rasa_url,
            action_url=action_url,
            database_url=database_url,
            session_factory=sessionmaker(engine, future=True),
            stats_files=stats,
        )
