"""Open cases and walk them through the lifecycle at chosen times, through the real repository functions."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session

from storage.cases import apply_event, open_case
from tests.web.conftest import BEIJING, GRID_BJ, GRID_HQ, HONGQIAO

PLACES = {
    HONGQIAO: {"street_code": HONGQIAO, "community_code": "440104001007", "grid_id": GRID_HQ,
               "worker_id": f"GW-{GRID_HQ}", "lat": 23.1425, "lng": 113.2660},
    BEIJING: {"street_code": BEIJING, "community_code": "440104002001", "grid_id": GRID_BJ,
              "worker_id": f"GW-{GRID_BJ}", "lat": 23.1290, "lng": 113.2700},
}


def make_case(
    factory: Callable[[], Session],
    at: datetime,
    *,
    street: str = HONGQIAO,
    department: str | None = "HWZX",
    category: str = "GARBAGE",
    description: str = "垃圾堆咗三日冇人收，电话13812345678",
    urgency: str = "normal",
    auto_dispatch: bool = True,
    resident_id: int | None = None,
    steps: Sequence[tuple[str, timedelta, dict[str, Any]]] = (),
    media: Sequence[dict[str, Any]] = (),
) -> str:
    """Open a case at `at` and apply `steps` (event, offset from `at`, payload); returns its code."""
    with factory() as session, session.begin():
        case = open_case(
            session, now=at, description=description, urgency=urgency, category=category,
            department_key=department, auto_dispatch=auto_dispatch, resident_id=resident_id,
            routing={"category": category, "explanation": [f"category {category} from text", "rule R1"]},
            media=media, **PLACES[street],
        )
        for event, offset, payload in steps:
            actor = "telegram:GW-x" if event in ("respond", "handle_on_site") else "telegram:dept"
            if event == "confirm":
                actor = "resident"
            apply_event(session, case, event, actor=actor, now=at + offset, payload=payload)
        return str(case.code)


def walk(*events: tuple[str, int] | tuple[str, int, dict[str, Any]]) -> list[tuple[str, timedelta, dict[str, Any]]]:
    """Steps from (event, minutes after the report[, payload]) tuples."""
    return [(item[0], timedelta(minutes=item[1]), item[2] if len(item) > 2 else {}) for item in events]  # type: ignore[misc]
