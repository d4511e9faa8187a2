"""Legal holds set by legal staff (on top of the retention that policy gives each clip)."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from storage.db import Base, UTCDateTime, utcnow
from storage.models import new_id


class LegalHold(Base):
    """A hold on one clip, set with a reason and lifted with one; while any hold of a clip is
    open its original (and derivatives) cannot be deleted, whatever the retention says."""

    __tablename__ = "legal_holds"
    __table_args__ = (Index("ix_legal_holds_clip_open", "clip_id", "lifted_at"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    clip_id: Mapped[str] = mapped_column(ForeignKey("clips.id", ondelete="RESTRICT"))
    case_id: Mapped[str | None] = mapped_column(ForeignKey("cases.id", ondelete="RESTRICT"), index=True)
    """Set when the hold was placed on a whole case."""
    reason: Mapped[str] = mapped_column(Text)
    set_by: Mapped[str] = mapped_column(String(100))
    set_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    lift_reason: Mapped[str | None] = mapped_column(Text)
    lifted_by: Mapped[str | None] = mapped_column(String(100))
    lifted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
