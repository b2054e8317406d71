"""A small organisation (one street, community, grid, a few people) and helpers for storage tests."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone

import pytest
from sqlalchemy.orm import Session

from storage.cases import open_case
from storage.models import Case, ChatBinding, Community, Department, Grid, Person, Resident, Street


@dataclass(frozen=True)
class Org:
    street: str = "440104001"
    community: str = "440104001007"
    grid: str = "440104001007-03"
    worker: str = "GW-440104001007-03"
    community_staff: str = "CS-440104001007-1"
    street_staff: str = "SS-440104001-1"
    command_centre: str = "CC-DZZX-1"
    department: str = "HWZX"
    resident_openid: str = "o-resident-1"
    resident_id: int = 0


def build_org(session: Session) -> Org:
    """Insert the organisation rows and one resident; returns their keys."""
    org = Org()
    session.add(Street(code=org.street, name="洪桥", full_name="洪桥街道"))
    session.add(Community(code=org.community, name="三眼井社区", street_code=org.street))
    session.flush()
    session.add(Grid(id=org.grid, community_code=org.community, street_code=org.street, number=3))
    session.add_all(
        [
            Department(key="HWZX", code="HWZX", name="区环境卫生事务中心", scope="district"),
            Department(key="SZWH", code="SZWH", name="区市政设施维护中心", scope="district"),
            Department(key="DZZX", code="DZZX", name="区综合指挥调度中心", scope="district"),
            Department(
                key="JDB-440104001", code="JDB", name="洪桥街道办事处", scope="street", street_code=org.street
            ),
        ]
    )
    session.flush()
    session.add_all(
        [
            Person(
                id=org.worker,
                name="网格员甲",
                phone="13800000001",
                role="grid_worker",
                street_code=org.street,
                community_code=org.community,
                grid_id=org.grid,
            ),
            Person(
                id=org.community_staff,
                name="社区乙",
                role="community",
                street_code=org.street,
                community_code=org.community,
            ),
            Person(id=org.street_staff, name="街道丙", role="street", street_code=org.street),
            Person(id=org.command_centre, name="指挥丁", role="command_centre", department_key="DZZX"),
        ]
    )
    session.flush()
    session.add(ChatBinding(channel="telegram", chat_id="1001", person_id=org.worker))
    session.add(ChatBinding(channel="telegram", chat_id="-2001", department_key="HWZX", kind="group"))
    resident = Resident(
        openid=org.resident_openid,
        channel="wechat",
        phone="13912345678",
        created_at=datetime(2026, 1, 1, tzinfo=timezone.utc),
    )
    session.add(resident)
    session.flush()
    return Org(resident_id=resident.id)


@pytest.fixture()
def org(session: Session) -> Org:
    built = build_org(session)
    session.commit()
    return built


def new_case(session: Session, org: Org, now: datetime, urgency: str = "normal", **fields: object) -> Case:
    """Open a case in the test organisation's grid, reported by the test resident."""
    defaults: dict[str, object] = dict(
        description="小区门口垃圾堆了三天没人清运",
        category="GARBAGE",
        resident_id=org.resident_id,
        lat=23.13,
        lng=113.27,
        address="越秀区三眼井12号",
        street_code=org.street,
        community_code=org.community,
        grid_id=org.grid,
        department_key=org.department,
        worker_id=org.worker,
        auto_dispatch=True,
    )
    defaults.update(fields)
    return open_case(session, now=now, urgency=urgency, **defaults)  # type: ignore[arg-type]
