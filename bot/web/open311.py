"""Open311 GeoReport v2 (JSON): services, service requests (list, one, create). Field mapping: contracts.md.

A POSTed request goes through the same path as a WeChat report: the trained Rasa model parses the text
(`parser`, injected into `create_app`), `routing.route_cli.decision_for_parse` routes it, and
`storage.intake.open_case_from_decision` opens the case (which notifies the grid worker through the outbox).
A POST with an `Idempotency-Key` header opens its case once; retries get the first answer (storage.idempotency).
Errors use the spec's format `[{"code": <http status>, "description": "..."}]`.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import math
from collections.abc import Awaitable, Callable, Collection, Mapping
from datetime import datetime, timedelta, timezone
from typing import Any

from sanic import Blueprint, Sanic
from sanic.request import Request
from sanic.response import HTTPResponse, json
from sqlalchemy.exc import IntegrityError

from bot.web.auth import in_session, now_utc
from bot.web.open311_rows import request_rows
from storage.console_queries import CLOSED_VALUES, OPEN_VALUES, categories
from storage.idempotency import MAX_KEY_LENGTH, IdempotentPost, client_digest, fingerprint, recorded_answer
from storage.timeutil import SHANGHAI

logger = logging.getLogger(__name__)

Parser = Callable[[str], Awaitable[Mapping[str, Any]]]
MAX_RESULTS = 1000
DEFAULT_WINDOW = timedelta(days=90)
MAX_TEXT = 4000


class Open311Error(Exception):
    """Answered as `[{"code": status, "description": message}]` with HTTP `status`."""

    def __init__(self, status: int, description: str) -> None:
        super().__init__(description)
        self.status, self.description = status, description


def key_digests(keys: Collection[str]) -> tuple[bytes, ...]:
    """SHA-256 digests of the accepted API keys (the keys themselves are not kept)."""
    return tuple(hashlib.sha256(key.encode()).digest() for key in keys if key)


def api_keys_from(environ: Mapping[str, str], local_mode: bool) -> tuple[bytes, ...]:
    """`OPEN311_API_KEYS` (comma-separated), plus `local-dev-key` in local mode only (contracts.md)."""
    from bot.config import LOCAL_OPEN311_KEY

    keys = [key.strip() for key in environ.get("OPEN311_API_KEYS", "").split(",") if key.strip()]
    if local_mode:
        keys.append(LOCAL_OPEN311_KEY)
    return key_digests(keys)


def key_accepted(given: str, digests: Collection[bytes]) -> bool:
    """Constant-time comparison of the given key's digest with every accepted digest."""
    digest = hashlib.sha256(given.encode("utf-8", "surrogatepass")).digest()
    return any([hmac.compare_digest(digest, accepted) for accepted in digests])  # noqa: C419 - compare all


def w3c_time(raw: str, name: str) -> datetime:
    """A W3C / ISO 8601 datetime; a date alone is 00:00 Asia/Shanghai, no offset means Asia/Shanghai."""
    try:
        value = datetime.fromisoformat(raw.strip().replace("Z", "+00:00"))
    except ValueError:
        raise Open311Error(400, f"{name} is not a W3C date/time (e.g. 2026-11-30T00:00:00+08:00): {raw!r}") from None
    value = value if value.tzinfo is not None else value.replace(tzinfo=SHANGHAI)
    try:
        return value.astimezone(timezone.utc)
    except OverflowError:
        raise Open311Error(400, f"{name} is out of range: {raw!r}") from None


