"""Engine plumbing, migrations equal to the models, inbound dedupe, UTC storage, privacy masks."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta, timezone
from functools import partial
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import select, text
from sqlalchemy.engine import Engine
from sqlalchemy.exc import StatementError
from sqlalchemy.orm import Session

from storage.db import REPO_ROOT, database_url, make_engine, session_scope
from storage.dedupe import first_seen, prune_seen
from storage.migrate import alembic_config, downgrade, upgrade
from storage.models import InboundDedupe, Resident, Street, metadata
from storage.privacy import mask_id_card, mask_phone, mask_plate, mask_text

T0 = datetime(2026, 11, 30, 2, 0, tzinfo=timezone.utc)


def test_database_url_prefers_the_environment() -> None:
    assert database_url({"DATABASE_URL": "postgresql+psycopg2://u@h/db"}) == "postgresql+psycopg2://u@h/db"
    default = database_url({})
    assert default == f"sqlite:///{REPO_ROOT / 'var' / 'gridsec.db'}" and (REPO_ROOT / "var").is_dir()


def test_migrated_schema_equals_the_models(engine: Engine) -> None:
    with engine.connect() as connection:
        diff = compare_metadata(MigrationContext.configure(connection, opts={"compare_type": True}), metadata)
    assert diff == []


def test_migrations_go_down_and_up_again(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'roundtrip.db'}"
    upgrade(url)
    downgrade(url, "base")
    engine = make_engine(url)
    with engine.connect() as connection:
        names = {
            row[0] for row in connection.execute(text("SELECT name FROM sqlite_master WHERE type='table'"))
        }
    assert names <= {"alembic_version"}
    upgrade(url)
    upgrade(url)  # idempotent
    with engine.connect() as connection:
        head = ScriptDirectory.from_config(alembic_config(url)).get_current_head()
        assert connection.execute(text("SELECT version_num FROM alembic_version")).scalar_one() == head
    engine.dispose()


@pytest.mark.postgres
def test_migrations_go_down_and_up_again_on_postgresql() -> None:
    from sqlalchemy.future import create_engine

    from tests.conftest import POSTGRES_URL

    schema = f"gs_roundtrip_{uuid.uuid4().hex[:8]}"
    admin = create_engine(POSTGRES_URL)
    with admin.begin() as connection:
        connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    url = f"{POSTGRES_URL}?options=-csearch_path%3D{schema}"
    try:
        upgrade(url)
        downgrade(url, "base")
        upgrade(url)
        engine = make_engine(url)
        with engine.connect() as connection:
            diff = compare_metadata(
                MigrationContext.configure(connection, opts={"compare_type": True}), metadata
            )
            tables = connection.execute(
                text("SELECT count(*) FROM information_schema.tables WHERE table_schema = :s"), {"s": schema}
            ).scalar_one()
        engine.dispose()
        assert diff == [] and tables == len(metadata.tables) + 1  # + alembic_version
    finally:
        with admin.begin() as connection:
            connection.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        admin.dispose()


def test_sqlite_engine_has_wal_foreign_keys_and_busy_timeout(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'p.db'}")
    with engine.connect() as connection:
        assert connection.exec_driver_sql("PRAGMA journal_mode").scalar_one() == "wal"
        assert connection.exec_driver_sql("PRAGMA foreign_keys").scalar_one() == 1
        assert connection.exec_driver_sql("PRAGMA busy_timeout").scalar_one() == 10_000
    engine.dispose()


def test_session_scope_commits_or_rolls_back(engine: Engine) -> None:
    with session_scope(engine) as session:
        session.add(Street(code="440104001", name="洪桥", full_name="洪桥街道"))
    with pytest.raises(RuntimeError), session_scope(engine) as session:
        session.add(Street(code="440104002", name="北京", full_name="北京街道"))
        session.flush()
        raise RuntimeError("boom")
    with session_scope(engine) as session:
        assert session.execute(select(Street.code)).scalars().all() == ["440104001"]


def test_foreign_keys_are_enforced(engine: Engine) -> None:
    from sqlalchemy.exc import IntegrityError

    from storage.models import Community

    with pytest.raises(IntegrityError), session_scope(engine) as session:
        session.add(Community(code="440104999001", name="无名社区", street_code="440104999"))


def test_times_are_stored_as_utc_and_read_back_aware(session: Session) -> None:
    shanghai = timezone(timedelta(hours=8))
    session.add(Resident(openid="o-1", created_at=datetime(2026, 11, 30, 10, 0, tzinfo=shanghai)))
    session.commit()
    stored = session.execute(text("SELECT created_at FROM residents")).scalar_one()
    assert str(stored).startswith("2026-11-30 02:00:00")  # naive UTC in the database
    assert session.execute(select(Resident.created_at)).scalar_one() == T0
    session.rollback()
    session.add(Resident(openid="o-2", created_at=datetime(2026, 11, 30, 10, 0)))
    with pytest.raises(StatementError, match="timezone-aware"):
        session.flush()


def test_inbound_dedupe_drops_repeats_per_channel(session: Session) -> None:
    key = f"msg-{uuid.uuid4().hex}"
    assert first_seen(session, "wechat", key, T0) is True
    assert first_seen(session, "wechat", key, T0 + timedelta(seconds=5)) is False
    assert first_seen(session, "telegram", key, T0) is True
    session.commit()
    assert first_seen(session, "wechat", key, T0) is False
    assert prune_seen(session, T0 + timedelta(seconds=1)) == 2
    assert session.execute(select(InboundDedupe)).scalars().all() == []
    with pytest.raises(ValueError):
        first_seen(session, "wechat", "", T0)


def test_the_worker_forgets_inbound_keys_once_nothing_reads_them(engine: Engine) -> None:
    from bot.senders.wechat import SERVICE_WINDOW
    from bot.worker import prune_expired
    from storage.dedupe import INBOUND_RETENTION

    assert INBOUND_RETENTION > SERVICE_WINDOW  # the 48-hour reply window reads the newest key of each resident
    now = datetime.now(timezone.utc)
    factory = partial(Session, engine, future=True)
    with factory() as session, session.begin():
        for key, age in (("o-old:m:1", INBOUND_RETENTION + timedelta(hours=1)), ("o-new:m:2", timedelta(days=6))):
            assert first_seen(session, "wechat", key, now - age)
    assert prune_expired(factory, now) == 1
    with factory() as session:
        assert session.execute(select(InboundDedupe.key)).scalars().all() == ["o-new:m:2"]


@pytest.mark.parametrize(
    ("raw", "masked"),
    [
        ("13812345678", "138****5678"),
        ("+86 138-1234-5678", "138****5678"),
        ("020-83456789", "*******6789"),
        ("", ""),
        (None, ""),
    ],
)
def test_mask_phone(raw: str | None, masked: str) -> None:
    assert mask_phone(raw) == masked


def test_mask_id_and_plate() -> None:
    assert mask_id_card("44010419900101123X") == "440104********123X"
    assert mask_plate("粤A12345") == "粤A***45" and mask_plate("粤A·D12345") == "粤A****45"


def test_mask_text_finds_personal_data_in_free_text() -> None:
    text_in = (
        "我是张三，电话13812345678，身份证440104199001011234，车牌粤A12345堵了消防通道，座机020-83456789"
    )
    masked = mask_text(text_in)
    for secret in ("13812345678", "440104199001011234", "粤A12345", "83456789"):
        assert secret not in masked
    assert "138****5678" in masked and "440104********1234" in masked and "粤A***45" in masked
    assert mask_text("起义路12号3栋，共20户") == "起义路12号3栋，共20户"  # ordinary numbers survive
