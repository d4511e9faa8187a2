"""Tables of evidence processing: one row per clip and processing step (the truth of a job's
state), what the obstruction map found, and alerts for people to look at."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import (JSON, CheckConstraint, Float, ForeignKey, Index, Integer, String, Text,
                        UniqueConstraint)
from sqlalchemy.orm import Mapped, mapped_column

from storage.db import Base, UTCDateTime, utcnow
from storage.models import new_id

STEP_STATUSES = ("pending", "queued", "running", "retrying", "done", "skipped", "failed")
"""pending: waits for earlier steps; queued: handed to RQ; retrying: failed, RQ will run it again;
done / skipped / failed are final."""
FINAL_STATUSES = ("done", "skipped", "failed")


class ProcessingStep(Base):
    __tablename__ = "processing_steps"
    __table_args__ = (
        UniqueConstraint("clip_id", "step", "profile", name="uq_processing_steps_clip_step_profile"),
        CheckConstraint(f"status IN {STEP_STATUSES}", name="ck_processing_steps_status"),
        Index("ix_processing_steps_status", "status"),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    clip_id: Mapped[str] = mapped_column(ForeignKey("clips.id", ondelete="RESTRICT"), index=True)
    step: Mapped[str] = mapped_column(String(32))
    profile: Mapped[str] = mapped_column(String(64), default="")
    status: Mapped[str] = mapped_column(String(16), default="pending")
    progress: Mapped[float] = mapped_column(Float, default=0.0)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    generation: Mapped[int] = mapped_column(Integer, default=0)
    """Times the step was handed to RQ; part of the job id, so a re-enqueue never collides."""
    queue: Mapped[str | None] = mapped_column(String(32))
    job_id: Mapped[str | None] = mapped_column(String(128))
    worker: Mapped[str | None] = mapped_column(String(128))
    command: Mapped[list] = mapped_column(JSON, default=list)
    """Exact argv of every external command the last attempt ran."""
    result: Mapped[dict] = mapped_column(JSON, default=dict)
    error: Mapped[str | None] = mapped_column(Text)
    """Why the step failed or was skipped, with the tail of the tool's own output."""
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    enqueued_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    heartbeat_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    seconds: Mapped[float | None] = mapped_column(Float)
    """Wall time of the last attempt."""


class ObstructedInterval(Base):
    """Part of a clip whose picture is unusable (dark, covered, blurred, unreadable)."""

    __tablename__ = "obstructed_intervals"
    __table_args__ = (CheckConstraint("end_seconds >= start_seconds", name="ck_obstructed_intervals_order"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    clip_id: Mapped[str] = mapped_column(ForeignKey("clips.id", ondelete="RESTRICT"), index=True)
    start_seconds: Mapped[float] = mapped_column(Float)
    end_seconds: Mapped[float] = mapped_column(Float)
    reason: Mapped[str] = mapped_column(String(16))
    detail: Mapped[dict] = mapped_column(JSON, default=dict)


class Alert(Base):
    """Something a person must look at (an original that no longer matches its hashes, a step
    that failed for good). Messages are rendered in the reader's language from code + details."""

    __tablename__ = "alerts"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    severity: Mapped[str] = mapped_column(String(16))
    code: Mapped[str] = mapped_column(String(64))
    clip_id: Mapped[str | None] = mapped_column(ForeignKey("clips.id", ondelete="RESTRICT"), index=True)
    details: Mapped[dict] = mapped_column(JSON, default=dict)
    acknowledged_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    acknowledged_by: Mapped[str | None] = mapped_column(String(64))
