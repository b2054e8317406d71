"""Console login over real HTTP: hashed passwords, the session cookie, logout, and 401 on every /api route."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import httpx
import pytest
from freezegun import freeze_time
from sqlalchemy import select

from storage.accounts import SESSION_LIFETIME, authenticate, hash_password, verify_password
from storage.models import StaffAccount, StaffSession
from tests.web.conftest import PASSWORD

GUARDED_GETS = [
    "/api/me", "/api/meta", "/api/cases", "/api/cases.csv", "/api/cases/YX-20261130-0001", "/api/media/1",
    "/api/map/grids", "/api/map/cases", "/api/kpis",
]


def test_passwords_are_stored_as_salted_scrypt_hashes(session_factory, web_org) -> None:
    with session_factory() as session:
        stored = session.execute(select(StaffAccount.password_hash).where(StaffAccount.username == "centre")).scalar_one()
        assert PASSWORD not in stored and stored.startswith("scrypt$")
        assert verify_password(PASSWORD, stored) and not verify_password("wrong", stored)
        assert hash_password(PASSWORD) != hash_password(PASSWORD)  # a fresh salt each time
        assert authenticate(session, "centre", "wrong") is None
        assert authenticate(session, "nobody", PASSWORD) is None


def test_login_sets_an_httponly_samesite_strict_cookie_and_logout_ends_the_session(console, session_factory) -> None:
    client = httpx.Client(base_url=console.base_url, timeout=30)
    response = client.post("/api/login", json={"username": "hongqiao", "password": PASSWORD})
    assert response.status_code == 200
    assert response.json()["user"] == {
        "username": "hongqiao", "display_name": "hongqiao", "role": "street", "street_code": "440104001",
        "street": "洪桥", "department_key": None, "department": None, "can_triage": False, "sees_contact": False,
    }
    cookie_header = response.headers["set-cookie"]
    assert "HttpOnly" in cookie_header and "SameSite=Strict" in cookie_header and "Path=/" in cookie_header
    token = client.cookies["gridsec_session"]
    with session_factory() as session:
        stored = session.execute(select(StaffSession.token_hash)).scalars().all()
    assert len(stored) == 1 and token not in stored[0]  # only the hash is kept
    assert client.get("/api/me").json()["role"] == "street"

    assert client.post("/api/logout").status_code == 200
    again = httpx.get(console.base_url + "/api/me", cookies={"gridsec_session": token}, timeout=30)
    assert again.status_code == 401
    client.close()


@pytest.mark.parametrize("body", [
    {"username": "centre", "password": "wrong"},
    {"username": "ghost", "password": PASSWORD},
])
def test_wrong_credentials_are_refused(console, body) -> None:
    response = console.anonymous().post("/api/login", json=body)
    assert response.status_code == 401
    assert response.json() == {"error": "wrong username or password"}


def test_a_malformed_login_body_is_a_400(console) -> None:
    client = console.anonymous()
    assert client.post("/api/login", content=b"{not json", headers={"content-type": "application/json"}).status_code == 400
    assert client.post("/api/login", json={"username": "centre"}).status_code == 400


@pytest.mark.parametrize("path", GUARDED_GETS)
def test_every_api_route_needs_a_login(console, path) -> None:
    client = console.anonymous()
    response = client.get(path)
    assert response.status_code == 401
    assert "not logged in" in response.json()["error"]
    forged = client.get(path, cookies={"gridsec_session": "forged-token"})
    assert forged.status_code == 401


def test_triage_needs_a_login_too(console) -> None:
    response = console.anonymous().post("/api/cases/YX-20261130-0001/actions", json={"action": "triage"})
    assert response.status_code == 401


def test_a_session_expires(console) -> None:
    start = datetime.now(timezone.utc)
    with freeze_time(start, ignore=["asyncio", "threading", "sanic"]):
        client = console.login("centre")
    with freeze_time(start + SESSION_LIFETIME + timedelta(minutes=1), ignore=["asyncio", "threading", "sanic"]):
        assert client.get("/api/me").status_code == 401


def test_unknown_api_routes_answer_json_errors(console) -> None:
    client = console.login("centre")
    missing = client.get("/api/nothing-here")
    assert missing.status_code == 404 and missing.json()["error"]
    wrong_method = client.delete("/api/cases")
    assert wrong_method.status_code == 405 and wrong_method.json()["error"]


def test_odd_text_is_a_4xx_not_a_database_error(console) -> None:
    client = console.anonymous()
    surrogate = b'{"username": "\\ud800", "password": "x"}'
    response = client.post("/api/login", content=surrogate, headers={"content-type": "application/json"})
    assert response.status_code == 400
    assert client.post("/api/login", json={"username": "a\x00b", "password": "x"}).status_code == 401
    centre = console.login("centre")
    assert centre.get("/api/cases", params={"q": "YX\x00"}).status_code == 400
    note = b'{"action": "cancel", "note": "\\ud800"}'
    response = centre.post("/api/cases/YX-19990101-0001/actions", content=note,
                           headers={"content-type": "application/json"})
    assert response.status_code in (400, 404)
