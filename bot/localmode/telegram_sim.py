"""The simulator side of the fake Telegram Bot API: chat transcripts and injected updates.

The web console's simulator shows a grid worker's private chat and a department's group chat. What the bot
sent is recorded here as the fake answers it (buttons follow `editMessageReplyMarkup`); what a simulated person
does becomes a real Bot API update in the fake's getUpdates queue, so the real PTB bot handles it exactly as it
would handle Telegram's. Control API, under `/_sim/` on the fake:

- `GET  /_sim/chats/<chat_id>`: the transcript, oldest first;
- `POST /_sim/message`: `{chat_id, user_id, name?, text?, photo_b64?, reply_to?}` (a photo is served by getFile);
- `POST /_sim/press`: `{chat_id, user_id, name?, message_id, data}` (a callback_query on that bot message).
"""

from __future__ import annotations

import base64
import binascii
import logging
import time
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from bot.localmode.telegram_api import FakeTelegramAPI, FakeTelegramState

logger = logging.getLogger(__name__)

MAX_PHOTO_BYTES = 5 * 1024 * 1024
UPDATE_DATE = 1764460000


def _chat(chat_id: int) -> dict[str, Any]:
    if chat_id < 0:
        return {"id": chat_id, "type": "supergroup", "title": f"group {chat_id}"}
    return {"id": chat_id, "type": "private", "first_name": f"user {chat_id}"}


def _user(user_id: int, name: str | None) -> dict[str, Any]:
    return {"id": user_id, "is_bot": False, "first_name": name or f"user {user_id}"}


def _buttons(params: dict[str, Any]) -> list[list[dict[str, Any]]]:
    markup = params.get("reply_markup")
    if isinstance(markup, dict):
        return list(markup.get("inline_keyboard") or [])
    return []


def record_bot_call(
    state: FakeTelegramState, method: str, params: dict[str, Any], files: dict[str, bytes], result: Any
) -> None:
    """Add what a successful Bot API call showed in a chat to that chat's transcript."""
    if method in ("sendMessage", "sendPhoto") and isinstance(result, dict):
        chat_id = int(result["chat"]["id"])
        entry: dict[str, Any] = {
            "from": "bot",
            "message_id": result["message_id"],
            "text": params.get("text") or params.get("caption") or "",
            "buttons": _buttons(params),
            "at": time.time(),
        }
        if method == "sendPhoto":
            entry["photo"] = _keep_sent_photo(state, result["message_id"], params, files)
        with state.lock:
            state.transcripts.setdefault(chat_id, []).append(entry)
    elif method == "editMessageReplyMarkup":
        chat_id, message_id = int(params.get("chat_id") or 0), int(params.get("message_id") or 0)
        with state.lock:
            for entry in state.transcripts.get(chat_id, []):
                if entry.get("message_id") == message_id and entry["from"] == "bot":
                    entry["buttons"] = _buttons(params)
    elif method == "answerCallbackQuery" and params.get("text"):
        with state.lock:
            chat_id = state.callback_chats.pop(str(params.get("callback_query_id")), 0)
            if chat_id:
                state.transcripts.setdefault(chat_id, []).append(
                    {"from": "notice", "text": str(params["text"]), "at": time.time()}
                )


def _keep_sent_photo(
    state: FakeTelegramState, message_id: int, params: dict[str, Any], files: dict[str, bytes]
) -> str | None:
    """The file path under /file/bot<token>/ where the simulator can fetch the photo the bot sent."""
    if "photo" in files:
        file_id = f"sent-{message_id}"
        path = f"sent/{file_id}.jpg"
        with state.lock:
            state.files[file_id] = (path, files["photo"])
        return path
    known = state.files.get(str(params.get("photo")))
    return known[0] if known else None


def _bot_message(state: FakeTelegramState, chat_id: int, message_id: int) -> dict[str, Any] | None:
    with state.lock:
        for entry in state.transcripts.get(chat_id, []):
            if entry["from"] == "bot" and entry.get("message_id") == message_id:
                return dict(entry)
    return None


def _as_update_message(chat_id: int, entry: dict[str, Any]) -> dict[str, Any]:
    """A bot message from the transcript as Telegram embeds it in updates (reply_to_message, callback)."""
    from bot.localmode.telegram_api import BOT_ID, BOT_USERNAME

    message: dict[str, Any] = {
        "message_id": entry["message_id"],
        "date": UPDATE_DATE,
        "chat": _chat(chat_id),
        "from": {"id": BOT_ID, "is_bot": True, "first_name": "GridSec", "username": BOT_USERNAME},
    }
    if entry.get("photo"):
        message["caption"] = entry["text"]
        message["photo"] = [
            {"file_id": "sent-photo", "file_unique_id": "sent-photo-u", "width": 1, "height": 1}
        ]
    else:
        message["text"] = entry["text"]
    if entry.get("buttons"):
        message["reply_markup"] = {"inline_keyboard": entry["buttons"]}
    return message


