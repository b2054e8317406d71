"""From a routing Decision to a stored case: names to codes, street-scoped departments, residents."""

from __future__ import annotations

from datetime import datetime, timezone

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from routing.types import Decision, GeoPoint, ResolvedLocation
from storage.intake import case_fields_from_decision, open_case_from_decision, resident_for
from storage.models import Resident
from tests.storage.conftest import Org

T0 = datetime(2026, 11, 30, 2, 0, tzinfo=timezone.utc)


def decision(**fields: object) -> Decision:
    base: dict[str, object] = dict(
        kind="report",
        intent="report_problem",
        intent_confidence=0.95,
        category="GARBAGE",
        category_confidence=0.9,
        group="环境保护",
        department="HWZX",
        street="洪桥",
        community="三眼井社区",
        grid="440104001007-03",
        worker="GW-440104001007-03",
        urgency="normal",
        auto_dispatch=True,
        emergency=False,
        rule_ids=("R12",),
        explanation=("GARBAGE -> HWZX",),
    )
    base.update(fields)
    return Decision(**base)  # type: ignore[arg-type]


def test_names_become_codes_and_street_scoped_departments_get_their_street(
    session: Session, org: Org
) -> None:
    fields = case_fields_from_decision(session, decision(department="JDB", street="洪桥街"))
    assert (fields["street_code"], fields["community_code"], fields["department_key"]) == (
        org.street,
        org.community,
        "JDB-440104001",
    )
    assert list(fields["routing"]["rule_ids"]) == ["R12"]
    unknown = case_fields_from_decision(
        session, decision(street=None, community=None, grid="nowhere", worker="GW-x")
    )
    assert (unknown["street_code"], unknown["grid_id"], unknown["worker_id"], unknown["department_key"]) == (
        None,
        None,
        None,
        "HWZX",
    )


def test_open_case_from_decision_creates_the_resident_once(session: Session, org: Org) -> None:
    location = ResolvedLocation(
        street="洪桥", grid=org.grid, point=GeoPoint(23.131, 113.271), precision="grid"
    )
    first = open_case_from_decision(
        session,
        decision(),
        now=T0,
        description="垃圾没人收",
        resident_openid="o-new",
        location=location,
        address="三眼井12号",
    )
    second = open_case_from_decision(
        session, decision(), now=T0, description="又堆了", resident_openid="o-new"
    )
    session.commit()
    assert first.resident_id == second.resident_id
    assert (first.lat, first.lng, first.department_key, first.worker_id) == (
        23.131,
        113.271,
        "HWZX",
        org.worker,
    )
    assert (
        session.execute(
            select(func.count()).select_from(Resident).where(Resident.openid == "o-new")
        ).scalar_one()
        == 1
    )
    assert resident_for(session, "o-new", T0).id == first.resident_id
