"""`gridsec serve`: start every GridSec process on localhost and supervise them.

Processes: the Rasa server (:5005, REST + WeChat channels, /model/parse), the rasa-sdk action server (:5055),
the web console and API (:8000) and the background worker (time limits + outbox delivery). In local mode (no
credentials) the fake WeChat and Telegram APIs run first (bot/localmode) and the Telegram bot runs against them.
Output is prefixed with the process name; Ctrl-C (or SIGTERM) stops them all. If one process dies, the others are stopped too, so an
operator never runs a half-started service by mistake.

`gridsec serve --production` (or `--rasa-instances N --action-instances N --workers N`) runs the scale-out
shape of docs/scaling.md on one machine: N Rasa servers and N action servers on internal ports, each set behind
one round-robin entry point (`bot/balancer.py`) on :5005 and :5055, and N workers. Several Rasa servers share
the conversation state through `endpoints.production.yml` (PostgreSQL tracker store, Redis lock store).
"""

from __future__ import annotations

import logging
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.engine import make_url

from bot.config import REPO_ROOT, ConfigError, load_settings

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class ProcessSpec:
    name: str
    argv: list[str]
    port: int | None


@dataclass(frozen=True)
class Topology:
    """How many of each scalable process to run, and the Rasa endpoints file they share."""

    rasa_instances: int = 1
    action_instances: int = 1
    workers: int = 1
    endpoints: str = "endpoints.yml"

    def __post_init__(self) -> None:
        if min(self.rasa_instances, self.action_instances, self.workers) < 1:
            raise ConfigError("--rasa-instances, --action-instances and --workers must be at least 1")
        if self.rasa_instances > 1 and self.endpoints == "endpoints.yml":
            # Rasa's default in-memory tracker and lock stores would give each instance its own conversations.
            raise ConfigError("several Rasa instances need shared stores: use endpoints.production.yml")


LOCAL = Topology()
PRODUCTION = Topology(rasa_instances=2, action_instances=2, workers=2, endpoints="endpoints.production.yml")
INTERNAL_PORT_OFFSET = 100  # instance i of a balanced service listens on <entry port> + 100 + i
# One thread per TensorFlow op and per BLAS call in the processes we start. A turn's tensors are tiny, so
# per-process thread pools only add hand-offs, and their spinning threads take CPU from the other processes
# sharing the cores (docs/scaling.md: Rasa CPU per turn 70.7 -> 60.8 ms on the production shape). Rasa reads
# the TF_* pair at start (rasa/__main__.py). A value set in the environment wins.
SINGLE_THREADED_MATH = {
    "TF_INTRA_OP_PARALLELISM_THREADS": "1",
    "TF_INTER_OP_PARALLELISM_THREADS": "1",
    "OMP_NUM_THREADS": "1",
}


def process_environment(environ: Mapping[str, str]) -> dict[str, str]:
    """The environment for the processes `gridsec serve` starts: `environ`, over single-threaded math."""
    return SINGLE_THREADED_MATH | dict(environ)


def production_environment(environ: Mapping[str, str]) -> dict[str, str]:
    """The variables `endpoints.production.yml` reads, derived from DATABASE_URL where not set explicitly.

    The tracker store shares the application's PostgreSQL database (Rasa's table is `events`; a
    `search_path` option in DATABASE_URL becomes Rasa's POSTGRESQL_SCHEMA). Redis defaults to 127.0.0.1:6379.
    """
    settings = load_settings(environ)
    url = make_url(settings.database_url)
    explicit = {key: value for key, value in environ.items() if key.startswith(("TRACKER_DB_", "REDIS_"))}
    if url.get_backend_name() != "postgresql" and "TRACKER_DB_HOST" not in explicit:
        raise ConfigError("the production configuration needs PostgreSQL: set DATABASE_URL=postgresql+psycopg2://…")
    derived = {
        "ACTION_ENDPOINT_URL": f"http://127.0.0.1:{settings.action_port}/webhook",
        "TRACKER_DB_HOST": url.host or "127.0.0.1",
        "TRACKER_DB_PORT": str(url.port or 5432),
        "TRACKER_DB_NAME": url.database or "postgres",
        "TRACKER_DB_USER": url.username or "postgres",
        "TRACKER_DB_PASSWORD": url.password or "",
        "REDIS_HOST": "127.0.0.1",
        "REDIS_PORT": "6379",
        "REDIS_LOCK_DB": "1",
        "REDIS_LOCK_PREFIX": "gridsec",
    }
    options = str(url.query.get("options", ""))
    if "search_path=" in options:
        derived["POSTGRESQL_SCHEMA"] = options.split("search_path=", 1)[1].split()[0]
    return derived | {key: value for key, value in environ.items() if key in derived}


