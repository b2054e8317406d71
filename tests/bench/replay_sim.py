"""A simulated month of Yuexiu grid events, pushed through the real chain on a simulated clock.

Reports arrive as a Poisson process shaped by the hour of day (few at night). Each report is a resident's
WeChat conversation through the webhook (report -> place -> 对). Once the case is open, grid workers and
departments act through the storage functions the Telegram handlers call (`bot.telegram_store.perform`,
`record_photo`), after delays drawn from log-normal distributions; residents confirm (是 + a rating) or
reopen (否) through the webhook again. The scheduler's time limits fire as the clock passes them.
Every parameter is here, in `Behaviour`; nothing is tuned toward the seed's KPIs.
"""

from __future__ import annotations

import functools
import heapq
import itertools
import logging
import math
import random
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import select
from sqlalchemy.orm import Session

from bot import telegram_store as store
from storage.models import Case, Person, Resident
from storage.scheduler import run_due, run_reminders
from storage.timeutil import SHANGHAI
from tests.bench.resident_scripts import FIRST_CHOICE, conversation
from tests.bench.wechat_load import Message, Turn, message_xml, signed_query

logger = logging.getLogger(__name__)

# Share of a day's reports in each hour (Asia/Shanghai): grid events follow office and market hours.
HOURLY_WEIGHT = (1, 1, 1, 1, 1, 2, 4, 7, 9, 10, 10, 9, 7, 8, 9, 9, 8, 7, 6, 5, 4, 3, 2, 1)


@dataclass(frozen=True)
class Behaviour:
    """Delays (simulated minutes: median and log-normal sigma) and choices of workers, departments, residents."""

    respond_min: tuple[float, float] = (15, 0.9)
    decide_min: tuple[float, float] = (20, 0.8)  # respond -> dispatch / settle on site / return to triage
    on_site_share: float = 0.3  # the worker settles it without a department
    worker_return_share: float = 0.02  # 退回/非本网格
    triage_min: tuple[float, float] = (40, 0.7)  # command centre decides a returned case
    sign_min: tuple[float, float] = (30, 0.9)
    department_return_share: float = 0.05
    handle_min: tuple[float, float] = (150, 1.0)
    confirm_min: tuple[float, float] = (45, 1.0)
    confirm_share: float = 0.88
    reopen_share: float = 0.03
    office_hours: tuple[int, int] = (8, 18)  # departments handle on site in these local hours


def month_arrivals(start: datetime, days: int, cases: int, rng: random.Random) -> list[datetime]:
    """About `cases` report times over `days` days (non-homogeneous Poisson, hourly weights, thinning)."""
    peak, total = max(HOURLY_WEIGHT), sum(HOURLY_WEIGHT)
    peak_rate = cases / days * peak / total  # reports per hour in the busiest hour
    hours, arrivals = days * 24.0, list[datetime]()
    now = 0.0
    while True:
        now += rng.expovariate(peak_rate)
        if now >= hours:
            return arrivals
        moment = start + timedelta(hours=now)
        if rng.random() < HOURLY_WEIGHT[moment.astimezone(SHANGHAI).hour] / peak:
            arrivals.append(moment)


def lognormal_minutes(rng: random.Random, spec: tuple[float, float]) -> timedelta:
    median, sigma = spec
    return timedelta(minutes=rng.lognormvariate(math.log(median), sigma))


def in_office_hours(moment: datetime, hours: tuple[int, int]) -> datetime:
    """`moment`, or the next opening time (plus nothing) when it falls outside office hours."""
    local = moment.astimezone(SHANGHAI)
    opening, closing = hours
    if opening <= local.hour < closing:
        return moment
    day = local if local.hour < opening else local + timedelta(days=1)
    return day.replace(hour=opening, minute=0, second=0, microsecond=0).astimezone(moment.tzinfo)


