"""Residents, cases, their media, the append-only event history, ratings and the case-code counter."""

from __future__ import annotations

import logging

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    Float,
    ForeignKey,
    Integer,
    String,
    Text,
    UniqueConstraint,
    event,
)
from sqlalchemy.orm import relationship

from storage.errors import GridSecretaryError
from storage.models.base import Base, JsonDoc
from storage.timeutil import UTCDateTime

logger = logging.getLogger(__name__)


class Resident(Base):
    """A resident, known by WeChat openid (or the REST channel's sender id). Phone stored once, shown masked."""

    __tablename__ = "residents"

    id = Column(Integer, primary_key=True, autoincrement=True)
    openid = Column(String(64), nullable=False, unique=True)
    channel = Column(String(16), nullable=False, default="wechat")  # how to reach them: wechat | rest
    nickname = Column(String(64), nullable=True)
    phone = Column(String(32), nullable=True)
    created_at = Column(UTCDateTime, nullable=False)


class CaseCounter(Base):
    """Per-day counter behind the public case code YX-YYYYMMDD-NNNN (Asia/Shanghai day)."""

    __tablename__ = "case_counters"

    day = Column(String(8), primary_key=True)  # YYYYMMDD
    last = Column(Integer, nullable=False)


class Case(Base):
    """A reported problem.

    `state` and `escalation_level` are projections of the event history kept for queries; only
    `storage.cases.apply_event` writes them, from `storage.lifecycle.advance`, and
    `storage.cases.derive_state` recomputes them from the events.
    """

    __tablename__ = "cases"

    id = Column(Integer, primary_key=True, autoincrement=True)
    code = Column(String(20), nullable=False, unique=True)  # YX-20261129-0007
    resident_id = Column(Integer, ForeignKey("residents.id"), nullable=True, index=True)
    category = Column(String(32), nullable=True, index=True)
    description = Column(Text, nullable=False, default="")
    lat = Column(Float, nullable=True)
    lng = Column(Float, nullable=True)
    address = Column(String(255), nullable=True)
    street_code = Column(String(12), ForeignKey("streets.code"), nullable=True, index=True)
    community_code = Column(String(16), ForeignKey("communities.code"), nullable=True, index=True)
    grid_id = Column(String(24), ForeignKey("grids.id"), nullable=True, index=True)
    department_key = Column(String(32), ForeignKey("departments.key"), nullable=True, index=True)
    worker_id = Column(String(40), ForeignKey("people.id"), nullable=True, index=True)
    urgency = Column(String(16), nullable=False, default="normal")
    auto_dispatch = Column(Boolean, nullable=False, default=False)
    routing = Column(JsonDoc, nullable=True)  # the routing decision and its explanation
    duplicate_of = Column(Integer, ForeignKey("cases.id"), nullable=True, index=True)
    state = Column(String(24), nullable=False, index=True)
    escalation_level = Column(Integer, nullable=False, default=0)
    created_at = Column(UTCDateTime, nullable=False, index=True)
    updated_at = Column(UTCDateTime, nullable=False)

    resident = relationship("Resident")
    media = relationship("CaseMedia", back_populates="case", order_by="CaseMedia.id")
    events = relationship("CaseEventRecord", back_populates="case", order_by="CaseEventRecord.seq")

    __table_args__ = (
        CheckConstraint("urgency IN ('urgent', 'normal', 'complex')", name="urgency"),
        CheckConstraint("escalation_level BETWEEN 0 AND 3", name="escalation_level"),
    )


class CaseMedia(Base):
    """A photo, voice note or video attached to a case (the file lives elsewhere; `uri` points at it)."""

    __tablename__ = "case_media"

    id = Column(Integer, primary_key=True, autoincrement=True)
    case_id = Column(Integer, ForeignKey("cases.id"), nullable=False, index=True)
    kind = Column(String(16), nullable=False)  # photo | voice | video
    uri = Column(String(512), nullable=False)
    content_type = Column(String(64), nullable=True)
    meta = Column(JsonDoc, nullable=True)  # EXIF point, OCR text, WeChat media id
    created_at = Column(UTCDateTime, nullable=False)

    case = relationship("Case", back_populates="media")


