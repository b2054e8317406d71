"""Console login: the session cookie, `/api/login`, `/api/logout`, `/api/me`, and the role guard.

Every `/api` handler is wrapped by `guarded(...)`, which answers 401 before the handler runs when nobody is
logged in and 403 when the role is not allowed, so a route cannot forget the check. The cookie is HttpOnly
and SameSite=Strict (other sites cannot send it), and holds only a random token; the database keeps its hash.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Collection, Coroutine
from datetime import datetime, timezone
from functools import wraps
from typing import Any

from sanic import Blueprint, Sanic
from sanic.exceptions import MethodNotSupported, NotFound
from sanic.request import Request
from sanic.response import HTTPResponse, json
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from storage.accounts import (
    SESSION_LIFETIME,
    StaffUser,
    authenticate,
    end_session,
    start_session,
    user_for_token,
)
from storage.console_queries import Scope
from storage.models import Department, Street

logger = logging.getLogger(__name__)

COOKIE = "gridsec_session"
ALL_ROLES = ("command_centre", "street", "department")
Handler = Callable[..., Coroutine[Any, Any, HTTPResponse]]


class ApiError(Exception):
    """A client error answered as `{"error": message}` with `status` (and any extra fields)."""

    def __init__(self, status: int, message: str, **extra: Any) -> None:
        super().__init__(message)
        self.status, self.message, self.extra = status, message, extra


def now_utc() -> datetime:
    return datetime.now(timezone.utc)


def engine_of(request: Request) -> Engine:
    engine: Engine = request.app.ctx.engine
    return engine


async def in_session(request: Request, work: Callable[[Session], Any], *, write: bool = False) -> Any:
    """Run `work(session)` in a worker thread (the event loop never blocks on the database).

    With `write`, the work runs in a transaction that commits; otherwise the session is rolled back at the end.
    """
    engine = engine_of(request)

    def run() -> Any:
        with Session(engine, future=True) as session:
            if write:
                with session.begin():
                    return work(session)
            try:
                return work(session)
            finally:
                session.rollback()

    return await asyncio.to_thread(run)


def scope_of(user: StaffUser) -> Scope:
    """The cases a user may see: all, one street's or one department's."""
    if user.role == "street":
        return Scope(street_code=user.street_code)
    if user.role == "department":
        return Scope(department_key=user.department_key)
    return Scope()


def guarded(roles: Collection[str] = ALL_ROLES) -> Callable[[Handler], Handler]:
    """Require a logged-in user with one of `roles`; the handler gets it as `request.ctx.user`."""

    def decorate(handler: Handler) -> Handler:
        @wraps(handler)
        async def wrapper(request: Request, *args: Any, **kwargs: Any) -> HTTPResponse:
            token = request.cookies.get(COOKIE)
            user = await in_session(request, lambda session: user_for_token(session, token, now_utc()))
            if user is None:
                raise ApiError(401, "not logged in (POST /api/login)")
            if user.role not in roles:
                raise ApiError(403, f"the {user.role} role may not do this")
            request.ctx.user = user
            return await handler(request, *args, **kwargs)

        return wrapper

    return decorate


def me(session: Session, user: StaffUser) -> dict[str, Any]:
    """What the console shows about the logged-in user."""
    street = session.get(Street, user.street_code) if user.street_code else None
    department = session.get(Department, user.department_key) if user.department_key else None
    return {
        "username": user.username,
        "display_name": user.display_name,
        "role": user.role,
        "street_code": user.street_code,
        "street": street.name if street else None,
        "department_key": user.department_key,
        "department": department.name if department else None,
        "can_triage": user.can_triage,
        "sees_contact": user.sees_contact,
    }


def _set_cookie(response: HTTPResponse, token: str, max_age: int) -> None:
    response.cookies[COOKIE] = token
    cookie = response.cookies[COOKIE]
    cookie["httponly"] = True
    cookie["samesite"] = "Strict"
    cookie["path"] = "/"
    cookie["max-age"] = max_age


async def login(request: Request) -> HTTPResponse:
    body = request.json if request.body else None
    if not isinstance(body, dict) or not isinstance(body.get("username"), str) or not isinstance(
        body.get("password"), str
    ):
        raise ApiError(400, 'send JSON {"username": "...", "password": "..."}')
    try:
        body["username"].encode("utf-8"), body["password"].encode("utf-8")
    except UnicodeEncodeError:
        raise ApiError(400, "username and password must be UTF-8 text") from None
    if "\x00" in body["username"] or len(body["username"]) > 64:
        raise ApiError(401, "wrong username or password")

    def work(session: Session) -> tuple[str, dict[str, Any]] | None:
        user = authenticate(session, body["username"], body["password"])
        if user is None:
            return None
        return start_session(session, user, now_utc()), me(session, user)

    result = await in_session(request, work, write=True)
    if result is None:
        raise ApiError(401, "wrong username or password")
    token, profile = result
    response = json({"user": profile})
    _set_cookie(response, token, int(SESSION_LIFETIME.total_seconds()))
    return response


async def logout(request: Request) -> HTTPResponse:
    token = request.cookies.get(COOKIE)
    await in_session(request, lambda session: end_session(session, token), write=True)
    response = json({"ok": True})
    _set_cookie(response, "", 0)
    return response


@guarded()
async def whoami(request: Request) -> HTTPResponse:
    return json(await in_session(request, lambda session: me(session, request.ctx.user)))


def register(app: Sanic) -> None:
    """Add the auth routes and the JSON error handler for `ApiError`."""
    blueprint = Blueprint("console_auth")
    blueprint.add_route(login, "/api/login", methods=["POST"])
    blueprint.add_route(logout, "/api/logout", methods=["POST"])
    blueprint.add_route(whoami, "/api/me", methods=["GET"])
    app.blueprint(blueprint)

    async def api_error(request: Request, error: Exception) -> HTTPResponse:
        assert isinstance(error, ApiError)
        return json({"error": error.message, **error.extra}, status=error.status)

    app.error_handler.add(ApiError, api_error)

    async def unknown_route(request: Request, error: Exception) -> HTTPResponse:
        status = getattr(error, "status_code", 404)
        if request.path.startswith("/open311/"):
            return json([{"code": status, "description": str(error)}], status=status)
        if request.path.startswith("/api/"):
            return json({"error": str(error)}, status=status)
        return app.error_handler.default(request, error)

    app.error_handler.add(NotFound, unknown_route)
    app.error_handler.add(MethodNotSupported, unknown_route)
