"""Secrets come from the environment only and never reach a log line, and none is committed to the repo.

Every process entry point (`gridsec ...`) protects the configured secrets; the clients that carry them
(PTB's Bot, wechatpy's client) protect theirs too, so the Rasa process is covered when it builds one.
Logs are taken at DEBUG, where httpx, urllib3 and PTB print request URLs and parameters.
"""

from __future__ import annotations

import io
import logging
import os
import re
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from bot.config import Secret, load_settings
from bot.log_redaction import REDACTED, protect_environment, redact
from storage.models import OutboxMessage
from tests.security.conftest import CGZF_GROUP, RESIDENT_OPENID, FakeTelegramAPI, running_fake_wechat

REPO = Path(__file__).resolve().parents[2]
TELEGRAM_TOKEN = "7123456789:AAHk3v9QxZr2LmN8pT4wY6uB1cD5eF7gH9j"
WEBHOOK_SECRET = "whsec-Lq93Kd02PzTy"
WECHAT_APP_ID = "wx5f2c9a7e1b3d4c60"
WECHAT_APP_SECRET = "e3b0c44298fc1c149afbf4c8996fb924"
WECHAT_TOKEN = "wxtok-Hh28Qa7Vm3Ls"
WECHAT_AES_KEY = "Zq8xP2Lm4Nv6Bc1Dk3Fh5Jg7Ks9Lw0Qe2Rt4Yu6Io8P"
DB_PASSWORD = "Pg-S3cret-Vw84"
SECRETS = (TELEGRAM_TOKEN, WEBHOOK_SECRET, WECHAT_APP_SECRET, WECHAT_TOKEN, WECHAT_AES_KEY, DB_PASSWORD)