def balanced_processes(
    name: str, entry_port: int, count: int, instance_argv: Callable[[int], list[str]], python: str
) -> list[ProcessSpec]:
    """One process on `entry_port`, or `count` instances on internal ports behind a balancer on it."""
    if count == 1:
        return [ProcessSpec(name, instance_argv(entry_port), entry_port)]
    ports = [entry_port + INTERNAL_PORT_OFFSET + i for i in range(1, count + 1)]
    backends = [arg for port in ports for arg in ("--backend", f"http://127.0.0.1:{port}")]
    specs = [ProcessSpec(f"{name}-{i}", instance_argv(port), port) for i, port in enumerate(ports, 1)]
    return specs + [ProcessSpec(name, [python, "-m", "bot.balancer", "--port", str(entry_port), *backends], entry_port)]


def process_specs(environ: Mapping[str, str], model_path: Path, topology: Topology = LOCAL) -> list[ProcessSpec]:
    """The processes of one GridSec on this machine, with the ports they answer on."""
    settings = load_settings(environ)
    bin_dir = Path(sys.executable).parent
    rasa = str(bin_dir / "rasa")
    gridsec = str(bin_dir / "gridsec")

    def rasa_argv(port: int) -> list[str]:
        return [rasa, "run", "--enable-api", "--port", str(port), "--model", str(model_path),
                "--credentials", "credentials.yml", "--endpoints", topology.endpoints]

    def actions_argv(port: int) -> list[str]:
        return [rasa, "run", "actions", "--port", str(port), "--actions", "actions"]

    specs = balanced_processes("rasa", settings.rasa_port, topology.rasa_instances, rasa_argv, sys.executable)
    specs += balanced_processes("actions", settings.action_port, topology.action_instances, actions_argv, sys.executable)
    specs.append(ProcessSpec("console", [gridsec, "console"], settings.console_port))
    workers = topology.workers
    specs += [ProcessSpec("worker" if workers == 1 else f"worker-{i}", [gridsec, "worker"], None)
              for i in range(1, workers + 1)]
    if settings.telegram_token is not None or settings.telegram_api_base:
        specs.append(ProcessSpec("telegram", [gridsec, "telegram"], None))
    from bot.localmode import fakes_argv

    fakes = fakes_argv(environ, sys.executable)  # local mode: the fake APIs first, the others call them
    return ([ProcessSpec("fakes", fakes[0], fakes[1])] if fakes else []) + specs


def _pump(name: str, stream: object) -> None:
    from bot.log_redaction import redact  # a child's print()s pass here too, not only its log records

    for line in iter(stream.readline, ""):  # type: ignore[attr-defined]
        sys.stdout.write(f"{name:>8} | {redact(line)}")
        sys.stdout.flush()


