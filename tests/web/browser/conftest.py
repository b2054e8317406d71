"""The whole local stack for browser tests, and headless Chromium driven by Playwright.

The stack is what `gridsec serve` runs in local mode, on free ports: the fake WeChat and Telegram APIs, Rasa with
the trained model (`bot.nlu.training.ensure_model()`), the action server, the console, the worker and the
Telegram bot, on a fresh PostgreSQL schema seeded with the real Yuexiu organisation. Process specs come from
`bot.serve.process_specs` and the local-mode environment from `bot.localmode.local_environ`, so the tests start
the same commands an operator does. Logs go to var/browser-logs/; screenshots to var/screenshots/.

Chromium is Debian's (`make setup` installs it); Playwright never downloads a browser here.
"""

from __future__ import annotations

import os
import socket
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import create_engine, text

from bot.config import REPO_ROOT

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking"]
SCREENSHOTS = REPO_ROOT / "var" / "screenshots"
LOGS = REPO_ROOT / "var" / "browser-logs"
POSTGRES_URL = os.environ.get("TEST_POSTGRES_URL", "postgresql+psycopg2://postgres@127.0.0.1:5432/test")
START_TIMEOUT_S = 600  # Rasa and the Telegram bot each load TensorFlow and the model; 5+ min on a busy 2-core box
CREDENTIAL_VARIABLES = ("WECHAT_APP_SECRET", "WECHAT_TOKEN", "WECHAT_AES_KEY", "WECHAT_API_BASE", "TELEGRAM_TOKEN",
                        "TELEGRAM_API_BASE", "TELEGRAM_WEBHOOK_URL", "GRIDSEC_LOCAL_FAKES")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class LocalStack:
    """A running local GridSec: its URLs, its database and its processes (with their log files)."""

    console: str
    rasa: str
    database_url: str
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    logs: dict[str, Path] = field(default_factory=dict)

    def log_tail(self, name: str, lines: int = 40) -> str:
        path = self.logs.get(name)
        if path is None or not path.exists():
            return ""
        return "\n".join(path.read_text(encoding="utf-8", errors="replace").splitlines()[-lines:])

    def diagnostics(self) -> str:
        return "\n".join(f"--- {name} ---\n{self.log_tail(name)}" for name in self.processes)

    def check_alive(self) -> None:
        dead = {name: proc.returncode for name, proc in self.processes.items() if proc.poll() is not None}
        if dead:
            raise AssertionError(f"processes exited: {dead}\n{self.diagnostics()}")


@contextmanager
def _schema_database() -> Iterator[str]:
    schema = f"gs_browser_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    admin = create_engine(POSTGRES_URL)
    with admin.begin() as connection:
        connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    try:
        yield f"{POSTGRES_URL}?options=-csearch_path%3D{schema}"
    finally:
        with admin.begin() as connection:
            connection.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        admin.dispose()


def _seed(url: str) -> None:
    from storage.db import make_engine, session_scope
    from storage.migrate import upgrade
    from storage.seed import seed_all

    upgrade(url)
    engine = make_engine(url)
    with session_scope(engine) as session:
        seed_all(session)
    engine.dispose()


def _environment(url: str, tmp: Path) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if key not in CREDENTIAL_VARIABLES}
    env.update(
        DATABASE_URL=url,
        RASA_PORT=str(free_port()),
        ACTION_PORT=str(free_port()),
        CONSOLE_PORT=str(free_port()),
        FAKE_TELEGRAM_PORT=str(free_port()),
        FAKE_WECHAT_PORT=str(free_port()),
        RASA_TELEMETRY_ENABLED="false",
        GRIDSEC_LOG_LEVEL="INFO",
        PYTHONUNBUFFERED="1",
    )
    return env


def _endpoints_file(tmp: Path, action_port: str) -> Path:
    """Rasa's endpoints with the action server on this run's port (endpoints.yml fixes :5055)."""
    path = tmp / "endpoints.yml"
    path.write_text(f'action_endpoint:\n  url: "http://127.0.0.1:{action_port}/webhook"\n', encoding="utf-8")
    return path


def _wait_http(url: str, stack: LocalStack, deadline: float, ok: Any = None) -> None:
    while time.monotonic() < deadline:
        stack.check_alive()
        try:
            response = httpx.get(url, timeout=3)
            if response.status_code == 200 and (ok is None or ok(response)):
                return
        except httpx.HTTPError:
            pass
        time.sleep(1)
    raise AssertionError(f"{url} did not come up in time\n{stack.diagnostics()}")


