"""A PTB `BaseRequest` that records what the Bot sends and answers from a script (STYLE.md §10)."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from telegram.error import TimedOut
from telegram.request import BaseRequest, RequestData

BOT_USER = {"id": 7000000001, "is_bot": True, "first_name": "GridSec", "username": "gridsec_test_bot"}


@dataclass
class Recorded:
    method: str
    parameters: dict[str, Any]


@dataclass
class RecordingRequest(BaseRequest):
    """Answers getMe and every send with ok; `script[method]` may hold (status, body) pairs or "timeout"."""

    calls: list[Recorded] = field(default_factory=list)
    script: dict[str, list[Any]] = field(default_factory=dict)
    message_ids: Callable[[], int] = field(default_factory=lambda: iter(range(1, 10**6)).__next__)

    async def initialize(self) -> None:
        return None

    async def shutdown(self) -> None:
        return None

    @property
    def read_timeout(self) -> float:
        return 1.0

    async def do_request(
        self,
        url: str,
        method: str,
        request_data: RequestData | None = None,
        read_timeout: Any = BaseRequest.DEFAULT_NONE,
        write_timeout: Any = BaseRequest.DEFAULT_NONE,
        connect_timeout: Any = BaseRequest.DEFAULT_NONE,
        pool_timeout: Any = BaseRequest.DEFAULT_NONE,
    ) -> tuple[int, bytes]:
        api_method = url.rsplit("/", 1)[-1]
        parameters = dict(request_data.parameters) if request_data else {}
        scripted = self.script.get(api_method)
        if scripted:
            outcome = scripted.pop(0)
            if outcome == "timeout":
                raise TimedOut("scripted timeout")
            status, body = outcome
            return status, json.dumps(body).encode()
        self.calls.append(Recorded(api_method, parameters))
        if api_method == "getMe":
            result: Any = BOT_USER
        elif api_method in ("sendMessage", "sendPhoto"):
            chat_id = int(str(parameters["chat_id"]))
            result = {
                "message_id": self.message_ids(),
                "date": 0,
                "chat": {"id": chat_id, "type": "private"},
                "text": parameters.get("text", ""),
            }
        else:
            result = True
        return 200, json.dumps({"ok": True, "result": result}).encode()

    def sent(self, method: str = "sendMessage") -> list[dict[str, Any]]:
        return [call.parameters for call in self.calls if call.method == method]
