"""Core tables: who may act (stations, users, tokens), what records (devices),
what was recorded (clips, derivatives) and what happened to it (custody events).

Later subsystems add their own model modules (cases, uploads, jobs, audits).
"""
from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import (JSON, BigInteger, Boolean, CheckConstraint, Float, ForeignKey, Index, Integer,
                        String, Text, UniqueConstraint)
from sqlalchemy.orm import Mapped, mapped_column, relationship
from sqlalchemy.sql.expression import false

from storage.db import Base, UTCDateTime, utcnow

ROLES = ("admin", "legal", "inspector", "officer")
CLIP_STATUSES = ("received", "verified", "integrity_failed", "unplayable", "processed", "deleting", "deleted")
"""deleting: the retention sweeper is removing its objects (a re-run finishes); deleted: they are gone,
the row and its custody events stay."""


def new_id() -> str:
    return str(uuid.uuid4())


class Station(Base):
    """A collection station (采集站): an unattended machine that uploads from docked recorders."""

    __tablename__ = "stations"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    location: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_seen_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    agent_report: Mapped[dict | None] = mapped_column(JSON)
    """The station agent's latest status report (its local backlog), as it sent it; None: never reported."""
    agent_reported_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class User(Base):
    __tablename__ = "users"
    __table_args__ = (CheckConstraint(f"role IN {ROLES}", name="ck_users_role"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    display_name: Mapped[str | None] = mapped_column(String(100))
    role: Mapped[str] = mapped_column(String(16))
    password_hash: Mapped[str] = mapped_column(String(255))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class ApiToken(Base):
    """A bearer token, stored only as its SHA-256; belongs to exactly one station or user."""

    __tablename__ = "api_tokens"
    __table_args__ = (
        CheckConstraint("(station_id IS NULL) <> (user_id IS NULL)", name="ck_api_tokens_owner"),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    prefix: Mapped[str] = mapped_column(String(12))
    station_id: Mapped[str | None] = mapped_column(ForeignKey("stations.id", ondelete="RESTRICT"), index=True)
    user_id: Mapped[str | None] = mapped_column(ForeignKey("users.id", ondelete="RESTRICT"), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    station: Mapped[Station | None] = relationship()
    user: Mapped[User | None] = relationship()


class Device(Base):
    """A body-worn recorder (执法记录仪)."""

    __tablename__ = "devices"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    serial: Mapped[str] = mapped_column(String(64), unique=True)
    model: Mapped[str | None] = mapped_column(String(100))
    unit_code: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Clip(Base):
    """One original file received from a station or mobile client; its bytes live in the
    object store under `original_key` and never change."""

    __tablename__ = "clips"
    __table_args__ = (
        CheckConstraint(f"status IN {CLIP_STATUSES}", name="ck_clips_status"),
        CheckConstraint("size >= 0", name="ck_clips_size"),
        Index("ix_clips_sha256", "sha256"),
        Index("ix_clips_device_recorded", "device_id", "recorded_at"),
        Index("ix_clips_serial_recorded", "device_serial", "recorded_at"),
        Index("ix_clips_corrected", "corrected_start", "corrected_end"),
        Index("ix_clips_corrected_end", "corrected_end"),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    sha256: Mapped[str] = mapped_column(String(64))
    sm3: Mapped[str] = mapped_column(String(64))
    size: Mapped[int] = mapped_column(BigInteger)
    original_key: Mapped[str] = mapped_column(String(512))
    filename: Mapped[str] = mapped_column(String(255))
    device_id: Mapped[str | None] = mapped_column(ForeignKey("devices.id", ondelete="RESTRICT"))
    device_serial: Mapped[str | None] = mapped_column(String(64))
    officer_id: Mapped[str | None] = mapped_column(String(64))
    flags: Mapped[dict] = mapped_column(JSON, default=dict, server_default="{}")
    """Things an admin should look at (unknown device, assumed time zone ...); never a reason to refuse."""
    station_id: Mapped[str | None] = mapped_column(ForeignKey("stations.id", ondelete="RESTRICT"))
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    status: Mapped[str] = mapped_column(String(24), default="received")
    media: Mapped[dict] = mapped_column(JSON, default=dict, server_default="{}")
    """What ffprobe found (kind, container, codecs, duration, ...) or why it could not read the file."""
    media_kind: Mapped[str | None] = mapped_column(String(8))
    """media["kind"] (video, audio, image) as a column, for the audit's bulk reads."""
    duration_seconds: Mapped[float | None] = mapped_column(Float)
    corrected_start: Mapped[datetime | None] = mapped_column(UTCDateTime)
    """recorded_at corrected by the recorder's clock offset (true time); set when the clip is linked."""
    corrected_end: Mapped[datetime | None] = mapped_column(UTCDateTime)
    """corrected_start + duration (equal to corrected_start while the duration is unknown)."""
    clock_offset_seconds: Mapped[float | None] = mapped_column(Float)
    """The offset subtracted from the recorder's times (null: no clock report for the recorder yet)."""
    clock_report_id: Mapped[str | None] = mapped_column(ForeignKey("clock_reports.id", ondelete="RESTRICT"))
    retain_until: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)
    """The retention applied to the original in the object store (only ever extended)."""
    held: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    """Whether the original is under an object legal hold (evidence of an open case, or a legal hold)."""
    deleted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    device: Mapped[Device | None] = relationship()
    derivatives: Mapped[list["Derivative"]] = relationship(back_populates="clip", order_by="Derivative.created_at")


class Derivative(Base):
    """A file made from an original (review copy, thumbnail, ...) and exactly how it was made."""

    __tablename__ = "derivatives"
    __table_args__ = (UniqueConstraint("clip_id", "kind", "profile", name="uq_derivatives_clip_kind_profile"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    clip_id: Mapped[str] = mapped_column(ForeignKey("clips.id", ondelete="RESTRICT"), index=True)
    kind: Mapped[str] = mapped_column(String(32))
    profile: Mapped[str] = mapped_column(String(64), default="")
    object_key: Mapped[str] = mapped_column(String(512))
    sha256: Mapped[str] = mapped_column(String(64))
    size: Mapped[int] = mapped_column(BigInteger)
    source_sha256: Mapped[str] = mapped_column(String(64))
    tool_version: Mapped[str] = mapped_column(Text)
    sm3: Mapped[str] = mapped_column(String(64), default="", server_default="")
    content_type: Mapped[str] = mapped_column(String(64), default="application/octet-stream",
                                              server_default="application/octet-stream")
    argv: Mapped[list] = mapped_column(JSON)
    checks: Mapped[dict] = mapped_column(JSON, default=dict, server_default="{}")
    """What was checked before the derivative was accepted (e.g. its duration against the original's)."""
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    clip: Mapped[Clip] = relationship(back_populates="derivatives")


class CustodyEvent(Base):
    """One entry of the append-only, hash-chained custody log."""

    __tablename__ = "custody_events"
    __table_args__ = (UniqueConstraint("prev_hash", name="uq_custody_events_prev_hash"),)

    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    actor_type: Mapped[str] = mapped_column(String(16))
    actor_id: Mapped[str] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(32))
    clip_id: Mapped[str | None] = mapped_column(ForeignKey("clips.id", ondelete="RESTRICT"), index=True)
    case_id: Mapped[str | None] = mapped_column(String(36), index=True)
    details: Mapped[dict] = mapped_column(JSON, default=dict)
    source_address: Mapped[str | None] = mapped_column(String(64))
    prev_hash: Mapped[str] = mapped_column(String(64))
    """Unique, so two writers can never both extend the chain from the same event."""
    hash: Mapped[str] = mapped_column(String(64), unique=True)
