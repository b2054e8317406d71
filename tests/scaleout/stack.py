"""Real GridSec processes for the scale-out and kill -9 tests: Rasa servers, action servers, balancers, workers.

Every process is a real subprocess started the way `gridsec serve --production` starts it (same argv, same
environment derived by `bot.serve.production_environment`), on free loopback ports, with its output in a log
file under the test's tmp dir. `Proc.kill9()` is a real SIGKILL; `Proc.start()` again is the restart.
The database is a dedicated PostgreSQL schema (app tables migrated into it, Rasa's `events` table created there
by the tracker store through POSTGRESQL_SCHEMA), and Redis locks use a prefix of their own, so runs never meet.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from sqlalchemy import text
from sqlalchemy.future import create_engine

from bot.config import REPO_ROOT
from bot.serve import production_environment
from storage.migrate import upgrade
from tests.conftest import POSTGRES_URL
from tests.support.sanic_server import free_port

BIN = Path(sys.executable).parent
RASA_START_TIMEOUT_S = 420.0  # TensorFlow and the model load in well under a minute alone; the box is shared


@dataclass
class Proc:
    """One subprocess with a readiness URL; start, kill -9 and start again."""

    name: str
    argv: list[str]
    env: dict[str, str]
    log_dir: Path
    port: int | None = None
    ready_path: str | None = "/"  # None: ready when the port accepts connections
    popen: subprocess.Popen[bytes] | None = None
    starts: int = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def log_path(self) -> Path:
        return self.log_dir / f"{self.name}.{self.starts}.log"

    def start(self, timeout_s: float = 60.0, wait: bool = True) -> Proc:
        self.starts += 1
        with self.log_path.open("wb") as log:
            self.popen = subprocess.Popen(
                self.argv,
                cwd=REPO_ROOT,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        if wait:
            self.wait_ready(timeout_s)
        return self

    def wait_ready(self, timeout_s: float) -> None:
        """Wait until the readiness URL answers (or, without a port, just that the process is alive)."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            assert self.popen is not None
            if self.popen.poll() is not None:
                raise RuntimeError(f"{self.name} exited with {self.popen.returncode}:\n{self.log_tail()}")
            if self.port is None:
                return
            if self.ready_path is None:
                with socket.socket() as sock:
                    if sock.connect_ex(("127.0.0.1", self.port)) == 0:
                        return
                time.sleep(0.2)
                continue
            try:
                if httpx.get(self.url + self.ready_path, timeout=2).status_code < 500:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.5)
        raise RuntimeError(f"{self.name} not ready after {timeout_s:.0f} s:\n{self.log_tail()}")

    def log_tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    def alive(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    def kill9(self) -> None:
        """SIGKILL: no shutdown hooks, no drain, open transactions die with the connection."""
        assert self.popen is not None
        os.kill(self.popen.pid, signal.SIGKILL)
        self.popen.wait(10)

    def stop(self) -> None:
        if self.popen is None or self.popen.poll() is not None:
            return
        self.popen.terminate()
        try:
            self.popen.wait(20)
        except subprocess.TimeoutExpired:
            self.popen.kill()
            self.popen.wait(10)


@dataclass
class Stack:
    """The processes of one test, and the environment they share; stopped together at the end."""

    env: dict[str, str]
    log_dir: Path
    procs: list[Proc] = field(default_factory=list)

    def add(
        self,
        name: str,
        argv: list[str],
        port: int | None = None,
        ready_path: str | None = "/",
        extra_env: Mapping[str, str] | None = None,
    ) -> Proc:
        env = self.env | {"GRIDSEC_INSTANCE": name} | dict(extra_env or {})
        proc = Proc(name, argv, env, self.log_dir, port, ready_path)
        self.procs.append(proc)
        return proc

    def rasa(
        self,
        name: str,
        model_path: Path,
        port: int | None = None,
        endpoints: str = "endpoints.production.yml",
    ) -> Proc:
        """A Rasa server with the production endpoints (PostgreSQL tracker store, Redis lock store)."""
        port = port or free_port()
        argv = [
            str(BIN / "rasa"),
            "run",
            "--enable-api",
            "--port",
            str(port),
            "--model",
            str(model_path),
            "--credentials",
            "credentials.yml",
            "--endpoints",
            endpoints,
        ]
        return self.add(name, argv, port)

    def actions(self, name: str, port: int | None = None) -> Proc:
        port = port or free_port()
        argv = [str(BIN / "rasa"), "run", "actions", "--port", str(port), "--actions", "actions"]
        return self.add(name, argv, port, ready_path="/health")

    def balancer(self, name: str, port: int, backends: list[Proc]) -> Proc:
        """The balancer in front of `backends`; ready when it answers the backends' own readiness path."""
        argv = [sys.executable, "-m", "bot.balancer", "--port", str(port)]
        argv += [arg for backend in backends for arg in ("--backend", backend.url)]
        return self.add(name, argv, port, ready_path=backends[0].ready_path)

    def worker(self, name: str) -> Proc:
        return self.add(name, [str(BIN / "gridsec"), "worker"])

    def console(self, name: str, port: int | None = None) -> Proc:
        port = port or free_port()
        return self.add(
            name,
            [str(BIN / "gridsec"), "console"],
            port,
            ready_path="/healthz",
            extra_env={"CONSOLE_PORT": str(port)},
        )

    def stop_all(self) -> None:
        for proc in reversed(self.procs):
            proc.stop()


@contextmanager
def postgres_schema(prefix: str = "gs_scale") -> Iterator[str]:
    """A fresh PostgreSQL schema with the app tables migrated; yields its DATABASE_URL; dropped at the end."""
    schema = f"{prefix}_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    admin = create_engine(POSTGRES_URL)
    with admin.begin() as connection:
        connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    url = f"{POSTGRES_URL}?options=-csearch_path%3D{schema}"
    try:
        upgrade(url)
        yield url
    finally:
        with admin.begin() as connection:
            connection.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        admin.dispose()


def stack_environment(database_url: str, action_port: int, **extra: str) -> dict[str, str]:
    """The environment of every process: the test schema, the production endpoints' variables, no telemetry."""
    base = {key: value for key, value in os.environ.items() if not key.startswith(("WECHAT_", "TELEGRAM_"))}
    base |= {
        "DATABASE_URL": database_url,
        "ACTION_PORT": str(action_port),
        "RASA_TELEMETRY_ENABLED": "false",
        "REDIS_LOCK_PREFIX": f"gstest{uuid.uuid4().hex[:10]}",
        "PYTHONUNBUFFERED": "1",
    }
    base |= extra
    return base | production_environment(base)


@contextmanager
def running_stack(
    database_url: str, log_dir: Path, action_port: int | None = None, **extra: str
) -> Iterator[Stack]:
    """A Stack whose processes are stopped (SIGTERM, then SIGKILL) when the block ends."""
    stack = Stack(stack_environment(database_url, action_port or free_port(), **extra), log_dir)
    try:
        yield stack
    finally:
        stack.stop_all()


def wait_until(
    predicate: object, timeout_s: float, interval_s: float = 0.25, what: str = "condition"
) -> None:
    """Poll `predicate()` until it is truthy; fail with `what` after `timeout_s`."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():  # type: ignore[operator]
            return
        time.sleep(interval_s)
    raise AssertionError(f"timed out after {timeout_s:.0f} s waiting for {what}")


def seed_yuexiu(database_url: str) -> None:
    """Load the Yuexiu organisation (streets, grids, departments, people) that routing and the actions need."""
    from storage.db import make_engine, session_scope
    from storage.seed import seed_all

    engine = make_engine(database_url)
    try:
        with session_scope(engine) as session:
            seed_all(session)
    finally:
        engine.dispose()
