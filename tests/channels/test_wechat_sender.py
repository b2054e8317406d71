"""WeChat replies go to the outbox; the WeChat sender delivers them through the fake API on loopback."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import datetime, timedelta, timezone

import pytest
from freezegun import freeze_time
from sqlalchemy import select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from bot.channels.wechat import WeChatOutput
from bot.channels.wechat_config import LOCAL_APP_ID, WeChatChannelConfig
from bot.channels.wechat_store import last_inbound_at
from bot.config import Secret
from bot.senders.wechat import WeChatSender, render_text
from storage.dedupe import first_seen
from storage.errors import PermanentSendError
from storage.models import OutboxMessage
from storage.outbox import OutgoingMessage, backoff, deliver_due, enqueue
from tests.channels.conftest import OPENID, TOKEN
from tests.fakes.wechat_api import FakeWeChatAPI

T0 = datetime(2026, 11, 29, 2, 0, tzinfo=timezone.utc)
CUSTOM = "message/custom/send"
TEMPLATE = "message/template/send"
SUBSCRIBE = "message/template/subscribe"


def sender_config(
    fake: FakeWeChatAPI, *, template_id: str | None = "TPL_CASE_PROGRESS", subscribe: str | None = None
) -> WeChatChannelConfig:
    return WeChatChannelConfig(
        token=Secret(TOKEN),
        app_id=LOCAL_APP_ID,
        api_base=fake.base_url,
        template_id=template_id,
        subscribe_template_id=subscribe,
    )


def resident_wrote(session_factory: Callable[[], Session], at: datetime, openid: str = OPENID) -> None:
    with session_factory() as session, session.begin():
        first_seen(session, "wechat", f"{openid}:m:{int(at.timestamp())}", at)


def queue_text(session_factory: Callable[[], Session], text: str, at: datetime, key: str = "k1") -> int:
    with session_factory() as session, session.begin():
        row = enqueue(
            session,
            recipient_kind="resident",
            recipient_id=OPENID,
            template="wechat.text",
            params={"text": text},
            idempotency_key=key,
            now=at,
            channel="wechat",
        )
        session.flush()
        return int(row.id)


def outbox_row(session_factory: Callable[[], Session], row_id: int) -> OutboxMessage:
    with session_factory() as session:
        row = session.get(OutboxMessage, row_id)
        assert row is not None
        session.expunge(row)
        return row


def test_wechat_output_enqueues_and_never_calls_the_api(
    session_factory: Callable[[], Session], fake_wechat: FakeWeChatAPI
) -> None:
    output = WeChatOutput(session_factory, clock=lambda: T0, turn_key=f"{OPENID}:m:42")
    asyncio.run(output.send_text_message(OPENID, "已收到，请问具体在哪个位置？"))
    asyncio.run(
        output.send_text_with_buttons(
            OPENID,
            "是在这里吗？",
            [{"title": "越华路", "payload": "/a"}, {"title": "越秀路", "payload": "/b"}],
        )
    )
    with session_factory() as session:
        rows = session.execute(select(OutboxMessage).order_by(OutboxMessage.id)).scalars().all()
        got = [
            (
                r.channel,
                r.recipient_kind,
                r.recipient_id,
                r.template,
                r.payload["params"]["text"],
                r.idempotency_key,
                r.status,
            )
            for r in rows
        ]
    assert got == [
        (
            "wechat",
            "resident",
            OPENID,
            "wechat.text",
            "已收到，请问具体在哪个位置？",
            f"wechat:{OPENID}:m:42:r1",
            "pending",
        ),
        (
            "wechat",
            "resident",
            OPENID,
            "wechat.text",
            "是在这里吗？\n1. 越华路\n2. 越秀路",
            f"wechat:{OPENID}:m:42:r2",
            "pending",
        ),
    ]
    assert fake_wechat.calls == []


def test_a_turn_run_again_does_not_queue_its_replies_twice(session_factory: Callable[[], Session]) -> None:
    for _ in range(2):  # e.g. the process died after queuing, and the turn was replayed with the same key
        asyncio.run(
            WeChatOutput(session_factory, clock=lambda: T0, turn_key="o1:m:7").send_text_message("o1", "好的")
        )
    with session_factory() as session:
        assert len(session.execute(select(OutboxMessage)).scalars().all()) == 1


def test_delivers_through_customer_service_inside_the_window(
    session_factory: Callable[[], Session], fake_wechat: FakeWeChatAPI
) -> None:
    resident_wrote(session_factory, T0 - timedelta(hours=47))
    row_id = queue_text(session_factory, "您的事项已登记", T0)
    sender = WeChatSender(sender_config(fake_wechat), session_factory, clock=lambda: T0)
    report = deliver_due(session_factory, {"wechat": sender}, T0)
    assert report.sent == [row_id]
    assert fake_wechat.sent() == [
        {"touser": OPENID, "msgtype": "text", "text": {"content": "您的事项已登记"}}
    ]
    assert outbox_row(session_factory, row_id).status == "sent"


@freeze_time(T0 + timedelta(hours=49))
def test_falls_back_to_a_template_outside_48_hours(
    session_factory: Callable[[], Session], fake_wechat: FakeWeChatAPI
) -> None:
    now = datetime.now(timezone.utc)
    resident_wrote(session_factory, T0)
    row_id = queue_text(session_factory, "您的事项 YX-20261129-0007 已处理完毕", now)
    report = deliver_due(
        session_factory, {"wechat": WeChatSender(sender_config(fake_wechat), session_factory)}, now
    )
    assert report.sent == [row_id]
    [template] = fake_wechat.sent()
    assert fake_wechat.sent(CUSTOM) == []
    assert template["touser"] == OPENID and template["template_id"] == "TPL_CASE_PROGRESS"
    assert template["data"]["first"]["value"] == "您的事项 YX-20261129-0007 已处理完毕"
    assert template["data"]["keyword3"]["value"] == "2026-12-01 11:00"  # Asia/Shanghai


def test_subscribe_message_when_only_a_subscribe_template_is_set(
    session_factory: Callable[[], Session], fake_wechat: FakeWeChatAPI
) -> None:
    row_id = queue_text(session_factory, "您的事项已办结", T0)  # no inbound on record at all
    sender = WeChatSender(
        sender_config(fake_wechat, template_id=None, subscribe="SUB_TPL"), session_factory, clock=lambda: T0
    )
    assert deliver_due(session_factory, {"wechat": sender}, T0).sent == [row_id]
    [sent] = fake_wechat.sent(SUBSCRIBE)
    assert sent["template_id"] == "SUB_TPL" and sent["data"] == {"content": {"value": "您的事项已办结"}}


def test_window_closed_answer_from_wechat_falls_back_to_template(
    session_factory: Callable[[], Session], fake_wechat: FakeWeChatAPI
) -> None:
    resident_wrote(session_factory, T0 - timedelta(hours=1))
    fake_wechat.close_window(OPENID)
    row_id = queue_text(session_factory, "进展通知", T0)
    sender = WeChatSender(sender_config(fake_wechat), session_factory, clock=lambda: T0)
    assert deliver_due(session_factory, {"wechat": sender}, T0).sent == [row_id]
    assert [c.path for c in fake_wechat.calls if c.path != "token"] == [CUSTOM, TEMPLATE]


def test_5xx_is_retried_by_the_outbox_then_delivered_once(
    session_factory: Callable[[], Session], fake_wechat: FakeWeChatAPI
) -> None:
    resident_wrote(session_factory, T0)
    row_id = queue_text(session_factory, "稍后送达", T0)
    sender = WeChatSender(sender_config(fake_wechat), session_factory, clock=lambda: T0)
    fake_wechat.fail(CUSTOM, status=503)
    first = deliver_due(session_factory, {"wechat": sender}, T0)
    failed = outbox_row(session_factory, row_id)
    assert first.retried == [row_id] and failed.status == "pending" and failed.attempts == 1
    assert "None" in failed.last_error or "-1" in failed.last_error
    later = T0 + backoff(1)
    second = deliver_due(session_factory, {"wechat": sender}, later)
    assert second.sent == [row_id] and outbox_row(session_factory, row_id).status == "sent"
    assert len(fake_wechat.sent(CUSTOM)) == 2  # one refused with 503, one delivered


def test_busy_errcode_is_retryable_and_unsubscribed_is_parked(
    session_factory: Callable[[], Session], fake_wechat: FakeWeChatAPI
) -> None:
    resident_wrote(session_factory, T0)
    busy = queue_text(session_factory, "a", T0, key="busy")
    sender = WeChatSender(sender_config(fake_wechat), session_factory, clock=lambda: T0)
    fake_wechat.fail(CUSTOM, errcode=-1)
    assert deliver_due(session_factory, {"wechat": sender}, T0).retried == [busy]
    assert deliver_due(session_factory, {"wechat": sender}, T0 + timedelta(hours=1)).sent == [busy]
    gone = queue_text(session_factory, "b", T0 + timedelta(hours=2), key="gone")
    fake_wechat.fail(CUSTOM, errcode=43004)  # require subscribe: the resident unfollowed
    assert deliver_due(session_factory, {"wechat": sender}, T0 + timedelta(hours=3)).parked == [gone]
    assert "43004" in outbox_row(session_factory, gone).last_error


def test_unreachable_api_is_retryable(session_factory: Callable[[], Session]) -> None:
    config = WeChatChannelConfig(
        token=Secret(TOKEN), app_id=LOCAL_APP_ID, api_base="http://127.0.0.1:9/cgi-bin/"
    )
    resident_wrote(session_factory, T0)
    row_id = queue_text(session_factory, "x", T0)
    report = deliver_due(
        session_factory, {"wechat": WeChatSender(config, session_factory, clock=lambda: T0)}, T0
    )
    assert report.retried == [row_id]
    assert "unreachable" in outbox_row(session_factory, row_id).last_error


def test_outside_window_without_any_template_is_parked_with_the_reason(
    session_factory: Callable[[], Session], fake_wechat: FakeWeChatAPI
) -> None:
    row_id = queue_text(session_factory, "x", T0)
    sender = WeChatSender(sender_config(fake_wechat, template_id=None), session_factory, clock=lambda: T0)
    assert deliver_due(session_factory, {"wechat": sender}, T0).parked == [row_id]
    assert "no WeChat template" in outbox_row(session_factory, row_id).last_error
    assert fake_wechat.sent() == []


def test_last_inbound_is_per_openid_even_with_underscores(session_factory: Callable[[], Session]) -> None:
    resident_wrote(session_factory, T0, openid="o_a")
    resident_wrote(session_factory, T0 + timedelta(hours=5), openid="o_ab")
    resident_wrote(session_factory, T0 + timedelta(hours=6), openid="oXa")
    with session_factory() as session:
        assert last_inbound_at(session, "o_a") == T0
        assert last_inbound_at(session, "o_") is None
        assert last_inbound_at(session, "o%") is None


def _message(template: str, params: dict[str, object]) -> OutgoingMessage:
    return OutgoingMessage(1, "wechat", "resident", OPENID, OPENID, template, dict(params), "k", 1)


def test_case_templates_render_with_the_case_code_and_unknown_ones_are_permanent() -> None:
    assert "YX-20261129-0007" in render_text(_message("case.handled", {"case_code": "YX-20261129-0007"}))
    with pytest.raises(PermanentSendError):
        render_text(_message("no.such.template", {"case_code": "YX-20261129-0007"}))
    with pytest.raises(PermanentSendError):
        render_text(_message("wechat.text", {"text": "  "}))


def test_resident_pushes_from_case_events_go_out_on_wechat(
    session_factory: Callable[[], Session], fake_wechat: FakeWeChatAPI, engine: Engine
) -> None:
    """A case.handled row, as storage.notifications writes it, is delivered as readable text."""
    resident_wrote(session_factory, T0)
    with session_factory() as session, session.begin():
        row = enqueue(
            session,
            recipient_kind="resident",
            recipient_id=OPENID,
            template="case.handled",
            params={"case_code": "YX-20261129-0007", "state": "handled"},
            idempotency_key="case-1-ev-5",
            now=T0,
            channel="wechat",
        )
        session.flush()
        row_id = row.id
    sender = WeChatSender(
        sender_config(fake_wechat), session_factory, clock=lambda: T0 + timedelta(minutes=1)
    )
    assert deliver_due(session_factory, {"wechat": sender}, T0).sent == [row_id]
    [sent] = fake_wechat.sent(CUSTOM)
    from storage.templates import render

    assert sent["text"]["content"] == render("case.handled", {"case_code": "YX-20261129-0007"})
    assert "YX-20261129-0007" in sent["text"]["content"]


def test_worker_gets_a_wechat_sender_only_when_there_is_an_api(
    session_factory: Callable[[], Session], fake_wechat: FakeWeChatAPI
) -> None:
    from bot.senders.wechat import wechat_senders

    assert wechat_senders({}, session_factory) == {}
    senders = wechat_senders(
        {"WECHAT_API_BASE": fake_wechat.base_url, "WECHAT_TEMPLATE_ID": "TPL"}, session_factory
    )
    now = datetime.now(timezone.utc)  # the sender built from the environment runs on the real clock
    resident_wrote(session_factory, now - timedelta(minutes=1))
    row_id = queue_text(session_factory, "通过 WECHAT_API_BASE 送达", now)
    assert deliver_due(session_factory, senders, now).sent == [row_id]
    assert fake_wechat.sent(CUSTOM)[0]["text"]["content"] == "通过 WECHAT_API_BASE 送达"


def test_long_text_goes_out_in_parts_under_the_byte_limit(
    session_factory: Callable[[], Session], fake_wechat: FakeWeChatAPI
) -> None:
    from bot.senders.wechat import MAX_TEXT_BYTES

    long_text = "\n".join(f"第{n}项：越华路12号井盖破损，已派城管处理。" for n in range(80))
    resident_wrote(session_factory, T0)
    row_id = queue_text(session_factory, long_text, T0)
    assert deliver_due(
        session_factory,
        {"wechat": WeChatSender(sender_config(fake_wechat), session_factory, clock=lambda: T0)},
        T0,
    ).sent == [row_id]
    parts = [body["text"]["content"] for body in fake_wechat.sent(CUSTOM)]
    assert len(parts) > 1 and all(len(part.encode("utf-8")) <= MAX_TEXT_BYTES for part in parts)
    assert "\n".join(parts) == long_text


def test_access_token_is_shared_through_redis(session_factory: Callable[[], Session]) -> None:
    import uuid

    import redis

    from bot.channels.wechat_config import build_client
    from tests.fakes.wechat_api import FakeWeChatState, running_fake_wechat

    app_id = f"wxtest{uuid.uuid4().hex[:12]}"
    with running_fake_wechat(FakeWeChatState(app_id=app_id)) as fake:
        config = WeChatChannelConfig(
            token=Secret(TOKEN), app_id=app_id, api_base=fake.base_url, token_store="redis://127.0.0.1:6379/0"
        )
        try:
            build_client(config).message.send_text(OPENID, "一")  # e.g. the Rasa server
            build_client(config).message.send_text(OPENID, "二")  # e.g. the worker, another process
        finally:
            redis.Redis.from_url("redis://127.0.0.1:6379/0").delete(
                f"gridsec:wechat:{app_id}:{app_id}_access_token"
            )
        assert fake.state.tokens_issued == 1
        assert [c.query["access_token"] for c in fake.calls if c.path == CUSTOM] == ["FAKE_TOKEN_1"] * 2
