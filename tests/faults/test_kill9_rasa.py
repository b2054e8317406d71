"""kill -9 of a Rasa server in the middle of a conversation: nothing lost, nothing doubled.

Two real Rasa servers (production endpoints: PostgreSQL tracker store, Redis lock store) behind the balancer.

- WeChat: a resident's message is acknowledged (`success`), and its turn is held mid-way: the test holds the
  conversation's Redis lock, so the turn waits inside Rasa. Rasa is SIGKILLed there. Before this fix the
  message was lost; now its durable turn (`inbound_turns`) is resumed by the restarted instance: one reply,
  one user message in the tracker, and WeChat's retry of the same message changes nothing.
- REST through the balancer: one instance is killed between two turns of a conversation; the balancer sends
  the next turns to the survivor, and after the restart the tracker holds every turn once, in order.
- An action server is killed in the middle of a report conversation (the form is half filled): the other action
  server answers the rest, and the report opens exactly one case.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from rasa.core.lock_store import RedisLockStore
from sqlalchemy import select
from sqlalchemy.orm import Session

from storage.db import make_engine
from storage.models import InboundTurn, OutboxMessage
from tests.channels.conftest import TOKEN, fixture_xml, sign
from tests.scaleout import conftest as scaleout_fixtures
from tests.scaleout.stack import (
    RASA_START_TIMEOUT_S,
    Proc,
    Stack,
    postgres_schema,
    running_stack,
    seed_yuexiu,
    wait_until,
)
from tests.scaleout.test_scaleout_rasa import REPORT, TURNS, expected_turns, open_cases, say, tracker_turns
from tests.support.sanic_server import free_port

pytestmark = [pytest.mark.postgres, pytest.mark.model, pytest.mark.slow]

model_path = (
    scaleout_fixtures.model_path
)  # the fixtures tests/scaleout uses (the trained model, the domain's texts)
responses = scaleout_fixtures.responses
LOCK_LIFETIME_S = 10  # a dead instance's ticket blocks its conversation this long (Rasa's default is 60 s)


@dataclass
class Cluster:
    stack: Stack
    first: Proc
    second: Proc
    entry: Proc
    action_servers: list[Proc]
    database_url: str

    def lock_store(self) -> RedisLockStore:
        env = self.stack.env
        return RedisLockStore(
            host=env["REDIS_HOST"],
            port=int(env["REDIS_PORT"]),
            db=int(env["REDIS_LOCK_DB"]),
            key_prefix=env["REDIS_LOCK_PREFIX"],
        )


@pytest.fixture(scope="module")
def cluster(model_path: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    action_port = free_port()
    with (
        postgres_schema("gs_kill9") as url,
        running_stack(
            url, tmp_path_factory.mktemp("kill9-rasa"), action_port, TICKET_LOCK_LIFETIME=str(LOCK_LIFETIME_S)
        ) as stack,
    ):
        seed_yuexiu(url)
        action_servers = [stack.actions("actions-1").start(), stack.actions("actions-2").start()]
        stack.balancer("actions", action_port, action_servers).start()
        first = stack.rasa("rasa-1", model_path).start(RASA_START_TIMEOUT_S)
        second = stack.rasa("rasa-2", model_path).start(RASA_START_TIMEOUT_S)
        entry = stack.balancer("rasa", free_port(), [first, second]).start()
        yield Cluster(stack, first, second, entry, action_servers, url)


def post_wechat(instance: Proc, openid: str, msg_id: str, content: str) -> httpx.Response:
    stamp, nonce = str(int(time.time())), uuid.uuid4().hex[:10]
    body = fixture_xml("text", openid=openid, msg_id=msg_id, content=content, create_time=stamp)
    query = {"signature": sign(TOKEN, stamp, nonce), "timestamp": stamp, "nonce": nonce}
    return httpx.post(
        f"{instance.url}/webhooks/wechat/webhook",
        params=query,
        content=body.encode(),
        headers={"Content-Type": "text/xml"},
        timeout=30,
    )


def replies_to(session: Session, openid: str, msg_id: str) -> list[str]:
    prefix = f"wechat:{openid}:m:{msg_id}:"
    rows = (
        session.execute(
            select(OutboxMessage.payload)
            .where(OutboxMessage.idempotency_key.startswith(prefix))
            .order_by(OutboxMessage.id)
        )
        .scalars()
        .all()
    )
    session.rollback()
    return [str(payload["params"]["text"]) for payload in rows]


def turn_status(session: Session, openid: str, msg_id: str) -> str | None:
    status = session.execute(
        select(InboundTurn.status).where(InboundTurn.key == f"{openid}:m:{msg_id}")
    ).scalar_one_or_none()
    session.rollback()
    return status


def test_an_acknowledged_wechat_turn_survives_kill9_of_its_rasa(
    cluster: Cluster, responses: dict[str, list[str]]
) -> None:
    openid, msg_id = f"oKill9{uuid.uuid4().hex[:16]}", str(6054768590064713000 + int(time.time()) % 1000)
    locks = cluster.lock_store()
    held = locks.issue_ticket(openid, lock_lifetime=600)  # the turn will wait behind this inside Rasa
    engine = make_engine(cluster.database_url)
    with Session(engine, future=True) as session:
        answer = post_wechat(cluster.first, openid, msg_id, "你好")
        assert (answer.status_code, answer.text) == (200, "success")
        wait_until(
            lambda: len(getattr(locks.get_lock(openid), "tickets", [])) == 2,
            60,
            what="Rasa to queue the turn behind the held lock",
        )
        cluster.first.kill9()
        locks.finish_serving(openid, held)
        assert turn_status(session, openid, msg_id) == "pending"
        assert replies_to(session, openid, msg_id) == []  # acknowledged, not answered: lost, before this fix

        cluster.first.start(
            RASA_START_TIMEOUT_S
        )  # same instance name: resumes its earlier life's turns at once
        wait_until(
            lambda: turn_status(session, openid, msg_id) == "done",
            60 + LOCK_LIFETIME_S,
            what="the restarted Rasa to finish the acknowledged turn",
        )
        assert replies_to(session, openid, msg_id) == responses["utter_greet"]

        retry = post_wechat(cluster.second, openid, msg_id, "你好")  # WeChat's retry, to the other instance
        assert (retry.status_code, retry.text) == (200, "success")
        time.sleep(2)
        assert replies_to(session, openid, msg_id) == responses["utter_greet"]
        assert tracker_turns(cluster.second, openid) == [
            ("user", "你好"),
            ("bot", responses["utter_greet"][0]),
        ]
    engine.dispose()


def test_a_rasa_killed_between_turns_loses_no_turn_behind_the_balancer(
    cluster: Cluster, responses: dict[str, list[str]]
) -> None:
    sender = f"kill9-rest-{uuid.uuid4().hex[:8]}"
    half = len(TURNS) // 2
    for text, response in TURNS[:half]:
        assert say(cluster.entry, sender, text) == responses[response]
    cluster.second.kill9()  # the balancer now finds it refusing connections and skips it
    for text, response in TURNS[half:]:
        assert say(cluster.entry, sender, text) == responses[response]
    cluster.second.start(RASA_START_TIMEOUT_S)
    assert tracker_turns(cluster.second, sender) == expected_turns(TURNS, responses)


def test_an_action_server_killed_mid_report_opens_exactly_one_case(cluster: Cluster) -> None:
    sender = f"kill9-report-{uuid.uuid4().hex[:8]}"
    before = open_cases(cluster.database_url)
    victim = cluster.action_servers[0]
    replies: list[str] = []
    for number, (text, expected) in enumerate(REPORT):
        if number == len(REPORT) - 1:  # the form has read the report back; the confirmation is next
            victim.kill9()
        replies = say(cluster.entry, sender, text.replace("起义路100号", "起义路102号"))
        assert any(expected in reply for reply in replies), (number, replies)
    opened = [code for code in open_cases(cluster.database_url) if code not in before]
    assert len(opened) == 1 and opened[0] in " ".join(replies)
    victim.start()
