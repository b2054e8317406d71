"""All SQLAlchemy models; import from here (`from storage.models import Case, Person`)."""

from __future__ import annotations

from storage.models.accounts import STAFF_ROLES, StaffAccount, StaffSession
from storage.models.base import Base, metadata
from storage.models.cases import (
    AppendOnlyViolation,
    Case,
    CaseCounter,
    CaseEventRecord,
    CaseMedia,
    CaseSubscription,
    Rating,
    Resident,
)
from storage.models.messaging import (
    ConsoleMessage,
    DueItem,
    InboundDedupe,
    InboundTurn,
    Open311IdempotencyKey,
    OutboxMessage,
)
from storage.models.org import (
    ROLE_VALUES,
    ChatBinding,
    Community,
    Department,
    DutyShift,
    Grid,
    Person,
    Role,
    Street,
)

__all__ = [
    "ROLE_VALUES",
    "STAFF_ROLES",
    "AppendOnlyViolation",
    "Base",
    "Case",
    "CaseCounter",
    "CaseEventRecord",
    "CaseMedia",
    "CaseSubscription",
    "ChatBinding",
    "Community",
    "ConsoleMessage",
    "Department",
    "DueItem",
    "DutyShift",
    "Grid",
    "InboundDedupe",
    "InboundTurn",
    "Open311IdempotencyKey",
    "OutboxMessage",
    "Person",
    "Rating",
    "Resident",
    "Role",
    "StaffAccount",
    "StaffSession",
    "Street",
    "metadata",
]
