"""Links between clips and the enforcement steps they document, and the lock that keeps
re-linking consistent when several writers change its inputs at once."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, CheckConstraint, Float, ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from storage.db import Base, UTCDateTime, utcnow

LINK_ORIGINS = ("auto", "manual")
LINK_STATES = ("linked", "excluded")
"""linked: the clip documents the step; excluded: legal staff decided it does not (a manual
unlink), which automatic re-linking must respect."""


class ClipLink(Base):
    __tablename__ = "clip_links"
    __table_args__ = (
        UniqueConstraint("clip_id", "step_id", name="uq_clip_links_clip_step"),
        CheckConstraint(f"origin IN {LINK_ORIGINS}", name="ck_clip_links_origin"),
        CheckConstraint(f"state IN {LINK_STATES}", name="ck_clip_links_state"),
        CheckConstraint("origin = 'manual' OR state = 'linked'", name="ck_clip_links_auto_linked"),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    clip_id: Mapped[str] = mapped_column(ForeignKey("clips.id", ondelete="RESTRICT"), index=True)
    step_id: Mapped[str] = mapped_column(ForeignKey("steps.id", ondelete="RESTRICT"), index=True)
    case_id: Mapped[str] = mapped_column(ForeignKey("cases.id", ondelete="RESTRICT"), index=True)
    origin: Mapped[str] = mapped_column(String(8))
    state: Mapped[str] = mapped_column(String(8), default="linked")
    rule: Mapped[str] = mapped_column(String(32))
    """Why: officer, device or officer+device (auto); manual (a person's decision)."""
    overlap_seconds: Mapped[float | None] = mapped_column(Float)
    """Seconds the clip's corrected interval overlaps the step's interval widened by the link buffer."""
    details: Mapped[dict] = mapped_column(JSON, default=dict)
    reason: Mapped[str | None] = mapped_column(Text)
    """A manual decision's reason, as legal staff gave it."""
    decided_by: Mapped[str | None] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class NamedLock(Base):
    """A row per lock; taking one is a write to it, which serialises writers on PostgreSQL (row lock)
    and on SQLite (the database write lock) until their transaction ends."""

    __tablename__ = "named_locks"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    taken_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