@dataclass
class Replay:
    """The event loop of one replay; `run()` returns what happened (counts), the KPIs come from the database."""

    session_factory: Callable[[], Session]
    endpoint: str
    clock: Any  # tests.bench.inprocess_stack.SimClock
    rng: random.Random
    photo: Path
    behaviour: Behaviour = field(default_factory=Behaviour)
    counts: Counter[str] = field(default_factory=Counter)
    failed_transcripts: list[list[str]] = field(default_factory=list)  # conversations that opened no case
    _queue: list[tuple[datetime, int, Callable[[], None]]] = field(default_factory=list)
    _seq: Any = field(default_factory=itertools.count)
    _ids: Any = field(default_factory=lambda: itertools.count(7_200_000_000_000_000_000))
    _http: httpx.Client = field(default_factory=lambda: httpx.Client(timeout=10))

    def at(self, moment: datetime, action: Callable[[], None]) -> None:
        heapq.heappush(self._queue, (moment, next(self._seq), action))

    def run(self, arrivals: list[datetime]) -> Counter[str]:
        for number, moment in enumerate(arrivals):
            openid = f"oReplay{number % 600:021d}"  # some residents report more than once
            self.at(moment, functools.partial(self.report, openid))
        while self._queue:
            moment, _, action = heapq.heappop(self._queue)
            now = self.clock.jump_to(moment)
            run_due(self.session_factory, now, worker_id="replay")
            run_reminders(self.session_factory, now, worker_id="replay")
            try:
                action()
            except Exception:  # one broken step is counted and logged; the month goes on
                logger.exception("replay step failed")
                self.counts["step_failed"] += 1
        self._http.close()
        return self.counts

    # -- residents ---------------------------------------------------------------------------------
    def say(self, openid: str, turn: Turn) -> list[str] | None:
        """Post one message at the simulated time; the bot's replies to it (None: error or no reply in 10 s)."""
        now = self.clock()
        message = Message(0.0, openid, str(next(self._ids)), turn, 0, 0)
        stamp = int(now.timestamp())
        response = self._http.post(
            self.endpoint,
            params=signed_query(stamp, f"r{message.msg_id[-9:]}"),
            content=message_xml(message, stamp).encode("utf-8"),
            headers={"Content-Type": "text/xml"},
        )
        self.counts["messages"] += 1
        if response.status_code != 200:
            self.counts["message_errors"] += 1
            return None
        replies = self._replies(message.inbound_key, deadline=time.monotonic() + 10)
        if not replies:
            self.counts["unanswered"] += 1
            return None
        return replies

    def _replies(self, inbound_key: str, deadline: float) -> list[str]:
        from storage.models import OutboxMessage

        while time.monotonic() < deadline:
            with self.session_factory() as session:
                payloads = list(
                    session.execute(
                        select(OutboxMessage.payload)
                        .where(OutboxMessage.idempotency_key.like(f"wechat:{inbound_key}:r%"))
                        .order_by(OutboxMessage.id)
                    ).scalars()
                )
            if payloads:
                return [str(payload["params"].get("text", "")) for payload in payloads]
            time.sleep(0.02)
        return []

    def report(self, openid: str) -> None:
        self.counts["reports"] += 1
        before = self._latest_case_id(openid)
        transcript: list[str] = []
        for index, turn in enumerate(conversation(self.rng)):
            if index:  # the resident reads the question and answers (simulated seconds)
                self.clock.jump_to(self.clock() + timedelta(seconds=20 + self.rng.expovariate(1 / 40)))
            replies = self.say(openid, turn)
            transcript += [
                f"> {turn.text or f'[location {turn.lat},{turn.lng}]'}",
                *(replies or ["(no reply)"]),
            ]
            if replies is not None and "回复序号" in replies[-1]:  # several places match: take the first
                replies = self.say(openid, Turn(text=FIRST_CHOICE))
                transcript += [f"> {FIRST_CHOICE}", *(replies or ["(no reply)"])]
            if replies is None:
                return
        case_id = self._latest_case_id(openid)
        if case_id is None or case_id == before:
            duplicate = any("已有居民反映" in line for line in transcript)
            self.counts["duplicate_followed" if duplicate else "no_case_opened"] += 1
            if not duplicate and len(self.failed_transcripts) < 5:
                self.failed_transcripts.append(transcript)
            return
        self.counts["cases_opened"] += 1
        self.at(
            self.clock() + lognormal_minutes(self.rng, self.behaviour.respond_min),
            lambda: self.worker(case_id),
        )

    def _latest_case_id(self, openid: str) -> int | None:
        with self.session_factory() as session:
            return (
                session.execute(
                    select(Case.id)
                    .join(Resident, Resident.id == Case.resident_id)
                    .where(Resident.openid == openid)
                    .order_by(Case.id.desc())
                )
                .scalars()
                .first()
            )

    def resident_answers(self, case_id: int) -> None:
        with self.session_factory() as session:
            case = session.get(Case, case_id)
            assert case is not None
            openid = session.get(Resident, case.resident_id).openid if case.resident_id else None
        if openid is None:
            return
        draw = self.rng.random()
        if draw < self.behaviour.reopen_share:
            self.say(openid, Turn(text="否，还没有解决"))
            self.counts["resident_reopened"] += 1
            self.at(
                self.clock() + lognormal_minutes(self.rng, self.behaviour.decide_min),
                lambda: self.worker(case_id),
            )
        elif draw < self.behaviour.reopen_share + self.behaviour.confirm_share:
            if self.say(openid, Turn(text="是")) is not None:
                self.say(openid, Turn(text=str(self.rng.choice((3, 4, 4, 5, 5, 5)))))
            self.counts["resident_confirmed"] += 1

    # -- grid workers, the command centre and departments (the Telegram handlers' storage calls) ----------
    def _act(
        self, case_id: int, action: str, person_id: str | None, payload: dict[str, Any] | None = None
    ) -> str:
        with self.session_factory() as session, session.begin():
            case = session.get(Case, case_id)
            assert case is not None
            person = session.get(Person, person_id) if person_id else None
            if person is None:
                person = self._stand_in(session, case, action)
            now = self.clock()
            if action in store.PHOTO_ACTIONS:
                store.record_photo(session, case, "replay-photo", str(self.photo), now, stage="after")
                payload = {**(payload or {}), "after_photo": str(self.photo)}
            store.perform(session, case, action, person, now, payload or {})
            self.counts[f"telegram_{action}"] += 1
            return str(case.state)

    def _stand_in(self, session: Session, case: Case, action: str) -> Person:
        """Who acts when the case names nobody: the department's staff, else the command centre."""
        role, key = (
            ("department", case.department_key)
            if action in store.DEPARTMENT_ACTIONS
            else ("command_centre", None)
        )
        query = select(Person).where(Person.role == role).order_by(Person.id)
        if key:
            query = query.where(Person.department_key == key)
        person = session.execute(query).scalars().first()
        if person is None:
            person = session.execute(select(Person).where(Person.role == "command_centre")).scalars().first()
        assert person is not None, "the seed has a command centre"
        return person

    def worker(self, case_id: int) -> None:
        with self.session_factory() as session:
            case = session.get(Case, case_id)
            assert case is not None
            state, worker, department, auto = (
                case.state,
                case.worker_id,
                case.department_key,
                case.auto_dispatch,
            )
        b, draw = self.behaviour, self.rng.random()
        if state == "reported":
            self._act(case_id, "respond", worker)
        elif state not in ("responded", "returned", "reopened"):
            return  # escalated and taken over, or already closed
        decide_at = self.clock() + lognormal_minutes(self.rng, b.decide_min)
        if state == "reopened" or draw < b.on_site_share or not department:
            self.at(decide_at, lambda: self._settle(case_id, worker))
        elif draw < b.on_site_share + b.worker_return_share or not auto:
            self.at(decide_at, lambda: self._triage(case_id, worker))
        else:
            self.at(decide_at, lambda: self._dispatch(case_id, worker, department))

    def _settle(self, case_id: int, worker: str | None) -> None:
        if self._act(case_id, "onsite", worker) == "handled":
            self._after_handled(case_id)

    def _triage(self, case_id: int, worker: str | None) -> None:
        self._act(case_id, "wreturn", worker, {"reason": "非本网格"})
        moment = self.clock() + lognormal_minutes(self.rng, self.behaviour.triage_min)
        self.at(moment, lambda: self._command_centre_dispatch(case_id))

    def _command_centre_dispatch(self, case_id: int) -> None:
        with self.session_factory() as session:
            case = session.get(Case, case_id)
            assert case is not None
            department = store.suggested_department(session, case) or "CGZF"
        self._dispatch(case_id, None, department)

    def _dispatch(self, case_id: int, worker: str | None, department: str) -> None:
        self._act(case_id, "dispatch", worker, {"department_key": department})
        self.at(
            self.clock() + lognormal_minutes(self.rng, self.behaviour.sign_min),
            lambda: self.department(case_id),
        )

    def department(self, case_id: int) -> None:
        with self.session_factory() as session:
            case = session.get(Case, case_id)
            assert case is not None
            state = case.state
        if state != "dispatched":
            return
        self._act(case_id, "sign", None)
        b = self.behaviour
        if self.rng.random() < b.department_return_share:
            self._act(case_id, "dreturn", None, {"reason": "不属于本部门职责"})
            self.at(self.clock() + lognormal_minutes(self.rng, b.decide_min), lambda: self.worker(case_id))
            return
        done_at = in_office_hours(self.clock() + lognormal_minutes(self.rng, b.handle_min), b.office_hours)
        self.at(done_at, lambda: self._department_done(case_id))

    def _department_done(self, case_id: int) -> None:
        if self._act(case_id, "done", None) == "handled":
            self._after_handled(case_id)

    def _after_handled(self, case_id: int) -> None:
        moment = self.clock() + lognormal_minutes(self.rng, self.behaviour.confirm_min)
        self.at(moment, lambda: self.resident_answers(case_id))
