"""`gridsec route`: the live routing decision, offline (contracts.md).

JSON lines in, one JSON line out per input line, in input order. Each text goes through the same path
as the live bot: the trained Rasa model (`bot.nlu.training.ensure_model`) -> `understanding_from_parse`
-> `routing.places.locate` -> `routing.decide.decide` -> `Decision.to_contract`. The model is loaded
once; texts are parsed in batches on one event loop. A bad line (not JSON, no text, bad coordinates)
gets `{"id": ..., "error": ...}` and the run goes on.

Input line: {"id": "...", "text": "...", "lat": 23.13, "lng": 113.27}; lat/lng optional (WGS-84).
An optional "time" (ISO 8601; default: now) sets the time the decision is made for (day/night shift).
Blank lines are skipped (they are not inputs).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import math
import sys
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import IO, Any
from zoneinfo import ZoneInfo

from routing.decide import decide
from routing.types import Decision, GeoPoint
from routing.understanding import understanding_from_parse

logger = logging.getLogger(__name__)

BATCH_SIZE = 64
DISTRICT_TZ = ZoneInfo("Asia/Shanghai")


class InputError(ValueError):
    """One input line is unusable; the message goes into the output line's `error`."""

    def __init__(self, message: str, case_id: Any = None) -> None:
        super().__init__(message)
        self.case_id = case_id


@dataclass(frozen=True)
class RouteRequest:
    """One valid input line."""

    case_id: Any
    text: str
    point: GeoPoint | None
    at: datetime | None


def _coordinate(value: Any, name: str, low: float, high: float, case_id: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise InputError(f"{name} must be a number", case_id)
    if not low <= value <= high:
        raise InputError(f"{name} {value} is out of range [{low:g}, {high:g}]", case_id)
    return float(value)


def _time(value: Any, case_id: Any) -> datetime | None:
    if value is None:
        return None
    try:
        at = datetime.fromisoformat(str(value))
    except ValueError as error:
        raise InputError(f"time {value!r} is not ISO 8601", case_id) from error
    return at if at.tzinfo is not None else at.replace(tzinfo=DISTRICT_TZ)


def parse_request(line: str) -> RouteRequest:
    """Validate one input line.

    Raises:
        InputError: not JSON, not an object, no usable text, lat without lng (or the reverse),
            coordinates that are not numbers or out of range, or a bad time.
    """
    try:
        raw = json.loads(line.lstrip("\ufeff"))  # a file saved by Windows tools may start with a BOM
    except json.JSONDecodeError as error:
        raise InputError(f"not JSON: {error.msg} at column {error.colno}") from error
    if not isinstance(raw, dict):
        raise InputError("not a JSON object")
    case_id = raw.get("id")
    text = raw.get("text")
    if text is None:
        raise InputError("no text", case_id)
    if not isinstance(text, str):
        raise InputError("text is not a string", case_id)
    if not text.strip():
        raise InputError("text is empty", case_id)
    has_lat, has_lng = raw.get("lat") is not None, raw.get("lng") is not None
    if has_lat != has_lng:
        raise InputError("lat and lng must be given together", case_id)
    point = None
    if has_lat:
        point = GeoPoint(
            _coordinate(raw["lat"], "lat", -90.0, 90.0, case_id),
            _coordinate(raw["lng"], "lng", -180.0, 180.0, case_id),
        )
    return RouteRequest(case_id, text, point, _time(raw.get("time"), case_id))


def error_line(case_id: Any, message: str) -> dict[str, Any]:
    """The output line for an input that could not be routed."""
    return {"id": case_id, "error": message}


def decision_for_parse(
    parse: Mapping[str, Any], point: GeoPoint | None, point_source: str | None, now: datetime
) -> Decision:
    """The steps after NLU, shared by the action server and `gridsec route` (one code path).

    Args:
        parse: a Rasa parse (`tracker.latest_message` or `Agent.parse_message`).
        point: a WGS-84 point sent with the message, if any.
        point_source: "gps" or "exif" when `point` is given.
        now: the time of the report.
    """
    from routing.places import locate

    understanding = understanding_from_parse(parse, point, point_source)
    location = locate(understanding.places, understanding.point, understanding.point_source)
    return decide(understanding, location, now)


def route_parsed(request: RouteRequest, parse: Mapping[str, Any], now: datetime) -> dict[str, Any]:
    """One contract line for a parsed input line."""
    decision = decision_for_parse(parse, request.point, "gps" if request.point else None, request.at or now)
    return decision.to_contract(request.case_id)


def _batches(lines: Iterable[str], size: int) -> Iterator[list[str]]:
    batch: list[str] = []
    for line in lines:
        if not line.strip():
            continue
        batch.append(line)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


def _progress(message: str) -> None:
    # stdout carries only the JSON lines; progress goes to stderr.
    sys.stderr.write(f"==> {message}\n")


def load_agent(model_path: Path | None) -> Any:
    """Load the Rasa agent once: the given archive, or the model for the current training data."""
    from rasa.core.agent import Agent

    if model_path is None:
        from bot.nlu.training import ensure_model

        model_path = ensure_model(force=False, progress=_progress)
    logger.info("loading model %s", model_path)
    _quiet_structlog()
    return Agent.load(str(model_path))


def _quiet_structlog() -> None:
    # Rasa logs each parse through structlog, whose default printer writes to stdout: that would corrupt
    # the JSON lines. Keep warnings and above, on stderr.
    import structlog

    structlog.configure(
        wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING),
        logger_factory=structlog.PrintLoggerFactory(file=sys.stderr),
    )


