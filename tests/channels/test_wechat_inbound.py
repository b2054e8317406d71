"""Pure parts of the WeChat channel: the normaliser registry, safe XML, configuration, the client's base URL."""

from __future__ import annotations

import pytest
from wechatpy import WeChatClient, parse_message

from bot.channels.wechat_config import LOCAL_APP_ID, OFFICIAL_API_BASE, WeChatChannelConfig, build_client
from bot.inbound import NORMALISERS, NOT_SUPPORTED, WELCOME, Inbound, menu_payload, normalise
from bot.wechat_xml import InboundXMLError, parse_safely, safe_fields
from tests.channels.conftest import OPENID, fixture_xml
from tests.fakes.wechat_api import FakeWeChatAPI


def message(xml: str) -> Inbound:
    return normalise(parse_safely(xml))


def test_registry_covers_the_message_types_we_handle() -> None:
    assert {"text", "image", "location", "voice", "event"} <= set(NORMALISERS)


@pytest.mark.parametrize(
    "xml",
    [
        fixture_xml("shortvideo"),
        fixture_xml("text").replace("[text]", "[link]"),
        fixture_xml("text").replace("[text]", "[file]"),
        fixture_xml("text").replace("[text]", "[miniprogrampage]"),
    ],
)
def test_unknown_types_get_the_polite_reply_and_no_turn(xml: str) -> None:
    inbound = message(xml)
    assert (inbound.text, inbound.reply) == (None, NOT_SUPPORTED)
    assert inbound.metadata["openid"] == OPENID


def test_text_is_kept_as_written_and_blank_text_is_not_a_turn() -> None:
    assert message(fixture_xml("text", content="  中山四路有井盖冇咗  ")).text == "中山四路有井盖冇咗"
    assert message(fixture_xml("text", content="   ")).reply == NOT_SUPPORTED


@pytest.mark.parametrize(
    ("lat", "lng"), [("123.1", "113.2"), ("23.1", "213.2"), ("abc", "113.2"), ("nan", "113.2")]
)
def test_impossible_coordinates_are_not_a_location(lat: str, lng: str) -> None:
    inbound = message(fixture_xml("location", lat=lat, lng=lng))
    assert inbound.text is None and "location" not in inbound.metadata


def test_subscribe_with_a_qr_scene_still_gets_the_welcome() -> None:
    xml = fixture_xml("subscribe").replace(
        "</Event>", "</Event><EventKey><![CDATA[qrscene_community_7]]></EventKey>"
    )
    assert message(xml).reply == WELCOME


def test_unsubscribe_view_template_receipts_and_unknown_events_do_nothing() -> None:
    for event in ("unsubscribe", "VIEW", "TEMPLATESENDJOBFINISH", "subscribe_msg_popup_event"):
        inbound = message(fixture_xml("subscribe").replace("[subscribe]", f"[{event}]"))
        assert (inbound.text, inbound.reply) == (None, None)


def test_unknown_menu_key_gets_the_polite_reply() -> None:
    assert menu_payload("SOMETHING_ELSE") is None
    assert message(fixture_xml("click", event_key="SOMETHING_ELSE")).reply == NOT_SUPPORTED


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ("", "empty"),
        ("<xml><MsgType>text</MsgType>", "malformed"),
        ("<!DOCTYPE xml><xml><MsgType>text</MsgType></xml>", "unsafe"),
        ("<notxml><MsgType>text</MsgType></notxml>", "root"),
    ],
)
def test_safe_fields_refuses_what_it_must(body: str, reason: str) -> None:
    with pytest.raises(InboundXMLError, match=reason):
        safe_fields(body)


@pytest.mark.parametrize(
    ("xml", "reason"),
    [
        (fixture_xml("text", create_time="yesterday"), "not a number"),
        (fixture_xml("text", msg_id="12ab"), "not a number"),
        (fixture_xml("text", openid=""), "lacks FromUserName"),
        (fixture_xml("text", openid="o" * 65), "too long"),
    ],
)
def test_parse_safely_refuses_fields_that_would_break_later_steps(xml: str, reason: str) -> None:
    with pytest.raises(InboundXMLError, match=reason):
        parse_safely(xml)


def test_parse_safely_gives_what_wechatpy_gives() -> None:
    xml = fixture_xml("location")
    assert parse_safely(xml).location == parse_message(xml).location == ("23.129163", "113.264435")


