"""Pure parts and the sender's error mapping, with a real PTB Bot on a RecordingRequest."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.orm import Session

from bot.senders.telegram import TelegramSender, telegram_senders
from bot.telegram import callbacks, cards
from bot.telegram.app import file_base_for
from bot.telegram.callbacks import BadCallbackData, ButtonPress
from bot.telegram.understanding import ReplyAction, reply_action
from storage.errors import PermanentSendError, RetryableSendError
from storage.outbox import OutgoingMessage
from tests.telegram.recording_request import RecordingRequest

CODE = "YX-20261130-0001"


def test_callback_data_round_trips_and_fits_telegram_limit() -> None:
    press = ButtonPress(CODE, "dispatch", "JDB-440104001")
    data = callbacks.encode(press)
    assert callbacks.decode(data) == press and len(data.encode()) <= 64


@pytest.mark.parametrize(
    "data",
    [
        None,
        "",
        "gs|YX-1|respond|",
        "xx|YX-20261130-0001|respond|",
        "gs|YX-20261130-0001|delete|",
        "gs|YX-20261130-0001|dispatch|a b",
        "gs|YX-20261130-0001|respond",
    ],
)
def test_foreign_or_tampered_callback_data_is_refused(data: str | None) -> None:
    with pytest.raises(BadCallbackData):
        callbacks.decode(data)


def test_find_case_code_in_a_card_text() -> None:
    assert callbacks.find_case_code(f"【派单】{CODE}\n类别：x") == CODE
    assert callbacks.find_case_code("收到") is None


def test_worker_card_has_its_four_buttons_and_the_masked_contact() -> None:
    params = {
        "case_code": CODE,
        "category": "环境卫生",
        "address": "三眼井12号",
        "description": "垃圾",
        "resident_contact": "138****5678",
    }
    extras = cards.CardExtras(due_local="11-30 10:30", stage="respond", limit_text="30m")
    text, markup = cards.render("task.new_case", "person", params, extras)
    assert (
        text.splitlines()[0] == f"【新任务】{CODE}"
        and "138****5678" in text
        and "30m 内响应，11-30 10:30 前" in text
    )
    assert markup is not None
    labels = [button.text for row in markup.inline_keyboard for button in row]
    assert labels == ["响应", "现场处置完成", "需部门处置", "退回/非本网格"]
    assert all(
        callbacks.decode(str(button.callback_data)).case_code == CODE
        for row in markup.inline_keyboard
        for button in row
    )


def test_dispatch_menu_puts_the_suggestion_first() -> None:
    markup = cards.dispatch_menu(CODE, "SWJ", [("CGZF", "城管"), ("SWJ", "水务")])
    first = markup.inline_keyboard[0][0]
    assert first.text == "✅ 水务" and callbacks.decode(str(first.callback_data)) == ButtonPress(
        CODE, "dispatch", "SWJ"
    )


def test_reminders_use_the_shared_texts_without_buttons() -> None:
    params = {
        "case_code": CODE,
        "category": "环境卫生",
        "stage": "respond",
        "due_local": "11-30 10:30",
        "description": "垃圾",
        "address": "x",
    }
    text, markup = cards.render("task.reminder", "person", params, cards.CardExtras())
    assert text.startswith("【提醒】") and CODE in text and markup is None


def test_unknown_template_raises_key_error() -> None:
    with pytest.raises(KeyError):
        cards.render("no.such.template", "person", {}, cards.CardExtras())


@pytest.mark.parametrize(
    ("parse", "text", "expected"),
    [
        (
            {"intent": {"name": "dept_accept", "confidence": 0.93}, "entities": []},
            "收到，明天派人去",
            ReplyAction("sign"),
        ),
        (
            {
                "intent": {"name": "dept_return", "confidence": 0.88},
                "entities": [{"entity": "department", "value": "SWJ"}],
            },
            "这个不归我们管，应该是水务 ",
            ReplyAction("dreturn", reason="这个不归我们管，应该是水务", suggested_department="SWJ"),
        ),
        ({"intent": {"name": "dept_done", "confidence": 0.8}, "entities": []}, "已处理", ReplyAction("done")),
        (
            {"intent": {"name": "dept_need_info", "confidence": 0.7}, "entities": []},
            "具体哪个门牌？",
            ReplyAction("need_info"),
        ),
        ({"intent": {"name": "dept_accept", "confidence": 0.3}, "entities": []}, "嗯", None),
        ({"intent": {"name": "report_problem", "confidence": 0.99}, "entities": []}, "路灯坏了", None),
        ({}, "", None),
    ],
)
def test_department_reply_parse_maps_to_a_card_action(
    parse: dict[str, Any], text: str, expected: ReplyAction | None
) -> None:
    assert reply_action(parse, text) == expected


def test_file_base_follows_the_api_base() -> None:
    assert file_base_for("http://127.0.0.1:8081/bot") == "http://127.0.0.1:8081/file/bot"
    assert file_base_for("https://api.telegram.org/bot") == "https://api.telegram.org/file/bot"


def test_telegram_senders_only_with_an_api(session_factory: Callable[[], Session]) -> None:
    assert telegram_senders({}, session_factory) == {}
    assert set(telegram_senders({"TELEGRAM_API_BASE": "http://127.0.0.1:1/bot"}, session_factory)) == {
        "telegram"
    }
    assert set(telegram_senders({"TELEGRAM_TOKEN": "1:x"}, session_factory)) == {"telegram"}


def message(template: str = "telegram.text", address: str = "1001", **params: Any) -> OutgoingMessage:
    return OutgoingMessage(
        1, "telegram", "person", "GW-1", address, template, {"text": "你好", **params}, "k1", 1
    )


def make_sender(session_factory: Callable[[], Session], request: RecordingRequest) -> TelegramSender:
    # A clock that jumps 1,000 s per reading: every cool-off has passed by the next message.
    ticks = itertools.count(0.0, 1000.0)
    return TelegramSender(
        session_factory, token="1:x", request=request, timeout_s=1.0, monotonic=lambda: next(ticks)
    )


def test_retry_after_pauses_the_sender_for_telegrams_delay(session_factory: Callable[[], Session]) -> None:
    now = [0.0]
    flood = (
        429,
        {"ok": False, "error_code": 429, "description": "Too Many", "parameters": {"retry_after": 20}},
    )
    request = RecordingRequest(script={"sendMessage": [flood]})
    sender = TelegramSender(
        session_factory, token="1:x", request=request, timeout_s=1.0, monotonic=lambda: now[0]
    )
    try:
        with pytest.raises(RetryableSendError):
            sender.send(message())
        now[0] = 19.0
        with pytest.raises(RetryableSendError, match="not calling"):
            sender.send(message())
        now[0] = 21.0
        sender.send(message())
    finally:
        sender.close()
    assert len(request.sent()) == 1


def test_sender_sends_text_through_the_bot(session_factory: Callable[[], Session]) -> None:
    request = RecordingRequest()
    sender = make_sender(session_factory, request)
    try:
        sender.send(message())
        sender.send(message())
    finally:
        sender.close()
    assert [call.method for call in request.calls] == ["getMe", "sendMessage", "sendMessage"]
    assert request.sent()[0]["chat_id"] == 1001 and request.sent()[0]["text"] == "你好"


@pytest.mark.parametrize(
    ("outcome", "error"),
    [
        ((500, {"ok": False, "error_code": 500, "description": "Internal"}), RetryableSendError),
        ((502, {"ok": False, "error_code": 502, "description": "Bad Gateway"}), RetryableSendError),
        (
            (
                429,
                {"ok": False, "error_code": 429, "description": "Too Many", "parameters": {"retry_after": 3}},
            ),
            RetryableSendError,
        ),
        ("timeout", RetryableSendError),
        (
            (400, {"ok": False, "error_code": 400, "description": "Bad Request: chat not found"}),
            PermanentSendError,
        ),
        (
            (403, {"ok": False, "error_code": 403, "description": "Forbidden: bot was blocked"}),
            PermanentSendError,
        ),
    ],
)
def test_sender_maps_failures_to_retry_or_park(
    session_factory: Callable[[], Session], outcome: Any, error: type
) -> None:
    request = RecordingRequest(script={"sendMessage": [outcome]})
    sender = make_sender(session_factory, request)
    try:
        with pytest.raises(error):
            sender.send(message())
        sender.send(message())  # the next try goes through
    finally:
        sender.close()
    assert len(request.sent()) == 1


def test_sender_parks_what_it_cannot_address_or_render(session_factory: Callable[[], Session]) -> None:
    sender = make_sender(session_factory, RecordingRequest())
    try:
        with pytest.raises(PermanentSendError):
            sender.send(message(address="o-wechat-openid"))
        with pytest.raises(PermanentSendError):
            sender.send(message(template="no.such.template"))
        with pytest.raises(PermanentSendError):
            sender.send(message(text="  "))
    finally:
        sender.close()


def test_sender_clears_a_cards_buttons(session_factory: Callable[[], Session]) -> None:
    request = RecordingRequest()
    sender = make_sender(session_factory, request)
    try:
        sender.clear_buttons(-5001, 42)
    finally:
        sender.close()
    edits = [call.parameters for call in request.calls if call.method == "editMessageReplyMarkup"]
    assert edits == [{"chat_id": -5001, "message_id": 42}]


def test_trained_model_path_prefers_the_newest_and_never_trains(tmp_path: Path) -> None:
    import os

    from bot.telegram.understanding import trained_model_path

    assert trained_model_path(tmp_path) is None
    old, new = tmp_path / "gridsec-aaaa.tar.gz", tmp_path / "gridsec-bbbb.tar.gz"
    old.write_bytes(b"x")
    new.write_bytes(b"y")
    os.utime(old, (1, 1))
    assert trained_model_path(tmp_path) == new
