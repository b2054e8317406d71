"""Staff accounts: `gridsec staff-add`, and the local-mode demo logins a newcomer uses after `make run`."""

from __future__ import annotations

import uuid

import httpx
import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from bot.cli import app as cli
from bot.web.app import create_app
from storage.accounts import DEMO_PASSWORD
from storage.models import StaffAccount
from tests.support.sanic_server import serve_sanic


def test_staff_add_creates_a_street_account_from_the_street_name(db_url, web_org, session_factory, monkeypatch) -> None:
    monkeypatch.setenv("DATABASE_URL", db_url)
    result = CliRunner().invoke(cli, ["staff-add", "hq2", "--role", "street", "--street", "洪桥街道"],
                                input="s3cret-pass\ns3cret-pass\n")
    assert result.exit_code == 0, result.output
    with session_factory() as session:
        account = session.execute(select(StaffAccount).where(StaffAccount.username == "hq2")).scalar_one()
        assert (account.role, account.street_code) == ("street", "440104001")
        assert "s3cret-pass" not in account.password_hash


@pytest.mark.parametrize("args, words", [
    (["--role", "street", "--street", "火星"], "unknown street"),
    (["--role", "department", "--department", "NOPE"], "known department"),
    (["--role", "mayor"], "role must be one of"),
])
def test_staff_add_refuses_bad_scopes(db_url, web_org, monkeypatch, args, words) -> None:
    monkeypatch.setenv("DATABASE_URL", db_url)
    result = CliRunner().invoke(cli, ["staff-add", "someone", *args], input="pw\npw\n")
    assert result.exit_code != 0 and words in result.output


def test_local_mode_seeds_one_demo_login_per_role(engine, web_org) -> None:
    app = create_app(engine, name=f"demo_{uuid.uuid4().hex[:8]}", environ={})  # no credentials: local mode
    with serve_sanic(app) as base_url:
        roles = {}
        for username in ("demo-centre", "demo-street", "demo-dept"):
            with httpx.Client(base_url=base_url, timeout=30) as client:
                response = client.post("/api/login", json={"username": username, "password": DEMO_PASSWORD})
                assert response.status_code == 200, response.text
                roles[username] = (response.json()["user"]["role"], response.json()["user"]["street"],
                                   response.json()["user"]["department_key"])
    assert roles == {"demo-centre": ("command_centre", None, None), "demo-street": ("street", "洪桥", None),
                     "demo-dept": ("department", None, "HWZX")}


def test_no_demo_logins_outside_local_mode(engine, web_org, session_factory) -> None:
    environ = {"WECHAT_APP_SECRET": "s", "WECHAT_TOKEN": "t"}
    app = create_app(engine, name=f"prod_{uuid.uuid4().hex[:8]}", environ=environ)
    with serve_sanic(app):
        pass
    with session_factory() as session:
        names = set(session.execute(select(StaffAccount.username)).scalars())
    assert not any(name.startswith("demo-") for name in names)