async def _parse_each(agent: Any, texts: list[str]) -> list[dict[str, Any]]:
    return list(await asyncio.gather(*(agent.parse_message(text) for text in texts)))


def parse_texts(agent: Any, texts: list[str]) -> list[dict[str, Any]]:
    """Parse a batch of texts in one run of the model's NLU graph.

    This is what `Agent.parse_message` does for one message (`MessageProcessor._parse_message_with_graph`),
    given the whole batch: every component's `process` takes a list of messages, so featurisers and
    classifiers work on the batch at once (about 1.7x the throughput). The parses are the same
    (tests/routing/test_routing_route_cli_model.py compares them with `Agent.parse_message`).
    """
    from rasa.core.channels.channel import UserMessage
    from rasa.engine.constants import PLACEHOLDER_MESSAGE, PLACEHOLDER_TRACKER
    from rasa.shared.core.trackers import DialogueStateTracker

    if not texts:
        return []
    processor = agent.processor
    target = processor.model_metadata.nlu_target
    results = processor.graph_runner.run(
        inputs={
            PLACEHOLDER_MESSAGE: [UserMessage(text) for text in texts],
            PLACEHOLDER_TRACKER: DialogueStateTracker.from_events("gridsec-route", []),
        },
        targets=[target],
    )
    parses = []
    for message in results[target]:
        parse: dict[str, Any] = {"text": "", "intent": {"name": None, "confidence": 0.0}, "entities": []}
        parse.update(message.as_dict(only_output_properties=True))
        parses.append(parse)
    if len(parses) != len(texts):
        raise RuntimeError(f"the NLU graph returned {len(parses)} parses for {len(texts)} messages")
    return parses


def route_batch(
    agent: Any, loop: asyncio.AbstractEventLoop, lines: list[str], now: datetime, *, batched: bool = True
) -> list[dict[str, Any]]:
    """Validate, parse (one graph run per batch; `batched=False`: `Agent.parse_message` each) and route a
    batch of lines, keeping input order."""
    outputs: list[dict[str, Any] | None] = [None] * len(lines)
    requests: list[tuple[int, RouteRequest]] = []
    for index, line in enumerate(lines):
        try:
            requests.append((index, parse_request(line)))
        except InputError as error:
            outputs[index] = error_line(error.case_id, str(error))
    texts = [request.text for _, request in requests]
    parses = parse_texts(agent, texts) if batched else loop.run_until_complete(_parse_each(agent, texts))
    for (index, request), parse in zip(requests, parses, strict=True):
        try:
            outputs[index] = route_parsed(request, parse, now)
        except Exception as error:  # the edge: one bad case must not stop the run (contracts.md)
            logger.exception("routing failed for id %r", request.case_id)
            outputs[index] = error_line(request.case_id, f"routing failed: {error}")
    return [output for output in outputs if output is not None]


def run(
    stdin: IO[str], stdout: IO[str], model_path: Path | None = None, *, batch_size: int = BATCH_SIZE
) -> int:
    """Read JSON lines from `stdin`, write one decision (or error) line per input to `stdout`.

    Args:
        stdin: input lines.
        stdout: output lines, flushed after every batch.
        model_path: the Rasa model archive; default: `ensure_model()` for the current data.
        batch_size: lines parsed together.

    Returns:
        The number of lines written.
    """
    written = 0
    # Anything a library prints goes to stderr; only our JSON lines reach `stdout`.
    with contextlib.redirect_stdout(sys.stderr):
        agent = load_agent(model_path)
        loop = asyncio.new_event_loop()
        try:
            for lines in _batches(stdin, batch_size):
                now = datetime.now(DISTRICT_TZ)
                for output in route_batch(agent, loop, lines, now):
                    stdout.write(json.dumps(output, ensure_ascii=False) + "\n")
                    written += 1
                stdout.flush()
        finally:
            loop.close()
    return written
