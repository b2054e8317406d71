"""The local-mode simulator's routes on the console app: a resident on WeChat, a grid worker and a department
on Telegram, all through the real webhook and the real bot (bot/localmode's fakes stand in for Tencent and
Telegram).

`register_simulator(app, engine, environ)` adds, under `/sim/api/`:
- `GET presets`, `GET case-chats?openid=`, `GET grid-worker?grid=`;
- `POST wechat/send` `{openid, text | location | photo_b64 | event}`: signed XML to Rasa's WeChat webhook;
- `GET wechat/chat/<openid>`: what the resident wrote and what the account pushed to them;
- `GET telegram/chat/<chat_id>`, `POST telegram/message`, `POST telegram/press`: a Telegram chat on the fake,
  and a message, photo or button press injected as a real update; `GET telegram/file/<path>`: a photo.
Bad input is a 400 with a message; a service that is not up yet is a 503 saying which.
"""

from __future__ import annotations

import base64
import binascii
import logging
import secrets
from collections.abc import Mapping
from typing import Any

import httpx
from sanic import Sanic
from sanic.request import Request
from sanic.response import HTTPResponse, json, raw
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from bot.channels.wechat_config import WeChatChannelConfig
from bot.config import load_settings
from bot.web import simulator_presets as presets
from bot.web.simulator_wechat import SimulatorInputError, message_xml, post_to_webhook

logger = logging.getLogger(__name__)

TIMEOUT_S = 10.0
MAX_PHOTO_B64 = 7 * 1024 * 1024


def _fake_root(api_base: str | None, suffix: str) -> str | None:
    """`http://127.0.0.1:8081/bot` -> `http://127.0.0.1:8081` (the fake's root, where `/_sim/` lives)."""
    if not api_base:
        return None
    return api_base.rstrip("/").removesuffix(suffix.strip("/")).rstrip("/")


def _bad(message: str, status: int = 400) -> HTTPResponse:
    return json({"error": message}, status=status)


def _body(request: Request) -> dict[str, Any]:
    try:
        body = request.json
    except Exception:  # Sanic raises its own InvalidUsage subclasses for bad JSON
        raise SimulatorInputError("the body must be JSON") from None
    if not isinstance(body, dict):
        raise SimulatorInputError("the body must be a JSON object")
    return body


