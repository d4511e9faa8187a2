"""Tables of the ingest path: resumable uploads in progress and the job outbox."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, BigInteger, CheckConstraint, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from storage.db import Base, UTCDateTime, utcnow
from storage.models import new_id

UPLOAD_STATUSES = ("receiving", "completed", "rejected", "terminated", "expired")


class Upload(Base):
    """One tus upload. `offset` counts only bytes that are durable in the committed `segments`
    (storage/staging); `hash_state` is the running SHA-256 and SM3 at that offset; a writer's
    segment is committed only while the row carries its `lock_generation` (ingest/locks.py)."""

    __tablename__ = "uploads"
    __table_args__ = (
        CheckConstraint(f"status IN {UPLOAD_STATUSES}", name="ck_uploads_status"),
        CheckConstraint("upload_offset >= 0 AND upload_offset <= length", name="ck_uploads_offset"),
        Index("ix_uploads_status_expires", "status", "expires_at"),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    station_id: Mapped[str] = mapped_column(ForeignKey("stations.id", ondelete="RESTRICT"), index=True)
    length: Mapped[int] = mapped_column(BigInteger)
    upload_offset: Mapped[int] = mapped_column(BigInteger, default=0)
    status: Mapped[str] = mapped_column(String(16), default="receiving")
    filename: Mapped[str] = mapped_column(String(255))
    device_serial: Mapped[str] = mapped_column(String(64))
    officer_id: Mapped[str | None] = mapped_column(String(64))
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime)
    declared_sha256: Mapped[str] = mapped_column(String(64))
    extra_metadata: Mapped[dict] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    lock_owner: Mapped[str | None] = mapped_column(String(64))
    lock_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    lock_generation: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    segments: Mapped[list | None] = mapped_column(JSON, default=list)
    hash_state: Mapped[dict | None] = mapped_column(JSON)
    clip_id: Mapped[str | None] = mapped_column(ForeignKey("clips.id", ondelete="RESTRICT"))
    error: Mapped[str | None] = mapped_column(Text)


class OutboxEntry(Base):
    """A job to enqueue, written in the same transaction as the change that calls for it, so
    work is never lost while Redis is down; a sweeper enqueues what is still pending."""

    __tablename__ = "outbox"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    job: Mapped[str] = mapped_column(String(64))
    args: Mapped[list] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    enqueued_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)
