"""Console staff accounts: scrypt password hashes, server-side sessions, and the local-mode demo accounts.

The cookie carries a random token; the database keeps only its SHA-256, so reading the sessions table does
not give anyone a login. Password checks always run scrypt (also for unknown usernames) so that response time
does not tell which usernames exist.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from storage.errors import StorageInputError
from storage.models import Department, Person, StaffAccount, StaffSession, Street
from storage.models.accounts import STAFF_ROLES
from storage.timeutil import require_aware

logger = logging.getLogger(__name__)

SCRYPT_N, SCRYPT_R, SCRYPT_P = 2**14, 8, 1
SESSION_LIFETIME = timedelta(hours=12)
DEMO_PASSWORD = "gridsec-demo"
_DUMMY_HASH = "scrypt$16384$8$1$00$00"


@dataclass(frozen=True)
class StaffUser:
    """Who is logged in: what the web layer needs for role and scope checks."""

    account_id: int
    username: str
    display_name: str
    role: str
    street_code: str | None
    department_key: str | None

    @property
    def can_triage(self) -> bool:
        return self.role == "command_centre"

    @property
    def sees_contact(self) -> bool:
        """Only the command centre calls residents back; everyone else sees contact details masked."""
        return self.role == "command_centre"


def hash_password(password: str, *, salt: bytes | None = None) -> str:
    """An scrypt hash string `scrypt$n$r$p$salt$hash` (hex), with a fresh 16-byte salt."""
    if not password:
        raise StorageInputError("password must not be empty")
    salt = salt or secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, n=SCRYPT_N, r=SCRYPT_R, p=SCRYPT_P, maxmem=64 * 2**20)
    return f"scrypt${SCRYPT_N}${SCRYPT_R}${SCRYPT_P}${salt.hex()}${digest.hex()}"


def verify_password(password: str, stored: str) -> bool:
    """True when `password` matches the stored scrypt hash (constant-time compare)."""
    try:
        scheme, n, r, p, salt_hex, hash_hex = stored.split("$")
        if scheme != "scrypt":
            return False
        digest = hashlib.scrypt(
            password.encode(), salt=bytes.fromhex(salt_hex), n=int(n), r=int(r), p=int(p), maxmem=64 * 2**20
        )
    except ValueError:
        return False
    return hmac.compare_digest(digest.hex(), hash_hex)


def _user(account: StaffAccount) -> StaffUser:
    return StaffUser(
        account_id=account.id,
        username=account.username,
        display_name=account.display_name,
        role=account.role,
        street_code=account.street_code,
        department_key=account.department_key,
    )


def create_account(
    session: Session,
    *,
    username: str,
    password: str,
    role: str,
    now: datetime,
    display_name: str | None = None,
    street_code: str | None = None,
    department_key: str | None = None,
    person_id: str | None = None,
) -> StaffUser:
    """Create a console account, checking that the role has the scope it needs.

    Raises:
        StorageInputError: unknown role, taken username, or a missing/unknown street or department.
    """
    username = username.strip()
    if not username:
        raise StorageInputError("username must not be empty")
    if role not in STAFF_ROLES:
        raise StorageInputError(f"role must be one of {STAFF_ROLES}, got {role!r}")
    if session.execute(select(StaffAccount.id).where(StaffAccount.username == username)).first():
        raise StorageInputError(f"username {username!r} is taken")
    if role == "street" and (street_code is None or session.get(Street, street_code) is None):
        raise StorageInputError(f"a street account needs a known street code, got {street_code!r}")
    if role == "department" and (department_key is None or session.get(Department, department_key) is None):
        raise StorageInputError(f"a department account needs a known department key, got {department_key!r}")
    account = StaffAccount(
        username=username,
        display_name=display_name or username,
        password_hash=hash_password(password),
        role=role,
        street_code=street_code if role == "street" else None,
        department_key=department_key if role == "department" else None,
        person_id=person_id,
        active=True,
        created_at=require_aware(now, "now"),
    )
    session.add(account)
    session.flush()
    return _user(account)


def authenticate(session: Session, username: str, password: str) -> StaffUser | None:
    """The user for these credentials, or None (unknown user, wrong password, inactive account)."""
    account = session.execute(
        select(StaffAccount).where(StaffAccount.username == username.strip())
    ).scalar_one_or_none()
    if account is None:
        verify_password(password, _DUMMY_HASH)  # same work either way
        return None
    if not verify_password(password, account.password_hash) or not account.active:
        return None
    return _user(account)


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def start_session(session: Session, user: StaffUser, now: datetime) -> str:
    """Record a new login and return its cookie token (shown once, stored only hashed)."""
    now = require_aware(now, "now")
    token = secrets.token_urlsafe(32)
    session.execute(delete(StaffSession).where(StaffSession.expires_at < now))
    session.add(
        StaffSession(
            token_hash=_token_hash(token),
            account_id=user.account_id,
            created_at=now,
            expires_at=now + SESSION_LIFETIME,
        )
    )
    session.flush()
    return token


def user_for_token(session: Session, token: str | None, now: datetime) -> StaffUser | None:
    """The logged-in user for a cookie token, or None when absent, unknown, expired or deactivated."""
    if not token:
        return None
    row = session.execute(
        select(StaffAccount, StaffSession.expires_at)
        .join(StaffSession, StaffSession.account_id == StaffAccount.id)
        .where(StaffSession.token_hash == _token_hash(token))
    ).first()
    if row is None:
        return None
    account, expires_at = row
    if expires_at <= require_aware(now, "now") or not account.active:
        return None
    return _user(account)


def end_session(session: Session, token: str | None) -> None:
    """Forget a login (logout). Unknown tokens are ignored."""
    if token:
        session.execute(delete(StaffSession).where(StaffSession.token_hash == _token_hash(token)))


def _first_person(session: Session, role: str, **where: str) -> Person | None:
    query = select(Person).where(Person.role == role, Person.active.is_(True))
    for column, value in where.items():
        query = query.where(getattr(Person, column) == value)
    return session.execute(query.order_by(Person.id)).scalars().first()


def ensure_demo_accounts(session: Session, now: datetime) -> list[str]:
    """Create the local-mode demo accounts that are missing (one per role); returns the usernames created.

    demo-centre (command centre), demo-street (洪桥 440104001), demo-dept (HWZX), password `DEMO_PASSWORD`.
    Skips an account whose street or department is not seeded.
    """
    wanted = [
        ("demo-centre", "指挥中心演示账号", "command_centre", None, None),
        ("demo-street", "洪桥街道演示账号", "street", "440104001", None),
        ("demo-dept", "环卫中心演示账号", "department", None, "HWZX"),
    ]
    created = []
    for username, display_name, role, street_code, department_key in wanted:
        if session.execute(select(StaffAccount.id).where(StaffAccount.username == username)).first():
            continue
        if street_code and session.get(Street, street_code) is None:
            continue
        if department_key and session.get(Department, department_key) is None:
            continue
        person = _first_person(
            session,
            role,
            **({"street_code": street_code} if street_code else {}),
            **({"department_key": department_key} if department_key else {}),
        )
        create_account(
            session,
            username=username,
            password=DEMO_PASSWORD,
            role=role,
            now=now,
            display_name=display_name,
            street_code=street_code,
            department_key=department_key,
            person_id=person.id if person else None,
        )
        created.append(username)
    return created


def add_staff_account(
    session: Session,
    *,
    username: str,
    password: str,
    role: str,
    street: str | None = None,
    department: str | None = None,
    display_name: str | None = None,
) -> StaffUser:
    """`gridsec staff-add`: create an account from a street code or name (洪桥) and a department key.

    Raises:
        StorageInputError: as `create_account`, or an unknown street name.
    """
    from datetime import timezone

    street_code = None
    if street:
        name = street.removesuffix("街道").removesuffix("街")
        street_code = session.execute(
            select(Street.code).where((Street.code == street) | (Street.name == name))
        ).scalar()
        if street_code is None:
            raise StorageInputError(f"unknown street {street!r} (seed the organisation first?)")
    return create_account(
        session, username=username, password=password, role=role, now=datetime.now(timezone.utc),
        display_name=display_name, street_code=street_code, department_key=department,
    )
