"""bot.endpoint_sessions: Rasa's `EndpointConfig.request`, unchanged, over one kept-alive session per endpoint."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import pytest
from aiohttp import web
from rasa.utils.endpoints import ClientResponseError, EndpointConfig

import bot.channels.wechat  # noqa: F401 - importing the WeChat channel installs the patches, as `rasa run` does
from bot import endpoint_sessions


@asynccontextmanager
async def action_server(keepalive_timeout: float = 75.0) -> AsyncIterator[str]:
    """An HTTP server on loopback that answers with the number of the TCP connection the request came on."""
    connections: list[object] = []  # kept, so that no two connections are ever confused

    async def webhook(request: web.Request) -> web.Response:
        body = await request.json()
        if body.get("fail"):
            return web.json_response({"error": "refused"}, status=400)
        if not any(seen is request.transport for seen in connections):
            connections.append(request.transport)
        number = next(n for n, seen in enumerate(connections) if seen is request.transport)
        return web.json_response({"connection": number, "echo": body, "token": request.query.get("token")})

    app = web.Application()
    app.router.add_post("/webhook", webhook)
    runner = web.AppRunner(app, keepalive_timeout=keepalive_timeout)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        yield f"http://127.0.0.1:{port}/webhook"
    finally:
        await runner.cleanup()


def run(scenario: Callable[[], Any]) -> Any:
    async def main() -> Any:
        try:
            return await scenario()
        finally:
            await endpoint_sessions.close_all()

    return asyncio.run(main())


def test_the_wechat_channel_installs_the_shared_sessions() -> None:
    assert endpoint_sessions.installed()


def test_action_calls_reuse_one_connection_and_answer_as_rasa_does() -> None:
    async def scenario() -> list[Any]:
        async with action_server() as url:
            endpoint = EndpointConfig(url, token="s3cret")
            return [await endpoint.request(json={"next_action": f"a{n}"}, method="post") for n in range(3)]

    answers = run(scenario)
    assert [answer["echo"] for answer in answers] == [{"next_action": f"a{n}"} for n in range(3)]
    assert {answer["token"] for answer in answers} == {"s3cret"}  # Rasa's parameters still go with every call
    assert len({answer["connection"] for answer in answers}) == 1  # one TCP connection (Rasa's: one per call)


def test_rasas_own_session_opened_a_connection_per_call() -> None:
    # the behaviour the patch replaces, measured the same way, so the test above can fail
    async def scenario() -> set[int]:
        async with action_server() as url:
            endpoint, connections_seen = EndpointConfig(url), set()
            for _ in range(3):
                async with endpoint_sessions.RASA_SESSION(endpoint) as session, session.post(url, json={}) as answer:
                    connections_seen.add((await answer.json())["connection"])
            return connections_seen

    assert len(run(scenario)) == 3


def test_errors_are_rasas_client_response_error() -> None:
    async def scenario() -> None:
        async with action_server() as url:
            await EndpointConfig(url).request(json={"fail": True}, method="post")

    with pytest.raises(ClientResponseError) as raised:
        run(scenario)
    assert raised.value.status == 400


def test_a_connection_the_server_closed_is_replaced() -> None:
    async def scenario() -> list[int]:
        async with action_server(keepalive_timeout=0.2) as url:
            endpoint = EndpointConfig(url)
            first = await endpoint.request(json={}, method="post")
            await asyncio.sleep(1.5)  # the server has closed the idle connection; ours would keep it 2 s
            second = await endpoint.request(json={}, method="post")
            return [first["connection"], second["connection"]]

    first, second = run(scenario)
    assert first != second


def test_a_restarted_server_is_reached_again_and_stopping_closes_the_session() -> None:
    async def scenario() -> tuple[dict[str, Any], dict[str, Any], bool]:
        async with action_server() as url:
            endpoint = EndpointConfig(url)
            before = await endpoint.request(json={"n": 1}, method="post")
        async with action_server() as url:  # a new server (new port): as after a restart behind the balancer
            endpoint.url = url
            after = await endpoint.request(json={"n": 2}, method="post")
        async with endpoint.session() as session:
            await endpoint_sessions.close_all()
            return before, after, session.closed

    before, after, closed = run(scenario)
    assert (before["echo"], after["echo"], closed) == ({"n": 1}, {"n": 2}, True)


def test_idle_connections_close_before_sanics_keep_alive() -> None:
    # Sanic (Rasa's and the action server's server) closes idle connections after 5 s
    assert endpoint_sessions.KEEPALIVE_S < 5.0