def _int(body: dict[str, Any], key: str) -> int:
    try:
        return int(body[key])
    except (KeyError, TypeError, ValueError) as error:
        raise ValueError(f"{key} must be an integer") from error


def inject_message(api: FakeTelegramAPI, body: dict[str, Any]) -> dict[str, Any]:
    """A person writes (text, a command, a photo, optionally replying to a bot message) in a chat."""
    state = api.state
    chat_id, user_id = _int(body, "chat_id"), _int(body, "user_id")
    text = str(body.get("text") or "").strip()
    photo = body.get("photo_b64")
    if not text and not photo:
        raise ValueError("a message needs text or a photo")
    with state.lock:
        state.next_message_id += 1
        message_id = state.next_message_id
    message: dict[str, Any] = {
        "message_id": message_id,
        "date": UPDATE_DATE,
        "chat": _chat(chat_id),
        "from": _user(user_id, body.get("name")),
    }
    entry: dict[str, Any] = {"from": "user", "user_id": user_id, "name": body.get("name"), "text": text}
    if photo:
        data = _photo_bytes(str(photo))
        file_id = f"sim-photo-{message_id}"
        api.add_file(file_id, data, f"photos/{file_id}.jpg")
        message["photo"] = [
            {"file_id": file_id, "file_unique_id": file_id + "-u", "width": 640, "height": 480}
        ]
        if text:
            message["caption"] = text
        entry["photo"] = f"photos/{file_id}.jpg"
    elif text:
        message["text"] = text
        if text.startswith("/"):
            message["entities"] = [{"type": "bot_command", "offset": 0, "length": len(text.split()[0])}]
    reply_to = body.get("reply_to")
    if reply_to:
        original = _bot_message(state, chat_id, _int(body, "reply_to"))
        if original is None:
            raise ValueError(f"no bot message {reply_to} in chat {chat_id}")
        message["reply_to_message"] = _as_update_message(chat_id, original)
        entry["reply_to"] = original["message_id"]
    entry["at"] = time.time()
    with state.lock:
        state.transcripts.setdefault(chat_id, []).append(entry)
    update_id = api.push_update({"message": message})
    return {"update_id": update_id, "message_id": message_id}


def _photo_bytes(encoded: str) -> bytes:
    try:
        data = base64.b64decode(encoded.split(",", 1)[-1], validate=True)
    except (binascii.Error, ValueError) as error:
        raise ValueError("photo_b64 is not base64") from error
    if not data or len(data) > MAX_PHOTO_BYTES:
        raise ValueError(f"a photo must be 1 byte to {MAX_PHOTO_BYTES} bytes")
    return data


def inject_press(api: FakeTelegramAPI, body: dict[str, Any]) -> dict[str, Any]:
    """A person presses an inline button of a bot message: a callback_query update."""
    state = api.state
    chat_id, user_id, message_id = _int(body, "chat_id"), _int(body, "user_id"), _int(body, "message_id")
    original = _bot_message(state, chat_id, message_id)
    if original is None:
        raise ValueError(f"no bot message {message_id} in chat {chat_id}")
    data = str(body.get("data") or "")
    labels = [
        b.get("text") for row in original.get("buttons") or [] for b in row if b.get("callback_data") == data
    ]
    if not labels:
        raise ValueError("that message has no such button (any more)")
    with state.lock:
        state.next_message_id += 1
        query_id = f"sim-cq-{state.next_message_id}"
        state.callback_chats[query_id] = chat_id
        state.transcripts.setdefault(chat_id, []).append(
            {
                "from": "press",
                "user_id": user_id,
                "name": body.get("name"),
                "text": labels[0],
                "reply_to": message_id,
                "at": time.time(),
            }
        )
    update = {
        "callback_query": {
            "id": query_id,
            "from": _user(user_id, body.get("name")),
            "chat_instance": f"sim-{chat_id}",
            "data": data,
            "message": _as_update_message(chat_id, original),
        }
    }
    return {"update_id": api.push_update(update)}


def simulator_request(
    api: FakeTelegramAPI, command: str, parts: list[str], body: dict[str, Any]
) -> tuple[int, Any]:
    """Answer one `/_sim/...` request: (HTTP status, JSON payload). Bad input is a 400 with a message."""
    try:
        if command == "GET" and len(parts) == 2 and parts[0] == "chats":
            chat_id = int(parts[1])
            with api.state.lock:
                messages = [dict(entry) for entry in api.state.transcripts.get(chat_id, [])]
            return 200, {"chat_id": chat_id, "messages": messages}
        if command == "POST" and parts == ["message"]:
            return 200, inject_message(api, body)
        if command == "POST" and parts == ["press"]:
            return 200, inject_press(api, body)
    except ValueError as error:
        return 400, {"error": str(error)}
    return 404, {"error": "unknown simulator call"}
