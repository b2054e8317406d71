"""Seeding the organisation: real counts, natural keys, idempotent on SQLite and PostgreSQL."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import event, func, select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from storage.models import Community, Department, DutyShift, Grid, Person, Street
from storage.seed import GEO_DIR, roster_people_and_shifts, seed_all

EXPECTED = {"streets": 18, "communities": 222, "grids": 1893, "departments": 42 + 2 * 18}


def _table_counts(session: Session) -> dict[str, int]:
    models = {
        "streets": Street,
        "communities": Community,
        "grids": Grid,
        "departments": Department,
        "people": Person,
        "duty_shifts": DutyShift,
    }
    return {
        name: session.execute(select(func.count()).select_from(model)).scalar_one()
        for name, model in models.items()
    }


def test_seed_twice_changes_nothing(engine: Engine) -> None:
    with Session(engine, future=True) as session, session.begin():
        first = seed_all(session)
    with Session(engine, future=True) as session:
        after_first = _table_counts(session)
        shift_ids = sorted(session.execute(select(DutyShift.id)).scalars())
    writes: list[str] = []

    def record(conn, cursor, statement, parameters, context, executemany) -> None:  # noqa: ANN001
        if statement.lstrip().upper().startswith(("INSERT", "UPDATE", "DELETE")):
            writes.append(statement)

    event.listen(engine, "before_cursor_execute", record)
    try:
        with Session(engine, future=True) as session, session.begin():
            second = seed_all(session)
    finally:
        event.remove(engine, "before_cursor_execute", record)
    assert writes == []  # a repeat run writes nothing at all
    with Session(engine, future=True) as session:
        assert _table_counts(session) == after_first
        assert sorted(session.execute(select(DutyShift.id)).scalars()) == shift_ids
    assert first == second == after_first
    assert {k: after_first[k] for k in EXPECTED} == EXPECTED
    assert after_first["duty_shifts"] == 1893 + 222


def test_seeded_rows_use_the_natural_keys(engine: Engine) -> None:
    with Session(engine, future=True) as session, session.begin():
        seed_all(session)
    with Session(engine, future=True) as session:
        street = session.get(Street, "440104001")
        assert (street.name, street.full_name) == ("洪桥", "洪桥街道")
        assert session.get(Community, "440104001007").name == "三眼井社区"
        grid = session.get(Grid, "440104001007-01")
        assert (grid.community_code, grid.street_code, grid.number) == ("440104001007", "440104001", 1)
        jdb = session.get(Department, "JDB-440104001")
        assert (jdb.code, jdb.scope, jdb.street_code, jdb.name) == (
            "JDB",
            "street",
            "440104001",
            "洪桥街道办事处",
        )
        assert session.get(Department, "DZZX").scope == "district"
        worker = session.get(Person, "GW-440104001007-01")
        assert (worker.role, worker.grid_id, worker.community_code) == (
            "grid_worker",
            "440104001007-01",
            "440104001007",
        )
        night = session.get(Person, "NW-440104001007")
        assert (night.role, night.grid_id, night.community_code) == ("grid_worker", None, "440104001007")
        assert session.get(Person, "DP-JDZF-440104001").department_key == "JDZF-440104001"
        assert session.get(Person, "CC-01").department_key == "DZZX"
        shifts = (
            session.execute(select(DutyShift).where(DutyShift.person_id == "NW-440104001007")).scalars().all()
        )
        assert [(s.shift, s.community_code, s.starts.hour, s.ends.hour) for s in shifts] == [
            ("night", "440104001007", 20, 8)
        ]


def test_seed_repairs_a_changed_row(engine: Engine) -> None:
    with Session(engine, future=True) as session, session.begin():
        seed_all(session)
    with Session(engine, future=True) as session, session.begin():
        session.get(Person, "CC-01").phone = "000"
        shift = session.execute(
            select(DutyShift).where(DutyShift.person_id == "GW-440104001007-01")
        ).scalar_one()
        shift.ends = shift.starts
    with Session(engine, future=True) as session, session.begin():
        seed_all(session)
    with Session(engine, future=True) as session:
        assert session.get(Person, "CC-01").phone.startswith("1380000")
        shift = session.execute(
            select(DutyShift).where(DutyShift.person_id == "GW-440104001007-01")
        ).scalar_one()
        assert (shift.starts.hour, shift.ends.hour) == (8, 20)


def test_a_bad_roster_row_is_a_clear_error(tmp_path: Path) -> None:
    text = (GEO_DIR / "roster.csv").read_text(encoding="utf-8").replace(",street_staff,", ",mayor,", 1)
    (tmp_path / "roster.csv").write_text(text, encoding="utf-8")
    with pytest.raises(ValueError, match="unknown role 'mayor'"):
        roster_people_and_shifts(tmp_path)