def _start(env: dict[str, str], tmp: Path, model: Path, stack: LocalStack) -> None:
    from bot.serve import process_specs

    endpoints = _endpoints_file(tmp, env["ACTION_PORT"])
    LOGS.mkdir(parents=True, exist_ok=True)
    for spec in process_specs(env, model):
        argv = list(spec.argv)
        if "--endpoints" in argv:
            argv[argv.index("--endpoints") + 1] = str(endpoints)
        log = LOGS / f"{spec.name}.log"
        stack.logs[spec.name] = log
        with log.open("wb") as handle:
            stack.processes[spec.name] = subprocess.Popen(argv, cwd=REPO_ROOT, env=env, stdout=handle,
                                                          stderr=subprocess.STDOUT)
        if spec.name == "fakes":
            _wait_http(f"http://127.0.0.1:{env['FAKE_TELEGRAM_PORT']}/_sim/chats/1", stack,
                       time.monotonic() + 30)


def _stop(stack: LocalStack) -> None:
    for proc in stack.processes.values():
        if proc.poll() is None:
            proc.terminate()
    for proc in stack.processes.values():
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


@pytest.fixture(scope="session")
def local_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    """Start the local-mode stack once for all browser tests; stop it at the end."""
    from bot.localmode import local_environ
    from bot.localmode.bindings import bind_local_chats
    from bot.nlu.training import ensure_model
    from storage.db import make_engine, session_scope

    model = ensure_model()
    tmp = tmp_path_factory.mktemp("stack")
    with _schema_database() as url:
        _seed(url)
        env = local_environ(_environment(url, tmp))
        engine = make_engine(url)
        with session_scope(engine) as session:
            bind_local_chats(session)
        engine.dispose()
        stack = LocalStack(console=f"http://127.0.0.1:{env['CONSOLE_PORT']}",
                           rasa=f"http://127.0.0.1:{env['RASA_PORT']}", database_url=url)
        try:
            _start(env, tmp, model, stack)
            deadline = time.monotonic() + START_TIMEOUT_S
            _wait_http(f"{stack.console}/healthz", stack, deadline)
            _wait_http(f"http://127.0.0.1:{env['ACTION_PORT']}/health", stack, deadline)
            _wait_http(f"{stack.rasa}/status", stack, deadline, ok=lambda r: bool(r.json().get("model_file")))
            yield stack
        finally:
            _stop(stack)


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    assert Path(CHROMIUM).exists(), "Debian's chromium is missing: `make setup` installs it (apt-get install chromium)"
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield chromium
        chromium.close()


@pytest.fixture()
def new_page(browser: Any) -> Iterator[Callable[[], Any]]:
    """`new_page()` opens a page in a fresh browser context (its own cookies); uncaught page errors fail the test."""
    contexts: list[Any] = []
    errors: list[str] = []

    def open_page() -> Any:
        context = browser.new_context(viewport={"width": 1440, "height": 900}, locale="zh-CN")
        context.set_default_timeout(20_000)
        contexts.append(context)
        opened = context.new_page()
        opened.on("pageerror", lambda error: errors.append(f"{opened.url}: {error}"))
        return opened

    yield open_page
    for context in contexts:
        context.close()
    assert not errors, f"JavaScript errors in the pages: {errors}"


@pytest.fixture()
def page(new_page: Callable[[], Any]) -> Any:
    return new_page()


def screenshot(page: Any, name: str) -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=False)
    return path


TIMEOUT_MS = 90_000


def card_button(page: Any, pane: str, code: str, label: str) -> Any:
    """The button `label` on a bot message in a simulator pane that names case `code`."""
    return page.locator(f"#{pane}-log .bot-card", has_text=code).locator(".tg-button", has_text=label)


def press(page: Any, pane: str, code: str, label: str, *, then_gone: bool = True) -> None:
    """Press a card's button; by default wait until the bot has edited it away (the press was handled)."""
    from playwright.sync_api import expect

    button = card_button(page, pane, code, label)
    button.last.wait_for(state="visible", timeout=TIMEOUT_MS)
    button.last.click()
    if then_gone:
        expect(button).to_have_count(0, timeout=TIMEOUT_MS)


def wait_bot_text(page: Any, pane: str, pattern: str) -> None:
    """Wait for a bot message in a pane (WeChat replies or Telegram messages) matching `pattern`."""
    import re

    selector = "#wechat-log .bot-reply" if pane == "wechat" else f"#{pane}-log .bot-card"
    page.locator(selector, has_text=re.compile(pattern)).last.wait_for(state="visible", timeout=TIMEOUT_MS)


def login(page: Any, console: str, username: str, password: str = "gridsec-demo") -> None:
    import re

    page.goto(f"{console}/")
    page.fill("#login-username", username)
    page.fill("#login-password", password)
    page.click("#login-submit")
    page.locator("#me", has_text=re.compile(".+")).wait_for(timeout=TIMEOUT_MS)