class CaseEventRecord(Base):
    """One row of a case's append-only history: who did what, when, and the state it moved between.

    Rows are never updated or deleted (enforced below at the ORM level); `seq` numbers a case's
    events from 1 and is unique per case, so two concurrent writers of the same case conflict.
    """

    __tablename__ = "case_events"

    id = Column(Integer, primary_key=True, autoincrement=True)
    case_id = Column(Integer, ForeignKey("cases.id"), nullable=False)
    seq = Column(Integer, nullable=False)
    event = Column(String(24), nullable=False, index=True)
    actor = Column(String(64), nullable=False)
    at = Column(UTCDateTime, nullable=False, index=True)
    from_state = Column(String(24), nullable=True)
    to_state = Column(String(24), nullable=False)
    escalation_level = Column(Integer, nullable=False, default=0)
    payload = Column(JsonDoc, nullable=False, default=dict)

    case = relationship("Case", back_populates="events")

    __table_args__ = (UniqueConstraint("case_id", "seq"),)


class AppendOnlyViolation(GridSecretaryError):
    """Someone tried to change or delete a recorded case event."""


@event.listens_for(CaseEventRecord, "before_update")
def _refuse_event_update(_mapper: object, _connection: object, target: CaseEventRecord) -> None:
    raise AppendOnlyViolation(f"case event {target.id} is append-only and cannot be updated")


@event.listens_for(CaseEventRecord, "before_delete")
def _refuse_event_delete(_mapper: object, _connection: object, target: CaseEventRecord) -> None:
    raise AppendOnlyViolation(f"case event {target.id} is append-only and cannot be deleted")


class CaseSubscription(Base):
    """Another resident who reported the same problem and gets the case's updates too."""

    __tablename__ = "case_subscriptions"

    id = Column(Integer, primary_key=True, autoincrement=True)
    case_id = Column(Integer, ForeignKey("cases.id"), nullable=False, index=True)
    resident_id = Column(Integer, ForeignKey("residents.id"), nullable=False, index=True)
    created_at = Column(UTCDateTime, nullable=False)

    __table_args__ = (UniqueConstraint("case_id", "resident_id"),)


class Rating(Base):
    """The resident's rating (1-5) given when confirming a case is fixed."""

    __tablename__ = "ratings"

    id = Column(Integer, primary_key=True, autoincrement=True)
    case_id = Column(Integer, ForeignKey("cases.id"), nullable=False, index=True)
    resident_id = Column(Integer, ForeignKey("residents.id"), nullable=True)
    score = Column(Integer, nullable=False)
    comment = Column(Text, nullable=True)
    created_at = Column(UTCDateTime, nullable=False)

    __table_args__ = (CheckConstraint("score BETWEEN 1 AND 5", name="score"),)


class CaseKpiFacts(Base):
    """What the KPIs need from one case's events, kept by a PostgreSQL trigger on `case_events` inserts.

    A projection of the append-only history (storage.kpi_sql has the trigger, the backfill and the
    query): times are whole microseconds since the epoch, days are Asia/Shanghai day numbers since
    2000-01-01, and every "first" is the first such event by `seq`. SQLite leaves it empty and folds
    the events in Python instead (storage.kpi).
    """

    __tablename__ = "case_kpi_facts"

    case_id = Column(Integer, ForeignKey("cases.id"), primary_key=True, autoincrement=False)
    street_code = Column(String(12), nullable=True)  # the case's, kept by a trigger on cases
    department_key = Column(String(32), nullable=True)  # the case's current one, likewise
    report_at = Column(UTCDateTime, nullable=False, index=True)
    report_us = Column(BigInteger, nullable=False)
    report_day = Column(Integer, nullable=False)
    auto_dispatch = Column(Boolean, nullable=False)
    respond_us = Column(BigInteger, nullable=True)
    sign_us = Column(BigInteger, nullable=True)
    handled_us = Column(BigInteger, nullable=True)
    handled_on_site = Column(Boolean, nullable=True)
    confirm_day = Column(Integer, nullable=True)
    hops = Column(Integer, nullable=False)
    overdue = Column(Boolean, nullable=False)
    reopened = Column(Boolean, nullable=False)
    rating_sum = Column(BigInteger, nullable=False)
    rating_n = Column(Integer, nullable=False)
