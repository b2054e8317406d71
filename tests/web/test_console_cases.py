"""The live case list (filters, paging, polling cursor), the detail timeline, reference data and the map."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from storage.cases import apply_event, get_case_by_code
from tests.web.case_factory import make_case, walk
from tests.web.conftest import BEIJING

NOW = datetime.now(timezone.utc)


@pytest.fixture()
def cases(console, session_factory) -> dict[str, str]:
    """Four cases: an overdue urgent one (reported 2 days ago), a closed one, two fresh ones (one per street)."""
    return {
        "old_urgent": make_case(session_factory, NOW - timedelta(days=2), category="MANHOLE", department="SWJ",
                                urgency="urgent", description="井盖冇咗"),
        "closed": make_case(session_factory, NOW - timedelta(hours=5), steps=walk(
            ("respond", 5), ("dispatch", 10, {"department_key": "HWZX"}), ("sign", 20), ("handle", 60),
            ("confirm", 90, {"rating": 4, "comment": "快"}))),
        "beijing": make_case(session_factory, NOW - timedelta(minutes=3), street=BEIJING, department="SZWH",
                             category="STREETLIGHT", description="路灯唔着", auto_dispatch=False),
        "fresh": make_case(session_factory, NOW - timedelta(minutes=1)),
    }


def _codes(client, **params: str) -> list[str]:
    response = client.get("/api/cases", params=params)
    assert response.status_code == 200, response.text
    return [item["code"] for item in response.json()["items"]]


def test_filters_combine_and_unknown_values_are_a_400(console, cases) -> None:
    centre = console.login("centre")
    assert _codes(centre) == [cases["fresh"], cases["beijing"], cases["closed"], cases["old_urgent"]]
    assert _codes(centre, status="closed") == [cases["closed"]]
    assert set(_codes(centre, status="open")) == {cases["fresh"], cases["beijing"], cases["old_urgent"]}
    assert _codes(centre, status="reported,closed", category="GARBAGE") == [cases["fresh"], cases["closed"]]
    assert _codes(centre, street="北京") == [cases["beijing"]]
    assert _codes(centre, street="440104002") == [cases["beijing"]]
    assert _codes(centre, department="SWJ") == [cases["old_urgent"]]
    assert _codes(centre, urgency="urgent") == [cases["old_urgent"]]
    assert _codes(centre, overdue="true") == [cases["old_urgent"]]
    assert cases["old_urgent"] not in _codes(centre, overdue="false")
    assert _codes(centre, q=cases["fresh"]) == [cases["fresh"]]
    for params in ({"status": "lost"}, {"category": "NOPE"}, {"street": "火星"}, {"department": "XXX"},
                   {"urgency": "whenever"}, {"overdue": "maybe"}, {"limit": "0"}, {"limit": "abc"}):
        response = centre.get("/api/cases", params=params)
        assert response.status_code == 400, params
        assert response.json()["error"]


def test_paging_and_the_summary_fields(console, cases) -> None:
    centre = console.login("centre")
    first = centre.get("/api/cases", params={"limit": 3}).json()
    second = centre.get("/api/cases", params={"limit": 3, "offset": 3}).json()
    assert first["total"] == second["total"] == 4
    assert [item["code"] for item in first["items"] + second["items"]] == _codes(centre)
    assert first["next_after"] and second["next_after"] is None
    keyset = centre.get("/api/cases", params={"limit": 3, "after": first["next_after"]}).json()
    assert keyset["items"] == second["items"]
    assert centre.get("/api/cases", params={"after": "yesterday"}).status_code == 400
    closed = next(item for item in first["items"] if item["code"] == cases["closed"])
    assert closed["status"] == "closed" and closed["state"] == "closed" and closed["state_label"] == "已办结"
    assert closed["rating"] == 4 and closed["category_name"] == "垃圾堆放/清运不及时"
    assert closed["street"] == "洪桥" and closed["community"] == "三眼井社区" and closed["department"] == "区环境卫生事务中心"
    overdue = centre.get("/api/cases", params={"q": cases["old_urgent"]}).json()["items"][0]
    assert overdue["overdue"] is True and overdue["next_stage"] == "respond"
    assert overdue["next_due_at"].endswith("+08:00")


def test_polling_with_the_cursor_returns_only_changed_cases(console, cases, session_factory) -> None:
    centre = console.login("centre")
    cursor = centre.get("/api/cases").json()["cursor"]
    quiet = centre.get("/api/cases", params={"since": cursor}).json()
    assert quiet["items"] == [] and quiet["cursor"] == cursor and "total" not in quiet  # a quiet poll is cheap
    with session_factory() as session, session.begin():
        apply_event(session, get_case_by_code(session, cases["beijing"]), "respond", actor="telegram:GW-x",
                    now=datetime.now(timezone.utc))
    changed = centre.get("/api/cases", params={"since": cursor}).json()
    assert [item["code"] for item in changed["items"]] == [cases["beijing"]]
    assert changed["items"][0]["state"] == "responded" and changed["cursor"] > cursor
    assert changed["total"] == 4
    new_code = make_case(session_factory, datetime.now(timezone.utc))
    latest = centre.get("/api/cases", params={"since": changed["cursor"]}).json()
    assert [item["code"] for item in latest["items"]] == [new_code]
    # filters still apply to the changes: a department does not learn about other departments' changes
    assert console.login("szwh").get("/api/cases", params={"since": changed["cursor"]}).json()["items"] == []


def test_detail_has_the_timeline_with_actors_routing_and_rating(console, cases) -> None:
    detail = console.login("centre").get(f"/api/cases/{cases['closed']}").json()
    assert [(e["seq"], e["event"], e["actor"]) for e in detail["events"]] == [
        (1, "report", "resident"), (2, "respond", "telegram:GW-x"), (3, "dispatch", "telegram:dept"),
        (4, "sign", "telegram:dept"), (5, "handle", "telegram:dept"), (6, "confirm", "resident"),
    ]
    assert detail["events"][0]["actor_label"] == "居民" and detail["events"][0]["to_state"] == "reported"
    assert detail["events"][2]["payload"] == {"department_key": "HWZX"}
    assert detail["explanation"] == ["category GARBAGE from text", "rule R1"]
    assert detail["routing"]["category"] == "GARBAGE"
    assert detail["rating"]["score"] == 4 and detail["rating"]["comment"] == "快"
    assert detail["allowed_actions"] == []  # closed: nothing to triage
    assert console.login("centre").get("/api/cases/YX-19990101-0001").status_code == 404


def test_meta_lists_what_the_filters_need(console) -> None:
    meta = console.login("hwzx").get("/api/meta").json()
    assert {"code": "440104001", "name": "洪桥"} in meta["streets"]
    assert any(c["code"] == "GARBAGE" and c["name"] == "垃圾堆放/清运不及时" for c in meta["categories"])
    assert {s["code"] for s in meta["states"]} >= {"reported", "closed", "triage"}
    assert meta["triage_actions"] == ["triage", "dispatch", "merge", "cancel"]


def test_map_serves_every_grid_polygon_with_an_etag_and_case_points(console, cases) -> None:
    centre = console.login("centre")
    grids = centre.get("/api/map/grids")
    assert grids.status_code == 200
    features = grids.json()["features"]
    assert len(features) == 1893
    assert features[0]["geometry"]["type"] == "Polygon" and "grid" in features[0]["properties"]
    assert centre.get("/api/map/grids", headers={"If-None-Match": grids.headers["etag"]}).status_code == 304
    hongqiao = centre.get("/api/map/grids", params={"street": "洪桥"}).json()["features"]
    assert 0 < len(hongqiao) < 1893 and {f["properties"]["street"] for f in hongqiao} == {"洪桥"}
    points = centre.get("/api/map/cases").json()  # default: open cases
    by_code = {f["properties"]["code"]: f for f in points["features"]}
    assert set(by_code) == {cases["fresh"], cases["beijing"], cases["old_urgent"]}
    assert by_code[cases["beijing"]]["geometry"]["coordinates"] == [113.27, 23.129]
    assert by_code[cases["old_urgent"]]["properties"]["overdue"] is True
    assert by_code[cases["fresh"]]["properties"]["color"].startswith("#")
