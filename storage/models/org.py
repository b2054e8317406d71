"""The Yuexiu organisation: streets, communities, grids, departments, people, duty roster, chat bindings.

Organisation rows use natural string keys (the codes in docs/architecture.md), so seeding is an
idempotent merge and other rows can refer to `440104001007-03` or `GW-440104001007-03` directly.
"""

from __future__ import annotations

import logging
from enum import Enum

from sqlalchemy import Boolean, CheckConstraint, Column, ForeignKey, Integer, String, Time, UniqueConstraint
from sqlalchemy.orm import relationship

from storage.models.base import Base

logger = logging.getLogger(__name__)


class Role(str, Enum):
    """What a person does in the chain 呼叫→响应→调度→处置."""

    GRID_WORKER = "grid_worker"  # 网格员
    COMMUNITY = "community"  # 社区工作人员
    STREET = "street"  # 街道办工作人员
    DEPARTMENT = "department"  # 职能部门工作人员
    COMMAND_CENTRE = "command_centre"  # 区综合指挥调度中心 (DZZX)


ROLE_VALUES = tuple(role.value for role in Role)


class Street(Base):
    """A 街道, e.g. code 440104001, name 洪桥 (short, without 街道/街)."""

    __tablename__ = "streets"

    code = Column(String(12), primary_key=True)
    name = Column(String(32), nullable=False, unique=True)
    full_name = Column(String(64), nullable=False)  # 洪桥街道

    communities = relationship("Community", back_populates="street", order_by="Community.code")


class Community(Base):
    """A 社区, e.g. code 440104001007, name 三眼井社区."""

    __tablename__ = "communities"

    code = Column(String(16), primary_key=True)
    name = Column(String(64), nullable=False)
    street_code = Column(String(12), ForeignKey("streets.code"), nullable=False, index=True)

    street = relationship("Street", back_populates="communities")
    grids = relationship("Grid", back_populates="community", order_by="Grid.id")


class Grid(Base):
    """A 网格: id `<community_code>-<nn>`, e.g. 440104001007-03."""

    __tablename__ = "grids"

    id = Column(String(24), primary_key=True)
    community_code = Column(String(16), ForeignKey("communities.code"), nullable=False, index=True)
    street_code = Column(String(12), ForeignKey("streets.code"), nullable=False, index=True)
    number = Column(Integer, nullable=False)  # nn within the community, from 1

    community = relationship("Community", back_populates="grids")


class Department(Base):
    """A functional department (departments.yml).

    `key` is the code for district-scoped departments (`CGZF`) and `<code>-<street_code>` for the
    street-scoped units, which exist once per street (`JDB-440104001` is 洪桥's street office).
    """

    __tablename__ = "departments"

    key = Column(String(32), primary_key=True)
    code = Column(String(16), nullable=False, index=True)
    name = Column(String(64), nullable=False)
    scope = Column(String(16), nullable=False)  # district | street
    street_code = Column(String(12), ForeignKey("streets.code"), nullable=True, index=True)

    __table_args__ = (
        CheckConstraint("scope IN ('district', 'street')", name="scope"),
        CheckConstraint("(scope = 'street') = (street_code IS NOT NULL)", name="street_scope_has_street"),
    )

    @staticmethod
    def key_for(code: str, street_code: str | None = None) -> str:
        """The department key: `CGZF`, or `JDB-440104001` for a street-scoped unit."""
        return f"{code}-{street_code}" if street_code else code


class Person(Base):
    """Someone in the organisation. Personal data (name, phone) is stored here once; display it masked.

    Grid workers have ids `GW-<grid id>` (day) and `NW-<community_code>` (community night duty).
    The unit columns say where the person belongs: a grid worker has grid, community and street;
    community staff have community and street; street staff have street; department staff have a
    department key; command-centre staff have department `DZZX`.
    """

    __tablename__ = "people"

    id = Column(String(40), primary_key=True)
    name = Column(String(64), nullable=False)
    phone = Column(String(32), nullable=True)
    role = Column(String(20), nullable=False, index=True)
    street_code = Column(String(12), ForeignKey("streets.code"), nullable=True, index=True)
    community_code = Column(String(16), ForeignKey("communities.code"), nullable=True, index=True)
    grid_id = Column(String(24), ForeignKey("grids.id"), nullable=True, index=True)
    department_key = Column(String(32), ForeignKey("departments.key"), nullable=True, index=True)
    active = Column(Boolean, nullable=False, default=True)

    __table_args__ = (
        CheckConstraint(
            "role IN ('grid_worker', 'community', 'street', 'department', 'command_centre')", name="role"
        ),
    )


class DutyShift(Base):
    """One line of the duty roster: who covers a grid (or a whole community at night) and when.

    Times are Asia/Shanghai wall-clock times; `ends` earlier than `starts` means the shift runs
    past midnight (night duty 18:00-08:30). `weekdays` lists ISO weekdays, "1234567" = every day.
    """

    __tablename__ = "duty_shifts"

    id = Column(Integer, primary_key=True, autoincrement=True)
    person_id = Column(String(40), ForeignKey("people.id"), nullable=False, index=True)
    shift = Column(String(16), nullable=False)  # day | night
    grid_id = Column(String(24), ForeignKey("grids.id"), nullable=True, index=True)
    community_code = Column(String(16), ForeignKey("communities.code"), nullable=True, index=True)
    starts = Column(Time, nullable=False)
    ends = Column(Time, nullable=False)
    weekdays = Column(String(7), nullable=False, default="1234567")

    __table_args__ = (CheckConstraint("shift IN ('day', 'night')", name="shift"),)


class ChatBinding(Base):
    """A Telegram or WeChat chat bound to a person or a department (a department's group chat)."""

    __tablename__ = "chat_bindings"

    id = Column(Integer, primary_key=True, autoincrement=True)
    channel = Column(String(16), nullable=False)  # telegram | wechat
    chat_id = Column(String(64), nullable=False)
    person_id = Column(String(40), ForeignKey("people.id"), nullable=True, index=True)
    department_key = Column(String(32), ForeignKey("departments.key"), nullable=True, index=True)
    kind = Column(String(16), nullable=False, default="private")  # private | group

    __table_args__ = (
        UniqueConstraint("channel", "chat_id"),
        CheckConstraint("person_id IS NOT NULL OR department_key IS NOT NULL", name="has_owner"),
    )