def _port_open(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def serve_all(environ: Mapping[str, str], progress: Callable[[str], None], topology: Topology = LOCAL) -> None:
    """Start and supervise all processes until interrupted or until one of them exits."""
    from bot.nlu.training import ensure_model
    from storage.db import database_url
    from storage.migrate import upgrade

    # Migrations are idempotent and quick; running them here means a `gridsec serve` without `make setup`
    # (or after a pull that added a revision) never starts workers against an old schema.
    progress("migrating the database")
    upgrade(database_url(environ))
    model_path = ensure_model(force=False, progress=progress)
    from bot.localmode import fake_ports, local_environ

    environ = local_environ(environ)  # local mode: WeChat and Telegram API bases point at the fakes
    if fake_ports(environ) is not None:
        _bind_local_chats(environ, progress)
    specs = process_specs(environ, model_path, topology)
    env = process_environment(environ)
    if topology.endpoints != LOCAL.endpoints:
        env |= production_environment(environ)
    running: list[tuple[ProcessSpec, subprocess.Popen[str]]] = []
    stopping = threading.Event()

    def stop(*_: object) -> None:
        stopping.set()

    signal.signal(signal.SIGTERM, stop)
    try:
        for spec in specs:
            progress(f"starting {spec.name}" + (f" on :{spec.port}" if spec.port else ""))
            # GRIDSEC_INSTANCE names the process across restarts: the WeChat channel resumes the unfinished
            # turns of its own earlier life by it (bot/channels/wechat.py).
            proc = subprocess.Popen(spec.argv, cwd=REPO_ROOT, env=env | {"GRIDSEC_INSTANCE": spec.name},
                                    stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, bufsize=1)
            threading.Thread(target=_pump, args=(spec.name, proc.stdout), daemon=True).start()
            running.append((spec, proc))
            if spec.name == "fakes" and spec.port is not None:
                _wait_for_port(spec.port, 30, stopping)  # the bot and worker call the fakes at start
            if spec.name == "rasa-1" and spec.port is not None:
                # The first Rasa instance creates the tracker table; the others start once it is up, so two
                # CREATE TABLEs never race (and two TensorFlow loads do not share the CPU).
                _wait_for_port(spec.port, 300, stopping)
        _announce_when_ready(specs, running, stopping, progress)
        while not stopping.is_set():
            for spec, proc in running:
                if proc.poll() is not None:
                    progress(f"{spec.name} exited with code {proc.returncode}; stopping the others")
                    stopping.set()
            stopping.wait(1.0)
    except KeyboardInterrupt:
        progress("interrupted")
    finally:
        for _, proc in running:
            if proc.poll() is None:
                proc.terminate()
        for _, proc in running:
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()


def _bind_local_chats(environ: Mapping[str, str], progress: Callable[[str], None]) -> None:
    """Local mode: give every person and department a chat on the fake Telegram (idempotent)."""
    from bot.localmode.bindings import bind_local_chats
    from storage.db import database_url, make_engine, session_scope

    with session_scope(make_engine(database_url(environ))) as session:
        bound = bind_local_chats(session)
    progress(f"local mode: fake WeChat and Telegram APIs; chats bound for {bound.people} people, "
             f"{bound.departments} departments")


def _wait_for_port(port: int, seconds: float, stopping: threading.Event) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and not stopping.is_set() and not _port_open(port):
        stopping.wait(0.2)


def _announce_when_ready(
    specs: list[ProcessSpec],
    running: list[tuple[ProcessSpec, subprocess.Popen[str]]],
    stopping: threading.Event,
    progress: Callable[[str], None],
) -> None:
    """Wait (up to 3 minutes: Rasa loads TensorFlow) for every port, then print the URLs."""
    deadline = time.monotonic() + 180
    pending = {spec.name: spec.port for spec in specs if spec.port}
    while pending and time.monotonic() < deadline and not stopping.is_set():
        if any(proc.poll() is not None for _, proc in running):
            return
        for name, port in list(pending.items()):
            if port is not None and _port_open(port):
                pending.pop(name)
        stopping.wait(1.0)
    ports = {spec.name: spec.port for spec in specs}
    progress("GridSec is up:")
    progress(f"  console                http://127.0.0.1:{ports['console']}/")
    if "fakes" in ports:
        progress(f"  simulator              http://127.0.0.1:{ports['console']}/simulator")
    progress(f"  health                 http://127.0.0.1:{ports['console']}/healthz")
    progress(f"  Rasa REST channel      http://127.0.0.1:{ports['rasa']}/webhooks/rest/webhook")
    progress(f"  WeChat webhook         http://127.0.0.1:{ports['rasa']}/webhooks/wechat/webhook")
    progress(f"  action server          http://127.0.0.1:{ports['actions']}/health")
    if pending:
        progress("  still starting: " + ", ".join(sorted(pending)))
