"""Who had which recorder when (assignment history), and how far each recorder's clock was off
when a station measured it (clock reports)."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, Float, ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from storage.db import Base, UTCDateTime, utcnow


class DeviceAssignment(Base):
    """Device → officer from `started_at` (sign-out, 领用) until `ended_at` (sign-in, 归还; null: still out).
    A device is with at most one officer at a time."""

    __tablename__ = "device_assignments"
    __table_args__ = (
        CheckConstraint("ended_at IS NULL OR ended_at >= started_at", name="ck_device_assignments_order"),
        Index("ix_device_assignments_device_started", "device_id", "started_at"),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    device_id: Mapped[str] = mapped_column(ForeignKey("devices.id", ondelete="RESTRICT"))
    officer_code: Mapped[str] = mapped_column(ForeignKey("officers.code", ondelete="RESTRICT"), index=True)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    recorded_by: Mapped[str] = mapped_column(String(100))
    """Who reported it: user:<name> or station:<name>."""
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class ClockReport(Base):
    """A station's measurement of a recorder's clock at docking: offset = device time − true time
    (positive: the recorder runs ahead)."""

    __tablename__ = "clock_reports"
    __table_args__ = (UniqueConstraint("device_id", "device_time", name="uq_clock_reports_device_time"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    device_id: Mapped[str] = mapped_column(ForeignKey("devices.id", ondelete="RESTRICT"), index=True)
    device_time: Mapped[datetime] = mapped_column(UTCDateTime)
    station_time: Mapped[datetime] = mapped_column(UTCDateTime)
    offset_seconds: Mapped[float] = mapped_column(Float)
    station_id: Mapped[str | None] = mapped_column(ForeignKey("stations.id", ondelete="RESTRICT"))
    recorded_by: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
