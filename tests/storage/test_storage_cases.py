"""The case repository: codes, events, clocks that keep running, payload rules, derived state."""

from __future__ import annotations

import re
import threading
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from freezegun import freeze_time
from sqlalchemy import select
from sqlalchemy.orm import Session

from storage.cases import allocate_case_code, apply_event, case_events, derive_state, get_case_by_code
from storage.errors import InvalidTransition, StorageInputError
from storage.lifecycle import CaseEvent, CaseState
from storage.models import Case, CaseMedia, DueItem, Rating
from storage.scheduler import pending_items
from storage.timeutil import utcnow
from tests.storage.conftest import Org, new_case

SH = ZoneInfo("Asia/Shanghai")
T0 = datetime(2026, 11, 30, 2, 0, tzinfo=timezone.utc)


def test_codes_count_per_shanghai_day(session: Session) -> None:
    assert (
        allocate_case_code(session, datetime(2026, 11, 29, 15, 59, tzinfo=timezone.utc)) == "YX-20261129-0001"
    )
    assert (
        allocate_case_code(session, datetime(2026, 11, 29, 15, 59, 59, tzinfo=timezone.utc))
        == "YX-20261129-0002"
    )
    # 16:00 UTC is midnight in Shanghai: a new day and a new counter.
    assert (
        allocate_case_code(session, datetime(2026, 11, 29, 16, 0, tzinfo=timezone.utc)) == "YX-20261130-0001"
    )
    assert allocate_case_code(session, datetime(2026, 11, 29, 23, 0, tzinfo=SH)) == "YX-20261129-0003"


def test_a_rolled_back_case_gives_its_number_back(session: Session, org: Org) -> None:
    new_case(session, org, T0)
    session.rollback()
    assert new_case(session, org, T0).code == "YX-20261130-0001"


def test_concurrent_case_openings_get_unique_consecutive_codes(
    session_factory: Callable[[], Session], session: Session, org: Org
) -> None:
    codes: list[str] = []
    errors: list[BaseException] = []
    start = threading.Barrier(4)

    def open_many() -> None:
        try:
            start.wait()
            for _ in range(5):
                with session_factory() as db, db.begin():
                    codes.append(new_case(db, org, T0).code)
        except BaseException as error:  # surfaced by the assertion below
            errors.append(error)

    threads = [threading.Thread(target=open_many) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert sorted(codes) == [f"YX-20261130-{n:04d}" for n in range(1, 21)]


def test_open_case_stores_location_media_and_routing(session: Session, org: Org) -> None:
    case = new_case(
        session,
        org,
        T0,
        routing={"rule_ids": ["R12"], "explanation": ["GARBAGE -> HWZX"]},
        media=[
            {
                "kind": "photo",
                "uri": "var/media/a.jpg",
                "content_type": "image/jpeg",
                "meta": {"exif": [23.1, 113.2]},
            }
        ],
    )
    session.commit()
    loaded = get_case_by_code(session, case.code)
    assert re.fullmatch(r"YX-\d{8}-\d{4}", loaded.code)
    assert (loaded.lat, loaded.lng, loaded.grid_id, loaded.state) == (23.13, 113.27, org.grid, "reported")
    assert loaded.routing["rule_ids"] == ["R12"]
    (photo,) = session.execute(select(CaseMedia).where(CaseMedia.case_id == case.id)).scalars()
    assert (photo.kind, photo.meta) == ("photo", {"exif": [23.1, 113.2]})
    assert loaded.created_at == T0 and loaded.created_at.tzinfo == timezone.utc


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"urgency": "whenever"}, "urgency"),
        ({"lat": 23.1, "lng": None}, "together"),
        ({"routing": {"when": datetime(2026, 1, 1)}}, "JSON"),
        ({"grid_id": "440104001007-99"}, "unknown grid '440104001007-99'"),
        ({"worker_id": "GW-nobody", "department_key": "JDB"}, "unknown department 'JDB', person 'GW-nobody'"),
    ],
)
def test_open_case_rejects_bad_input(
    session: Session, org: Org, fields: dict[str, object], message: str
) -> None:
    with pytest.raises(StorageInputError, match=message):
        new_case(session, org, T0, **fields)