def with_password(url: str) -> str:
    """The test database URL with a password in it (the test servers trust loopback, so any password works)."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        return url
    return parsed.set(password=DB_PASSWORD).render_as_string(hide_password=False)


def environment(db_url: str, telegram_base: str, wechat_base: str) -> dict[str, str]:
    return {
        "DATABASE_URL": with_password(db_url),
        "TELEGRAM_TOKEN": TELEGRAM_TOKEN,
        "TELEGRAM_API_BASE": telegram_base,
        "TELEGRAM_WEBHOOK_SECRET": WEBHOOK_SECRET,
        "WECHAT_APP_ID": WECHAT_APP_ID,
        "WECHAT_APP_SECRET": WECHAT_APP_SECRET,
        "WECHAT_TOKEN": WECHAT_TOKEN,
        "WECHAT_AES_KEY": WECHAT_AES_KEY,
        "WECHAT_API_BASE": wechat_base,
        "WECHAT_TEMPLATE_ID": "TPL_CASE_PROGRESS",
    }


def queue_one_each(session_factory: Callable[[], Session], now: datetime) -> None:
    """One Telegram card for the department group and one WeChat push for the resident."""
    with session_factory() as session, session.begin():
        for channel, kind, recipient, address, template, params in (
            (
                "telegram",
                "department",
                "CGZF",
                str(CGZF_GROUP),
                "telegram.text",
                {"text": "【测试】日志检查"},
            ),
            ("wechat", "resident", RESIDENT_OPENID, RESIDENT_OPENID, "case.reported", {"case_code": "YX-1"}),
        ):
            session.add(
                OutboxMessage(
                    channel=channel,
                    recipient_kind=kind,
                    recipient_id=recipient,
                    template=template,
                    payload={"address": address, "params": params},
                    idempotency_key=f"secrets-{channel}",
                    status="pending",
                    attempts=0,
                    next_attempt_at=now,
                    created_at=now,
                )
            )


def statuses(session_factory: Callable[[], Session]) -> dict[str, str]:
    with session_factory() as session:
        return dict(session.execute(select(OutboxMessage.channel, OutboxMessage.status)).all())


def test_the_library_log_paths_print_no_secret(
    db_url: str,
    staff: Callable[[], Session],
    fake_telegram: FakeTelegramAPI,
    debug_log: io.StringIO,
    tmp_path: Path,
) -> None:
    from bot.senders.wechat import wechat_senders
    from bot.telegram.app import build_application
    from bot.telegram.handlers import Services
    from bot.telegram.webhook import SECRET_HEADER, create_webhook_app
    from bot.worker import channel_senders
    from storage.outbox import deliver_due
    from tests.support.sanic_server import serve_sanic

    with running_fake_wechat() as fake_wechat:
        fake_wechat.state.app_id, fake_wechat.state.app_secret = WECHAT_APP_ID, WECHAT_APP_SECRET
        env = environment(db_url, fake_telegram.api_base, fake_wechat.base_url)
        protect_environment(env)  # what `gridsec` does first, in every process
        logging.getLogger("gridsec.test").info("settings: %r", load_settings(env))
        now = datetime.now(timezone.utc)
        queue_one_each(staff, now)
        senders = channel_senders(env, staff)
        assert set(senders) >= {"telegram", "wechat"} and wechat_senders(env, staff)
        try:
            report = deliver_due(staff, senders, now)
        finally:
            senders["telegram"].close()  # type: ignore[attr-defined]
        assert len(report.sent) == 2, statuses(staff)
        services = Services(session_factory=staff, media_dir=tmp_path)
        application = build_application(
            TELEGRAM_TOKEN, services, api_base=fake_telegram.api_base, polling=False
        )
        web = create_webhook_app(
            application, WEBHOOK_SECRET, webhook_url="https://gridsec.example/telegram/webhook"
        )
        with serve_sanic(web) as base:
            forged = httpx.post(
                f"{base}/telegram/webhook", json={"update_id": 1}, headers={SECRET_HEADER: "guess"}
            )
        assert forged.status_code == 403
    log = debug_log.getvalue()
    # The log paths really ran at DEBUG: the URLs and parameters that carry the secrets were printed.
    assert "sendMessage" in log and "cgi-bin/token" in log and "setWebhook" in log and REDACTED in log
    assert [secret for secret in SECRETS if secret in log] == []


def test_the_worker_process_logs_no_secret_at_debug(
    db_url: str, staff: Callable[[], Session], fake_telegram: FakeTelegramAPI, tmp_path: Path
) -> None:
    """`gridsec worker` as an operator runs it, with every secret configured and GRIDSEC_LOG_LEVEL=DEBUG."""
    with running_fake_wechat() as fake_wechat:
        fake_wechat.state.app_id, fake_wechat.state.app_secret = WECHAT_APP_ID, WECHAT_APP_SECRET
        queue_one_each(staff, datetime.now(timezone.utc))
        env = os.environ | environment(db_url, fake_telegram.api_base, fake_wechat.base_url)
        env["GRIDSEC_LOG_LEVEL"] = "DEBUG"
        log_path = tmp_path / "worker.log"
        with open(log_path, "w", encoding="utf-8") as log_file:
            worker = subprocess.Popen(
                [str(Path(sys.executable).parent / "gridsec"), "worker"],
                cwd=REPO,
                env=env,
                stdout=log_file,
                stderr=subprocess.STDOUT,
            )
            try:
                deadline = time.monotonic() + 60
                while time.monotonic() < deadline and set(statuses(staff).values()) != {"sent"}:
                    assert worker.poll() is None, log_path.read_text(encoding="utf-8")[-3000:]
                    time.sleep(0.2)
            finally:
                worker.terminate()
                worker.wait(timeout=20)
    log = log_path.read_text(encoding="utf-8")
    assert statuses(staff) == {"telegram": "sent", "wechat": "sent"}, log[-3000:]
    assert "sendMessage" in log and "cgi-bin/token" in log  # the secret-bearing URLs were logged...
    assert [secret for secret in SECRETS if secret in log] == []  # ...redacted


def test_secret_repr_and_settings_repr_hide_values(db_url: str) -> None:
    settings = load_settings(
        {
            "DATABASE_URL": with_password("postgresql+psycopg2://u@h/db"),
            "TELEGRAM_TOKEN": TELEGRAM_TOKEN,
            "WECHAT_APP_SECRET": WECHAT_APP_SECRET,
            "WECHAT_TOKEN": WECHAT_TOKEN,
            "WECHAT_AES_KEY": WECHAT_AES_KEY,
        }
    )
    shown = repr(settings) + str(settings) + repr(Secret(TELEGRAM_TOKEN)) + f"{Secret(TELEGRAM_TOKEN)}"
    assert [secret for secret in SECRETS if secret in shown] == []
    assert settings.telegram_token is not None and settings.telegram_token.reveal() == TELEGRAM_TOKEN


@pytest.mark.parametrize(
    ("line", "kept"),
    [
        (f"HTTP Request: POST http://127.0.0.1:1/bot{TELEGRAM_TOKEN}/getMe", "/getMe"),
        (
            "GET /cgi-bin/token?grant_type=client_credential&appid=wx1&secret=abcdef123456 HTTP/1.1",
            "appid=wx1",
        ),
        ("POST /cgi-bin/message/custom/send?access_token=FAKE_TOKEN_99 HTTP/1.1", "custom/send"),
        ("connect postgresql+psycopg2://gridsec:hunter2pw@db:5432/gridsec", "gridsec@db"),
        ("redis://:r3d1s-pass@127.0.0.1:6379/0", "127.0.0.1:6379"),
        (
            "Calling Bot API endpoint `setWebhook` with parameters `{'url': 'u', 'secret_token': 'sek-123456'}`",
            "setWebhook",
        ),
    ],
)
def test_redaction_patterns_cover_tokens_query_secrets_and_url_passwords(line: str, kept: str) -> None:
    cleaned = redact(line)
    assert REDACTED in cleaned and kept in cleaned.replace(f":{REDACTED}@", "@")
    assert not re.search(r"hunter2pw|r3d1s-pass|abcdef123456|FAKE_TOKEN_99|sek-123456|AAHk3v9Q", cleaned)


# -- nothing secret is committed ---------------------------------------------------------------------------------
# Documented local-mode values (README, bot/config.py, bot/telegram/app.py, the fakes) and test fixtures' values.
ALLOWED_VALUES = {
    "gridsec-local",
    "local-dev-key",
    "123456:gridsec-local",
    "gridsec-local-secret",
    "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG",  # the AES key of tests/channels (a test vector)
    "jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C",  # WeChat's published AES sample key
    "s3cret",  # tests/scaleout/test_serve_topology.py: a made-up production DATABASE_URL to fill placeholders
}
TOKEN_PATTERNS = {
    "telegram bot token": re.compile(r"\b\d{8,10}:AA[A-Za-z0-9_-]{33}\b"),
    "private key": re.compile(r"-----BEGIN (?:RSA |EC |OPENSSH )?PRIVATE KEY-----"),
    "password in a URL": re.compile(
        r"\b(?:postgres(?:ql)?(?:\+\w+)?|mysql|redis)://[^:/@\s'\"]*:([^@\s'\"]+)@"
    ),
    "assigned secret": re.compile(
        r"(?i)\b(?:WECHAT_APP_SECRET|WECHAT_AES_KEY|WECHAT_TOKEN|TELEGRAM_TOKEN|TELEGRAM_WEBHOOK_SECRET|OPEN311_API_KEYS|app_secret|aes_key)\s*[:=]\s*['\"]?([A-Za-z0-9_\-:]{16,})"
    ),
    "AWS key": re.compile(r"\bAKIA[0-9A-Z]{16}\b"),
}
THIS_FILE = Path(__file__).resolve().relative_to(REPO).as_posix()


def committed_files() -> list[str]:
    listed = subprocess.run(["git", "ls-files", "-z"], cwd=REPO, capture_output=True, check=True).stdout
    return [name for name in listed.decode().split("\0") if name and name != THIS_FILE]


def secret_findings(name: str, text: str) -> list[str]:
    found = []
    for label, pattern in TOKEN_PATTERNS.items():
        for match in pattern.finditer(text):
            value = match.group(match.lastindex or 0)
            if (
                value in ALLOWED_VALUES
                or value.startswith(("$", "{", "<", "${"))
                or set(value) <= {"*", "x", "X"}
            ):
                continue
            found.append(f"{name}: {label}: {match.group(0)[:60]}")
    return found


def test_no_secret_is_committed() -> None:
    files = committed_files()
    assert len(files) > 100
    found = []
    for name in files:
        path = REPO / name
        if not path.is_file() or path.stat().st_size > 2_000_000:
            continue
        data = path.read_bytes()
        if b"\0" in data[:4096]:  # binary (models, images)
            continue
        found += secret_findings(name, data.decode("utf-8", "replace"))
    assert found == []


@pytest.mark.parametrize(
    "planted",
    [
        f"TELEGRAM_TOKEN={TELEGRAM_TOKEN}\n",
        "DATABASE_URL=postgresql+psycopg2://gridsec:hunter2pw@db/gridsec\n",
        f'WECHAT_APP_SECRET: "{WECHAT_APP_SECRET}"\n',
        "-----BEGIN RSA PRIVATE KEY-----\n",
    ],
)
def test_the_scan_finds_a_planted_secret(planted: str) -> None:
    assert secret_findings("planted.env", planted) != []


def test_the_scan_allows_documented_local_values() -> None:
    text = "WECHAT_TOKEN=gridsec-local\nDATABASE_URL=postgresql+psycopg2://postgres@127.0.0.1:5432/test\n"
    assert secret_findings("README.md", text) == []


def test_serve_redacts_what_its_child_processes_print(capsys: pytest.CaptureFixture[str]) -> None:
    """`gridsec serve` echoes every child's output: a secret a child prints (not logs) is redacted there too."""
    from bot.log_redaction import protect
    from bot.serve import _pump

    protect(WECHAT_APP_SECRET)
    child = io.StringIO(
        f"secret is {WECHAT_APP_SECRET}\nGET /bot{TELEGRAM_TOKEN}/getMe\nredis://:r3d1s-pass@127.0.0.1:6379/0\nready\n"
    )
    _pump("rasa", child)
    printed = capsys.readouterr().out
    assert printed.count("    rasa | ") == 4 and "ready" in printed
    assert not re.search(rf"{WECHAT_APP_SECRET}|AAHk3v9Q|r3d1s-pass", printed)
