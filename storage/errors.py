"""The GridSec exception family (STYLE.md §15): small, carrying the fields that matter, caught at the edges."""

from __future__ import annotations

import logging
from typing import Any

logger = logging.getLogger(__name__)


class GridSecretaryError(Exception):
    """Base of every domain error GridSec raises on purpose."""

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail

    def __repr__(self) -> str:
        return f"{type(self).__name__}(detail={self.detail!r})"


class InvalidTransition(GridSecretaryError):
    """An event that the lifecycle table does not allow in the case's current state."""

    def __init__(self, state: Any, event: Any) -> None:
        state_name = getattr(state, "value", state)
        event_name = getattr(event, "value", event)
        super().__init__(f"event {event_name!r} is not allowed in state {state_name!r}")
        self.state = state
        self.event = event

    def __repr__(self) -> str:
        return f"InvalidTransition(state={self.state!r}, event={self.event!r})"


class NoRouteFound(GridSecretaryError):
    """Routing could not find an owner for a case."""


class ChannelAuthError(GridSecretaryError):
    """An inbound channel request failed authentication (signature, token)."""


class NotificationFailed(GridSecretaryError):
    """A sender could not deliver an outbox message.

    `retryable` tells the delivery worker whether to try again later (network, 5xx, rate limit)
    or to park the message at once (unknown recipient, rejected content).
    """

    def __init__(self, detail: str, *, retryable: bool = True) -> None:
        super().__init__(detail)
        self.retryable = retryable

    def __repr__(self) -> str:
        return f"NotificationFailed(detail={self.detail!r}, retryable={self.retryable!r})"


class RetryableSendError(NotificationFailed):
    """A delivery failure worth retrying later."""

    def __init__(self, detail: str) -> None:
        super().__init__(detail, retryable=True)


class PermanentSendError(NotificationFailed):
    """A delivery failure that retrying cannot fix; the message is parked at once."""

    def __init__(self, detail: str) -> None:
        super().__init__(detail, retryable=False)


class StorageInputError(GridSecretaryError, ValueError):
    """Bad input to a storage function (naive datetime, unknown case, bad rating), with what was wrong."""
