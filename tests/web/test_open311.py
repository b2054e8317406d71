"""Open311 GeoReport v2 contract suite over real HTTP: services, request list filters, one request, field
mapping and extensions (contracts.md), API keys, bad dates, unknown ids, and the spec's error format."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta, timezone

import httpx
import pytest

from bot.web.app import create_app
from storage.timeutil import SHANGHAI
from tests.support.sanic_server import serve_sanic
from tests.web.case_factory import make_case, walk
from tests.web.conftest import BEIJING

NOW = datetime.now(timezone.utc)
V2 = "/open311/v2"
EXTENDED = {"street", "community", "grid", "worker", "state", "auto_dispatch", "urgency", "due_at", "events"}
REQUEST_FIELDS = {
    "service_request_id", "status", "status_notes", "service_name", "service_code", "description",
    "agency_responsible", "service_notice", "requested_datetime", "updated_datetime", "expected_datetime",
    "address", "address_id", "zipcode", "lat", "long", "media_url",
}


def assert_spec_error(response: httpx.Response, status: int, words: str) -> None:
    assert response.status_code == status, response.text
    body = response.json()
    assert isinstance(body, list) and len(body) == 1 and set(body[0]) == {"code", "description"}
    assert body[0]["code"] == status and words in body[0]["description"]


@pytest.fixture()
def requests_seeded(console, session_factory) -> dict[str, str]:
    return {
        "closed": make_case(session_factory, NOW - timedelta(days=3), steps=walk(
            ("respond", 5), ("dispatch", 10, {"department_key": "HWZX"}), ("sign", 20), ("handle", 60),
            ("confirm", 90, {"rating": 5, "comment": "好快"})),
            media=[{"kind": "photo", "uri": "https://img.example/1.jpg"}]),
        "street_office": make_case(session_factory, NOW - timedelta(days=2), category="CORRIDOR",
                                   department="JDB-440104001", description="楼道堆满杂物，联系13812345678"),
        "beijing": make_case(session_factory, NOW - timedelta(hours=1), street=BEIJING, department="SZWH",
                             category="STREETLIGHT", description="路灯唔着"),
    }


def test_services_list_every_category(console) -> None:
    services = httpx.get(console.base_url + f"{V2}/services.json", timeout=30).json()
    garbage = next(s for s in services if s["service_code"] == "GARBAGE")
    assert garbage["service_name"] == "垃圾堆放/清运不及时"
    assert garbage["metadata"] is False and garbage["type"] == "realtime"
    assert len(services) == len({s["service_code"] for s in services}) >= 40


def test_one_request_maps_fields_as_the_contract_says(console, requests_seeded) -> None:
    client = console.anonymous()
    code = requests_seeded["closed"]
    [plain] = client.get(f"{V2}/requests/{code}.json").json()
    assert set(plain) == REQUEST_FIELDS
    assert plain["service_request_id"] == code and plain["status"] == "closed"
    assert plain["status_notes"] == "已办结 (closed): 好快"
    assert plain["service_code"] == "GARBAGE" and plain["service_name"] == "垃圾堆放/清运不及时"
    assert plain["agency_responsible"] == "HWZX"
    assert plain["lat"] == 23.1425 and plain["long"] == 113.266
    assert plain["media_url"] == "https://img.example/1.jpg"
    detail = console.login("centre").get(f"/api/cases/{code}").json()
    assert [m["url"] for m in detail["media"]] == ["https://img.example/1.jpg"]  # a remote photo keeps its URL
    assert plain["requested_datetime"].endswith("+08:00")
    [extended] = client.get(f"{V2}/requests/{code}.json", params={"extensions": "true"}).json()
    assert set(extended["extended_attributes"]) == EXTENDED
    assert extended["extended_attributes"]["state"] == "closed" and extended["extended_attributes"]["events"] == 6
    assert extended["extended_attributes"]["street"] == "洪桥" and extended["extended_attributes"]["community"] == "三眼井社区"

    [office] = client.get(f"{V2}/requests/{requests_seeded['street_office']}.json?extensions=true").json()
    assert office["agency_responsible"] == "JDB" and office["extended_attributes"]["street"] == "洪桥"
    assert office["status"] == "open" and office["status_notes"] == "已呼叫 (reported)"
    assert "13812345678" not in office["description"] and "138****5678" in office["description"]
    assert office["expected_datetime"] == office["extended_attributes"]["due_at"] is not None


def test_unknown_id_is_a_404_in_the_spec_format(console) -> None:
    assert_spec_error(console.anonymous().get(f"{V2}/requests/YX-19990101-0001.json"), 404, "no service request")
    assert_spec_error(console.anonymous().get(f"{V2}/requests/whatever.txt"), 404, "no such resource")


def test_request_list_filters(console, requests_seeded) -> None:
    client = console.anonymous()

    def ids(**params: str) -> list[str]:
        response = client.get(f"{V2}/requests.json", params=params)
        assert response.status_code == 200, response.text
        return [row["service_request_id"] for row in response.json()]

    everything = [requests_seeded[key] for key in ("beijing", "street_office", "closed")]  # newest first
    assert ids() == everything
    assert ids(status="closed") == [requests_seeded["closed"]]
    assert ids(status="open") == everything[:2]
    assert ids(service_code="STREETLIGHT,CORRIDOR") == everything[:2]
    assert ids(start_date=(NOW - timedelta(days=2, hours=1)).isoformat()) == everything[:2]
    assert ids(end_date=(NOW - timedelta(days=1)).isoformat()) == everything[1:]
    assert ids(start_date=(NOW - timedelta(days=4)).isoformat(), end_date=(NOW - timedelta(days=2, hours=1)).isoformat()) == [
        requests_seeded["closed"]]
    # a bare date is a Guangzhou day: tomorrow there, whatever the UTC date is when the suite runs
    assert ids(start_date=(NOW.astimezone(SHANGHAI) + timedelta(days=1)).date().isoformat()) == []
    assert ids(end_date="0001-01-02") == []  # no 90-day lower bound before year 1, and no error
    # service_request_id overrides every other parameter (the spec)
    both = f"{requests_seeded['closed']},{requests_seeded['beijing']}"
    assert ids(service_request_id=both, status="open") == [requests_seeded["beijing"], requests_seeded["closed"]]


def test_a_handled_case_awaiting_confirmation_is_open_in_every_list(console, session_factory) -> None:
    """Open311 shows a handled case as `open`, so its `status=open` list (and the console's) must return it."""
    handled = make_case(session_factory, NOW - timedelta(hours=2), steps=walk(
        ("respond", 5), ("dispatch", 10, {"department_key": "HWZX"}), ("sign", 20), ("handle", 60)))
    public = console.anonymous()
    [row] = public.get(f"{V2}/requests/{handled}.json").json()
    assert row["status"] == "open"
    listed = {status: [r["service_request_id"] for r in public.get(f"{V2}/requests.json", params={"status": status}).json()]
              for status in ("open", "closed")}
    assert listed == {"open": [handled], "closed": []}
    centre = console.login("centre")
    for status, expected in (("open", [handled]), ("closed", []), ("handled", [handled])):
        items = centre.get("/api/cases", params={"status": status}).json()["items"]
        assert [(item["code"], item["status"]) for item in items] == [(code, "open") for code in expected], status


@pytest.mark.parametrize("params, words", [
    ({"start_date": "last tuesday"}, "start_date is not a W3C date"),
    ({"end_date": "2026-13-45"}, "end_date is not a W3C date"),
    ({"start_date": "2026-11-30T00:00:00+08:00", "end_date": "2026-11-01T00:00:00+08:00"}, "start_date is after"),
    ({"start_date": "0001-01-01T00:00:00+08:00"}, "start_date is out of range"),
    ({"status": "pending"}, "status must be open or closed"),
    ({"service_code": "UFO"}, "unknown service_code"),
])
def test_bad_list_parameters_are_a_400(console, params, words) -> None:
    assert_spec_error(console.anonymous().get(f"{V2}/requests.json", params=params), 400, words)


def test_unknown_open311_routes_use_the_spec_error_format(console) -> None:
    assert_spec_error(console.anonymous().get(f"{V2}/discovery.json"), 404, "")
    assert_spec_error(console.anonymous().delete(f"{V2}/requests.json"), 405, "")


def test_xml_format_is_refused_clearly(console) -> None:
    assert_spec_error(console.anonymous().get(f"{V2}/services.xml"), 400, "only the JSON format")
    assert_spec_error(console.anonymous().get(f"{V2}/requests/YX-1.xml"), 400, "only the JSON format")


GOOD_POST = {"description": "三眼井社区垃圾堆咗三日", "lat": "23.1425", "long": "113.266"}


def test_posting_needs_a_valid_api_key(console) -> None:
    client = console.anonymous()
    assert_spec_error(client.post(f"{V2}/requests.json", data=GOOD_POST), 401, "api_key is required")
    assert_spec_error(client.post(f"{V2}/requests.json", data={**GOOD_POST, "api_key": "guess"}), 403,
                      "api_key is not valid")
    # local mode accepts local-dev-key: the request gets as far as the parser (this app has no model)
    assert_spec_error(client.post(f"{V2}/requests.json", data={**GOOD_POST, "api_key": "local-dev-key"}), 503,
                      "without the NLU model")


@pytest.mark.parametrize("fields, words", [
    ({"lat": "23.1"}, "description is required"),
    ({"description": "垃圾", "lat": "23.1"}, "lat and long must be given together"),
    ({"description": "垃圾"}, "a location is required"),
    ({"description": "垃圾", "lat": "north", "long": "113.2"}, "lat must be a number"),
    ({"description": "垃圾", "lat": "123", "long": "113.2"}, "out of range"),
    ({"description": "垃圾", "address_string": "解放北路", "service_code": "UFO"}, "unknown service_code"),
    ({"description": "垃圾", "address_string": "解放北路", "media_url": "file:///etc/passwd"}, "http(s) URL"),
])
def test_bad_post_fields_are_a_400(console, fields, words) -> None:
    response = console.anonymous().post(f"{V2}/requests.json", data={**fields, "api_key": "local-dev-key"})
    assert_spec_error(response, 400, words)


def test_outside_local_mode_only_configured_keys_work(engine, web_org) -> None:
    async def no_model(text: str) -> dict:
        raise LookupError("no model in this test")

    environ = {"WECHAT_APP_SECRET": "s", "WECHAT_TOKEN": "t", "OPEN311_API_KEYS": "partner-key-1, partner-key-2"}
    app = create_app(engine, name=f"o311_{uuid.uuid4().hex[:8]}", environ=environ, parser=no_model,
                     seed_demo_accounts=False)
    with serve_sanic(app) as base_url, httpx.Client(base_url=base_url, timeout=30) as client:
        assert_spec_error(client.post(f"{V2}/requests.json", data={**GOOD_POST, "api_key": "local-dev-key"}), 403,
                          "api_key is not valid")
        for key in ("partner-key-1", "partner-key-2"):
            assert_spec_error(client.post(f"{V2}/requests.json", json={**GOOD_POST, "api_key": key}), 503,
                              "no model")


def test_nul_characters_and_lone_surrogates_are_a_400_not_a_database_error(console) -> None:
    client = console.anonymous()
    assert_spec_error(client.get(f"{V2}/requests.json", params={"service_request_id": "YX\x00"}), 400, "NUL")
    assert_spec_error(client.get(f"{V2}/requests/YX%00.json"), 404, "no service request")  # path stays encoded
    body = b'{"api_key": "local-dev-key", "description": "\\ud800 bad", "address_string": "x"}'
    response = client.post(f"{V2}/requests.json", content=body, headers={"content-type": "application/json"})
    assert_spec_error(response, 400, "UTF-8 text")
    key_body = b'{"api_key": "\\ud800", "description": "ok", "address_string": "x"}'
    response = client.post(f"{V2}/requests.json", content=key_body, headers={"content-type": "application/json"})
    assert_spec_error(response, 403, "api_key is not valid")
