"""A two-street, three-department organisation with console accounts, and the console served on loopback.

`console` starts the real Sanic app (`bot.web.app.create_app`) on a free port over the test database
(SQLite and PostgreSQL) and logs users in over real HTTP.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

import httpx
import pytest
from sqlalchemy.orm import Session

from bot.web.app import create_app
from storage.accounts import create_account
from storage.models import Community, Department, Grid, Person, Resident, Street
from tests.support.sanic_server import serve_sanic

PASSWORD = "correct horse battery"
HONGQIAO, BEIJING = "440104001", "440104002"
GRID_HQ, GRID_BJ = "440104001007-03", "440104002001-01"
ACCOUNTS = {
    "centre": {"role": "command_centre"},
    "hongqiao": {"role": "street", "street_code": HONGQIAO},
    "hwzx": {"role": "department", "department_key": "HWZX"},
    "szwh": {"role": "department", "department_key": "SZWH"},
}


def build_web_org(session: Session) -> int:
    """Insert streets, communities, grids, departments, workers, one resident (returned id) and the accounts."""
    now = datetime(2026, 1, 1, tzinfo=timezone.utc)
    session.add_all([Street(code=HONGQIAO, name="洪桥", full_name="洪桥街道"),
                     Street(code=BEIJING, name="北京", full_name="北京街道")])
    session.flush()
    session.add_all([Community(code="440104001007", name="三眼井社区", street_code=HONGQIAO),
                     Community(code="440104002001", name="西湖社区", street_code=BEIJING)])
    session.flush()
    session.add_all([Grid(id=GRID_HQ, community_code="440104001007", street_code=HONGQIAO, number=3),
                     Grid(id=GRID_BJ, community_code="440104002001", street_code=BEIJING, number=1)])
    session.add_all([
        Department(key="HWZX", code="HWZX", name="区环境卫生事务中心", scope="district"),
        Department(key="SZWH", code="SZWH", name="区市政设施维护中心", scope="district"),
        Department(key="SWJ", code="SWJ", name="区水务局", scope="district"),
        Department(key="DZZX", code="DZZX", name="区综合指挥调度中心", scope="district"),
        Department(key="JDB-440104001", code="JDB", name="洪桥街道办事处", scope="street", street_code=HONGQIAO),
    ])
    session.flush()
    session.add_all([
        Person(id=f"GW-{GRID_HQ}", name="网格员甲", phone="13800000001", role="grid_worker",
               street_code=HONGQIAO, community_code="440104001007", grid_id=GRID_HQ),
        Person(id=f"GW-{GRID_BJ}", name="网格员乙", phone="13800000002", role="grid_worker",
               street_code=BEIJING, community_code="440104002001", grid_id=GRID_BJ),
    ])
    resident = Resident(openid="o-resident-0001", channel="wechat", phone="13912345678", created_at=now)
    session.add(resident)
    session.flush()
    for username, scope in ACCOUNTS.items():
        create_account(session, username=username, password=PASSWORD, now=now, **scope)
    return int(resident.id)


@dataclass
class Console:
    """The console on loopback, and logged-in clients per username."""

    base_url: str
    resident_id: int
    clients: dict[str, httpx.Client] = field(default_factory=dict)

    def anonymous(self) -> httpx.Client:
        client = httpx.Client(base_url=self.base_url, timeout=30)
        self.clients[f"anon-{len(self.clients)}"] = client
        return client

    def login(self, username: str, password: str = PASSWORD) -> httpx.Client:
        if username in self.clients:
            return self.clients[username]
        client = httpx.Client(base_url=self.base_url, timeout=30)
        response = client.post("/api/login", json={"username": username, "password": password})
        assert response.status_code == 200, response.text
        self.clients[username] = client
        return client

    def close(self) -> None:
        for client in self.clients.values():
            client.close()


@pytest.fixture()
def web_org(session_factory: Any) -> int:
    """The organisation and accounts; returns the resident id."""
    with session_factory() as session, session.begin():
        return build_web_org(session)


@pytest.fixture()
def console(engine: Any, web_org: int, tmp_path: Any) -> Iterator[Console]:
    """The console app served on a loopback port over the test database (no demo accounts, no model)."""

    async def no_model(text: str) -> dict[str, Any]:
        raise LookupError("this test runs without the NLU model")

    app = create_app(
        engine,
        name=f"console_{uuid.uuid4().hex[:8]}",
        environ={},
        parser=no_model,
        media_roots=[tmp_path],
        seed_demo_accounts=False,
    )
    with serve_sanic(app) as base_url:
        console = Console(base_url=base_url, resident_id=web_org)
        try:
            yield console
        finally:
            console.close()
