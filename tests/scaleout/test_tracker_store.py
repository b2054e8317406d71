"""bot.tracker_store.ThreadedSQLTrackerStore stores and reads exactly what Rasa's SQLTrackerStore does."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from rasa.core.tracker_store import SQLTrackerStore
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import ActionExecuted, SessionStarted, SlotSet, UserUttered
from rasa.shared.core.trackers import DialogueStateTracker
from sqlalchemy import event as sql_event

from bot.config import REPO_ROOT
from bot.serve import production_environment
from bot.tracker_store import ThreadedSQLTrackerStore
from tests.scaleout.stack import postgres_schema


@pytest.fixture(scope="module")
def domain() -> Domain:
    return Domain.load(str(REPO_ROOT / "domain.yml"))


def _stores(tmp_path: Path, domain: Domain) -> tuple[ThreadedSQLTrackerStore, SQLTrackerStore]:
    db = str(tmp_path / "trackers.db")
    return ThreadedSQLTrackerStore(domain, dialect="sqlite", db=db), SQLTrackerStore(domain, dialect="sqlite", db=db)


def _conversation(domain: Domain, sender: str) -> DialogueStateTracker:
    tracker = DialogueStateTracker(sender, domain.slots)
    for event in (
        ActionExecuted("action_session_start"),
        SessionStarted(),
        ActionExecuted("action_listen"),
        UserUttered("东风路垃圾没人收", {"name": "report_problem", "confidence": 0.97}, message_id="m1"),
        SlotSet("report_problem", "东风路垃圾没人收"),
        ActionExecuted("report_form"),
    ):
        tracker.update(event)
    return tracker


def _dicts(tracker: DialogueStateTracker | None) -> list[dict]:
    assert tracker is not None
    return [event.as_dict() for event in tracker.events]


def test_saved_tracker_reads_back_the_same_through_both_stores(tmp_path: Path, domain: Domain) -> None:
    ours, rasas = _stores(tmp_path, domain)
    tracker = _conversation(domain, "oResidentA")
    asyncio.run(ours.save(tracker))
    # retrieve: the latest session only (Rasa's rule); the full tracker: everything
    assert _dicts(asyncio.run(ours.retrieve("oResidentA"))) == _dicts(asyncio.run(rasas.retrieve("oResidentA")))
    assert _dicts(asyncio.run(ours.retrieve("oResidentA")))[-1]["name"] == "report_form"
    assert _dicts(asyncio.run(ours.retrieve_full_tracker("oResidentA"))) == _dicts(tracker)
    assert asyncio.run(ours.retrieve("oNobody")) is None
    assert set(asyncio.run(ours.keys())) == {"oResidentA"}


def _rows(store: SQLTrackerStore, sender: str) -> list[tuple[str, str | None, str | None, str]]:
    with store.session_scope() as session:
        rows = session.query(store.SQLEvent).filter(store.SQLEvent.sender_id == sender).order_by(store.SQLEvent.id)
        return [(row.type_name, row.intent_name, row.action_name, row.data) for row in rows]


def test_repeated_saves_write_the_same_rows_as_rasas_store(tmp_path: Path, domain: Domain) -> None:
    ours = ThreadedSQLTrackerStore(domain, dialect="sqlite", db=str(tmp_path / "ours.db"))
    rasas = SQLTrackerStore(domain, dialect="sqlite", db=str(tmp_path / "rasas.db"))
    tracker = _conversation(domain, "oResidentB")
    for store in (ours, rasas):
        asyncio.run(store.save(tracker))
    tracker.update(UserUttered("是", {"name": "affirm", "confidence": 0.99}, message_id="m2"))
    for _ in range(2):  # the second save has nothing new
        for store in (ours, rasas):
            asyncio.run(store.save(tracker))
    assert _rows(ours, "oResidentB") == _rows(rasas, "oResidentB")
    assert [row[1] for row in _rows(ours, "oResidentB") if row[0] == "user"] == ["report_problem", "affirm"]


def test_the_queries_run_off_the_event_loop_thread(tmp_path: Path, domain: Domain) -> None:
    ours, _ = _stores(tmp_path, domain)
    loop_thread, query_threads = threading.get_ident(), []
    serialised = ours._serialised_events

    def spy(*args: object) -> list[dict]:
        query_threads.append(threading.get_ident())
        return serialised(*args)  # type: ignore[arg-type]

    ours._serialised_events = spy  # type: ignore[method-assign]
    asyncio.run(ours.save(_conversation(domain, "oResidentC")))
    asyncio.run(ours.retrieve("oResidentC"))
    assert query_threads and loop_thread not in query_threads


@pytest.fixture()
def production_stores(monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, str]]:
    """A fresh schema, and the tracker-store variables `gridsec serve --production` derives from its URL."""
    with postgres_schema("gs_trk") as url:
        env = production_environment({"DATABASE_URL": url})
        monkeypatch.setenv("POSTGRESQL_SCHEMA", env["POSTGRESQL_SCHEMA"])
        yield env


def _pg_store(kind: type[SQLTrackerStore], domain: Domain, env: dict[str, str]) -> SQLTrackerStore:
    return kind(
        domain,
        dialect="postgresql",
        host=env["TRACKER_DB_HOST"],
        port=env["TRACKER_DB_PORT"],
        db=env["TRACKER_DB_NAME"],
        username=env["TRACKER_DB_USER"],
    )


def _statements(store: SQLTrackerStore) -> list[tuple[str, int]]:
    """Every statement the store sends, with how many rows of parameters it carries (grows as it runs)."""
    seen: list[tuple[str, int]] = []

    @sql_event.listens_for(store.engine, "before_cursor_execute")
    def record(conn: object, cursor: object, statement: str, parameters: object, context: object, many: bool) -> None:
        seen.append((statement.strip(), len(parameters) if many else 1))  # type: ignore[arg-type]

    return seen


SpiedStores = tuple[SQLTrackerStore, SQLTrackerStore, dict[str, list[tuple[str, int]]]]


@pytest.fixture()
def spied_stores(production_stores: dict[str, str], domain: Domain) -> SpiedStores:
    """Ours and Rasa's store on one PostgreSQL schema, each with the statements it sends."""
    ours = _pg_store(ThreadedSQLTrackerStore, domain, production_stores)
    rasas = _pg_store(SQLTrackerStore, domain, production_stores)
    return ours, rasas, {"ours": _statements(ours), "rasa": _statements(rasas)}


