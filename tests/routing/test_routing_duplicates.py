"""find_duplicate(): same category, inside the category's radius and time window, nearest first."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from routing.decide import decide
from routing.duplicates import distance_m, find_duplicate
from routing.types import GeoPoint, OpenCaseSummary
from tests.routing.conftest import DAY, at_grid, report

HERE = GeoPoint(23.1290, 113.2640)


def north(metres: float) -> GeoPoint:
    """A point `metres` due north of HERE (1 degree of latitude ≈ 111,195 m)."""
    return GeoPoint(HERE.lat + metres / 111_195.0, HERE.lng)


def open_case(code: str, category: str, point: GeoPoint | None, hours_ago: float) -> OpenCaseSummary:
    return OpenCaseSummary(
        case_code=code, category=category, opened_at=DAY - timedelta(hours=hours_ago), point=point
    )


def new_report(rules, category: str = "MANHOLE", point: GeoPoint | None = HERE):  # noqa: ANN001, ANN201
    location = at_grid()
    location = type(location)(**{**location.__dict__, "point": point})
    return decide(report("井盖不见了", category), location, DAY, rules=rules)


def test_distance_is_metres() -> None:
    assert abs(distance_m(HERE, north(100)) - 100) < 0.5


def test_manhole_inside_radius_and_window_is_a_duplicate(rules) -> None:  # noqa: ANN001
    case = open_case("YX-20261129-0001", "MANHOLE", north(45), hours_ago=47)
    assert find_duplicate(new_report(rules), [case], rules, DAY) == case


def test_manhole_outside_radius_is_not(rules) -> None:  # noqa: ANN001
    assert find_duplicate(new_report(rules), [open_case("A", "MANHOLE", north(55), 1)], rules, DAY) is None


def test_manhole_outside_window_is_not(rules) -> None:  # noqa: ANN001
    assert find_duplicate(new_report(rules), [open_case("A", "MANHOLE", north(10), 49)], rules, DAY) is None


def test_life_noise_window_is_shorter_than_manholes(rules) -> None:  # noqa: ANN001
    late = new_report(rules, "LIFE_NOISE")
    assert find_duplicate(late, [open_case("A", "LIFE_NOISE", north(90), 5)], rules, DAY) is not None
    assert find_duplicate(late, [open_case("A", "LIFE_NOISE", north(90), 7)], rules, DAY) is None


def test_other_category_at_the_same_spot_is_not_a_duplicate(rules) -> None:  # noqa: ANN001
    assert find_duplicate(new_report(rules), [open_case("A", "GARBAGE", HERE, 1)], rules, DAY) is None


def test_nearest_of_several_matches_wins(rules) -> None:  # noqa: ANN001
    far, near = open_case("FAR", "MANHOLE", north(40), 1), open_case("NEAR", "MANHOLE", north(5), 30)
    assert find_duplicate(new_report(rules), [far, near], rules, DAY).case_code == "NEAR"


def test_without_points_the_same_grid_counts(rules) -> None:  # noqa: ANN001
    from tests.routing.conftest import BEIJING_GRID, HONGQIAO_GRID

    same = OpenCaseSummary("SAME", "MANHOLE", DAY - timedelta(hours=1), None, grid=HONGQIAO_GRID)
    other = OpenCaseSummary("OTHER", "MANHOLE", DAY - timedelta(hours=1), None, grid=BEIJING_GRID)
    assert find_duplicate(new_report(rules, point=None), [other, same], rules, DAY) == same
    assert find_duplicate(new_report(rules, point=None), [other], rules, DAY) is None


def test_a_measured_match_ranks_before_a_same_grid_match(rules) -> None:  # noqa: ANN001
    from tests.routing.conftest import HONGQIAO_GRID

    grid_only = OpenCaseSummary("GRID", "MANHOLE", DAY - timedelta(hours=1), None, grid=HONGQIAO_GRID)
    measured = open_case("NEAR", "MANHOLE", north(30), 2)
    assert find_duplicate(new_report(rules), [grid_only, measured], rules, DAY).case_code == "NEAR"


def test_naive_utc_storage_times_compare_with_aware_now(rules) -> None:  # noqa: ANN001
    opened = (DAY - timedelta(hours=2)).astimezone(timezone.utc).replace(tzinfo=None)
    case = OpenCaseSummary("A", "MANHOLE", opened, HERE)
    assert find_duplicate(new_report(rules), [case], rules, DAY.astimezone(timezone.utc)) == case


def test_unlisted_category_uses_the_default_window(rules) -> None:  # noqa: ANN001
    window = rules.duplicate_window("SCHOOL")
    assert window == rules.duplicates["default"]
    assert isinstance(DAY, datetime)
