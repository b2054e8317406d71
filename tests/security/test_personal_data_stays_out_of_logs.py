"""Residents' personal data and the configured secrets stay out of the Rasa server's and action server's logs.

`rasa run` and `rasa run actions` are Rasa's entry points, not `gridsec`'s, so they protect themselves when
they load our code (the WeChat channel, the `actions` package). Rasa logs every user message at DEBUG, and a
failed INSERT would quote a resident's words in its error: log records are masked (phone, ID card, plate) and
every engine, Rasa's tracker store included, hides SQL parameters.
"""

from __future__ import annotations

import io
import logging
import uuid
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from bot.log_redaction import protect
from bot.tracker_store import ThreadedSQLTrackerStore
from storage.db import make_engine
from tests.scaleout import conftest as scaleout_fixtures
from tests.security.test_secrets_stay_out_of_logs import (
    SECRETS,
    TELEGRAM_TOKEN,
    WEBHOOK_SECRET,
    WECHAT_AES_KEY,
    WECHAT_APP_ID,
    WECHAT_APP_SECRET,
    WECHAT_TOKEN,
    with_password,
)

model_path = scaleout_fixtures.model_path  # the trained model, as tests/scaleout uses it
PHONE, ID_CARD, PLATE = "13812345678", "440104199001011234", "粤A12345"
PERSONAL = (PHONE, ID_CARD, PLATE)


def test_log_records_mask_phone_id_card_and_plate_numbers_in_messages_and_tracebacks(
    debug_log: io.StringIO,
) -> None:
    protect()  # installs the record factory (as every process does first)
    logger = logging.getLogger("gridsec.test.privacy")
    logger.debug("Received user message '%s' with intent 'report'", f"车{PLATE}堵住门口，电话{PHONE}")
    try:
        raise ValueError(f"bad id {ID_CARD}")
    except ValueError:
        logger.exception("action failed")
    logged = debug_log.getvalue()
    assert "Received user message" in logged and "ValueError: bad id" in logged  # the records were written...
    assert "138****5678" in logged and [value for value in PERSONAL if value in logged] == []  # ...masked


def _failing_insert(session_or_connection: Session | object, words: str) -> str:
    try:
        session_or_connection.execute(  # type: ignore[attr-defined]
            text("INSERT INTO no_such_table (description) VALUES (:words)"), {"words": words}
        )
    except DBAPIError as error:
        return str(error)
    raise AssertionError("the INSERT into a missing table succeeded")


def test_our_engines_keep_sql_parameters_out_of_errors(db_url: str) -> None:
    engine = make_engine(db_url)
    try:
        with engine.connect() as connection:
            message = _failing_insert(connection, f"井盖冇咗，电话{PHONE}")
    finally:
        engine.dispose()
    assert "no_such_table" in message and "parameters hidden" in message and PHONE not in message


def test_the_tracker_store_keeps_sql_parameters_out_of_errors(tmp_path: Path) -> None:
    store = ThreadedSQLTrackerStore(dialect="sqlite", db=str(tmp_path / "rasa.db"))
    try:
        with store.session_scope() as session:
            message = _failing_insert(session, f"井盖冇咗，电话{PHONE}")
    finally:
        store.engine.dispose()
    assert "no_such_table" in message and "parameters hidden" in message and PHONE not in message


@pytest.mark.postgres
@pytest.mark.model
@pytest.mark.slow
def test_rasa_and_action_servers_log_no_secret_or_personal_data_at_debug(
    model_path: Path, tmp_path: Path
) -> None:
    """The production shape's two Rasa-side processes at DEBUG, every secret configured, a report with a phone."""
    from tests.scaleout.stack import RASA_START_TIMEOUT_S, postgres_schema, running_stack, seed_yuexiu
    from tests.scaleout.test_scaleout_rasa import open_cases, say
    from tests.support.sanic_server import free_port

    secrets = {
        "TELEGRAM_TOKEN": TELEGRAM_TOKEN,
        "TELEGRAM_WEBHOOK_SECRET": WEBHOOK_SECRET,
        "WECHAT_APP_ID": WECHAT_APP_ID,
        "WECHAT_APP_SECRET": WECHAT_APP_SECRET,
        "WECHAT_TOKEN": WECHAT_TOKEN,
        "WECHAT_AES_KEY": WECHAT_AES_KEY,
    }
    action_port = free_port()
    with postgres_schema("gs_logs") as url:
        seed_yuexiu(url)
        with running_stack(with_password(url), tmp_path, action_port, **secrets) as stack:
            actions = stack.actions("actions", action_port)
            rasa = stack.rasa("rasa", model_path)
            for proc in (actions, rasa):
                proc.argv.append("--debug")
            actions.start()
            rasa.start(RASA_START_TIMEOUT_S)
            sender = f"logs-{uuid.uuid4().hex[:8]}"
            assert any("我帮您登记" in line for line in say(rasa, sender, f"起义路100号门口个井盖冇咗，我电话{PHONE}"))
            assert any("已为您登记" in line for line in say(rasa, sender, "对"))
            assert len(open_cases(url)) == 1
            logs = {proc.name: proc.log_path.read_text(encoding="utf-8") for proc in (actions, rasa)}
    assert "processor.message.parse" in logs["rasa"] and "138****5678" in logs["rasa"]  # DEBUG really ran
    assert "Received request to run 'action_submit_report'" in logs["actions"]
    leaked = {name: [value for value in (*SECRETS, *PERSONAL) if value in log] for name, log in logs.items()}
    assert leaked == {"actions": [], "rasa": []}
