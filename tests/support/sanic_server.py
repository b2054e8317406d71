"""Run a Sanic app on a real loopback port for a test: real HTTP, no sanic-testing.

sanic-testing cannot co-install here (it caps httpx below 0.24; python-telegram-bot 22 needs 0.27+), and a real
socket is what the webhooks face in production anyway. The server runs on its own event loop in a thread.
"""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sanic import Sanic


def free_port() -> int:
    """A TCP port that is free on 127.0.0.1 right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def serve_sanic(app: Sanic, port: int | None = None) -> Iterator[str]:
    """Serve `app` on 127.0.0.1 until the block ends; yields the base URL (no trailing slash)."""
    # Test mode lets several apps start in one process: Sanic's start-up "touchup" rewrites HttpProtocol's
    # methods, and only in test mode does it keep the originals to rewrite again for the next app.
    Sanic.test_mode = True
    port = port or free_port()
    loop = asyncio.new_event_loop()
    started = threading.Event()
    state: dict[str, Any] = {}

    async def start() -> None:
        server = await app.create_server(
            host="127.0.0.1", port=port, return_asyncio_server=True, access_log=False
        )
        assert server is not None
        await server.startup()
        await server.before_start()
        await server.after_start()
        state["server"] = server

    def run() -> None:
        asyncio.set_event_loop(loop)
        try:
            loop.run_until_complete(start())
        except BaseException as error:  # surface start-up failures in the test, not in a dead thread
            state["error"] = error
            started.set()
            return
        started.set()
        loop.run_forever()

    thread = threading.Thread(target=run, name=f"sanic-{app.name}", daemon=True)
    thread.start()
    if not started.wait(30):
        raise RuntimeError(f"{app.name} did not start within 30 s")
    if "error" in state:
        raise RuntimeError(f"{app.name} failed to start") from state["error"]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        async def stop() -> None:
            server = state["server"]
            await server.before_stop()
            await server.close()
            await server.after_stop()

        asyncio.run_coroutine_threadsafe(stop(), loop).result(30)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(30)
        loop.close()
