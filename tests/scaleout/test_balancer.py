"""The round-robin balancer (`python -m bot.balancer`) in front of real HTTP backends on loopback."""

from __future__ import annotations

import json
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.scaleout.stack import Proc
from tests.support.sanic_server import free_port


class _Echo(BaseHTTPRequestHandler):
    server: Any

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the stdlib's signature
        pass

    def do_GET(self) -> None:  # noqa: N802 - the stdlib's name
        self._answer(b"")

    def do_POST(self) -> None:  # noqa: N802
        self._answer(self.rfile.read(int(self.headers.get("Content-Length") or 0)))

    def _answer(self, body: bytes) -> None:
        if self.path.startswith("/die"):  # the backend dies while answering: no status line at all
            self.connection.shutdown(2)
            self.close_connection = True
            return
        answer = json.dumps(
            {
                "backend": self.server.name,
                "path": self.path,
                "body": body.decode(),
                "forwarded_for": self.headers.get("X-Forwarded-For"),
            }
        ).encode()
        self.send_response(201 if self.command == "POST" else 200)
        self.send_header("Content-Type", "application/json")
        self.send_header("X-Backend", self.server.name)
        self.send_header("Content-Length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer)


@contextmanager
def backend(name: str) -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Echo)
    server.name = name  # type: ignore[attr-defined]
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@contextmanager
def balancer(tmp_path: Path, urls: list[str]) -> Iterator[str]:
    port = free_port()
    argv = [sys.executable, "-m", "bot.balancer", "--port", str(port)]
    argv += [arg for url in urls for arg in ("--backend", url)]
    import os

    proc = Proc("balancer", argv, dict(os.environ), tmp_path, port, ready_path=None)
    try:
        proc.start(30)
        yield proc.url
    finally:
        proc.stop()


@pytest.mark.slow
def test_requests_alternate_and_pass_through_unchanged(tmp_path: Path) -> None:
    with backend("a") as a, backend("b") as b, balancer(tmp_path, [a, b]) as url:
        answers = [
            httpx.post(f"{url}/webhooks/rest/webhook?x=1", content="你好".encode(), timeout=10)
            for _ in range(4)
        ]
    assert [answer.status_code for answer in answers] == [201] * 4
    bodies = [answer.json() for answer in answers]
    assert {body["backend"] for body in bodies[0::2]} != {body["backend"] for body in bodies[1::2]}
    assert {body["backend"] for body in bodies} == {"a", "b"}
    assert all(body["path"] == "/webhooks/rest/webhook?x=1" and body["body"] == "你好" for body in bodies)
    assert all(body["forwarded_for"] == "127.0.0.1" for body in bodies)
    assert answers[0].headers["X-Backend"] == bodies[0]["backend"]


@pytest.mark.slow
def test_a_backend_refusing_connections_is_skipped_and_none_reachable_is_a_clear_503(tmp_path: Path) -> None:
    dead = f"http://127.0.0.1:{free_port()}"
    with backend("a") as alive, balancer(tmp_path, [dead, alive]) as url:
        answers = [httpx.get(f"{url}/status", timeout=10) for _ in range(4)]
        assert [answer.json()["backend"] for answer in answers] == ["a"] * 4
    with balancer(tmp_path, [dead]) as url:
        nothing = httpx.get(f"{url}/status", timeout=10)
    assert nothing.status_code == 503 and nothing.json()["error"] == "no_backend"


@pytest.mark.slow
def test_a_backend_dying_mid_answer_is_not_retried_elsewhere(tmp_path: Path) -> None:
    with backend("a") as a, backend("b") as b, balancer(tmp_path, [a, b]) as url:
        answers = [httpx.post(f"{url}/die", content=b"turn", timeout=10) for _ in range(2)]
    assert [answer.status_code for answer in answers] == [
        502,
        502,
    ]  # the turn may have run: the caller decides
    assert answers[0].json()["error"] == "bad_gateway"
