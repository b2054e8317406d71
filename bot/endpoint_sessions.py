"""One long-lived HTTP session per Rasa endpoint, instead of a new session and connection for every call.

Rasa 3.6's `EndpointConfig.request` opens `async with self.session()` around each request, so every action call
builds an aiohttp `ClientSession`, opens a TCP connection to the action server (or its balancer), and closes
both. Sampled on the Rasa servers under WeChat load that was 6.3 % of their GIL time (docs/scaling.md), and the
balancer and action server paid for the accept too. `install()` makes `EndpointConfig.session()` hand out one
session per endpoint and event loop, kept open, so its connections are reused. `request` itself is Rasa's,
unchanged: same headers, parameters, timeout and errors.

Idle connections close after `KEEPALIVE_S`, before the servers' own keep-alive ends (Sanic: 5 s, aiohttp: 75 s):
the client ends idle connections, so a request does not race the server closing one. `close_all()` closes the
sessions when the Rasa server stops (the WeChat channel's `before_server_stop`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from types import TracebackType

import aiohttp
from rasa.utils.endpoints import DEFAULT_REQUEST_TIMEOUT, EndpointConfig

KEEPALIVE_S = 2.0
RASA_SESSION: Callable[[EndpointConfig], aiohttp.ClientSession] = EndpointConfig.session
"""Rasa's own method, kept for the tests that compare the two."""

_SESSIONS_ATTRIBUTE = "_gridsec_sessions"
_OPEN: list[tuple[asyncio.AbstractEventLoop, aiohttp.ClientSession]] = []  # for close_all


class SharedSession:
    """What `EndpointConfig.session()` returns once installed: `async with` gives the open session, and leaves it open."""

    def __init__(self, session: aiohttp.ClientSession) -> None:
        self.session = session

    async def __aenter__(self) -> aiohttp.ClientSession:
        return self.session

    async def __aexit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        return None


def _new_session(endpoint: EndpointConfig) -> aiohttp.ClientSession:
    # Rasa's session settings (EndpointConfig.session), plus the connector's shorter keep-alive
    auth = None
    if endpoint.basic_auth:
        auth = aiohttp.BasicAuth(endpoint.basic_auth["username"], endpoint.basic_auth["password"])
    return aiohttp.ClientSession(
        headers=endpoint.headers,
        auth=auth,
        timeout=aiohttp.ClientTimeout(total=DEFAULT_REQUEST_TIMEOUT),
        connector=aiohttp.TCPConnector(keepalive_timeout=KEEPALIVE_S),
    )


def shared_session(endpoint: EndpointConfig) -> SharedSession:
    """The endpoint's open session on the running event loop (made on first use, again if it was closed)."""
    loop = asyncio.get_running_loop()
    sessions: dict[int, tuple[asyncio.AbstractEventLoop, aiohttp.ClientSession]]
    sessions = endpoint.__dict__.setdefault(_SESSIONS_ATTRIBUTE, {})
    known = sessions.get(id(loop))
    if known is None or known[0] is not loop or known[1].closed:
        known = (loop, _new_session(endpoint))
        sessions[id(loop)] = known
        _OPEN.append(known)
    return SharedSession(known[1])


async def close_all() -> None:
    """Close the sessions made on the running loop (when the server stops); later calls make new ones."""
    loop = asyncio.get_running_loop()
    mine = [session for owner, session in _OPEN if owner is loop]
    _OPEN[:] = [(owner, session) for owner, session in _OPEN if owner is not loop and not owner.is_closed()]
    for session in mine:
        await session.close()


def install() -> None:
    """Make every `EndpointConfig` reuse its session (idempotent)."""
    EndpointConfig.session = shared_session  # type: ignore[assignment,method-assign]


def installed() -> bool:
    """Whether `install()` ran in this process."""
    return EndpointConfig.session is shared_session  # type: ignore[comparison-overlap]
