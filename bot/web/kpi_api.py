"""`/api/kpis`: the KPI dashboard's figures for today / the week / the month, per street or department.

The figures come from `storage.kpi` (computed from the event history); this module only picks the window
and the scope and ranks the department league table. Street and department users see their own scope only.
"""

from __future__ import annotations

import logging
from typing import Any

from sanic import Blueprint, Sanic
from sanic.request import Request
from sanic.response import HTTPResponse, json
from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.web.auth import ApiError, guarded, in_session, now_utc, scope_of
from bot.web.params import arg, period_window
from storage.accounts import StaffUser
from storage.console_queries import iso
from storage.kpi import Kpis, compute_kpis, compute_kpis_by
from storage.models import Department, Street

logger = logging.getLogger(__name__)

# The seed data's figures (issue 7): the lines the dashboard draws to beat.
BASELINE = {"same_day_closure_rate": 0.788, "auto_dispatch_rate": 0.98}


def league_key(kpis: Kpis) -> tuple[float, float, int]:
    """Rank order: higher same-day closure, then higher satisfaction, then fewer overdue; missing rates last."""
    closure = kpis.same_day_closure_rate if kpis.same_day_closure_rate is not None else -1.0
    satisfaction = kpis.satisfaction if kpis.satisfaction is not None else -1.0
    return (-closure, -satisfaction, kpis.overdue_count)


def ranked_groups(session: Session, by: str, groups: dict[str | None, Kpis]) -> list[dict[str, Any]]:
    """The per-street or per-department figures with names, ranked as a league table."""
    model, key_column = (Street, Street.code) if by == "street" else (Department, Department.key)
    keys = [key for key in groups if key is not None]
    names = dict(session.execute(select(key_column, model.name).where(key_column.in_(keys))).all()) if keys else {}
    ordered = sorted(groups.items(), key=lambda item: (item[0] is None, league_key(item[1]), item[0] or ""))
    return [
        {"key": key, "name": names.get(key) if key else "(未分配)", "rank": rank, "kpis": kpis.to_dict()}
        for rank, (key, kpis) in enumerate(ordered, start=1)
    ]


@guarded()
async def kpis(request: Request) -> HTTPResponse:
    user: StaffUser = request.ctx.user
    by = arg(request, "by")
    if by is not None and by not in ("street", "department"):
        raise ApiError(400, f"by must be street or department, got {by!r}")
    if by is not None and user.role != "command_centre":
        raise ApiError(403, "per-street and per-department figures are for the command centre")
    period, start, end = period_window(request, now_utc())
    scope = scope_of(user)

    def work(session: Session) -> dict[str, Any]:
        result: dict[str, Any] = {
            "period": period,
            "start": iso(start),
            "end": iso(end),
            "scope": {"street_code": scope.street_code, "department_key": scope.department_key},
            "baseline": BASELINE,
            "kpis": compute_kpis(
                session, start=start, end=end, street_code=scope.street_code, department_key=scope.department_key
            ).to_dict(),
        }
        if by is not None:
            result["groups"] = ranked_groups(session, by, compute_kpis_by(session, by, start=start, end=end))
        return result

    return json(await in_session(request, work))


def register(app: Sanic) -> None:
    """Add the KPI route."""
    blueprint = Blueprint("console_kpis")
    blueprint.add_route(kpis, "/api/kpis", methods=["GET"])
    app.blueprint(blueprint)
