"""`gridsec serve`: start every GridSec process on localhost and supervise them.

Processes: the Rasa server (:5005, REST + WeChat channels, /model/parse), the rasa-sdk action server (:5055),
the web console and API (:8000) and the background worker (time limits + outbox delivery). Output is prefixed
with the process name; Ctrl-C (or SIGTERM) stops them all. If one process dies, the others are stopped too, so an
operator never runs a half-started service by mistake.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from bot.config import REPO_ROOT, load_settings

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class ProcessSpec:
    name: str
    argv: list[str]
    port: int | None


def process_specs(environ: Mapping[str, str], model_path: Path) -> list[ProcessSpec]:
    """The processes of one local GridSec, with the ports they answer on."""
    settings = load_settings(environ)
    bin_dir = Path(sys.executable).parent
    rasa = str(bin_dir / "rasa")
    gridsec = str(bin_dir / "gridsec")
    specs = [
        ProcessSpec(
            "rasa",
            [rasa, "run", "--enable-api", "--port", str(settings.rasa_port), "--model", str(model_path),
             "--credentials", "credentials.yml", "--endpoints", "endpoints.yml"],
            settings.rasa_port,
        ),
        ProcessSpec("actions", [rasa, "run", "actions", "--port", str(settings.action_port), "--actions", "actions"],
                    settings.action_port),
        ProcessSpec("console", [gridsec, "console"], settings.console_port),
        ProcessSpec("worker", [gridsec, "worker"], None),
    ]
    if settings.telegram_token is not None or settings.telegram_api_base:
        specs.append(ProcessSpec("telegram", [gridsec, "telegram"], None))
    return specs


def _pump(name: str, stream: object) -> None:
    for line in iter(stream.readline, ""):  # type: ignore[attr-defined]
        sys.stdout.write(f"{name:>8} | {line}")
        sys.stdout.flush()


def _port_open(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def serve_all(environ: Mapping[str, str], progress: Callable[[str], None]) -> None:
    """Start and supervise all processes until interrupted or until one of them exits."""
    from bot.nlu.training import ensure_model
    from storage.db import database_url
    from storage.migrate import upgrade

    # Migrations are idempotent and quick; running them here means a `gridsec serve` without `make setup`
    # (or after a pull that added a revision) never starts workers against an old schema.
    progress("migrating the database")
    upgrade(database_url(environ))
    model_path = ensure_model(force=False, progress=progress)
    specs = process_specs(environ, model_path)
    env = dict(os.environ)
    running: list[tuple[ProcessSpec, subprocess.Popen[str]]] = []
    stopping = threading.Event()

    def stop(*_: object) -> None:
        stopping.set()

    signal.signal(signal.SIGTERM, stop)
    try:
        for spec in specs:
            progress(f"starting {spec.name}" + (f" on :{spec.port}" if spec.port else ""))
            proc = subprocess.Popen(spec.argv, cwd=REPO_ROOT, env=env, stdout=subprocess.PIPE,
                                    stderr=subprocess.STDOUT, text=True, bufsize=1)
            threading.Thread(target=_pump, args=(spec.name, proc.stdout), daemon=True).start()
            running.append((spec, proc))
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
    progress(f"  console and simulator  http://127.0.0.1:{ports['console']}/")
    progress(f"  health                 http://127.0.0.1:{ports['console']}/healthz")
    progress(f"  Rasa REST channel      http://127.0.0.1:{ports['rasa']}/webhooks/rest/webhook")
    progress(f"  WeChat webhook         http://127.0.0.1:{ports['rasa']}/webhooks/wechat/webhook")
    progress(f"  action server          http://127.0.0.1:{ports['actions']}/health")
    if pending:
        progress("  still starting: " + ", ".join(sorted(pending)))
