"""Fuzzing the WeChat webhook with hypothesis over real HTTP: zero 5xx, zero errors in the log.

Random query strings (signed and not, odd timestamps), random signed bodies in plaintext and in AES safe mode
(encrypted and signed as WeChat does), random GET verifications.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st
from rasa.core.run import configure_app
from sanic import Sanic
from sqlalchemy.engine import Engine

from bot.channels.wechat import WeChatInput
from tests.channels.conftest import NOW, OPENID, TOKEN, RecordingAgent, Webhook, make_config, sign
from tests.security.conftest import running_fake_wechat
from tests.security.fuzzing import ALLOWED_WECHAT, SOAK, WECHAT_QUICK, ErrorLog
from tests.support.sanic_server import serve_sanic


@pytest.fixture()
def wechat_hooks(
    engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[dict[str, Webhook]]:
    """A plaintext and an AES safe-mode WeChat webhook on loopback, each a Rasa app with our connector."""
    monkeypatch.setattr(Sanic, "test_mode", True)
    with ExitStack() as stack:
        fake = stack.enter_context(running_fake_wechat())
        hooks = {}
        for mode in ("plain", "aes"):
            channel = WeChatInput(
                make_config(fake.base_url, aes=mode == "aes"),
                engine=engine,
                clock=lambda: NOW,
                media_root=tmp_path / "media",
                photo_reader=lambda data: None,
            )
            app = configure_app([channel], enable_api=False)
            agent = RecordingAgent()
            app.ctx.agent = agent
            url = stack.enter_context(serve_sanic(app))
            hooks[mode] = Webhook(url=url, channel=channel, agent=agent, fake=fake, stack=stack)
        yield hooks


QUERY_KEYS = st.sampled_from(
    ["signature", "timestamp", "nonce", "msg_signature", "encrypt_type", "echostr", "openid"]
)
ODD_TEXT = st.one_of(
    st.text(max_size=30),
    st.sampled_from(
        ["", "0", "-1", "1e9", " 1764381600", "１７６４３８１６００", "9" * 400, "nan", "aes", "%00", "../"]
    ),
)
TIMESTAMPS = st.one_of(st.integers(min_value=-(10**20), max_value=10**20).map(str), ODD_TEXT)
XML_TAGS = st.sampled_from(
    [
        "ToUserName",
        "FromUserName",
        "CreateTime",
        "MsgType",
        "MsgId",
        "Content",
        "Event",
        "EventKey",
        "Location_X",
        "Location_Y",
        "Scale",
        "Label",
        "MediaId",
        "PicUrl",
        "Recognition",
        "Format",
        "x",
        "Encrypt",
    ]
)
XML_VALUES = st.one_of(
    st.text(max_size=60),
    st.sampled_from(
        [
            "text",
            "image",
            "voice",
            "location",
            "event",
            "subscribe",
            "CLICK",
            "LOCATION",
            "video",
            "link",
            OPENID,
            str(int(NOW.timestamp())),
            "6054768590064713728",
            "-1",
            "1" * 25,
            "]]>",
        ]
    ),
)


def random_message(fields: list[tuple[str, str]], cdata: bool) -> str:
    def value(text: str) -> str:
        return f"<![CDATA[{text.replace(']]>', '')}]]>" if cdata else escape(text)

    return "<xml>" + "".join(f"<{tag}>{value(text)}</{tag}>" for tag, text in fields) + "</xml>"


def fuzz_wechat_once(
    hooks: dict[str, Webhook],
    query: dict[str, str],
    stamp: str,
    fields: list[tuple[str, str]],
    cdata: bool,
    raw: bytes,
) -> None:
    plain, aes = hooks["plain"], hooks["aes"]
    body = random_message(fields, cdata)
    nonce = plain.next_nonce()
    signed = {"signature": sign(TOKEN, stamp, nonce), "timestamp": stamp, "nonce": nonce}
    answers = [
        httpx.post(plain.endpoint, params=query, content=body.encode(), timeout=10),  # random, unsigned
        httpx.post(plain.endpoint, params=query | signed, content=raw, timeout=10),  # any timestamp, signed
        httpx.get(plain.endpoint, params=query | signed | {"echostr": "e"}, timeout=10),
        plain.post(body),  # well signed and fresh: only the body is random
        plain.post(raw),
        aes.post(body),  # encrypted and signed as WeChat does
        httpx.post(aes.endpoint, params=query | signed | {"encrypt_type": "aes"}, content=raw, timeout=10),
    ]
    statuses = [answer.status_code for answer in answers]
    assert set(statuses) <= ALLOWED_WECHAT, (statuses, query, stamp, body, raw)


WECHAT_INPUTS = {
    "query": st.dictionaries(QUERY_KEYS, ODD_TEXT, max_size=5),
    "stamp": TIMESTAMPS,
    "fields": st.lists(st.tuples(XML_TAGS, XML_VALUES), max_size=8),
    "cdata": st.booleans(),
    "raw": st.binary(max_size=300),
}


@WECHAT_QUICK
@given(**WECHAT_INPUTS)
def test_wechat_webhook_fuzz_gives_no_5xx_and_logs_no_error(
    wechat_hooks: dict[str, Webhook], error_log: ErrorLog, **inputs: Any
) -> None:
    fuzz_wechat_once(wechat_hooks, **inputs)
    assert error_log.summary() == []


@pytest.mark.soak
@SOAK
@given(**WECHAT_INPUTS)
def test_wechat_webhook_soak_fuzz(
    wechat_hooks: dict[str, Webhook], error_log: ErrorLog, **inputs: Any
) -> None:
    fuzz_wechat_once(wechat_hooks, **inputs)
    assert error_log.summary() == []
