"""WeChat inbound checks not covered in tests/channels: echo verification freshness, a replayed request after
the freshness window, and replay in AES safe mode (where the message signature covers the ciphertext).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import ExitStack
from datetime import datetime, timedelta
from pathlib import Path

import httpx
import pytest
from rasa.core.run import configure_app
from sanic import Sanic
from sqlalchemy import func, select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from bot.channels.wechat import WeChatInput
from storage.models import InboundDedupe
from tests.channels.conftest import NOW, TOKEN, RecordingAgent, Webhook, fixture_xml, make_config, sign
from tests.security.conftest import running_fake_wechat
from tests.support.sanic_server import serve_sanic


class MovableClock:
    def __init__(self) -> None:
        self.now = NOW

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture()
def hook_factory(
    engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Callable[[bool, MovableClock], Webhook]]:
    monkeypatch.setattr(Sanic, "test_mode", True)
    with ExitStack() as stack:
        fake = stack.enter_context(running_fake_wechat())

        def start(aes: bool, clock: MovableClock) -> Webhook:
            channel = WeChatInput(
                make_config(fake.base_url, aes=aes), engine=engine, clock=clock, media_root=tmp_path
            )
            app = configure_app([channel], enable_api=False)
            agent = RecordingAgent()
            app.ctx.agent = agent
            url = stack.enter_context(serve_sanic(app))
            return Webhook(url=url, channel=channel, agent=agent, fake=fake, stack=stack)

        yield start


def dedupe_rows(engine: Engine) -> int:
    with Session(engine, future=True) as session:
        return int(
            session.execute(
                select(func.count()).select_from(InboundDedupe).where(InboundDedupe.channel == "wechat")
            ).scalar_one()
        )


def test_echo_verification_refuses_a_stale_signature(
    hook_factory: Callable[[bool, MovableClock], Webhook],
) -> None:
    hook = hook_factory(False, MovableClock())
    fresh = httpx.get(hook.endpoint, params=hook.query() | {"echostr": "e-1"}, timeout=10)
    stale_query = hook.query(timestamp=int((NOW - timedelta(minutes=6)).timestamp()))
    stale = httpx.get(hook.endpoint, params=stale_query | {"echostr": "e-2"}, timeout=10)
    assert (fresh.status_code, fresh.text) == (200, "e-1")
    assert stale.status_code == 403 and "e-2" not in stale.text


@pytest.mark.parametrize("aes", [False, True], ids=["plaintext", "aes"])
def test_a_captured_request_replayed_after_the_window_is_refused(
    hook_factory: Callable[[bool, MovableClock], Webhook], engine: Engine, aes: bool
) -> None:
    """An attacker who captured a whole signed request cannot make it count again, now or later."""
    clock = MovableClock()
    hook = hook_factory(aes, clock)
    query = hook.query()
    first = hook.post(fixture_xml("text", msg_id="7200001"), query=query)
    clock.now = NOW + timedelta(minutes=6)
    later = hook.post(fixture_xml("text", msg_id="7200001"), query=query)
    forged = hook.post(fixture_xml("text", msg_id="7200002", content="伪造"), query=query)
    hook.finish()
    assert (first.status_code, later.status_code, forged.status_code) == (200, 403, 403)
    assert [message.text for message in hook.agent.messages] == ["越华路12号门口井盖坏了"]
    assert dedupe_rows(engine) == 1


def test_aes_ciphertext_swapped_under_a_valid_query_is_refused(
    hook_factory: Callable[[bool, MovableClock], Webhook], engine: Engine
) -> None:
    """In safe mode msg_signature covers the Encrypt field: another captured ciphertext under a genuine query fails."""
    hook = hook_factory(True, MovableClock())
    crypto = hook.channel.crypto
    assert crypto is not None

    def captured(msg_id: str, content: str) -> tuple[dict[str, str], bytes]:
        """A request as WeChat sent it: its query (with msg_signature) and its encrypted envelope."""
        query = hook.query()
        envelope = crypto.encrypt_message(
            fixture_xml("text", msg_id=msg_id, content=content), query["nonce"], query["timestamp"]
        )
        cipher = envelope.split("<Encrypt><![CDATA[")[1].split("]]>")[0]
        body = f"<xml><ToUserName><![CDATA[gh]]></ToUserName><Encrypt><![CDATA[{cipher}]]></Encrypt></xml>"
        signed = query | {
            "encrypt_type": "aes",
            "msg_signature": sign(TOKEN, query["timestamp"], query["nonce"], cipher),
        }
        return signed, body.encode()

    query_a, body_a = captured("7300001", "越华路12号门口井盖坏了")
    _, body_b = captured("7300002", "另一条")
    answers = [
        httpx.post(hook.endpoint, params=query_a, content=body_a, timeout=10),
        httpx.post(
            hook.endpoint, params=query_a, content=body_b, timeout=10
        ),  # B's ciphertext under A's query
    ]
    hook.finish()
    assert [answer.status_code for answer in answers] == [200, 403]
    assert [message.text for message in hook.agent.messages] == ["越华路12号门口井盖坏了"]
    assert dedupe_rows(engine) == 1