def _schema_lookups(statements: list[tuple[str, int]]) -> list[str]:
    return [statement for statement, _ in statements if "information_schema.schemata" in statement]


def _inserted_rows(statements: list[tuple[str, int]]) -> list[int]:
    return [rows for statement, rows in statements if statement.upper().startswith("INSERT")]


@pytest.mark.postgres
def test_the_schema_is_looked_up_once_per_store_not_per_turn(spied_stores: SpiedStores, domain: Domain) -> None:
    ours, rasas, statements = spied_stores
    for name, store in (("ours", ours), ("rasa", rasas)):
        tracker = _conversation(domain, f"o{name}")
        for _ in range(3):  # a turn loads and saves
            asyncio.run(store.retrieve(tracker.sender_id))
            asyncio.run(store.save(tracker))
    lookups = {name: _schema_lookups(sent) for name, sent in statements.items()}
    assert len(lookups["ours"]) == 1 and len(lookups["rasa"]) >= 6  # Rasa's: at every session
    assert [row[0] for row in _rows(ours, "oours")] == [row[0] for row in _rows(rasas, "orasa")]


@pytest.mark.postgres
def test_a_missing_schema_still_stops_the_store_with_rasas_message(
    production_stores: dict[str, str],
    domain: Domain,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    missing = f"{production_stores['POSTGRESQL_SCHEMA']}_missing"
    monkeypatch.setenv("POSTGRESQL_SCHEMA", missing)
    store = _pg_store(ThreadedSQLTrackerStore, domain, production_stores)
    with pytest.raises(SystemExit):  # at first use, as Rasa's own store does
        asyncio.run(store.retrieve("oResidentD"))
    assert f"'{missing}' was not found" in capsys.readouterr().out


@pytest.mark.postgres
def test_saves_write_rasas_rows_in_event_order_one_statement_each_on_postgresql(
    spied_stores: SpiedStores, domain: Domain
) -> None:
    ours, rasas, statements = spied_stores
    first = _conversation(domain, "oours")
    later = [UserUttered("是", {"name": "affirm", "confidence": 0.99}, message_id="m2"), ActionExecuted("action_listen")]
    for name, store in (("ours", ours), ("rasa", rasas)):
        tracker = DialogueStateTracker.from_events(f"o{name}", list(first.events), domain.slots)  # same timestamps
        asyncio.run(store.save(tracker))
        for event in later:
            tracker.update(event)
        asyncio.run(store.save(tracker))
        asyncio.run(store.save(tracker))  # nothing new: no INSERT at all
    inserts = {name: _inserted_rows(sent) for name, sent in statements.items()}
    assert inserts["ours"] == inserts["rasa"] and len(inserts["ours"]) == 2  # one statement per save with news
    assert _rows(ours, "oours") == _rows(rasas, "orasa")  # ordered by id: the events' order
    assert _dicts(asyncio.run(ours.retrieve("oours"))) == _dicts(asyncio.run(rasas.retrieve("orasa")))
