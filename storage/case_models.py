"""Tables of case work: units (a tree: city → district → squad), officers, cases and their
enforcement steps, as the case platform and the officers' mobile apps report them.

Cases and steps carry a `version` (the API's ETag) and digests of the create and of the last
update, so that a retrying client's replay is recognised and answered without a second write.
"""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, CheckConstraint, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from storage.db import Base, UTCDateTime, utcnow

CASE_STATUSES = ("open", "closed")
UPDATE_DIGESTS_KEPT = 100


class Unit(Base):
    """An organisational unit (执法单位). `code` is the unit's own code and never changes."""

    __tablename__ = "units"

    code: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    parent_code: Mapped[str | None] = mapped_column(ForeignKey("units.code", ondelete="RESTRICT"), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Officer(Base):
    """An enforcement officer, by badge number (执法证号 / 警号) — the `officer_id` recorders report."""

    __tablename__ = "officers"

    code: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    unit_code: Mapped[str] = mapped_column(ForeignKey("units.code", ondelete="RESTRICT"), index=True)
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class ClientRecord:
    """Columns of a record that a client creates under its own id and updates with If-Match."""

    version: Mapped[int] = mapped_column(Integer, default=1)
    create_digest: Mapped[str] = mapped_column(String(64))
    """Digest of the create's body: an identical replay is recognised, a different one refused."""
    update_digests: Mapped[dict] = mapped_column(JSON, default=dict)
    """Version an update was based on → digest of its body (the latest UPDATE_DIGESTS_KEPT), so a
    retried update is recognised even after later ones."""
    created_by: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Case(ClientRecord, Base):
    __tablename__ = "cases"
    __table_args__ = (
        UniqueConstraint("agency_code", "case_number", name="uq_cases_agency_number"),
        CheckConstraint(f"status IN {CASE_STATUSES}", name="ck_cases_status"),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    """Chosen by the client (a UUID), so that a create can be retried without a duplicate."""
    case_number: Mapped[str] = mapped_column(String(64))
    agency_code: Mapped[str] = mapped_column(ForeignKey("units.code", ondelete="RESTRICT"))
    """The unit whose numbering the case number belongs to (the unit or one of its ancestors)."""
    unit_code: Mapped[str] = mapped_column(ForeignKey("units.code", ondelete="RESTRICT"), index=True)
    title: Mapped[str | None] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(16), default="open")
    opened_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    officers: Mapped[list["CaseOfficer"]] = relationship(cascade="all, delete-orphan",
                                                        order_by="CaseOfficer.officer_code")


class CaseOfficer(Base):
    __tablename__ = "case_officers"

    case_id: Mapped[str] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"), primary_key=True)
    officer_code: Mapped[str] = mapped_column(ForeignKey("officers.code", ondelete="RESTRICT"), primary_key=True,
                                              index=True)


class Step(ClientRecord, Base):
    """An enforcement step of a case (查封扣押, 现场检查, ...): what happened, when, where, who was there."""

    __tablename__ = "steps"
    __table_args__ = (
        CheckConstraint("ended_at >= started_at", name="ck_steps_order"),
        Index("ix_steps_started_ended", "started_at", "ended_at"),
        Index("ix_steps_ended", "ended_at"),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    """Chosen by the client (a UUID), so that a create can be retried without a duplicate."""
    case_id: Mapped[str] = mapped_column(ForeignKey("cases.id", ondelete="RESTRICT"), index=True)
    type: Mapped[str] = mapped_column(String(64))
    """A code from config.yaml's step_types."""
    started_at: Mapped[datetime] = mapped_column(UTCDateTime)
    ended_at: Mapped[datetime] = mapped_column(UTCDateTime)
    place: Mapped[str | None] = mapped_column(String(200))
    notes: Mapped[str | None] = mapped_column(Text)
    officers: Mapped[list["StepOfficer"]] = relationship(cascade="all, delete-orphan",
                                                        order_by="StepOfficer.officer_code")
    devices: Mapped[list["StepDevice"]] = relationship(cascade="all, delete-orphan",
                                                      order_by="StepDevice.device_serial")


class StepOfficer(Base):
    __tablename__ = "step_officers"

    step_id: Mapped[str] = mapped_column(ForeignKey("steps.id", ondelete="CASCADE"), primary_key=True)
    officer_code: Mapped[str] = mapped_column(ForeignKey("officers.code", ondelete="RESTRICT"), primary_key=True,
                                              index=True)


class StepDevice(Base):
    __tablename__ = "step_devices"

    step_id: Mapped[str] = mapped_column(ForeignKey("steps.id", ondelete="CASCADE"), primary_key=True)
    device_serial: Mapped[str] = mapped_column(ForeignKey("devices.serial", ondelete="RESTRICT"), primary_key=True,
                                               index=True)