def storable(text: str) -> bool:
    """Text both databases can store: valid UTF-8 (no lone surrogates) and no NUL character."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return "\x00" not in text


def arg(request: Request, name: str) -> str | None:
    """One query parameter, stripped; None when absent or empty; a NUL character is a 400."""
    value = (request.args.get(name) or "").strip()
    if "\x00" in value:
        raise Open311Error(400, f"{name} contains a NUL character")
    return value or None


def _codes(raw: str | None) -> list[str]:
    return [part.strip() for part in (raw or "").split(",") if part.strip()]


async def services(request: Request) -> HTTPResponse:
    return json(
        [
            {
                "service_code": code,
                "service_name": row["name"],
                "description": f"{row['name']}（{row['group']}，责任单位 {row['department']}）",
                "metadata": False,
                "type": "realtime",
                "keywords": row["group"],
                "group": row["group"],
            }
            for code, row in categories().items()
        ]
    )


def _list_query(request: Request) -> dict[str, Any]:
    ids = _codes(arg(request, "service_request_id"))
    if ids:
        return {"codes": ids}  # the spec: service_request_id overrides every other parameter
    service_codes = _codes(arg(request, "service_code"))
    unknown = [code for code in service_codes if code not in categories()]
    if unknown:
        raise Open311Error(400, f"unknown service_code {unknown[0]!r} (see services.json)")
    statuses = _codes(arg(request, "status"))
    if any(status not in ("open", "closed") for status in statuses):
        raise Open311Error(400, "status must be open or closed")
    states = [state for status in statuses for state in (OPEN_VALUES if status == "open" else CLOSED_VALUES)]
    start_raw, end_raw = arg(request, "start_date"), arg(request, "end_date")
    end = w3c_time(end_raw, "end_date") if end_raw else None
    start = w3c_time(start_raw, "start_date") if start_raw else None
    if start is None:
        try:
            start = (end or now_utc()) - DEFAULT_WINDOW
        except OverflowError:  # an end date in year 1: no lower bound
            start = None
    if start is not None and end is not None and start > end:
        raise Open311Error(400, "start_date is after end_date")
    return {"categories": service_codes, "states": states, "start": start, "end": end}


def _extensions(request: Request) -> bool:
    return (arg(request, "extensions") or "").lower() == "true"


def _base_url(request: Request) -> str:
    return f"{request.scheme}://{request.host}"


async def request_list(request: Request) -> HTTPResponse:
    query = _list_query(request)
    rows = await in_session(
        request,
        lambda session: request_rows(session, query, _extensions(request), _base_url(request), MAX_RESULTS),
    )
    return json(rows)


async def request_one(request: Request, filename: str) -> HTTPResponse:
    if "\x00" in filename:
        raise Open311Error(400, "the id contains a NUL character")
    code, dot, extension = filename.rpartition(".")
    if not dot or extension not in ("json", "xml"):
        raise Open311Error(404, f"no such resource {filename!r}: use requests/<service_request_id>.json")
    if extension == "xml":
        raise Open311Error(400, "only the JSON format is supported: use .json")
    rows = await in_session(
        request, lambda session: request_rows(session, {"codes": [code]}, _extensions(request), _base_url(request), 1)
    )
    if not rows:
        raise Open311Error(404, f"no service request {code!r}")
    return json(rows)


def _fields(request: Request) -> dict[str, Any]:
    if (request.content_type or "").startswith("application/json"):
        try:
            body = request.json
        except Exception:  # Sanic raises InvalidUsage on malformed JSON
            body = None
        if not isinstance(body, dict):
            raise Open311Error(400, "the JSON body must be an object")
        return body
    return {key: request.form.get(key) for key in request.form} if request.form else {}


def _number(value: Any, name: str, low: float, high: float) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise Open311Error(400, f"{name} must be a number, got {value!r}") from None
    if not math.isfinite(number) or not low <= number <= high:
        raise Open311Error(400, f"{name} {value!r} is out of range [{low:g}, {high:g}]")
    return number


def _text(fields: Mapping[str, Any], name: str, limit: int = MAX_TEXT) -> str | None:
    value = fields.get(name)
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if not isinstance(value, str) or len(value) > limit or not storable(value):
        raise Open311Error(400, f"{name} must be UTF-8 text of at most {limit} characters, without NUL")
    return value.strip()


def validated_post(fields: Mapping[str, Any]) -> dict[str, Any]:
    """The usable fields of a POST, or Open311Error(400) naming the first problem."""
    description = _text(fields, "description")
    if description is None:
        raise Open311Error(400, "description is required: the router reads the problem from it")
    service_code = _text(fields, "service_code", 32)
    if service_code is not None and service_code not in categories():
        raise Open311Error(400, f"unknown service_code {service_code!r} (see services.json)")
    has_lat, has_long = fields.get("lat") not in (None, ""), fields.get("long") not in (None, "")
    if has_lat != has_long:
        raise Open311Error(400, "lat and long must be given together")
    address = _text(fields, "address_string", 255)
    if not has_lat and address is None:
        raise Open311Error(400, "a location is required: lat and long, or address_string")
    media_url = _text(fields, "media_url", 512)
    if media_url is not None and not media_url.startswith(("http://", "https://")):
        raise Open311Error(400, "media_url must be an http(s) URL")
    return {
        "description": description,
        "service_code": service_code,
        "lat": _number(fields["lat"], "lat", -90, 90) if has_lat else None,
        "lng": _number(fields["long"], "long", -180, 180) if has_lat else None,
        "address": address,
        "media_url": media_url,
    }


def _sf_string_content(raw: str) -> str | None:
    """The content of an RFC 8941 sf-string (`"..."`, escaping only \\" and \\\\), or None."""
    if len(raw) < 2 or not raw.startswith('"') or not raw.endswith('"'):
        return None
    content: list[str] = []
    chars = iter(raw[1:-1])
    for char in chars:
        if char == '"':
            return None
        if char == "\\":
            char = next(chars, "")
            if char not in ('"', "\\"):
                return None
        content.append(char)
    return "".join(content)


def idempotency_key(request: Request) -> str | None:
    """The `Idempotency-Key` header's key; None without the header.

    The draft makes the value a Structured Field string (`"8e03978e-40d5-..."`); a bare value, as many clients
    send it, is taken as it is. Empty, over MAX_KEY_LENGTH, not printable ASCII, or sent twice: 400.
    """
    values = request.headers.getall("idempotency-key", [])
    if not values:
        return None
    if len(values) > 1:
        raise Open311Error(400, "send one Idempotency-Key header, not several")
    raw = values[0].strip()
    key = _sf_string_content(raw) if raw.startswith('"') else raw
    if not key or len(key) > MAX_KEY_LENGTH or not all(" " <= char <= "~" for char in key):
        raise Open311Error(400, f"Idempotency-Key must be 1 to {MAX_KEY_LENGTH} printable ASCII characters")
    return key


def _created(code: str, notice: str) -> HTTPResponse:
    # A retry gets this same 201 and body: the draft has the server return the result of the first execution,
    # and the client retrying a POST whose answer it lost must see exactly what it would have seen.
    return json([{"service_request_id": code, "service_notice": notice, "account_id": None}], status=201)


async def _first_answer(request: Request, post: IdempotentPost) -> HTTPResponse | None:
    """The answer the key's first POST got (None for a new key); 422 if that POST asked for something else."""
    answer = await in_session(request, lambda session: recorded_answer(session, post.client_digest, post.key))
    if answer is None:
        return None
    if answer.fingerprint != post.fingerprint:
        raise Open311Error(422, "this Idempotency-Key was already used for another request: use a new one")
    logger.info("open311: Idempotency-Key retry answered with %s", answer.case_code)
    return _created(answer.case_code, answer.service_notice)


async def create_request(request: Request) -> HTTPResponse:
    from bot.web.open311_intake import open_request

    fields = _fields(request)
    given = fields.get("api_key")
    if not isinstance(given, str) or not given:
        raise Open311Error(401, "api_key is required")
    if not key_accepted(given, request.app.ctx.open311_key_digests):
        raise Open311Error(403, "api_key is not valid")
    key = idempotency_key(request)
    post = validated_post(fields)
    idempotent = IdempotentPost(client_digest(given), key, fingerprint(post)) if key is not None else None
    if idempotent is not None and (first := await _first_answer(request, idempotent)) is not None:
        return first  # before parsing: a retry costs no model call and opens nothing
    parser: Parser = request.app.ctx.parser
    text = post["description"] + (f" {post['address']}" if post["address"] else "")
    try:
        parse = await parser(text)
    except LookupError as error:  # no trained model available
        raise Open311Error(503, str(error)) from None
    try:
        code, notice = await in_session(
            request, lambda session: open_request(session, post, parse, now_utc(), idempotent), write=True
        )
    except IntegrityError as error:
        if idempotent is None:
            raise
        # A unique violation is reported only against a committed row (PostgreSQL waits for an uncommitted one,
        # SQLite has one writer at a time), so a concurrent POST with this key has committed: answer with its
        # case (ours rolled back, record and all). No record means it was pruned meanwhile or another
        # constraint failed: 409, the draft's answer for a key caught mid-flight, and the client retries.
        first = await _first_answer(request, idempotent)
        if first is None:
            reason = str(error.orig).splitlines()[0] if str(error.orig) else type(error.orig).__name__
            logger.warning("open311: Idempotency-Key POST failed, no first answer recorded: %s", reason)
            raise Open311Error(409, "a request with this Idempotency-Key was in progress: retry it") from None
        return first
    return _created(code, notice)


async def xml_not_supported(request: Request) -> HTTPResponse:
    raise Open311Error(400, "only the JSON format is supported: use .json")


def register(app: Sanic) -> None:
    """Add the Open311 routes and their error format."""
    blueprint = Blueprint("open311", url_prefix="/open311/v2")
    blueprint.add_route(services, "/services.json", methods=["GET"])
    blueprint.add_route(request_list, "/requests.json", methods=["GET"])
    blueprint.add_route(create_request, "/requests.json", methods=["POST"])
    blueprint.add_route(request_one, "/requests/<filename:str>", methods=["GET"])
    blueprint.add_route(xml_not_supported, "/services.xml", methods=["GET"])
    blueprint.add_route(xml_not_supported, "/requests.xml", methods=["GET", "POST"])
    app.blueprint(blueprint)

    async def answer(request: Request, error: Exception) -> HTTPResponse:
        assert isinstance(error, Open311Error)
        return json([{"code": error.status, "description": error.description}], status=error.status)

    app.error_handler.add(Open311Error, answer)
