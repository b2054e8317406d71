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

from bot.serve import balanced_processes, process_environment, production_environment
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
    return process_environment(env) | {
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


@dataclass(frozen=True)
class Shape:
    """How many Rasa and action servers, and which endpoints file (docs/scaling.md)."""

    rasa_instances: int = 1
    action_instances: int = 1
    production: bool = False  # endpoints.production.yml: PostgreSQL tracker store, Redis lock store

    @property
    def label(self) -> str:
        stores = "PostgreSQL tracker + Redis lock" if self.production else "in-memory tracker"
        return f"{self.rasa_instances} Rasa + {self.action_instances} action servers, {stores}"


LOCAL_SHAPE = Shape()
PRODUCTION_SHAPE = Shape(rasa_instances=2, action_instances=2, production=True)


def _instrumented(stats: Path, rasa_args: list[str]) -> list[str]:
    return [sys.executable, "-m", "tests.bench.instrumented", "--stats", str(stats), "--", *rasa_args]


def _endpoints(shape: Shape, directory: Path, action_port: int) -> str:
    if shape.production:
        return "endpoints.production.yml"  # ${ACTION_ENDPOINT_URL} and the stores' variables come from env
    endpoints = directory / "endpoints.yml"
    endpoints.write_text(f'action_endpoint:\n  url: "http://127.0.0.1:{action_port}/webhook"\n')
    return str(endpoints)


@contextmanager
def running_stack(
    model: Path | None = None, work_dir: Path | None = None, shape: Shape = LOCAL_SHAPE
) -> Iterator[Stack]:
    """Rasa and the action servers on a fresh seeded schema, ready to take WeChat messages.

    With several instances of a server, each listens on its own port behind `bot.balancer` (as `gridsec serve
    --production` runs them) and the stack's URL is the balancer's.
    """
    model = model or default_model()
    with ExitStack() as stack:
        directory = work_dir or Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="gs-bench-")))
        database_url = stack.enter_context(fresh_schema())
        rasa_port, action_port = free_port(), free_port()
        env = _environment(database_url, action_port)
        if shape.production:
            env |= {"REDIS_LOCK_PREFIX": f"gsbench{uuid.uuid4().hex[:10]}"}
            env |= production_environment(env)
        stats: dict[str, Path] = {}
        waits: list[tuple[str, subprocess.Popen[bytes], Path, Callable[[httpx.Response], bool]]] = []

        def serve(
            kind: str,
            count: int,
            entry_port: int,
            argv: Callable[[int], list[str]],
            path: str,
            ready: Callable[[httpx.Response], bool],
        ) -> None:
            def instrumented(port: int) -> list[str]:
                stats[f"{kind}:{port}"] = directory / f"{kind}-{port}.stats.json"
                return _instrumented(stats[f"{kind}:{port}"], argv(port))

            # the same processes and ports as `gridsec serve` (one instance, or instances behind bot.balancer)
            for spec in balanced_processes(kind, entry_port, count, instrumented, sys.executable):
                log = directory / f"{spec.name}.log"
                process = stack.enter_context(_process(spec.argv, env | {"GRIDSEC_INSTANCE": spec.name}, log))
                waits.append((f"http://127.0.0.1:{spec.port}{path}", process, log, ready))

        endpoints = _endpoints(shape, directory, action_port)
        serve(
            "actions",
            shape.action_instances,
            action_port,
            lambda port: ["run", "actions", "--port", str(port), "--actions", "actions"],
            "/health",
            lambda r: r.status_code == 200,
        )
        serve(
            "rasa",
            shape.rasa_instances,
            rasa_port,
            lambda port: [
                "run",
                "--enable-api",
                "--port",
                str(port),
                "--model",
                str(model),
                "--credentials",
                "credentials.yml",
                "--endpoints",
                endpoints,
            ],
            "/status",
            lambda r: r.status_code == 200 and bool(r.json().get("model_file")),
        )
        for url, process, log, ready in waits:
            _wait_until_up(url, process, log, ready)
        action_url, rasa_url = f"http://127.0.0.1:{action_port}", f"http://127.0.0.1:{rasa_port}"
        engine = make_engine(database_url)
        stack.callback(engine.dispose)
        yield Stack(
            rasa_url=rasa_url,
            action_url=action_url,
            database_url=database_url,
            session_factory=sessionmaker(engine, future=True),
            stats_files=stats,
        )
