"""WeChat channel configuration and the lazily built wechatpy client.

Configuration comes from `credentials.yml` (the `bot.channels.wechat.WeChatInput:` section) and falls back
to the environment read by `bot.config.load_settings`. With no credentials the channel runs in local mode:
token `gridsec-local`, plaintext, and the API base URL from WECHAT_API_BASE (the fake server on loopback).
Nothing here opens a connection: the client is built on first use, and fetches its token only then.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import requests
from wechatpy import WeChatClient
from wechatpy.session import SessionStorage

from bot.config import LOCAL_WECHAT_TOKEN, Secret, load_settings

logger = logging.getLogger(__name__)

OFFICIAL_API_BASE = "https://api.weixin.qq.com/cgi-bin/"
LOCAL_APP_ID = "wxgridseclocal0000"
LOCAL_APP_SECRET = "gridsec-local-secret"
DEFAULT_TIMEOUT_S = 5.0


@dataclass(frozen=True)
class WeChatChannelConfig:
    """What the WeChat channel and sender need. Secrets are `Secret`s and never print."""

    token: Secret
    app_id: str
    app_secret: Secret | None = None
    aes_key: Secret | None = None
    api_base: str | None = None
    template_id: str | None = None
    subscribe_template_id: str | None = None
    token_store: str | None = None  # redis:// URL: one access token shared by every process

    @property
    def safe_mode(self) -> bool:
        """AES safe mode is on when an EncodingAESKey is configured."""
        return self.aes_key is not None

    @property
    def api_base_url(self) -> str:
        """The API base URL, always ending with `/` (wechatpy joins endpoints onto it)."""
        base = self.api_base or OFFICIAL_API_BASE
        return base if base.endswith("/") else base + "/"

    @classmethod
    def from_sources(
        cls, credentials: Mapping[str, Any] | None, environ: Mapping[str, str]
    ) -> WeChatChannelConfig:
        """Credentials-file values first, then the environment (WECHAT_TOKEN, WECHAT_AES_KEY, ...)."""
        creds = {key: str(value) for key, value in (credentials or {}).items() if value not in (None, "")}
        settings = load_settings(environ)
        token = Secret(creds["token"]) if "token" in creds else settings.wechat_token
        aes = Secret(creds["aes_key"]) if "aes_key" in creds else settings.wechat_aes_key
        secret = Secret(creds["app_secret"]) if "app_secret" in creds else settings.wechat_secret
        return cls(
            token=token,
            app_id=creds.get("app_id") or settings.wechat_app_id or LOCAL_APP_ID,
            app_secret=secret,
            aes_key=aes,
            api_base=creds.get("api_base") or settings.wechat_api_base,
            template_id=creds.get("template_id") or environ.get("WECHAT_TEMPLATE_ID") or None,
            subscribe_template_id=creds.get("subscribe_template_id")
            or environ.get("WECHAT_SUBSCRIBE_TEMPLATE_ID")
            or None,
            token_store=creds.get("token_store") or environ.get("WECHAT_TOKEN_STORE") or None,
        )

    @classmethod
    def local(cls, api_base: str | None = None) -> WeChatChannelConfig:
        """Local mode as the contract fixes it: token `gridsec-local`, plaintext."""
        return cls(token=Secret(LOCAL_WECHAT_TOKEN), app_id=LOCAL_APP_ID, api_base=api_base)


class _TimeoutSession(requests.Session):
    """A requests session with a default timeout (wechatpy's token fetch passes none and could hang)."""

    def __init__(self, timeout: float) -> None:
        super().__init__()
        self.default_timeout = timeout

    def request(self, method: str, url: str, *args: Any, **kwargs: Any) -> requests.Response:  # type: ignore[override]
        if kwargs.get("timeout") is None:
            kwargs["timeout"] = self.default_timeout
        return super().request(method, url, *args, **kwargs)


class GridSecWeChatClient(WeChatClient):
    """wechatpy's client with a per-instance API base URL, the token endpoint included.

    wechatpy joins every endpoint onto `self.API_BASE_URL` (an instance attribute overrides the class's),
    but `fetch_access_token` hard-codes api.weixin.qq.com; this override sends it to the same base.
    """

    def __init__(
        self,
        appid: str,
        secret: str,
        *,
        api_base_url: str,
        timeout: float = DEFAULT_TIMEOUT_S,
        session: SessionStorage | None = None,
    ) -> None:
        super().__init__(appid, secret, session=session, timeout=timeout)
        self.API_BASE_URL = api_base_url
        self._http = _TimeoutSession(timeout)

    def fetch_access_token(self) -> dict[str, Any]:
        """GET `<base>token` with the client-credential grant (as wechatpy does, on our base URL)."""
        return self._fetch_access_token(
            url=f"{self.API_BASE_URL}token",
            params={"grant_type": "client_credential", "appid": self.appid, "secret": self.secret},
        )


def token_storage(config: WeChatChannelConfig) -> SessionStorage | None:
    """Where access tokens live: Redis when `token_store` is set, else None (wechatpy's per-process memory).

    WeChat issues one live token per app: a process that fetches a new one retires the others' after five
    minutes, so several Rasa servers and workers must share it. The Redis client connects on first use.
    """
    if not config.token_store:
        return None
    import redis
    from wechatpy.session.redisstorage import RedisStorage

    return RedisStorage(redis.Redis.from_url(config.token_store), prefix=f"gridsec:wechat:{config.app_id}")


def build_client(config: WeChatChannelConfig) -> GridSecWeChatClient:
    """A wechatpy client for `config` (no network until the first API call)."""
    from bot.log_redaction import protect

    protect(config.app_secret, config.token, config.aes_key)  # urllib3 logs the token URL at DEBUG
    secret = config.app_secret.reveal() if config.app_secret else LOCAL_APP_SECRET
    return GridSecWeChatClient(
        config.app_id, secret, api_base_url=config.api_base_url, session=token_storage(config)
    )