def test_naive_now_is_refused(session: Session, org: Org) -> None:
    with pytest.raises(StorageInputError, match="timezone-aware"):
        new_case(session, org, datetime(2026, 11, 30, 10, 0))


def test_a_return_needs_a_reason_and_keeps_the_clock_running(session: Session, org: Org) -> None:
    with freeze_time(T0) as clock:
        case = new_case(session, org, utcnow())
        apply_event(session, case, CaseEvent.RESPOND, actor=org.worker, now=utcnow())
        (dispatch_clock,) = pending_items(session, case.id)
        apply_event(session, case, CaseEvent.DISPATCH, actor=org.worker, now=utcnow())
        clock.tick(timedelta(minutes=40))
        with pytest.raises(StorageInputError, match="reason"):
            apply_event(session, case, CaseEvent.RETURN, actor="HWZX", now=utcnow(), payload={"reason": "  "})
        apply_event(
            session, case, CaseEvent.RETURN, actor="HWZX", now=utcnow(), payload={"reason": "不归我们管"}
        )
        with pytest.raises(StorageInputError, match="no department"):
            apply_event(
                session,
                case,
                CaseEvent.DISPATCH,
                actor="DZZX",
                now=utcnow(),
                payload={"department_key": "JDB"},
            )
        clock.tick(timedelta(minutes=10))
        apply_event(
            session, case, CaseEvent.DISPATCH, actor="DZZX", now=utcnow(), payload={"department_key": "SZWH"}
        )
        assert [(i.id, i.due_at) for i in pending_items(session, case.id)] == [
            (dispatch_clock.id, T0 + timedelta(hours=2))
        ]
        assert case.department_key == "SZWH"
        clock.tick(timedelta(minutes=5))
        apply_event(session, case, CaseEvent.SIGN, actor="SZWH", now=utcnow())
        (handle_clock,) = pending_items(session, case.id)
        assert (handle_clock.stage, handle_clock.due_at) == ("handle", utcnow() + timedelta(days=1))
        apply_event(
            session, case, CaseEvent.RETURN, actor="SZWH", now=utcnow(), payload={"reason": "要区里协调"}
        )
        apply_event(session, case, CaseEvent.DISPATCH, actor="DZZX", now=utcnow())
        clock.tick(timedelta(hours=1))
        apply_event(session, case, CaseEvent.SIGN, actor="SZWH", now=utcnow())
        assert [i.id for i in pending_items(session, case.id)] == [handle_clock.id]  # not re-armed


def test_a_reopening_starts_a_new_cycle_with_a_fresh_dispatch_clock(session: Session, org: Org) -> None:
    with freeze_time(T0) as clock:
        case = new_case(session, org, utcnow())
        for event in (CaseEvent.RESPOND, CaseEvent.HANDLE_ON_SITE):
            apply_event(session, case, event, actor=org.worker, now=utcnow())
        assert pending_items(session, case.id) == []
        clock.tick(timedelta(days=2))
        apply_event(
            session, case, CaseEvent.REOPEN, actor="resident", now=utcnow(), payload={"comment": "还是没修好"}
        )
        (item,) = pending_items(session, case.id)
        assert (item.stage, item.cycle, item.due_at) == ("dispatch", 1, utcnow() + timedelta(hours=2))


