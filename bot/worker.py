"""The background worker: fires missed time limits (escalation), delivers the outbox, and every
`PRUNE_EVERY` forgets Open311 idempotency keys (`storage.idempotency.RETENTION`) and inbound message keys
(`storage.dedupe.INBOUND_RETENTION`) that nothing reads any more.

Both jobs claim their rows in the database (SKIP LOCKED on PostgreSQL), so several workers can run side by
side and a worker killed mid-way leaves nothing half-done: its transaction rolls back and the next pass redoes it.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta, timezone
from functools import partial

from sqlalchemy.orm import Session

from storage.dedupe import INBOUND_RETENTION, prune_seen
from storage.idempotency import RETENTION, prune_answers
from storage.outbox import LocalConsoleSender, Sender, deliver_due
from storage.scheduler import run_due, run_reminders

logger = logging.getLogger(__name__)

POLL_SECONDS = 1.0
# Pruning is housekeeping, not a pass's work: a key kept a few minutes past RETENTION harms nothing.
PRUNE_EVERY = timedelta(minutes=10)


def local_senders(session_factory: Callable[[], Session]) -> dict[str, Sender]:
    """Local mode: every channel is shown in the web console's simulator instead of being sent."""
    return {"*": LocalConsoleSender(session_factory)}


def channel_senders(environ: Mapping[str, str], session_factory: Callable[[], Session]) -> dict[str, Sender]:
    """The console fallback plus every channel that has an API to talk to (real, or a fake on loopback)."""
    from bot.senders.telegram import telegram_senders
    from bot.senders.wechat import wechat_senders

    senders = local_senders(session_factory)
    senders.update(wechat_senders(environ, session_factory))
    senders.update(telegram_senders(environ, session_factory))
    return senders


def run_once(
    session_factory: Callable[[], Session], senders: Mapping[str, Sender], now: datetime, worker_id: str
) -> tuple[int, int]:
    """One pass: fire missed limits, send reminders before limits, then deliver what is queued.

    Returns (escalations fired, messages sent).
    """
    fired = run_due(session_factory, now, worker_id=worker_id)
    run_reminders(session_factory, now, worker_id=worker_id)
    report = deliver_due(session_factory, senders, now)
    return fired, len(report.sent)


def prune_expired(session_factory: Callable[[], Session], now: datetime) -> int:
    """Forget Open311 idempotency keys (RETENTION) and inbound message keys (INBOUND_RETENTION); returns how many."""
    with session_factory() as session, session.begin():
        answers = prune_answers(session, now - RETENTION)
        inbound = prune_seen(session, now - INBOUND_RETENTION)
    if answers or inbound:
        logger.info("pruned %d Open311 idempotency keys and %d inbound message keys", answers, inbound)
    return answers + inbound


def run_forever(environ: Mapping[str, str], stop: threading.Event | None = None) -> None:
    """Poll until `stop` is set (or forever): the `gridsec worker` process."""
    from storage.db import database_url, make_engine

    engine = make_engine(database_url(environ))
    session_factory = partial(Session, engine, future=True)
    senders = channel_senders(environ, session_factory)
    # The instance name (gridsec serve sets GRIDSEC_INSTANCE: worker-1, worker-2) says which worker fired a limit.
    worker_id = f"{environ.get('GRIDSEC_INSTANCE', 'worker')}@{socket.gethostname()}:{os.getpid()}"
    stop = stop or threading.Event()
    logger.info("worker %s started", worker_id)
    next_prune = datetime.now(timezone.utc)
    while not stop.is_set():
        now = datetime.now(timezone.utc)
        try:
            run_once(session_factory, senders, now, worker_id)
            if now >= next_prune:
                prune_expired(session_factory, now)
                next_prune = now + PRUNE_EVERY
        except Exception:  # a database restart must not kill the worker: log, wait, retry
            logger.exception("worker pass failed; retrying in %.0fs", POLL_SECONDS)
        stop.wait(POLL_SECONDS)
