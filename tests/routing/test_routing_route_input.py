"""gridsec route input lines: validation of each line before NLU (contracts.md bad-input rules)."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from routing.route_cli import InputError, _batches, parse_request
from routing.types import GeoPoint


def test_valid_line_with_point_and_time() -> None:
    request = parse_request(
        '{"id": "a1", "text": "井盖没了", "lat": 23.13, "lng": 113.27, "time": "2026-11-29T23:10:00"}'
    )
    assert (request.case_id, request.text, request.point) == ("a1", "井盖没了", GeoPoint(23.13, 113.27))
    assert request.at == datetime(2026, 11, 29, 23, 10, tzinfo=ZoneInfo("Asia/Shanghai"))


def test_valid_line_without_point_keeps_numeric_id() -> None:
    request = parse_request('{"id": 7, "text": "路灯不亮"}')
    assert (request.case_id, request.point, request.at) == (7, None, None)


@pytest.mark.parametrize(
    ("line", "case_id", "message"),
    [
        ("this is not json", None, "not JSON"),
        ('{"id": "x", "text": "abc"', None, "not JSON"),
        ('["a", "b"]', None, "not a JSON object"),
        ('{"id": "b2"}', "b2", "no text"),
        ('{"id": "b3", "text": 42}', "b3", "text is not a string"),
        ('{"id": "b4", "text": "   "}', "b4", "text is empty"),
        ('{"id": "b5", "text": "井盖", "lat": 23.1}', "b5", "lat and lng must be given together"),
        ('{"id": "b6", "text": "井盖", "lng": 113.2}', "b6", "lat and lng must be given together"),
        ('{"id": "b7", "text": "井盖", "lat": 123.1, "lng": 113.2}', "b7", "lat 123.1 is out of range"),
        ('{"id": "b8", "text": "井盖", "lat": 23.1, "lng": 213.2}', "b8", "lng 213.2 is out of range"),
        ('{"id": "b9", "text": "井盖", "lat": "23.1", "lng": 113.2}', "b9", "lat must be a number"),
        ('{"id": "c1", "text": "井盖", "lat": true, "lng": 113.2}', "c1", "lat must be a number"),
        ('{"id": "c2", "text": "井盖", "lat": NaN, "lng": 113.2}', "c2", "lat must be a number"),
        ('{"id": "c3", "text": "井盖", "time": "yesterday"}', "c3", "not ISO 8601"),
    ],
)
def test_bad_lines_raise_with_the_id_when_known(line: str, case_id: object, message: str) -> None:
    with pytest.raises(InputError, match=message) as caught:
        parse_request(line)
    assert caught.value.case_id == case_id


def test_blank_lines_are_not_inputs_and_batches_keep_order() -> None:
    lines = ["a\n", "\n", "b\n", "   \n", "c\n", "d\n", "e\n"]
    assert list(_batches(lines, 2)) == [["a\n", "b\n"], ["c\n", "d\n"], ["e\n"]]


def test_byte_order_mark_and_crlf_are_tolerated() -> None:
    request = parse_request('\ufeff{"id": "w", "text": "路灯不亮"}\r\n')
    assert (request.case_id, request.text) == ("w", "路灯不亮")