def test_closing_cancels_clocks_and_records_the_rating(session: Session, org: Org) -> None:
    with freeze_time(T0):
        case = new_case(session, org, utcnow())
        apply_event(session, case, CaseEvent.RESPOND, actor=org.worker, now=utcnow())
        apply_event(session, case, CaseEvent.HANDLE_ON_SITE, actor=org.worker, now=utcnow())
        for bad in (0, 6, "5", True):
            with pytest.raises(StorageInputError, match="rating"):
                apply_event(
                    session, case, CaseEvent.CONFIRM, actor="resident", now=utcnow(), payload={"rating": bad}
                )
        apply_event(
            session,
            case,
            CaseEvent.CONFIRM,
            actor="resident",
            now=utcnow(),
            payload={"rating": 4, "comment": "快"},
        )
        session.commit()
    (rating,) = session.execute(select(Rating)).scalars()
    assert (rating.case_id, rating.score, rating.comment, rating.resident_id) == (
        case.id,
        4,
        "快",
        org.resident_id,
    )
    statuses = set(session.execute(select(DueItem.status).where(DueItem.case_id == case.id)).scalars())
    assert statuses == {"cancelled"}
    with pytest.raises(InvalidTransition):
        apply_event(session, case, CaseEvent.REOPEN, actor="resident", now=utcnow())


def test_merging_needs_another_existing_case(session: Session, org: Org) -> None:
    with freeze_time(T0):
        original = new_case(session, org, utcnow())
        duplicate = new_case(session, org, utcnow())
        for target in (None, "YX-20990101-0001", duplicate.code):
            with pytest.raises(StorageInputError, match="duplicate_of"):
                apply_event(
                    session,
                    duplicate,
                    CaseEvent.MERGE_DUPLICATE,
                    actor="DZZX",
                    now=utcnow(),
                    payload={"duplicate_of": target},
                )
        apply_event(
            session,
            duplicate,
            CaseEvent.MERGE_DUPLICATE,
            actor="DZZX",
            now=utcnow(),
            payload={"duplicate_of": original.code},
        )
    assert duplicate.duplicate_of == original.id and duplicate.state == "merged_duplicate"


def test_state_is_the_fold_of_the_events(session: Session, org: Org) -> None:
    with freeze_time(T0):
        case = new_case(session, org, utcnow())
        for event in (CaseEvent.RESPOND, CaseEvent.ESCALATE, CaseEvent.DISPATCH, CaseEvent.SIGN):
            apply_event(session, case, event, actor="t", now=utcnow())
        session.commit()
    events = case_events(session, case.id)
    assert [e.seq for e in events] == [1, 2, 3, 4, 5]
    assert [e.escalation_level for e in events] == [0, 0, 1, 1, 1]
    assert derive_state(session, case.id) is CaseState.SIGNED
    assert session.get(Case, case.id).state == "signed"


def test_a_merged_duplicates_reporter_follows_the_original_case(session: Session, org: Org) -> None:
    from storage.cases import subscribe
    from storage.models import OutboxMessage, Resident

    with freeze_time(T0):
        neighbour = Resident(openid="o-neighbour", channel="wechat", created_at=utcnow())
        session.add(neighbour)
        session.flush()
        original = new_case(session, org, utcnow())
        duplicate = new_case(session, org, utcnow(), resident_id=neighbour.id)
        apply_event(session, duplicate, CaseEvent.RESPOND, actor=org.worker, now=utcnow())
        apply_event(
            session,
            duplicate,
            CaseEvent.MERGE_DUPLICATE,
            actor=org.worker,
            now=utcnow(),
            payload={"duplicate_of": original.code},
        )
        assert subscribe(session, original, neighbour.id, utcnow()) is False  # already following
        assert (
            subscribe(session, original, org.resident_id, utcnow()) is False
        )  # the reporter needs no subscription
        apply_event(session, original, CaseEvent.RESPOND, actor=org.worker, now=utcnow())
        session.commit()
    told = (
        session.execute(
            select(OutboxMessage.recipient_id)
            .where(OutboxMessage.case_id == original.id, OutboxMessage.template == "case.responded")
            .order_by(OutboxMessage.id)
        )
        .scalars()
        .all()
    )
    assert told == [org.resident_openid, "o-neighbour"]