def test_local_mode_config_from_an_empty_environment() -> None:
    config = WeChatChannelConfig.from_sources(None, {})
    assert config.token.reveal() == "gridsec-local" and not config.safe_mode
    assert config.app_id == LOCAL_APP_ID and config.api_base_url == OFFICIAL_API_BASE


def test_config_reads_the_environment_and_credentials_win_and_secrets_never_print() -> None:
    environ = {
        "WECHAT_TOKEN": "env-token",
        "WECHAT_AES_KEY": "k" * 43,
        "WECHAT_APP_ID": "wxenv",
        "WECHAT_APP_SECRET": "very-secret",
        "WECHAT_API_BASE": "http://127.0.0.1:9999/cgi-bin",
    }
    config = WeChatChannelConfig.from_sources({"token": "file-token"}, environ)
    assert config.token.reveal() == "file-token" and config.safe_mode and config.app_id == "wxenv"
    assert config.api_base_url == "http://127.0.0.1:9999/cgi-bin/"
    assert (
        "very-secret" not in repr(config)
        and "file-token" not in repr(config)
        and "k" * 43 not in repr(config)
    )


def test_client_base_url_is_per_instance_and_the_token_comes_from_it(fake_wechat: FakeWeChatAPI) -> None:
    client = build_client(WeChatChannelConfig.local(api_base=fake_wechat.base_url))
    client.message.send_text(OPENID, "您好")
    assert WeChatClient.API_BASE_URL == OFFICIAL_API_BASE  # the class default is untouched
    assert [(c.method, c.path) for c in fake_wechat.calls] == [
        ("GET", "token"),
        ("POST", "message/custom/send"),
    ]
    assert fake_wechat.calls[1].query["access_token"] == "FAKE_TOKEN_1"


def test_credentials_yml_registers_the_channel_in_local_mode(monkeypatch: pytest.MonkeyPatch) -> None:
    from rasa.core.run import create_http_input_channels

    from bot.channels.wechat import WeChatInput
    from bot.config import REPO_ROOT

    for name in ("WECHAT_TOKEN", "WECHAT_AES_KEY", "WECHAT_APP_ID", "WECHAT_APP_SECRET", "WECHAT_API_BASE"):
        monkeypatch.delenv(name, raising=False)
    channels = create_http_input_channels(None, str(REPO_ROOT / "credentials.yml"))
    [wechat] = [channel for channel in channels if channel.name() == "wechat"]
    assert isinstance(wechat, WeChatInput)
    assert wechat.config.token.reveal() == "gridsec-local" and not wechat.config.safe_mode
    assert wechat.url_prefix() == "wechat"
    monkeypatch.setenv("WECHAT_AES_KEY", "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG")
    assert WeChatInput.from_credentials(None).crypto is not None  # safe mode, still no network


def test_overlong_text_is_cut_and_marked() -> None:
    from bot.inbound import MAX_TEXT_CHARS

    inbound = message(fixture_xml("text", content="井盖" * MAX_TEXT_CHARS))
    assert inbound.text is not None and len(inbound.text) == MAX_TEXT_CHARS
    assert inbound.metadata["truncated_from"] == 2 * MAX_TEXT_CHARS


@pytest.mark.parametrize("msg_id", ["1" * 21, "１２３"])
def test_msgid_must_be_a_short_ascii_number(msg_id: str) -> None:
    with pytest.raises(InboundXMLError, match="not a number"):
        parse_safely(fixture_xml("text", msg_id=msg_id))


@pytest.mark.parametrize(
    ("age_s", "fresh"), [(0, True), (299, True), (-299, True), (301, False), (-301, False)]
)
def test_signature_freshness_window_under_a_frozen_clock(age_s: int, fresh: bool) -> None:
    from freezegun import freeze_time

    from bot.channels.wechat_verify import verified_query
    from storage.errors import ChannelAuthError
    from storage.timeutil import utcnow
    from tests.channels.conftest import NOW, TOKEN, sign

    stamp = str(int(NOW.timestamp()) - age_s)
    args = {"signature": sign(TOKEN, stamp, "n1"), "timestamp": stamp, "nonce": "n1"}
    with freeze_time(NOW):
        assert utcnow() == NOW  # the production clock, frozen
        if fresh:
            assert verified_query(TOKEN, args, utcnow())["timestamp"] == stamp
        else:
            with pytest.raises(ChannelAuthError, match="stale"):
                verified_query(TOKEN, args, utcnow())
