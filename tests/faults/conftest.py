"""Fault-test fixtures: the security tests' organisation (Telegram groups, a WeChat resident) and fakes."""

from __future__ import annotations

from tests.security.conftest import fake_telegram, staff  # noqa: F401 - fixtures, found by pytest by name
