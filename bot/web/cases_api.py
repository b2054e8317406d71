"""Console case routes: reference data, the live list (with a polling cursor), detail, triage, CSV, media.

Scope comes from the logged-in user (`bot.web.auth.scope_of`) and is applied inside every query, so a list,
an export and a detail view agree on what a street or department user may see.
"""

from __future__ import annotations

import csv
import io
import logging
from dataclasses import replace
from pathlib import Path
from typing import Any

from sanic import Blueprint, Sanic
from sanic.request import Request
from sanic.response import HTTPResponse, file, json, raw
from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.web.auth import ApiError, guarded, in_session, now_utc, scope_of
from bot.web.params import arg, case_filters, integer
from storage.accounts import StaffUser
from storage.case_list import MAX_PAGE
from storage.cases import URGENCIES, get_case_by_code
from storage.console_actions import ACTION_EVENTS, allowed_actions, perform_triage
from storage.console_detail import case_detail
from storage.console_queries import (
    categories,
    count_cases,
    decode_after,
    event_cursor,
    filtered_cases,
    iso,
    list_cases,
    state_legend,
    summaries,
)
from storage.errors import InvalidTransition, StorageInputError
from storage.models import Case, CaseMedia, Department, Resident, Street

logger = logging.getLogger(__name__)

CSV_MAX_ROWS = 50_000
CSV_COLUMNS = (
    "code", "state", "status", "category", "category_name", "urgency", "street", "community", "grid",
    "department_key", "department", "worker", "auto_dispatch", "escalation_level", "overdue", "created_at",
    "updated_at", "lat", "lng", "address", "description", "resident_phone", "rating",
)
REPO_ROOT = Path(__file__).resolve().parents[2]


def in_scope(user: StaffUser, case: Case) -> bool:
    """Whether `user` may see `case` (the same rule as the list queries)."""
    scope = scope_of(user)
    if scope.street_code is not None and case.street_code != scope.street_code:
        return False
    return scope.department_key is None or case.department_key == scope.department_key


def visible_case(session: Session, user: StaffUser, code: str) -> Case:
    """The case with this code if the user may see it (404 unknown, 403 out of scope)."""
    case = get_case_by_code(session, code)
    if case is None:
        raise ApiError(404, f"no case {code}")
    if not in_scope(user, case):
        raise ApiError(403, f"case {code} is outside your {user.role} scope")
    return case


@guarded()
async def meta(request: Request) -> HTTPResponse:
    def work(session: Session) -> dict[str, Any]:
        streets = session.execute(select(Street.code, Street.name).order_by(Street.code)).all()
        departments = session.execute(
            select(Department.key, Department.code, Department.name, Department.street_code).order_by(Department.key)
        ).all()
        return {
            "states": state_legend(),
            "categories": list(categories().values()),
            "streets": [{"code": code, "name": name} for code, name in streets],
            "departments": [
                {"key": key, "code": code, "name": name, "street_code": street} for key, code, name, street in departments
            ],
            "urgencies": list(URGENCIES),
            "triage_actions": list(ACTION_EVENTS),
        }

    return json(await in_session(request, work))


@guarded()
async def case_list(request: Request) -> HTTPResponse:
    user: StaffUser = request.ctx.user
    limit = integer(request, "limit", 50, 1, MAX_PAGE)
    offset = integer(request, "offset", 0, 0, 10**9)
    after_token = arg(request, "after")
    try:
        after = decode_after(after_token) if after_token else None
    except (ValueError, StorageInputError):
        raise ApiError(400, f"after must be a `next_after` token from an earlier answer, got {after_token!r}") from None

    def work(session: Session) -> dict[str, Any]:
        now = now_utc()
        cursor = event_cursor(session)  # read first: a change after this read is seen by the next poll
        filters = case_filters(request, session)
        scope = scope_of(user)
        page = list_cases(session, filters, scope, now, limit=limit, offset=offset, after=after)
        answer: dict[str, Any] = {
            "items": summaries(session, page.cases, now, mask=not user.sees_contact),
            "limit": limit,
            "offset": offset,
            "next_after": page.next_after,
            "cursor": cursor,
            "now": iso(now),
        }
        if filters.since_event_id is None or page.cases:  # a quiet poll skips the count
            answer["total"] = count_cases(session, replace(filters, since_event_id=None), scope, now)
        return answer

    return json(await in_session(request, work))


@guarded()
async def case_one(request: Request, code: str) -> HTTPResponse:
    user: StaffUser = request.ctx.user

    def work(session: Session) -> dict[str, Any]:
        case = visible_case(session, user, code)
        actions = allowed_actions(case.state) if user.can_triage else []
        return case_detail(session, case, now_utc(), mask=not user.sees_contact, allowed_actions=actions)

    return json(await in_session(request, work))


