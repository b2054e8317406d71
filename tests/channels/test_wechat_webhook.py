"""The WeChat webhook over real HTTP: verify -> decrypt -> parse -> dedupe -> ack -> work."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta, timezone

import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from bot.channels.wechat import RATE_LIMIT, TOO_FAST, WeChatOutput
from bot.inbound import NOT_SUPPORTED, VOICE_UNRECOGNISED, WELCOME
from storage.models import InboundDedupe, OutboxMessage
from tests.channels.conftest import (
    NOW,
    OPENID,
    Webhook,
    fixture_xml,
    jpeg_bytes,
    photo_with_text_and_gps,
    sha256_hex,
    sign,
)

StartWebhook = Callable[..., Webhook]


def dedupe_rows(engine: Engine, channel: str = "wechat") -> int:
    with Session(engine, future=True) as session:
        return int(session.execute(select(func.count()).where(InboundDedupe.channel == channel)).scalar_one())


def outbox_texts(engine: Engine) -> list[tuple[str, str, str]]:
    with Session(engine, future=True) as session:
        rows = session.execute(select(OutboxMessage).order_by(OutboxMessage.id)).scalars().all()
        return [(row.channel, row.recipient_id, row.payload["params"]["text"]) for row in rows]


def test_get_verification_echoes_echostr_only_when_signed(start_webhook: StartWebhook) -> None:
    hook = start_webhook()
    good = httpx.get(hook.endpoint, params=hook.query() | {"echostr": "4981761723462"}, timeout=10)
    bad = httpx.get(
        hook.endpoint, params=hook.query(token="wrong") | {"echostr": "4981761723462"}, timeout=10
    )
    health = httpx.get(f"{hook.url}/webhooks/wechat/", timeout=10)
    assert (good.status_code, good.text) == (200, "4981761723462")
    assert bad.status_code == 403 and "4981761723462" not in bad.text
    assert health.json() == {"status": "ok"}


def test_signed_text_message_makes_one_turn_with_openid_metadata(
    start_webhook: StartWebhook, engine: Engine
) -> None:
    hook = start_webhook()
    reply = hook.post(fixture_xml("text"))
    hook.finish()
    assert (reply.status_code, reply.text) == (200, "success")
    [message] = hook.agent.messages
    assert message.text == "越华路12号门口井盖坏了"
    assert message.sender_id == OPENID and message.input_channel == "wechat"
    assert message.metadata["openid"] == OPENID
    assert message.metadata["msg_type"] == "text" and message.metadata["msg_id"] == "6054768590064713728"
    assert message.output_channel.name() == "wechat"
    assert dedupe_rows(engine) == 1


def test_aes_safe_mode_round_trip(start_webhook: StartWebhook) -> None:
    hook = start_webhook(aes=True)
    reply = hook.post(fixture_xml("text", content="北京路步行街有人乱摆卖"))
    hook.finish()
    assert (reply.status_code, reply.text) == (200, "success")
    assert [m.text for m in hook.agent.messages] == ["北京路步行街有人乱摆卖"]


def test_aes_mode_refuses_a_plaintext_body_and_a_wrong_msg_signature(
    start_webhook: StartWebhook, engine: Engine
) -> None:
    hook = start_webhook(aes=True)
    query = hook.query()
    plaintext = httpx.post(
        hook.endpoint,
        params=query | {"msg_signature": "0" * 40},
        content=fixture_xml("text").encode(),
        timeout=10,
    )
    envelope = "<xml><Encrypt><![CDATA[AAAA]]></Encrypt></xml>"
    forged = httpx.post(
        hook.endpoint,
        params=hook.query() | {"msg_signature": "0" * 40},
        content=envelope.encode(),
        timeout=10,
    )
    hook.finish()
    assert plaintext.status_code == 400  # no Encrypt field: not a safe-mode message
    assert forged.status_code == 403
    assert hook.agent.messages == [] and dedupe_rows(engine) == 0


def test_bad_signature_is_403_and_stores_nothing(start_webhook: StartWebhook, engine: Engine) -> None:
    hook = start_webhook()
    wrong_token = hook.post(fixture_xml("text"), token="not-the-token")
    unsigned = httpx.post(hook.endpoint, content=fixture_xml("text").encode(), timeout=10)
    hook.finish()
    assert (wrong_token.status_code, unsigned.status_code) == (403, 403)
    assert hook.agent.messages == [] and dedupe_rows(engine) == 0 and dedupe_rows(engine, "wechat-sig") == 0


@pytest.mark.parametrize("age", [timedelta(minutes=6), timedelta(minutes=-6)])
def test_stale_or_future_timestamp_is_403(
    start_webhook: StartWebhook, engine: Engine, age: timedelta
) -> None:
    hook = start_webhook()
    reply = hook.post(fixture_xml("text"), timestamp=int((NOW - age).timestamp()))
    fresh_enough = hook.post(fixture_xml("text"), timestamp=int((NOW - timedelta(minutes=4)).timestamp()))
    hook.finish()
    assert reply.status_code == 403
    assert fresh_enough.status_code == 200 and len(hook.agent.messages) == 1


def test_replayed_signature_with_a_new_body_is_refused(start_webhook: StartWebhook, engine: Engine) -> None:
    hook = start_webhook()
    query = hook.query()
    first = hook.post(fixture_xml("text"), query=query)
    retry = hook.post(fixture_xml("text"), query=query)  # WeChat resending the same request: acknowledged
    forged = hook.post(fixture_xml("text", msg_id="6054768590064799999", content="伪造"), query=query)
    hook.finish()
    assert [first.status_code, retry.status_code, forged.status_code] == [200, 200, 403]
    assert [m.text for m in hook.agent.messages] == ["越华路12号门口井盖坏了"]
    assert dedupe_rows(engine) == 1


@pytest.mark.parametrize("fixture", ["malformed", "entity_bomb", "xxe"])
def test_malformed_and_unsafe_xml_is_400_and_stores_nothing(
    start_webhook: StartWebhook, engine: Engine, fixture: str
) -> None:
    hook = start_webhook()
    reply = hook.post(fixture_xml(fixture))
    hook.finish()
    assert reply.status_code == 400
    assert "root:" not in reply.text and "lol" not in reply.text
    assert hook.agent.messages == [] and dedupe_rows(engine) == 0 and dedupe_rows(engine, "wechat-sig") == 0


@pytest.mark.parametrize("fixture", ["entity_bomb", "xxe"])
def test_unsafe_xml_inside_the_aes_envelope_is_400(
    start_webhook: StartWebhook, engine: Engine, fixture: str
) -> None:
    hook = start_webhook(aes=True)
    reply = hook.post(fixture_xml(fixture))
    hook.finish()
    assert reply.status_code == 400 and hook.agent.messages == [] and dedupe_rows(engine) == 0


def test_one_megabyte_body_is_413(start_webhook: StartWebhook, engine: Engine) -> None:
    hook = start_webhook()
    reply = hook.post(fixture_xml("text", content="井" * (1024 * 1024 // 3)))
    hook.finish()
    assert reply.status_code == 413
    assert hook.agent.messages == [] and dedupe_rows(engine) == 0


def test_same_msgid_three_times_makes_exactly_one_turn(start_webhook: StartWebhook, engine: Engine) -> None:
    hook = start_webhook()
    replies = [hook.post(fixture_xml("text")) for _ in range(3)]  # WeChat's retries come with fresh nonces
    hook.finish()
    assert [(r.status_code, r.text) for r in replies] == [(200, "success")] * 3
    assert len(hook.agent.messages) == 1
    assert dedupe_rows(engine) == 1


def test_location_message_carries_wgs84_lat_lng_and_label(start_webhook: StartWebhook) -> None:
    hook = start_webhook()
    hook.post(fixture_xml("location"))
    hook.finish()
    [message] = hook.agent.messages
    location = message.metadata["location"]
    assert message.text == "/provide_location"
    assert location["gcj02"] == {"lat": 23.129163, "lng": 113.264435}
    # In Guangzhou GCJ-02 sits ~0.0027 degrees south and ~0.0054 east of WGS-84 (a few hundred metres)
    assert -0.004 < location["gcj02"]["lat"] - location["lat"] < -0.002
    assert 0.004 < location["gcj02"]["lng"] - location["lng"] < 0.007
    assert location["label"] == "广州市越秀区越华路"


def test_voice_uses_recognition_text_or_asks_for_text(start_webhook: StartWebhook, engine: Engine) -> None:
    hook = start_webhook()
    hook.post(fixture_xml("voice"))
    hook.post(fixture_xml("voice", recognition="", msg_id="6054768590064713729"))
    hook.finish()
    [message] = hook.agent.messages
    assert message.text == "越华路有垃圾没人清理"
    assert message.metadata["recognition"] == "越华路有垃圾没人清理"
    assert outbox_texts(engine) == [("wechat", OPENID, VOICE_UNRECOGNISED)]


def test_unknown_type_gets_a_polite_reply_and_200(start_webhook: StartWebhook, engine: Engine) -> None:
    hook = start_webhook()
    reply = hook.post(fixture_xml("shortvideo"))
    hook.finish()
    assert (reply.status_code, reply.text) == (200, "success")
    assert hook.agent.messages == []
    assert outbox_texts(engine) == [("wechat", OPENID, NOT_SUPPORTED)]


def test_subscribe_event_gets_the_welcome_once(start_webhook: StartWebhook, engine: Engine) -> None:
    hook = start_webhook()
    hook.post(fixture_xml("subscribe"))
    hook.post(fixture_xml("subscribe"))  # same FromUserName + CreateTime: a retry
    hook.finish()
    assert outbox_texts(engine) == [("wechat", OPENID, WELCOME)]
    assert dedupe_rows(engine) == 1


@pytest.mark.parametrize(
    ("event_key", "payload"),
    [
        ("REPORT_ISSUE", "/report_issue"),
        ("MY_CASES", "/list_cases"),
        ("RATE", "/rate"),
        ("我要反映", "/report_issue"),
        ("我的事项", "/list_cases"),
        ("评价", "/rate"),
    ],
)
def test_menu_clicks_become_intent_payloads(
    start_webhook: StartWebhook, event_key: str, payload: str
) -> None:
    hook = start_webhook()
    hook.post(fixture_xml("click", event_key=event_key))
    hook.finish()
    [message] = hook.agent.messages
    assert message.text == payload
    assert message.metadata["event"] == "click" and message.metadata["event_key"] == event_key


def test_photo_is_fetched_stored_read_and_passed_in_metadata(start_webhook: StartWebhook) -> None:
    image = jpeg_bytes()
    read: list[bytes] = []

    def photo_reader(data: bytes) -> dict[str, object]:  # stands in for bot/nlu/photo.read_photo
        read.append(data)
        return {"text": "井盖破损 注意安全", "point": {"lat": 23.1265, "lng": 113.2588}}

    hook = start_webhook(photo_reader=photo_reader)
    hook.fake.add_media("photo-media-1", image)
    hook.post(fixture_xml("image"))
    hook.finish()
    [message] = hook.agent.messages
    photo = message.metadata["photo"]
    assert read == [image]
    assert message.text == "井盖破损 注意安全" and message.metadata["text_source"] == "ocr"
    assert photo["kind"] == "photo" and photo["content_type"] == "image/jpeg"
    assert (
        photo["meta"]["sha256"] == sha256_hex(image) and photo["meta"]["wechat_media_id"] == "photo-media-1"
    )
    with open(photo["uri"], "rb") as stored:
        assert stored.read() == image
    assert message.metadata["location"] == {"lat": 23.1265, "lng": 113.2588, "label": None, "source": "exif"}
    assert [c.path for c in hook.fake.calls] == ["token", "media/get"]


def test_photo_that_cannot_be_fetched_still_makes_its_turn(start_webhook: StartWebhook) -> None:
    hook = start_webhook(photo_reader=lambda data: None)
    hook.post(fixture_xml("image", media_id="expired-media"))
    hook.finish()
    [message] = hook.agent.messages
    assert message.text == "/report_issue"
    assert "40007" in message.metadata["photo_error"] and "photo" not in message.metadata


def test_signature_helper_is_sha1_of_the_sorted_parts() -> None:
    import hashlib

    expected = hashlib.sha1("".join(sorted(["token", "1409735669", "1320562132"])).encode()).hexdigest()
    assert sign("token", "1409735669", "1320562132") == expected


# WeChat's published sample for AES safe mode (token, key, app id, nonce, timestamp, msg_signature).
SAMPLE_ENCRYPT = (
    "hyzAe4OzmOMbd6TvGdIOO6uBmdJoD0Fk53REIHvxYtJlE2B655HuD0m8KUePWB3+LrPXo87wzQ1QLvbeUgmBM4x6F8PGHQHFVAFmOD2LdJF9"
    "FrXpbUAh0B5GIItb52sn896wVsMSHGuPE328HnRGBcrS7C41IzDWyWNlZkyyXwon8T332jisa+h6tEDYsVticbSnyU8dKOIbgU6ux5VTjg3yt"
    "+WGzjlpKn6NPhRjpA912xMezR4kw6KWwMrCVKSVCZciVGCgavjIQ6X8tCOp3yZbGpy0VxpAe+77TszTfRd5RJSVO/HTnifJpXgCSUdUue1v6h0"
    "EIBYYI1BD1DlD+C0CR8e6OewpusjZ4uBl9FyJvnhvQl+q5rv1ixrcpCumEPo5MJSgM9ehVsNPfUM669WuMyVWQLCzpu9GhglF2PE="
)


def test_aes_known_answer_vector_decrypts_to_one_turn(start_webhook: StartWebhook) -> None:
    from bot.channels.wechat_config import WeChatChannelConfig
    from bot.config import Secret

    config = WeChatChannelConfig(
        token=Secret("spamtest"),
        app_id="wx2c2769f8efd9abc2",
        aes_key=Secret("abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"),
        api_base="http://127.0.0.1:9/cgi-bin/",
    )
    timestamp, nonce = "1409735669", "1320562132"
    hook = start_webhook(
        config=config, clock=lambda: datetime.fromtimestamp(1409735669 + 10, tz=timezone.utc)
    )
    query = {
        "signature": sign("spamtest", timestamp, nonce),
        "timestamp": timestamp,
        "nonce": nonce,
        "encrypt_type": "aes",
        "msg_signature": "5d197aaffba7e9b25a30732f161a50dee96bd5fa",
    }
    body = f"<xml><ToUserName><![CDATA[gh_10f6c3c3ac5a]]></ToUserName><Encrypt><![CDATA[{SAMPLE_ENCRYPT}]]></Encrypt></xml>"
    reply = httpx.post(hook.endpoint, params=query, content=body.encode(), timeout=10)
    tampered = httpx.post(
        hook.endpoint,
        params=query | {"msg_signature": "5d197aaffba7e9b25a30732f161a50dee96bd5fb"},
        content=body.encode(),
        timeout=10,
    )
    hook.finish()
    assert (reply.status_code, tampered.status_code) == (200, 403)
    [message] = hook.agent.messages
    assert (message.text, message.sender_id) == ("abcdteT", "oyORnuP8q7ou2gfYjqLzSIWZf0rs")


# Fuzzing of this webhook (signed and unsigned bodies, odd queries, CDATA) is in tests/security/test_fuzz_webhooks.py.


def test_rate_limit_tells_the_resident_once_and_drops_the_flood(
    start_webhook: StartWebhook, engine: Engine
) -> None:
    hook = start_webhook()
    replies = [
        hook.post(fixture_xml("text", msg_id=str(7000 + n), content=f"第{n}条"))
        for n in range(RATE_LIMIT + 3)
    ]
    other = hook.post(fixture_xml("text", msg_id="8000", openid="oAnotherResident000000000002"))
    hook.finish()
    assert {r.status_code for r in replies} == {200} and other.status_code == 200
    assert [m.text for m in hook.agent.messages if m.sender_id == OPENID] == [
        f"第{n}条" for n in range(RATE_LIMIT)
    ]
    assert [m.sender_id for m in hook.agent.messages].count("oAnotherResident000000000002") == 1
    assert outbox_texts(engine) == [("wechat", OPENID, TOO_FAST)]
    assert dedupe_rows(engine) == RATE_LIMIT + 4  # every message is still recorded once


def test_a_numbered_or_titled_answer_picks_the_offered_choice(
    start_webhook: StartWebhook, engine: Engine
) -> None:
    import asyncio

    from sqlalchemy.orm import sessionmaker

    output = WeChatOutput(sessionmaker(engine, future=True), clock=lambda: NOW - timedelta(minutes=3))
    buttons = [
        {"title": "越华路12号", "payload": '/choose_place{"place":"a"}'},
        {"title": "越秀北路", "payload": '/choose_place{"place":"b"}'},
    ]
    asyncio.run(output.send_text_with_buttons(OPENID, "请问是哪一处？", buttons))
    hook = start_webhook()
    hook.post(fixture_xml("text", msg_id="9001", content="２"))  # full-width digit, as some keyboards type it
    hook.post(fixture_xml("text", msg_id="9002", content="越华路12号"))
    hook.post(fixture_xml("text", msg_id="9003", content="3"))  # not one of the choices: stays text
    hook.finish()
    assert [m.text for m in hook.agent.messages] == [
        '/choose_place{"place":"b"}',
        '/choose_place{"place":"a"}',
        "3",
    ]
    assert hook.agent.messages[0].metadata["choice"] == {
        "title": "越秀北路",
        "payload": '/choose_place{"place":"b"}',
    }


def test_choices_expire_once_a_later_message_was_sent(start_webhook: StartWebhook, engine: Engine) -> None:
    import asyncio

    from sqlalchemy.orm import sessionmaker

    output = WeChatOutput(sessionmaker(engine, future=True), clock=lambda: NOW - timedelta(minutes=3))
    asyncio.run(output.send_text_with_buttons(OPENID, "满意吗？", [{"title": "满意", "payload": "/affirm"}]))
    asyncio.run(output.send_text_message(OPENID, "请为本次处理打分（1-5）"))
    hook = start_webhook()
    hook.post(fixture_xml("text", content="1"))
    hook.finish()
    assert [m.text for m in hook.agent.messages] == ["1"]


@pytest.mark.slow
def test_photo_goes_through_the_real_ocr_and_exif_reader(start_webhook: StartWebhook) -> None:
    """bot.nlu.photo.read_photo (rapidocr + EXIF) is found and used when no reader is injected."""
    image = photo_with_text_and_gps(["井盖破损"], lat=23.129163, lng=113.264435)
    hook = start_webhook()
    hook.fake.add_media("photo-media-1", image)
    hook.post(fixture_xml("image"))
    hook.finish()
    [message] = hook.agent.messages
    assert "井盖破损" in message.text.replace(" ", "") and message.metadata["text_source"] == "ocr"
    assert message.metadata["location"]["source"] == "exif"
    assert message.metadata["location"]["lat"] == pytest.approx(23.129163, abs=1e-5)
    assert message.metadata["location"]["lng"] == pytest.approx(113.264435, abs=1e-5)
    assert message.metadata["photo"]["meta"]["ocr_text"].replace(" ", "").startswith("井盖破损")


def test_two_rasa_processes_racing_on_one_msgid_make_one_turn(
    start_webhook: StartWebhook, engine: Engine
) -> None:
    """Scale-out: WeChat's retries may land on either instance; the database decides once."""
    import itertools
    from concurrent.futures import ThreadPoolExecutor

    first, second = start_webhook(), start_webhook()
    second.nonces = itertools.count(10_000)  # distinct nonces, as WeChat's retries carry
    posts = [first, second] * 4
    with ThreadPoolExecutor(max_workers=8) as pool:
        replies = list(pool.map(lambda hook: hook.post(fixture_xml("text")), posts))
    first.finish()
    second.finish()
    assert [r.status_code for r in replies] == [200] * 8
    assert len(first.agent.messages) + len(second.agent.messages) == 1
    assert dedupe_rows(engine) == 1 and dedupe_rows(engine, "wechat-sig") == 8