class _Simulator:
    """State of the routes: where Rasa and the fakes are, and the WeChat channel's signing config."""

    def __init__(self, engine: Engine, environ: Mapping[str, str]) -> None:
        settings = load_settings(environ)
        self.engine = engine
        self.webhook = f"http://127.0.0.1:{settings.rasa_port}/webhooks/wechat/webhook"
        self.wechat = WeChatChannelConfig.from_sources(None, environ)
        self.telegram_root = _fake_root(settings.telegram_api_base, "/bot")
        self.wechat_root = _fake_root(settings.wechat_api_base, "/cgi-bin")

    def client(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(timeout=TIMEOUT_S)

    async def fake(self, root: str | None, method: str, path: str, body: Any = None) -> HTTPResponse:
        """Relay a call to a fake's `/_sim/` API, passing its status and JSON through."""
        if root is None:
            return _bad("this console is not in local mode (no fake API configured)", 404)
        try:
            async with self.client() as client:
                response = await client.request(method, f"{root}{path}", json=body)
        except httpx.HTTPError as error:
            logger.warning("simulator: fake at %s unreachable: %s", root, error)
            return _bad(f"the fake API at {root} is not reachable yet", 503)
        return json(response.json(), status=response.status_code)

    async def send_wechat(self, body: dict[str, Any]) -> HTTPResponse:
        openid = str(body.get("openid") or "")
        if not openid.isascii() or not 6 <= len(openid) <= 64:
            raise SimulatorInputError("openid must be 6 to 64 ASCII characters")
        message = dict(body)
        shown = str(body.get("text") or "")
        if body.get("photo_b64"):
            message["media_id"] = await self._upload_photo(str(body["photo_b64"]))
            shown = "[照片]"
        elif isinstance(body.get("location"), dict):
            shown = f"[位置] {body['location'].get('label') or ''}".strip()
        xml = message_xml(openid, message)
        if body.get("event"):
            shown = "[关注公众号]"
        try:
            async with self.client() as client:
                await post_to_webhook(client, self.webhook, self.wechat, xml)
        except httpx.HTTPStatusError as error:
            logger.warning("simulator: WeChat webhook refused the message: %s", error)
            status = error.response.status_code
            return _bad(f"Rasa's WeChat webhook refused the message ({status}): check WECHAT_TOKEN/AES key", 502)
        except httpx.HTTPError as error:
            logger.warning("simulator: WeChat webhook failed: %s", error)
            return _bad(f"Rasa's WeChat webhook ({self.webhook}) is not answering yet: {error}", 503)
        await self.fake(self.wechat_root, "POST", "/_sim/inbound", {"openid": openid, "text": shown})
        return json({"ok": True})

    async def _upload_photo(self, encoded: str) -> str:
        if len(encoded) > MAX_PHOTO_B64:
            raise SimulatorInputError("the photo is too large (5 MB at most)")
        try:
            base64.b64decode(encoded.split(",", 1)[-1], validate=True)
        except (binascii.Error, ValueError):
            raise SimulatorInputError("photo_b64 is not base64") from None
        media_id = f"sim-{secrets.token_hex(8)}"
        response = await self.fake(self.wechat_root, "POST", "/_sim/media",
                                   {"media_id": media_id, "data_b64": encoded, "content_type": "image/jpeg"})
        if response.status != 200:
            raise SimulatorInputError("the fake WeChat API did not take the photo")
        return media_id

    async def telegram_file(self, path: str) -> HTTPResponse:
        if self.telegram_root is None or ".." in path:
            return _bad("no such file", 404)
        async with self.client() as client:
            response = await client.get(f"{self.telegram_root}/file/botlocal/{path}")
        if response.status_code != 200:
            return _bad("no such file", 404)
        return raw(response.content, content_type="image/jpeg")

    def look_up(self, work: Any) -> Any:
        with Session(self.engine, future=True) as session:
            return work(session)


def register_simulator(app: Sanic, engine: Engine, environ: Mapping[str, str]) -> None:
    """Add the simulator's `/sim/api/` routes to the console app (local mode; see module docstring)."""
    sim = _Simulator(engine, environ)

    @app.get("/sim/api/presets")
    async def sim_presets(_: Request) -> HTTPResponse:
        return json(presets.presets())

    @app.get("/sim/api/case-chats")
    async def sim_case_chats(request: Request) -> HTTPResponse:
        openid = request.args.get("openid", "")
        if not openid:
            return _bad("openid is required")
        return json(sim.look_up(lambda s: presets.latest_case_chats(s, openid)))

    @app.get("/sim/api/grid-worker")
    async def sim_grid_worker(request: Request) -> HTTPResponse:
        grid = request.args.get("grid", "")
        worker = sim.look_up(lambda s: presets.grid_worker_chat(s, grid)) if grid else None
        return json({"worker": worker}) if worker else _bad(f"no worker for grid {grid!r}", 404)

    @app.post("/sim/api/wechat/send")
    async def sim_wechat_send(request: Request) -> HTTPResponse:
        try:
            return await sim.send_wechat(_body(request))
        except SimulatorInputError as error:
            return _bad(str(error))

    @app.get("/sim/api/wechat/chat/<openid>")
    async def sim_wechat_chat(_: Request, openid: str) -> HTTPResponse:
        return await sim.fake(sim.wechat_root, "GET", f"/_sim/chats/{openid}")

    @app.get("/sim/api/telegram/chat/<chat_id:int>")
    async def sim_telegram_chat(_: Request, chat_id: int) -> HTTPResponse:
        return await sim.fake(sim.telegram_root, "GET", f"/_sim/chats/{chat_id}")

    async def telegram_act(request: Request, action: str) -> HTTPResponse:
        try:
            body = _body(request)
        except SimulatorInputError as error:
            return _bad(str(error))
        if len(str(body.get("photo_b64") or "")) > MAX_PHOTO_B64:
            return _bad("the photo is too large (5 MB at most)")
        return await sim.fake(sim.telegram_root, "POST", f"/_sim/{action}", body)

    @app.post("/sim/api/telegram/message")
    async def sim_telegram_message(request: Request) -> HTTPResponse:
        return await telegram_act(request, "message")

    @app.post("/sim/api/telegram/press")
    async def sim_telegram_press(request: Request) -> HTTPResponse:
        return await telegram_act(request, "press")

    @app.get("/sim/api/telegram/file/<path:path>")
    async def sim_telegram_file(_: Request, path: str) -> HTTPResponse:
        return await sim.telegram_file(path)
