"""The simulator's routes over real HTTP: signed (and AES) WeChat XML into the real WeChat channel, and Telegram
chats on the fake Bot API (transcripts, buttons that follow edits, presses and messages injected as updates)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from datetime import datetime, timezone
from typing import Any

import httpx
import pytest
from sanic import Sanic
from sqlalchemy.engine import Engine
from telegram import Bot, InlineKeyboardButton, InlineKeyboardMarkup

from bot.localmode.telegram_api import FakeTelegramAPI, running_fake_telegram
from bot.web.simulator import register_simulator
from tests.channels.conftest import AES_KEY, Webhook, fake_wechat, start_webhook  # noqa: F401 - fixtures
from tests.fakes.wechat_api import FakeWeChatAPI
from tests.support.sanic_server import free_port, serve_sanic

OPENID = "oSimResident0000000000000001"
TOKEN = "123456:sim-test"


@pytest.fixture()
def fake_telegram() -> Iterator[FakeTelegramAPI]:
    with running_fake_telegram() as fake:
        yield fake


@pytest.fixture()
def simulator(
    engine: Engine, fake_wechat: FakeWeChatAPI, fake_telegram: FakeTelegramAPI  # noqa: F811 - fixture
) -> Iterator[Callable[..., str]]:
    """Start a console app with only the simulator routes: `simulator(rasa_port=..., aes=False)` -> base URL."""
    stack = ExitStack()

    def start(*, rasa_port: int, aes: bool = False) -> str:
        environ = {"RASA_PORT": str(rasa_port), "WECHAT_API_BASE": fake_wechat.base_url,
                   "TELEGRAM_API_BASE": fake_telegram.api_base}
        if aes:
            environ["WECHAT_AES_KEY"] = AES_KEY
        app = Sanic(f"sim_routes_{uuid.uuid4().hex[:12]}")
        register_simulator(app, engine, environ)
        return stack.enter_context(serve_sanic(app))

    yield start
    stack.close()


def _port(url: str) -> int:
    return int(url.rsplit(":", 1)[1])


@pytest.mark.parametrize("aes", [False, True], ids=["plaintext", "aes"])
def test_a_resident_message_reaches_the_real_channel_signed(
    start_webhook: Callable[..., Webhook], simulator: Callable[..., str], fake_wechat: FakeWeChatAPI, aes: bool,  # noqa: F811
) -> None:
    webhook = start_webhook(aes=aes, clock=lambda: datetime.now(timezone.utc))  # the simulator signs with now
    base = simulator(rasa_port=_port(webhook.url), aes=aes)
    sent = httpx.post(f"{base}/sim/api/wechat/send", json={"openid": OPENID, "text": "越华路12号门口垃圾没人清"})
    assert sent.status_code == 200, sent.text
    located = httpx.post(f"{base}/sim/api/wechat/send",
                         json={"openid": OPENID, "location": {"lat": 23.1318, "lng": 113.2602, "label": "越华路12号"}})
    assert located.status_code == 200, located.text
    webhook.finish()
    texts = [(m.sender_id, m.text) for m in webhook.agent.messages]
    assert (OPENID, "越华路12号门口垃圾没人清") in texts
    assert len(webhook.agent.messages) == 2
    chat = httpx.get(f"{base}/sim/api/wechat/chat/{OPENID}").json()
    assert [m["text"] for m in chat["messages"]] == ["越华路12号门口垃圾没人清", "[位置] 越华路12号"]


def test_bad_input_is_a_400_with_a_message_and_rasa_down_is_a_503(simulator: Callable[..., str]) -> None:
    base = simulator(rasa_port=free_port())  # nothing listens there
    cases: list[tuple[Any, str]] = [
        ({"openid": OPENID}, "send text"),
        ({"openid": OPENID, "text": "  "}, "text must be"),
        ({"openid": "x", "text": "hi"}, "openid"),
        ({"openid": OPENID, "location": {"lat": "north", "lng": 1}}, "numeric"),
        ({"openid": OPENID, "photo_b64": "not base64!"}, "base64"),
        ([1, 2], "JSON object"),
    ]
    for body, message in cases:
        answer = httpx.post(f"{base}/sim/api/wechat/send", json=body)
        assert answer.status_code == 400 and message in answer.json()["error"], (body, answer.text)
    broken = httpx.post(f"{base}/sim/api/wechat/send", content=b"{not json", headers={"Content-Type": "application/json"})
    assert broken.status_code == 400
    down = httpx.post(f"{base}/sim/api/wechat/send", json={"openid": OPENID, "text": "有人吗"})
    assert down.status_code == 503 and "not answering" in down.json()["error"]


async def _bot_sends_a_card(fake: FakeTelegramAPI, chat_id: int) -> tuple[int, Bot]:
    bot = Bot(TOKEN, base_url=fake.api_base)
    await bot.initialize()
    keyboard = InlineKeyboardMarkup([[InlineKeyboardButton("响应", callback_data="gs|YX-20261130-0001|respond|")]])
    message = await bot.send_message(chat_id, "【新任务】YX-20261130-0001 越华路12号", reply_markup=keyboard)
    return message.message_id, bot


def test_telegram_chats_show_cards_and_inject_presses_and_replies(
    simulator: Callable[..., str], fake_telegram: FakeTelegramAPI
) -> None:
    base = simulator(rasa_port=free_port())
    chat = -100000001

    async def scenario() -> None:
        message_id, bot = await _bot_sends_a_card(fake_telegram, chat)
        shown = httpx.get(f"{base}/sim/api/telegram/chat/{chat}").json()["messages"]
        assert shown[0]["buttons"][0][0]["text"] == "响应" and shown[0]["message_id"] == message_id

        pressed = httpx.post(f"{base}/sim/api/telegram/press",
                             json={"chat_id": chat, "user_id": 42, "message_id": message_id,
                                   "data": "gs|YX-20261130-0001|respond|"})
        assert pressed.status_code == 200, pressed.text
        updates = await bot.get_updates()
        query = updates[-1].callback_query
        assert query is not None and query.data == "gs|YX-20261130-0001|respond|"
        assert query.message is not None and "YX-20261130-0001" in (query.message.text or "")
        await query.answer("已记录：YX-20261130-0001 → responded")
        await bot.edit_message_reply_markup(chat, message_id, reply_markup=None)

        replied = httpx.post(f"{base}/sim/api/telegram/message",
                             json={"chat_id": chat, "user_id": 42, "text": "收到，明天派人去", "reply_to": message_id})
        assert replied.status_code == 200
        update = (await bot.get_updates(offset=updates[-1].update_id + 1))[-1]
        assert update.message is not None and update.message.reply_to_message is not None
        assert update.message.reply_to_message.message_id == message_id
        await bot.shutdown()

    asyncio.run(scenario())
    entries = httpx.get(f"{base}/sim/api/telegram/chat/{chat}").json()["messages"]
    assert [e["from"] for e in entries] == ["bot", "press", "notice", "user"]
    assert entries[0]["buttons"] == []  # the edit removed the buttons
    stale = httpx.post(f"{base}/sim/api/telegram/press", json={"chat_id": chat, "user_id": 42,
                                                               "message_id": entries[0]["message_id"], "data": "x"})
    assert stale.status_code == 400 and "no such button" in stale.json()["error"]
    assert httpx.post(f"{base}/sim/api/telegram/message", json={"chat_id": chat, "user_id": 42}).status_code == 400
    assert httpx.post(f"{base}/sim/api/telegram/message", json={"chat_id": "x", "user_id": 42, "text": "a"}).status_code == 400
