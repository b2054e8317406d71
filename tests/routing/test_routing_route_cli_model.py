"""`gridsec route` as operators run it: a subprocess with the trained model (marked `model`)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.routing.conftest import model_override

REPO = Path(__file__).resolve().parents[2]

LINES = [
    '{"id": "ok-1", "text": "我住三眼井社区，楼道里堆满了纸皮杂物"}',
    "not json at all",
    '{"id": "no-text"}',
    '{"id": "ok-2", "text": "这里有个井盖不见了，很危险", "lat": 23.121274, "lng": 113.272859}',
    "",
    '{"id": "half-point", "text": "井盖不见了", "lat": 23.12}',
    '{"id": "far", "text": "井盖不见了", "lat": 123.12, "lng": 113.2}',
    '{"id": 3, "text": 12345}',
    '{"id": "ok-3", "text": "你好"}',
]


@pytest.mark.model
@pytest.mark.slow
def test_gridsec_route_one_line_per_input_in_order_with_errors() -> None:
    completed = subprocess.run(
        [
            sys.executable,
            "-m",
            "bot.cli",
            "route",
            *(["--model", str(model_override())] if model_override() else []),
        ],
        input="\n".join(LINES) + "\n",
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=900,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr[-2000:]
    outputs = [json.loads(line) for line in completed.stdout.splitlines()]
    assert [out["id"] for out in outputs] == ["ok-1", None, "no-text", "ok-2", "half-point", "far", 3, "ok-3"]
    errors = {out["id"]: out["error"] for out in outputs if "error" in out}
    assert set(errors) == {None, "no-text", "half-point", "far", 3}
    first, second, greeting = outputs[0], outputs[3], outputs[7]
    assert (first["kind"], first["department"], first["street"]) == ("report", "JDB", "洪桥")
    assert (second["department"], second["street"]) == ("SWJ", "珠光") and second["grid"]
    assert greeting["kind"] == "greet" and greeting["department"] is None


@pytest.mark.model
@pytest.mark.slow
def test_batch_parse_equals_agent_parse_message() -> None:
    import asyncio

    from routing.evaluation import load_cases
    from routing.route_cli import load_agent, parse_texts

    agent = load_agent(model_override())
    texts = [case["text"] for case in load_cases()[1][::6]]
    loop = asyncio.new_event_loop()
    try:
        single = [loop.run_until_complete(agent.parse_message(text)) for text in texts]
    finally:
        loop.close()
    batch = parse_texts(agent, texts)
    for one, many in zip(single, batch, strict=True):
        assert (one["text"], one["intent"]["name"], one.get("category"), one.get("places")) == (
            many["text"],
            many["intent"]["name"],
            many.get("category"),
            many.get("places"),
        )
        assert one["intent"]["confidence"] == pytest.approx(many["intent"]["confidence"], abs=1e-4)
        assert one.get("category_confidence", 0) == pytest.approx(
            many.get("category_confidence", 0), abs=1e-3
        )
