"""A small round-robin HTTP reverse proxy: one entry point (:5005, :5055) in front of several Rasa or action servers.

Nginx is what a multi-node deployment puts here (docs/scaling.md); on one machine this keeps `gridsec serve`
free of system packages. Each request goes to the next backend in turn. A backend that refuses the connection
never saw the request, so the request is retried on the next one (safe even for a POST) and the dead backend
is skipped for `COOL_OFF_S`. A backend that dies *after* taking a request is not retried (the request may have
had effects): the caller gets a 502 and retries, as it would through Nginx (`proxy_next_upstream error`).
Order within one conversation is not the balancer's job: Rasa's Redis lock store serialises a conversation's
turns across instances, whichever instance each message lands on.

Run: `python -m bot.balancer --port 5005 --backend http://127.0.0.1:5105 --backend http://127.0.0.1:5106`.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import logging
import time
from collections.abc import AsyncIterator, Sequence

import aiohttp
import uvloop
from aiohttp import web

logger = logging.getLogger(__name__)

COOL_OFF_S = 2.0  # how long a backend that refused a connection is skipped
CONNECT_TIMEOUT_S = 2.0
READ_TIMEOUT_S = (
    300.0  # a Rasa turn with a slow action can take long; WeChat turns run in the background anyway
)
MAX_BODY_BYTES = 16 * 1024 * 1024
# Hop-by-hop headers (RFC 9110 §7.6.1), Host, and the length aiohttp recomputes. Bodies pass through as bytes
# (compressed ones stay compressed, with their Content-Encoding).
_SKIPPED_HEADERS = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
        "host",
        "content-length",
    }
)


class Backends:
    """The upstream servers, handed out in turn; a backend that refused a connection sits out a while."""

    def __init__(self, urls: Sequence[str]) -> None:
        if not urls:
            raise ValueError("a balancer needs at least one backend")
        self.urls = [url.rstrip("/") for url in urls]
        self._turn = itertools.cycle(range(len(self.urls)))
        self._down_until: dict[str, float] = {}

    def order(self) -> list[str]:
        """Every backend once, starting with the next in turn; backends cooling off go last."""
        start = next(self._turn)
        rotated = self.urls[start:] + self.urls[:start]
        now = time.monotonic()
        return sorted(rotated, key=lambda url: self._down_until.get(url, 0.0) > now)

    def mark_down(self, url: str) -> None:
        self._down_until[url] = time.monotonic() + COOL_OFF_S


def _forwarded_headers(request: web.Request) -> dict[str, str]:
    headers = {name: value for name, value in request.headers.items() if name.lower() not in _SKIPPED_HEADERS}
    peer = request.remote or ""
    prior = request.headers.get("X-Forwarded-For")
    headers["X-Forwarded-For"] = f"{prior}, {peer}" if prior else peer
    return headers


async def _proxy(request: web.Request) -> web.StreamResponse:
    backends: Backends = request.app["backends"]
    session: aiohttp.ClientSession = request.app["session"]
    body = await request.read()
    headers = _forwarded_headers(request)
    tried: list[str] = []
    for base in backends.order():
        try:
            async with session.request(
                request.method,
                base + request.rel_url.path_qs,
                headers=headers,
                data=body,
                allow_redirects=False,
            ) as upstream:
                payload = await upstream.read()
                kept = {k: v for k, v in upstream.headers.items() if k.lower() not in _SKIPPED_HEADERS}
                return web.Response(status=upstream.status, body=payload, headers=kept)
        except aiohttp.ClientConnectorError:  # never reached the backend: safe to try the next one
            backends.mark_down(base)
            tried.append(base)
        except (aiohttp.ClientError, asyncio.TimeoutError) as error:
            logger.warning("backend %s failed mid-request: %s", base, error)
            return web.json_response(
                {
                    "error": "bad_gateway",
                    "detail": f"the backend failed while answering: {type(error).__name__}",
                },
                status=502,
            )
    logger.error("no backend reachable: %s", ", ".join(tried))
    return web.json_response(
        {"error": "no_backend", "detail": "no backend is reachable; try again"}, status=503
    )


def create_app(backend_urls: Sequence[str]) -> web.Application:
    """The proxy as an aiohttp application (any method, any path)."""
    app = web.Application(client_max_size=MAX_BODY_BYTES)
    app["backends"] = Backends(backend_urls)

    async def client_session(app: web.Application) -> AsyncIterator[None]:
        timeout = aiohttp.ClientTimeout(total=READ_TIMEOUT_S, connect=CONNECT_TIMEOUT_S)
        async with aiohttp.ClientSession(timeout=timeout, auto_decompress=False) as session:
            app["session"] = session
            yield

    app.cleanup_ctx.append(client_session)
    app.router.add_route("*", "/{tail:.*}", _proxy)
    return app


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--backend", action="append", required=True, help="base URL of one upstream server")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    # uvloop (in the lock via Sanic, which Rasa and the action server already run on): the proxy is all socket
    # work, and on the default loop it took about 2 ms of CPU per proxied request (docs/scaling.md)
    asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    web.run_app(create_app(args.backend), host=args.host, port=args.port, access_log=None, print=None)


if __name__ == "__main__":
    main()