def json_body(request: Request) -> dict[str, Any]:
    """The request's JSON object body (400 when it is missing or not an object)."""
    try:
        body = request.json if request.body else None
    except Exception:  # Sanic raises InvalidUsage on malformed JSON
        body = None
    if not isinstance(body, dict):
        raise ApiError(400, "send a JSON object body")
    return body


@guarded(roles=("command_centre",))
async def case_action(request: Request, code: str) -> HTTPResponse:
    user: StaffUser = request.ctx.user
    body = json_body(request)
    action = body.get("action")
    if not isinstance(action, str):
        raise ApiError(400, f"`action` must be one of {list(ACTION_EVENTS)}")

    def work(session: Session) -> dict[str, Any]:
        case = visible_case(session, user, code)
        now = now_utc()
        try:
            result = perform_triage(session, case, action, body, actor=f"console:{user.username}", now=now)
        except InvalidTransition as error:
            raise ApiError(
                409, str(error), state=case.state, allowed=allowed_actions(case.state)
            ) from None
        except StorageInputError as error:
            raise ApiError(400, str(error)) from None
        detail = case_detail(session, case, now, mask=False, allowed_actions=allowed_actions(case.state))
        return {"case": detail, "recorded": list(result.recorded)}

    return json(await in_session(request, work, write=True))


def _csv_rows(session: Session, request: Request, user: StaffUser) -> str:
    now = now_utc()
    filters = case_filters(request, session)
    query = filtered_cases(filters, scope_of(user), now).limit(CSV_MAX_ROWS)
    cases = list(session.execute(query).scalars())
    phones: dict[int, str | None] = {}
    resident_ids = {case.resident_id for case in cases if case.resident_id}
    if resident_ids:
        phones = dict(session.execute(select(Resident.id, Resident.phone).where(Resident.id.in_(resident_ids))).all())
    from storage.privacy import mask_phone

    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(CSV_COLUMNS)
    for start in range(0, len(cases), 500):
        batch = cases[start:start + 500]
        for case, row in zip(batch, summaries(session, batch, now, mask=not user.sees_contact), strict=True):
            phone = phones.get(case.resident_id or -1)
            row["resident_phone"] = (phone or "") if user.sees_contact else mask_phone(phone)
            writer.writerow(["" if row.get(column) is None else row[column] for column in CSV_COLUMNS])
    return out.getvalue()


@guarded()
async def case_csv(request: Request) -> HTTPResponse:
    user: StaffUser = request.ctx.user
    text = await in_session(request, lambda session: _csv_rows(session, request, user))
    stamp = now_utc().strftime("%Y%m%d-%H%M")
    return raw(
        ("\ufeff" + text).encode("utf-8"),
        content_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="gridsec-cases-{stamp}.csv"'},
    )


def media_roots() -> list[Path]:
    """Directories media files may be served from (var/ under the repo; GRIDSEC_MEDIA_ROOT if set)."""
    import os

    roots = [REPO_ROOT / "var"]
    if os.environ.get("GRIDSEC_MEDIA_ROOT"):
        roots.append(Path(os.environ["GRIDSEC_MEDIA_ROOT"]))
    return [root.resolve() for root in roots]


@guarded()
async def media(request: Request, media_id: int) -> HTTPResponse:
    user: StaffUser = request.ctx.user

    def work(session: Session) -> tuple[str, str | None]:
        item = session.get(CaseMedia, media_id)
        if item is None:
            raise ApiError(404, f"no media {media_id}")
        case = session.get(Case, item.case_id)
        if case is None or not in_scope(user, case):
            raise ApiError(403, "this media belongs to a case outside your scope")
        return item.uri, item.content_type

    uri, content_type = await in_session(request, work)
    roots: list[Path] = request.app.ctx.media_roots
    path = Path(uri).resolve()
    if not any(path.is_relative_to(root) for root in roots) or not path.is_file():
        raise ApiError(404, f"the file of media {media_id} is not available")
    return await file(str(path), mime_type=content_type or None)


def register(app: Sanic) -> None:
    """Add the case routes."""
    blueprint = Blueprint("console_cases")
    blueprint.add_route(meta, "/api/meta", methods=["GET"])
    blueprint.add_route(case_list, "/api/cases", methods=["GET"])
    blueprint.add_route(case_csv, "/api/cases.csv", methods=["GET"])
    blueprint.add_route(case_one, "/api/cases/<code:str>", methods=["GET"])
    blueprint.add_route(case_action, "/api/cases/<code:str>/actions", methods=["POST"])
    blueprint.add_route(media, "/api/media/<media_id:int>", methods=["GET"])
    app.blueprint(blueprint)

