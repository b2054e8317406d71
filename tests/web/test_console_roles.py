"""Roles decide what the console shows: a department sees only its cases (list, detail, CSV, map, media, KPIs),
a street only its street's, the command centre everything; contact details are masked except for the centre."""

from __future__ import annotations

import csv
import io
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import select

from storage.models import CaseMedia
from tests.web.case_factory import make_case, walk
from tests.web.conftest import BEIJING, HONGQIAO

T0 = datetime.now(timezone.utc) - timedelta(hours=3)


@pytest.fixture()
def three_cases(console, session_factory, tmp_path) -> dict[str, str]:
    photo = tmp_path / "photo.jpg"
    photo.write_bytes(b"\xff\xd8\xff\xe0 fake jpeg")
    garbage = make_case(session_factory, T0, department="HWZX", resident_id=console.resident_id,
                        steps=walk(("respond", 5), ("dispatch", 10, {"department_key": "HWZX"})),
                        media=[{"kind": "photo", "uri": str(photo), "content_type": "image/jpeg"}])
    light = make_case(session_factory, T0 + timedelta(minutes=1), street=BEIJING, department="SZWH",
                      category="STREETLIGHT", description="路灯唔着", resident_id=console.resident_id)
    light_hq = make_case(session_factory, T0 + timedelta(minutes=2), street=HONGQIAO, department="SZWH",
                         category="STREETLIGHT", description="三眼井路灯坏咗")
    return {"garbage": garbage, "light": light, "light_hq": light_hq}


def _codes(client, path: str = "/api/cases") -> set[str]:
    response = client.get(path)
    assert response.status_code == 200, response.text
    return {item["code"] for item in response.json()["items"]}


def _csv_codes(client) -> set[str]:
    response = client.get("/api/cases.csv")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(response.content.decode("utf-8-sig"))))
    return {row["code"] for row in rows}


def _map_codes(client) -> set[str]:
    response = client.get("/api/map/cases?status=open,closed")
    assert response.status_code == 200
    return {feature["properties"]["code"] for feature in response.json()["features"]}


def test_a_department_cannot_see_another_departments_cases(console, three_cases) -> None:
    hwzx = console.login("hwzx")
    assert _codes(hwzx) == {three_cases["garbage"]}
    assert _csv_codes(hwzx) == {three_cases["garbage"]}
    assert _map_codes(hwzx) == {three_cases["garbage"]}
    assert hwzx.get(f"/api/cases/{three_cases['garbage']}").status_code == 200
    for other in ("light", "light_hq"):
        response = hwzx.get(f"/api/cases/{three_cases[other]}")
        assert response.status_code == 403
        assert "outside your department scope" in response.json()["error"]
    # even asking for the other department by filter gives nothing
    assert _codes(hwzx, "/api/cases?department=SZWH") == set()

    szwh = console.login("szwh")
    assert _codes(szwh) == {three_cases["light"], three_cases["light_hq"]}
    assert _csv_codes(szwh) == {three_cases["light"], three_cases["light_hq"]}
    assert _map_codes(szwh) == {three_cases["light"], three_cases["light_hq"]}
    assert szwh.get(f"/api/cases/{three_cases['garbage']}").status_code == 403


def test_a_street_sees_its_street_and_the_centre_sees_everything(console, three_cases) -> None:
    street = console.login("hongqiao")
    assert _codes(street) == {three_cases["garbage"], three_cases["light_hq"]}
    assert street.get(f"/api/cases/{three_cases['light']}").status_code == 403
    assert _csv_codes(street) == {three_cases["garbage"], three_cases["light_hq"]}
    centre = console.login("centre")
    assert _codes(centre) == set(three_cases.values())
    assert _csv_codes(centre) == set(three_cases.values())
    assert _map_codes(centre) == set(three_cases.values())


def test_media_follows_the_case_scope(console, three_cases, session_factory) -> None:
    with session_factory() as session:
        media_id = session.execute(select(CaseMedia.id)).scalar_one()
    detail = console.login("hwzx").get(f"/api/cases/{three_cases['garbage']}").json()
    assert detail["media"][0]["url"] == f"/api/media/{media_id}"
    photo = console.login("hwzx").get(f"/api/media/{media_id}")
    assert photo.status_code == 200 and photo.content.startswith(b"\xff\xd8")
    assert console.login("szwh").get(f"/api/media/{media_id}").status_code == 403
    assert console.login("centre").get("/api/media/999999").status_code == 404


def test_contact_details_are_masked_except_for_the_command_centre(console, three_cases) -> None:
    code = three_cases["garbage"]
    masked = console.login("hwzx").get(f"/api/cases/{code}").json()
    assert masked["resident"]["phone"] == "139****5678"
    assert masked["resident"]["openid"] == "o-re***"
    assert "13812345678" not in masked["description"] and "138****5678" in masked["description"]
    full = console.login("centre").get(f"/api/cases/{code}").json()
    assert full["resident"]["phone"] == "13912345678"
    assert "13812345678" in full["description"]
    hwzx_csv = console.login("hwzx").get("/api/cases.csv").content.decode("utf-8-sig")
    assert "13912345678" not in hwzx_csv and "139****5678" in hwzx_csv and "13812345678" not in hwzx_csv
    assert "13912345678" in console.login("centre").get("/api/cases.csv").content.decode("utf-8-sig")


def test_only_the_command_centre_triages_and_sees_league_tables(console, three_cases) -> None:
    for username in ("hwzx", "hongqiao"):
        client = console.login(username)
        response = client.post(f"/api/cases/{three_cases['garbage']}/actions",
                               json={"action": "triage"})
        assert response.status_code == 403
        assert client.get("/api/kpis?period=month&by=department").status_code == 403
        assert client.get(f"/api/cases/{three_cases['garbage']}").json()["allowed_actions"] == []


def test_scoped_kpis_count_only_the_scope(console, three_cases) -> None:
    window = {"start": (T0 - timedelta(hours=1)).isoformat()}
    bad = console.login("hwzx").get("/api/kpis", params={"start": "yesterday"})
    assert bad.status_code == 400 and "ISO 8601" in bad.json()["error"]
    for params in ({"start": "0001-01-01T00:00:00+08:00"}, {"end": "0001-01-01"}):
        assert console.login("hwzx").get("/api/kpis", params=params).status_code == 400
    hwzx = console.login("hwzx").get("/api/kpis", params=window).json()
    assert hwzx["scope"] == {"street_code": None, "department_key": "HWZX"}
    assert hwzx["kpis"]["cases"] == 1
    assert console.login("hongqiao").get("/api/kpis", params=window).json()["kpis"]["cases"] == 2
    assert console.login("centre").get("/api/kpis", params=window).json()["kpis"]["cases"] == 3
