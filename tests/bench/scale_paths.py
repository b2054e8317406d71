"""The year's case lifecycles for the database-scale benchmark: the paths, their steps and their due items.

Each path is a sequence of (event, minutes after the report at pace 1, escalated stage) with a weight; every
path is replayed through `storage.lifecycle.advance` (`path_steps`), so the generated histories are legal, and
the due items follow storage.clocks (`path_items`). tests/bench/scale_data.py turns them into rows in SQL.
"""

from __future__ import annotations

from dataclasses import dataclass

from storage.lifecycle import CaseEvent, CaseState, advance

CATEGORIES = (
    "GARBAGE", "STREET_CLEAN", "PARKING", "STREET_VENDOR", "LIFE_NOISE", "SHOP_NOISE", "ROAD_DAMAGE",
    "STREETLIGHT", "MANHOLE", "DRAINAGE", "WATER_SUPPLY", "CORRIDOR", "AD_POSTER", "BIKE_SHARE",
    "ILLEGAL_BUILD", "TRAFFIC_FAC",
)  # fmt: skip
# Minutes per stage limit by urgency (routing/data/sla.yml; 5 working days taken as 7 calendar days).
LIMIT_MINUTES = {
    "urgent": {"respond": (15, "15m"), "dispatch": (30, "30m"), "handle": (240, "4h")},
    "normal": {"respond": (60, "1h"), "dispatch": (120, "2h"), "handle": (1440, "1d")},
    "complex": {"respond": (120, "2h"), "dispatch": (1440, "1d"), "handle": (10080, "5wd")},
}

E = CaseEvent
# (weight, [(event, minutes after the report at pace 1, escalated stage or None)])
PATHS: list[tuple[float, list[tuple[CaseEvent, int, str | None]]]] = [
    (0.30, [(E.REPORT, 0, None), (E.RESPOND, 25, None), (E.DISPATCH, 40, None), (E.SIGN, 90, None),
            (E.HANDLE, 600, None), (E.CONFIRM, 900, None)]),
    (0.15, [(E.REPORT, 0, None), (E.RESPOND, 20, None), (E.HANDLE_ON_SITE, 60, None), (E.CONFIRM, 240, None)]),
    (0.12, [(E.REPORT, 0, None), (E.ESCALATE, 70, "respond"), (E.RESPOND, 80, None), (E.DISPATCH, 95, None),
            (E.RETURN, 150, None), (E.DISPATCH, 170, None), (E.SIGN, 240, None), (E.HANDLE, 1500, None),
            (E.CONFIRM, 2000, None)]),
    (0.08, [(E.REPORT, 0, None), (E.RESPOND, 30, None), (E.DISPATCH, 45, None), (E.SIGN, 100, None),
            (E.HANDLE, 700, None), (E.REOPEN, 900, None), (E.DISPATCH, 960, None), (E.SIGN, 1000, None),
            (E.HANDLE, 1600, None), (E.CONFIRM, 1900, None)]),
    (0.12, [(E.REPORT, 0, None), (E.RESPOND, 20, None), (E.TRIAGE, 50, None), (E.DISPATCH, 120, None),
            (E.SIGN, 200, None), (E.HANDLE, 1000, None), (E.CONFIRM, 1300, None)]),
    (0.04, [(E.REPORT, 0, None), (E.CANCEL, 10, None)]),
    (0.03, [(E.REPORT, 0, None), (E.RESPOND, 15, None), (E.MERGE_DUPLICATE, 30, None)]),
    (0.06, [(E.REPORT, 0, None), (E.ESCALATE, 70, "respond"), (E.RESPOND, 75, None),
            (E.HANDLE_ON_SITE, 120, None), (E.CONFIRM, 400, None)]),
    (0.10, [(E.REPORT, 0, None), (E.RESPOND, 20, None), (E.DISPATCH, 30, None), (E.SIGN, 60, None),
            (E.ESCALATE, 1500, "handle"), (E.HANDLE, 1700, None), (E.CONFIRM, 2100, None)]),
]  # fmt: skip


@dataclass(frozen=True)
class Step:
    path: int
    step: int
    event: str
    from_state: str | None
    to_state: str
    minutes: int
    level: int
    stage: str | None


@dataclass(frozen=True)
class Item:
    """A due item a path arms at `armed_step` and ends (`end_status`) at `end_step` (0: never)."""

    path: int
    stage: str
    cycle: int
    escalate_to: int
    armed_step: int
    end_step: int
    end_status: str


def path_steps() -> list[Step]:
    """Every path's steps with their states, checked against the transition table."""
    steps = []
    for path, (_, events) in enumerate(PATHS):
        state, level = CaseState.NEW, 0
        for number, (event, minutes, stage) in enumerate(events, start=1):
            after = advance(state, event)
            level += event is E.ESCALATE
            steps.append(
                Step(path, number, event.value, None if state is CaseState.NEW else state.value,
                     after.value, minutes, level, stage)
            )  # fmt: skip
            state = after
    return steps


def path_items() -> list[Item]:
    """The due items each path arms, following storage.clocks.CLOCK_RULES and the scheduler."""
    starts = {E.REPORT: "respond", E.RESPOND: "dispatch", E.SIGN: "handle", E.REOPEN: "dispatch"}
    stops = {E.RESPOND: ("respond",), E.SIGN: ("dispatch",)}
    stop_all = {E.HANDLE, E.HANDLE_ON_SITE, E.CONFIRM, E.CANCEL, E.MERGE_DUPLICATE, E.REOPEN}
    items: list[Item] = []
    for path, (_, events) in enumerate(PATHS):
        pending: dict[str, tuple[int, int, int]] = {}  # stage -> (cycle, escalate_to, armed_step)
        cycle = 0
        for number, (event, _, stage) in enumerate(events, start=1):
            ending = list(pending) if event in stop_all else [s for s in stops.get(event, ()) if s in pending]
            if event is E.ESCALATE and stage in pending:
                ending = [stage]
            for name in ending:
                item_cycle, escalate_to, armed = pending.pop(name)
                status = "fired" if event is E.ESCALATE else "cancelled"
                items.append(Item(path, name, item_cycle, escalate_to, armed, number, status))
                if event is E.ESCALATE and escalate_to < 3:
                    pending[name] = (item_cycle, escalate_to + 1, number)
            cycle += event is E.REOPEN
            if event in starts and starts[event] not in pending:
                level = sum(e is E.ESCALATE for e, _, _ in events[:number])
                pending[starts[event]] = (cycle, min(level + 1, 3), number)
        items += [Item(path, name, c, to, armed, 0, "pending") for name, (c, to, armed) in pending.items()]
    return items
