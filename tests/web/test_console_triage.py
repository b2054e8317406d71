"""Manual triage from the console: every action is a lifecycle event with the staff actor, and the lifecycle
table decides what is allowed (409 otherwise, with nothing recorded)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from sqlalchemy import select

from storage.cases import derive_state, get_case_by_code
from storage.models import CaseEventRecord
from tests.web.case_factory import make_case, walk

NOW = datetime.now(timezone.utc)


def _events(session_factory, code: str) -> list[tuple[str, str, dict]]:
    with session_factory() as session:
        case = get_case_by_code(session, code)
        assert case.state == derive_state(session, case.id).value  # the projection agrees with the history
        rows = session.execute(
            select(CaseEventRecord).where(CaseEventRecord.case_id == case.id).order_by(CaseEventRecord.seq)
        ).scalars()
        return [(row.event, row.actor, row.payload) for row in rows]


def test_recategorise_and_redispatch_a_returned_case(console, session_factory) -> None:
    code = make_case(session_factory, NOW - timedelta(minutes=30), category="GARBAGE", department="HWZX", steps=walk(
        ("respond", 2), ("dispatch", 3, {"department_key": "HWZX"}), ("return", 10, {"reason": "唔系我哋管"})))
    centre = console.login("centre")
    assert centre.get(f"/api/cases/{code}").json()["allowed_actions"] == ["triage", "dispatch", "cancel"]

    response = centre.post(f"/api/cases/{code}/actions",
                           json={"action": "dispatch", "category": "ROAD_DAMAGE", "note": "系路面破损"})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["recorded"] == ["dispatch"]
    assert body["case"]["state"] == "dispatched"
    assert body["case"]["category"] == "ROAD_DAMAGE" and body["case"]["department_key"] == "SZWH"
    event, actor, payload = _events(session_factory, code)[-1]
    assert (event, actor) == ("dispatch", "console:centre")
    assert payload == {"source": "console", "note": "系路面破损", "category": "ROAD_DAMAGE",
                       "previous_category": "GARBAGE", "department_key": "SZWH", "previous_department_key": "HWZX"}
    timeline = body["case"]["events"][-1]
    assert timeline["actor"] == "console:centre" and timeline["actor_label"] == "指挥中心控制台 centre"


def test_a_reported_case_is_responded_then_triaged_by_the_same_staff_member(console, session_factory) -> None:
    code = make_case(session_factory, NOW - timedelta(minutes=5), auto_dispatch=False)
    centre = console.login("centre")
    response = centre.post(f"/api/cases/{code}/actions", json={"action": "triage", "category": "CORRIDOR"})
    assert response.status_code == 200
    assert response.json()["recorded"] == ["respond", "triage"]
    events = _events(session_factory, code)
    assert [(e, a) for e, a, _ in events] == [
        ("report", "resident"), ("respond", "console:centre"), ("triage", "console:centre")]
    assert events[-1][2]["category"] == "CORRIDOR"

    dispatched = centre.post(f"/api/cases/{code}/actions", json={"action": "dispatch", "department": "JDB"})
    assert dispatched.status_code == 200
    assert dispatched.json()["case"]["department_key"] == "JDB-440104001"  # the case's street's office


def test_merge_a_duplicate_into_its_original(console, session_factory) -> None:
    original = make_case(session_factory, NOW - timedelta(minutes=20))
    duplicate = make_case(session_factory, NOW - timedelta(minutes=10), resident_id=console.resident_id)
    centre = console.login("centre")
    response = centre.post(f"/api/cases/{duplicate}/actions",
                           json={"action": "merge", "duplicate_of": original, "note": "同一堆垃圾"})
    assert response.status_code == 200
    assert response.json()["case"]["state"] == "merged_duplicate"
    assert response.json()["case"]["duplicate_of"] == original
    assert _events(session_factory, duplicate)[-1][:2] == ("merge_duplicate", "console:centre")
    assert centre.get(f"/api/cases/{original}").json()["duplicates"] == [duplicate]


def test_what_the_lifecycle_forbids_is_a_409_and_records_nothing(console, session_factory) -> None:
    code = make_case(session_factory, NOW - timedelta(minutes=30), steps=walk(
        ("respond", 2), ("dispatch", 3, {"department_key": "HWZX"}), ("sign", 5)))
    before = _events(session_factory, code)
    response = console.login("centre").post(f"/api/cases/{code}/actions",
                                            json={"action": "dispatch", "department": "SZWH"})
    assert response.status_code == 409
    assert response.json()["state"] == "signed" and response.json()["allowed"] == []
    assert "not allowed in state 'signed'" in response.json()["error"]
    assert _events(session_factory, code) == before


def test_bad_triage_bodies_are_a_400_and_record_nothing(console, session_factory) -> None:
    code = make_case(session_factory, NOW - timedelta(minutes=5), steps=walk(("respond", 1)))
    other = make_case(session_factory, NOW - timedelta(minutes=4))
    centre = console.login("centre")
    before = _events(session_factory, code)
    for body in (
        {"action": "teleport"},
        {"action": "dispatch"},
        {"action": "dispatch", "department": "NOPE"},
        {"action": "triage", "category": "NOT_A_CATEGORY"},
        {"action": "merge"},
        {"action": "merge", "duplicate_of": "YX-19990101-0001"},
        {"action": "merge", "duplicate_of": code},
        {"action": "cancel"},
        {"action": "merge", "duplicate_of": other, "category": "ROAD_DAMAGE"},
        {"action": "triage", "note": "x" * 501},
    ):
        response = centre.post(f"/api/cases/{code}/actions", json=body)
        assert response.status_code == 400, (body, response.text)
        assert response.json()["error"]
    assert centre.post(f"/api/cases/{code}/actions", content=b"nope").status_code == 400
    assert centre.post("/api/cases/YX-19990101-0001/actions", json={"action": "triage"}).status_code == 404
    assert _events(session_factory, code) == before
