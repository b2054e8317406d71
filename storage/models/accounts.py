"""Command-centre console accounts and their server-side login sessions.

A staff account is a console login (not a Telegram identity): its role decides what the console shows
(command centre: everything; street: its street's cases; department: its department's cases). Passwords are
stored as scrypt hashes; a session row stores only the SHA-256 of the cookie token, so a leaked table does not
let anyone log in.
"""

from __future__ import annotations

import logging

from sqlalchemy import Boolean, CheckConstraint, Column, ForeignKey, Integer, String

from storage.models.base import Base
from storage.timeutil import UTCDateTime

logger = logging.getLogger(__name__)

STAFF_ROLES = ("command_centre", "street", "department")


class StaffAccount(Base):
    """A console login. Street users carry `street_code`, department users `department_key`."""

    __tablename__ = "staff_accounts"

    id = Column(Integer, primary_key=True, autoincrement=True)
    username = Column(String(64), nullable=False, unique=True)
    display_name = Column(String(64), nullable=False)
    password_hash = Column(String(255), nullable=False)  # scrypt$n$r$p$salt_hex$hash_hex
    role = Column(String(20), nullable=False)
    street_code = Column(String(12), ForeignKey("streets.code"), nullable=True)
    department_key = Column(String(32), ForeignKey("departments.key"), nullable=True)
    person_id = Column(String(40), ForeignKey("people.id"), nullable=True)
    active = Column(Boolean, nullable=False, default=True)
    created_at = Column(UTCDateTime, nullable=False)

    __table_args__ = (
        CheckConstraint("role IN ('command_centre', 'street', 'department')", name="role"),
        CheckConstraint("role != 'street' OR street_code IS NOT NULL", name="street_has_street"),
        CheckConstraint("role != 'department' OR department_key IS NOT NULL", name="department_has_department"),
    )


class StaffSession(Base):
    """One logged-in browser: the hash of its cookie token and when it expires."""

    __tablename__ = "staff_sessions"

    id = Column(Integer, primary_key=True, autoincrement=True)
    token_hash = Column(String(64), nullable=False, unique=True)
    account_id = Column(Integer, ForeignKey("staff_accounts.id"), nullable=False, index=True)
    created_at = Column(UTCDateTime, nullable=False)
    expires_at = Column(UTCDateTime, nullable=False)
