"""Fuzzing the Open311 GeoReport v2 API with hypothesis over real HTTP: no 5xx, errors in the spec's format.

Random query strings on the list, random ids, random POST bodies (form, JSON, raw bytes) with a missing,
wrong or right api_key and with or without a random Idempotency-Key header. The NLU model is not loaded here
(tests/web/test_open311_model.py runs it): the parser answers an intent-only parse, so a valid POST runs the
real router and intake (command-centre triage).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from bot.web.app import create_app
from tests.security.fuzzing import CHECKS, SOAK, ErrorLog
from tests.support.sanic_server import serve_sanic
from tests.web.conftest import build_web_org

API_KEY = "o311-fuzz-key-7Hq2"
V2 = "/open311/v2"
QUICK = settings(max_examples=60, deadline=None, suppress_health_check=CHECKS)


@pytest.fixture()
def open311(
    engine: Engine, session_factory: Callable[[], Session], error_log: ErrorLog
) -> Iterator[tuple[str, ErrorLog]]:
    with session_factory() as session, session.begin():
        build_web_org(session)

    async def intent_only(text: str) -> dict[str, Any]:
        return {"text": text, "intent": {"name": "report_issue", "confidence": 1.0}, "entities": []}

    app = create_app(
        engine,
        name=f"o311fuzz_{uuid.uuid4().hex[:8]}",
        environ={"OPEN311_API_KEYS": API_KEY, "WECHAT_APP_SECRET": "x" * 32, "WECHAT_TOKEN": "t" * 16},
        parser=intent_only,
        seed_demo_accounts=False,
    )
    with serve_sanic(app) as base:
        yield base + V2, error_log


def assert_clean(answer: httpx.Response, allowed: set[int]) -> None:
    assert answer.status_code < 500, (answer.status_code, answer.request.url, answer.text[:300])
    assert answer.status_code in allowed, (answer.status_code, answer.request.url, answer.text[:300])
    if 400 <= answer.status_code < 500:
        body = answer.json()
        assert isinstance(body, list) and len(body) == 1 and set(body[0]) == {"code", "description"}, body
        assert body[0]["code"] == answer.status_code and isinstance(body[0]["description"], str)


DATES = st.one_of(
    st.datetimes().map(lambda value: value.isoformat()),
    st.dates().map(str),
    st.sampled_from(
        ["0001-01-01", "9999-12-31T23:59:59", "2026-11-30T00:00:00Z", "2026-02-30", "yesterday", ""]
    ),
    st.text(max_size=25),
)
LIST_PARAMS = st.dictionaries(
    st.sampled_from(
        [
            "service_request_id",
            "service_code",
            "start_date",
            "end_date",
            "status",
            "extensions",
            "page",
            "lat",
            "long",
            "jurisdiction_id",
            "x",
        ]
    ),
    st.one_of(
        DATES,
        st.sampled_from(
            [
                "GARBAGE",
                "GARBAGE,NOPE",
                "open",
                "closed",
                "open,closed",
                "true",
                "1",
                "YX-20261130-0001",
                ",,,",
                "%00",
            ]
        ),
        st.text(max_size=30),
    ),
    max_size=5,
)
POST_FIELDS = st.dictionaries(
    st.sampled_from(
        [
            "description",
            "service_code",
            "lat",
            "long",
            "address_string",
            "media_url",
            "email",
            "first_name",
            "device_id",
            "x",
        ]
    ),
    st.one_of(
        st.text(max_size=60),
        st.sampled_from(
            [
                "GARBAGE",
                "23.1425",
                "113.266",
                "nan",
                "inf",
                "-91",
                "1e308",
                "三眼井12号门口垃圾堆",
                "https://img.example/1.jpg",
                "javascript:alert(1)",
                "x" * 5000,
            ]
        ),
        st.floats(allow_nan=False, allow_infinity=False),
        st.integers(),
        st.none(),
        st.lists(st.integers(), max_size=2),
    ),
    max_size=7,
)
API_KEYS = st.sampled_from([None, "", API_KEY, API_KEY + "x", API_KEY.upper(), "local-dev-key", 12345])
# Printable ASCII (the draft's sf-string alphabet), quoted or not, any length; httpx sends no value that starts
# or ends with a space.
IDEMPOTENCY_KEYS = st.one_of(
    st.none(),
    st.sampled_from(["", '"', '""', '" "', '"k"', '"a\\b"', '"a"b"', "k" * 255, "k" * 256, "same-key"]),
    st.text(alphabet=st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=300).filter(
        lambda value: value == value.strip()
    ),
)


def fuzz_once(
    base: str,
    params: dict[str, str],
    request_id: str,
    fields: dict[str, Any],
    key: Any,
    as_json: bool,
    raw: bytes,
    idempotency_key: str | None,
) -> None:
    with httpx.Client(timeout=30) as client:
        assert_clean(client.get(f"{base}/requests.json", params=params), {200, 400})
        assert_clean(client.get(f"{base}/requests/{request_id}.json", params=params), {200, 400, 404})
        body = dict(fields) | ({} if key is None else {"api_key": key})
        headers = {} if idempotency_key is None else {"Idempotency-Key": idempotency_key}
        if as_json:
            answer = client.post(f"{base}/requests.json", json=body, headers=headers)
        else:
            form = {name: str(value) for name, value in body.items() if value is not None}
            answer = client.post(f"{base}/requests.json", data=form, headers=headers)
        assert_clean(answer, {201, 400, 401, 403, 422})  # 422: a key reused by another example's body
        assert_clean(
            client.post(f"{base}/requests.json", content=raw, headers={"Content-Type": "application/json"}),
            {400, 401, 403},
        )


INPUTS = {
    "params": LIST_PARAMS,
    "request_id": st.text(
        alphabet=st.characters(blacklist_categories=("Cs", "Cc")), min_size=1, max_size=30
    ).filter(
        lambda value: "/" not in value and "?" not in value and "#" not in value and value not in (".", "..")
    ),
    "fields": POST_FIELDS,
    "key": API_KEYS,
    "as_json": st.booleans(),
    "raw": st.binary(max_size=200),
    "idempotency_key": IDEMPOTENCY_KEYS,
}


@QUICK
@given(**INPUTS)
def test_open311_fuzz_gives_no_5xx_and_spec_errors(open311: tuple[str, ErrorLog], **inputs: Any) -> None:
    base, errors = open311
    fuzz_once(base, **inputs)
    assert errors.summary() == []


@pytest.mark.soak
@SOAK
@given(**INPUTS)
def test_open311_soak_fuzz(open311: tuple[str, ErrorLog], **inputs: Any) -> None:
    base, errors = open311
    fuzz_once(base, **inputs)
    assert errors.summary() == []


@pytest.mark.parametrize("key", [None, "", "wrong-key", API_KEY.upper()])
def test_a_post_without_a_valid_api_key_opens_nothing(
    open311: tuple[str, ErrorLog], key: str | None, session_factory: Callable[[], Session]
) -> None:
    from sqlalchemy import func, select

    from storage.models import Case

    base, _ = open311
    fields = {"description": "三眼井12号门口垃圾堆了三天", "address_string": "三眼井12号"}
    answer = httpx.post(
        f"{base}/requests.json", data=fields | ({} if key is None else {"api_key": key}), timeout=30
    )
    assert_clean(answer, {401, 403})
    with session_factory() as session:
        assert session.execute(select(func.count()).select_from(Case)).scalar_one() == 0
    accepted = httpx.post(f"{base}/requests.json", data=fields | {"api_key": API_KEY}, timeout=30)
    assert accepted.status_code == 201 and accepted.json()[0]["service_request_id"].startswith("YX-")
