"""Signed checkpoints of the custody log, and evidence bundle exports."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, BigInteger, CheckConstraint, Float, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from storage.db import Base, UTCDateTime, utcnow
from storage.models import new_id

EXPORT_STATUSES = ("queued", "running", "done", "failed")


class CustodyCheckpoint(Base):
    """An Ed25519 signature over the custody log's first `count` events: their head hash and
    the RFC 6962 Merkle root of their hashes. A copy is written once to the object store, so a
    rewrite of the database alone is caught."""

    __tablename__ = "custody_checkpoints"

    count: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    """Events covered: seq 1..count."""
    head_hash: Mapped[str] = mapped_column(String(64))
    merkle_root: Mapped[str] = mapped_column(String(64))
    frontier: Mapped[list] = mapped_column(JSON, default=list)
    """Roots of the perfect subtrees of the Merkle tree so far, so the next checkpoint hashes only new events."""
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    key_id: Mapped[str] = mapped_column(String(64))
    """SHA-256 fingerprint (hex) of the raw public key."""
    public_key: Mapped[str] = mapped_column(String(64))
    """Raw Ed25519 public key, hex."""
    payload: Mapped[str] = mapped_column(Text)
    """The exact signed bytes (canonical JSON), as text."""
    signature: Mapped[str] = mapped_column(String(128))
    """Ed25519 signature over `payload`, hex."""
    object_key: Mapped[str] = mapped_column(String(512))


class Export(Base):
    """An evidence bundle of a case, made by a worker (progress here) and kept in the object store."""

    __tablename__ = "exports"
    __table_args__ = (CheckConstraint(f"status IN {EXPORT_STATUSES}", name="ck_exports_status"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    case_id: Mapped[str] = mapped_column(ForeignKey("cases.id", ondelete="RESTRICT"), index=True)
    requested_by: Mapped[str] = mapped_column(String(100))
    include_review: Mapped[bool] = mapped_column(default=False)
    status: Mapped[str] = mapped_column(String(16), default="queued")
    progress: Mapped[float] = mapped_column(Float, default=0.0)
    total_bytes: Mapped[int | None] = mapped_column(BigInteger)
    object_key: Mapped[str | None] = mapped_column(String(512))
    size: Mapped[int | None] = mapped_column(BigInteger)
    sha256: Mapped[str | None] = mapped_column(String(64))
    checkpoint_count: Mapped[int | None] = mapped_column(BigInteger)
    error: Mapped[str | None] = mapped_column(Text)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
