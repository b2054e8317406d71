"""What the webhook fuzz tests share: hypothesis settings, the allowed statuses, and a log of ERROR records.

The WeChat and the Telegram fuzz tests are in test_fuzz_wechat.py and test_fuzz_telegram.py; each default
test stays well under a minute, and the `soak` variants (make soak) run many more examples.
"""

from __future__ import annotations

import logging

from hypothesis import HealthCheck, settings

CHECKS = [HealthCheck.function_scoped_fixture, HealthCheck.too_slow]
# Each WeChat example makes 7 requests, each Telegram one 3: both defaults stay under a minute on 2 busy cores.
WECHAT_QUICK = settings(max_examples=50, deadline=None, suppress_health_check=CHECKS)
QUICK = settings(max_examples=80, deadline=None, suppress_health_check=CHECKS)
SOAK = settings(max_examples=3000, deadline=None, suppress_health_check=CHECKS)
ALLOWED_WECHAT = {200, 400, 403, 413}
ALLOWED_TELEGRAM = {200, 400, 403, 413}


class ErrorLog(logging.Handler):
    """Collects every ERROR (or worse) record from any logger while a fuzz test runs."""

    def __init__(self) -> None:
        super().__init__(level=logging.ERROR)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)

    def summary(self) -> list[str]:
        return [
            f"{r.name}: {r.getMessage()[:200]} {r.exc_info[1]!r}"
            if r.exc_info
            else f"{r.name}: {r.getMessage()[:200]}"
            for r in self.records
        ]
