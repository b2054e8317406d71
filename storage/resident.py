"""What a resident can do to cases from the chat: report (or follow a duplicate), ask, cancel, confirm, reopen.

Each function works in the caller's transaction and goes through `storage.cases` (events and the
outbox), so the conversation actions stay thin. Events a resident causes in the chat carry
`answered_in_chat`, so the resident is not pushed what the bot has just told them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from routing.duplicates import find_duplicate
from routing.rules import load_rules
from routing.types import Decision, GeoPoint, ResolvedLocation
from storage.cases import apply_event, get_case_by_code, subscribe
from storage.intake import open_case_from_decision, resident_for
from storage.lifecycle import CaseEvent, CaseState, allowed_events
from storage.models import Case, CaseSubscription, Resident
from storage.outbox import enqueue
from storage.privacy import mask_text
from storage.queries import open_case_summaries, resident_cases
from storage.timeutil import require_aware

COMMAND_CENTRE = "DZZX"
STATE_NAMES = {
    "reported": "已受理，等待网格员响应",
    "responded": "网格员已响应",
    "dispatched": "已派发部门",
    "signed": "部门已签收，正在处置",
    "returned": "部门退回，正在重新分派",
    "triage": "指挥中心研判中",
    "handled": "已处置，待您确认",
    "reopened": "已重新启动处置",
    "closed": "已办结",
    "merged_duplicate": "已与同一问题合并处理",
    "cancelled": "已撤销",
}


@dataclass(frozen=True)
class Submitted:
    """The outcome of submitting a report: a new case, or the open case it duplicates."""

    case_code: str
    duplicate: bool
    state: str
    own: bool = False  # the open case is the resident's own (a retried turn, or the same report again)


def _point(decision: Decision, point: dict[str, Any] | None) -> GeoPoint | None:
    if point is not None:
        return GeoPoint(float(point["lat"]), float(point["lng"]))
    return decision.point


def submit_report(
    session: Session,
    decision: Decision,
    *,
    openid: str,
    now: datetime,
    description: str,
    point: dict[str, Any] | None = None,
    address: str | None = None,
    photos: tuple[dict[str, Any], ...] = (),
    channel: str = "wechat",
) -> Submitted:
    """Open the routed report as a case, unless an open case already covers it: then follow that one."""
    now = require_aware(now, "now")
    rules = load_rules()
    where = _point(decision, point)
    if decision.category:
        window = rules.duplicate_window(decision.category)
        nearby = open_case_summaries(
            session,
            now,
            within=timedelta(hours=window.window_h),
            category=decision.category,
            near=where,
            radius_m=max(window.radius_m * 2, 200.0),
        )
        report = _ReportPoint(decision.category, where, decision.grid)
        duplicate = find_duplicate(report, nearby, rules, now)
        if duplicate is not None:
            case = get_case_by_code(session, duplicate.case_code)
            if case is not None and case.resident_id is not None:
                resident = resident_for(session, openid, now, channel=channel)
                own = resident.id == case.resident_id
                if not own:
                    subscribe(session, case, resident.id, now)
                return Submitted(case.code, duplicate=True, state=case.state, own=own)
    location = ResolvedLocation(point=where) if where is not None else None
    case = open_case_from_decision(
        session,
        decision,
        now=now,
        description=description,
        resident_openid=openid,
        resident_channel=channel,
        location=location,
        address=address,
        media=photos,
        answered_in_chat=True,
    )
    return Submitted(case.code, duplicate=False, state=case.state)


@dataclass(frozen=True)
class _ReportPoint:
    category: str | None
    point: GeoPoint | None
    grid: str | None


def visible_case(session: Session, openid: str, code: str) -> Case | None:
    """The case with `code` if this resident reported or follows it (others' cases stay private)."""
    case = get_case_by_code(session, code)
    if case is None:
        return None
    resident = session.execute(select(Resident).where(Resident.openid == openid)).scalar_one_or_none()
    if resident is None:
        return None
    if case.resident_id == resident.id:
        return case
    follows = session.execute(
        select(CaseSubscription.id).where(
            CaseSubscription.case_id == case.id, CaseSubscription.resident_id == resident.id
        )
    ).first()
    return case if follows else None


def case_for_question(session: Session, openid: str, category: str | None) -> Case | None:
    """The case a status question is about: the newest of that category when NLU named one, else the newest."""
    cases = resident_cases(session, openid, limit=20)
    if category:
        for case in cases:
            if case.category == category:
                return case
    return cases[0] if cases else None


def awaiting_confirmation(session: Session, openid: str) -> Case | None:
    """The resident's newest case that was handled and waits for 解决了吗?"""
    for case in resident_cases(session, openid, limit=20):
        if case.state == CaseState.HANDLED.value:
            return case
    return None


def reopen(session: Session, case: Case, openid: str, now: datetime, reason: str | None = None) -> None:
    """The resident says it is not fixed: the case goes back to the grid worker."""
    payload = {"answered_in_chat": openid, "reason": reason or "居民反馈问题未解决"}
    apply_event(session, case, CaseEvent.REOPEN, actor=f"resident:{openid}", now=now, payload=payload)


def confirm(session: Session, case: Case, openid: str, now: datetime, rating: int) -> None:
    """The resident confirms it is fixed and rates the service (1-5); the case closes."""
    payload = {"answered_in_chat": openid, "fixed": True, "rating": rating}
    apply_event(session, case, CaseEvent.CONFIRM, actor=f"resident:{openid}", now=now, payload=payload)


def cancellable(case: Case) -> bool:
    return CaseEvent.CANCEL in allowed_events(CaseState(case.state))


def cancel(session: Session, case: Case, openid: str, now: datetime) -> None:
    """The resident withdraws a case that no department has taken yet."""
    payload = {"answered_in_chat": openid, "reason": "居民撤销"}
    apply_event(session, case, CaseEvent.CANCEL, actor=f"resident:{openid}", now=now, payload=payload)


def request_handoff(
    session: Session, openid: str, text: str, now: datetime, *, channel: str = "wechat"
) -> None:
    """Ask the command centre's duty desk to take over the chat (an outbox message, masked)."""
    now = require_aware(now, "now")
    resident = resident_for(session, openid, now, channel=channel)
    latest = resident_cases(session, openid, limit=1)
    enqueue(
        session,
        recipient_kind="department",
        recipient_id=COMMAND_CENTRE,
        template="handoff.requested",
        params={
            "resident": f"R{resident.id}",
            "text": mask_text(text)[:500],
            "case_code": latest[0].code if latest else "无",
            "at": now.isoformat(),
        },
        idempotency_key=f"handoff-{resident.id}-{int(now.timestamp())}",
        now=now,
        case_id=latest[0].id if latest else None,
    )


def state_name(state: str) -> str:
    return STATE_NAMES.get(state, state)
