"""Two real Rasa servers share one conversation: PostgreSQL tracker store, Redis lock store (issue 8, scale-out).

One resident's messages go alternately to instance A and instance B over the REST channel. Sequentially, each
instance must see the turns the other one took (shared tracker). Concurrently (sent 1 s apart without waiting
for answers), the Redis lock store must still run the turns one at a time in arrival order: the tracker holds
every user message once, in the order sent, each followed by its own reply.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.scaleout.stack import (
    RASA_START_TIMEOUT_S,
    Proc,
    Stack,
    postgres_schema,
    running_stack,
    seed_yuexiu,
)
from tests.support.sanic_server import free_port

pytestmark = [pytest.mark.postgres, pytest.mark.model, pytest.mark.slow]

# (text, the response its intent's rule answers with); texts are training examples of greet/thanks/out_of_scope
STAGGER_S = 1.0
TURNS = [
    ("你好", "utter_greet"),
    ("谢谢", "utter_thanks"),
    ("讲个笑话", "utter_out_of_scope"),
    ("在吗", "utter_greet"),
    ("多谢", "utter_thanks"),
    ("帮我订外卖", "utter_out_of_scope"),
]


@pytest.fixture(scope="module")
def rasa_pair(
    model_path: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Proc, Proc, Stack, str]]:
    """Two Rasa servers and two action servers behind a balancer, as `gridsec serve --production` runs them."""
    action_port = free_port()
    with (
        postgres_schema() as url,
        running_stack(url, tmp_path_factory.mktemp("scaleout"), action_port) as stack,
    ):
        seed_yuexiu(url)
        action_servers = [stack.actions("actions-1").start(), stack.actions("actions-2").start()]
        stack.balancer("actions", action_port, action_servers).start()
        # One after the other: the first creates Rasa's `events` table, and the CPU is shared.
        first = stack.rasa("rasa-1", model_path).start(RASA_START_TIMEOUT_S)
        second = stack.rasa("rasa-2", model_path).start(RASA_START_TIMEOUT_S)
        yield first, second, stack, url


def say(instance: Proc, sender: str, text: str) -> list[str]:
    reply = httpx.post(
        f"{instance.url}/webhooks/rest/webhook", json={"sender": sender, "message": text}, timeout=120
    )
    assert reply.status_code == 200, reply.text
    return [message["text"] for message in reply.json() if "text" in message]


def tracker_turns(instance: Proc, sender: str) -> list[tuple[str, str]]:
    """The conversation as the tracker store holds it: ("user", text) and ("bot", text), in order."""
    tracker: dict[str, Any] = httpx.get(f"{instance.url}/conversations/{sender}/tracker", timeout=30).json()
    return [
        (event["event"], event.get("text") or "")
        for event in tracker["events"]
        if event["event"] in ("user", "bot")
    ]


def expected_turns(turns: list[tuple[str, str]], responses: dict[str, list[str]]) -> list[tuple[str, str]]:
    expected: list[tuple[str, str]] = []
    for text, response in turns:
        expected += [("user", text), ("bot", responses[response][0])]
    return expected


def test_turns_sent_alternately_to_two_instances_stay_in_order(
    rasa_pair: tuple[Proc, Proc, Stack, str], responses: dict[str, list[str]]
) -> None:
    first, second, _, _ = rasa_pair
    sender = f"scale-seq-{uuid.uuid4().hex[:8]}"
    for number, (text, response) in enumerate(TURNS):
        instance = (first, second)[number % 2]
        assert say(instance, sender, text) == responses[response], f"turn {number} on {instance.name}"
    expected = expected_turns(TURNS, responses)
    assert tracker_turns(first, sender) == expected
    assert tracker_turns(second, sender) == expected  # both instances read the one PostgreSQL tracker


def test_concurrent_turns_on_two_instances_are_serialised_by_the_redis_lock(
    rasa_pair: tuple[Proc, Proc, Stack, str], responses: dict[str, list[str]]
) -> None:
    import time

    first, second, _, _ = rasa_pair
    sender = f"scale-par-{uuid.uuid4().hex[:8]}"
    with ThreadPoolExecutor(len(TURNS)) as pool:
        futures = []
        for number, (text, _) in enumerate(TURNS):
            futures.append(pool.submit(say, (first, second)[number % 2], sender, text))
            # Arrival order = send order, even if one instance's loop is busy with a turn for a moment; turns
            # still queue behind each other (a queued ticket checks Redis for its turn: bot.lock_store).
            time.sleep(STAGGER_S)
        replies = [future.result() for future in futures]
    assert replies == [responses[response] for _, response in TURNS]
    assert tracker_turns(second, sender) == expected_turns(TURNS, responses)


REPORT = [  # (text, what the reply must contain): a report read back, confirmed, opened as a case
    ("你好", "越秀区网格秘书"),
    ("起义路100号门口个井盖冇咗，好危险", "我帮您登记"),
    ("对", "已为您登记，编号 YX-"),
]


def open_cases(database_url: str) -> list[str]:
    from sqlalchemy import select
    from sqlalchemy.orm import Session

    from storage.db import make_engine
    from storage.models import Case

    engine = make_engine(database_url)
    try:
        with Session(engine, future=True) as session:
            return list(session.execute(select(Case.code)).scalars())
    finally:
        engine.dispose()


def test_a_report_conversation_alternating_between_instances_opens_one_case(
    rasa_pair: tuple[Proc, Proc, Stack, str],
) -> None:
    first, second, _, url = rasa_pair
    sender = f"scale-report-{uuid.uuid4().hex[:8]}"
    before = open_cases(url)
    for number, (text, expected) in enumerate(REPORT):
        replies = say((first, second)[number % 2], sender, text)
        assert any(expected in reply for reply in replies), (number, replies)
    opened = [code for code in open_cases(url) if code not in before]
    assert len(opened) == 1 and opened[0] in " ".join(replies)
    users = [text for kind, text in tracker_turns(first, sender) if kind == "user"]
    assert users == [text for text, _ in REPORT]
