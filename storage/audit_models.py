"""Completeness audits: one row per run (its scope, the rules it applied, its progress and
summary) and the findings it kept — every step that failed or drew a warning, and every step
that was failing in the run before and is fixed now."""
from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import JSON, CheckConstraint, Date, Float, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from storage.db import Base, UTCDateTime, utcnow
from storage.models import new_id

RUN_KINDS = ("nightly", "api", "cli")
RUN_STATUSES = ("queued", "running", "done", "failed")
STEP_STATUSES = ("pass", "warning", "fail", "not_required")
CHANGES = ("newly_failing", "still_failing", "new", "fixed")
"""How a step's result compares with the previous run of the same scope: newly_failing (it did
not fail then), still_failing, new (the previous run did not cover it) and fixed (it failed then)."""


class AuditRun(Base):
    __tablename__ = "audit_runs"
    __table_args__ = (
        CheckConstraint(f"kind IN {RUN_KINDS}", name="ck_audit_runs_kind"),
        CheckConstraint(f"status IN {RUN_STATUSES}", name="ck_audit_runs_status"),
        Index("ix_audit_runs_created", "created_at"),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    kind: Mapped[str] = mapped_column(String(8))
    schedule_key: Mapped[str | None] = mapped_column(String(64), unique=True)
    """nightly:<local date> for a nightly run, so that racing workers start it once."""
    period_from: Mapped[date] = mapped_column(Date)
    period_to: Mapped[date] = mapped_column(Date)
    """Inclusive local dates: steps that started from period_from 00:00 to period_to 24:00 in `timezone`."""
    timezone: Mapped[str] = mapped_column(String(64))
    unit_code: Mapped[str | None] = mapped_column(String(64))
    officer_code: Mapped[str | None] = mapped_column(String(64))
    case_id: Mapped[str | None] = mapped_column(String(36))
    requested_by: Mapped[str] = mapped_column(String(100))
    status: Mapped[str] = mapped_column(String(8), default="queued")
    progress: Mapped[float] = mapped_column(Float, default=0.0)
    steps_total: Mapped[int | None] = mapped_column(Integer)
    steps_done: Mapped[int] = mapped_column(Integer, default=0)
    rules: Mapped[dict] = mapped_column(JSON, default=dict)
    """The rules applied (per step type), as config.yaml said at the time of the run."""
    custody: Mapped[dict] = mapped_column(JSON, default=dict)
    """What the run knew about the custody log (intact up to which event, checkpoint)."""
    summary: Mapped[dict] = mapped_column(JSON, default=dict)
    """Totals, compliance per unit, officer and step type, weekly trend."""
    diff: Mapped[dict] = mapped_column(JSON, default=dict)
    """The previous run compared with, and how many steps are newly failing, fixed, ..."""
    previous_run_id: Mapped[str | None] = mapped_column(String(36))
    error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    heartbeat_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class AuditFinding(Base):
    """One step's result in a run, with everything needed to explain it (reasons as codes and
    values, rendered in the reader's language; every clip considered and why it counted or not)."""

    __tablename__ = "audit_findings"
    __table_args__ = (
        CheckConstraint(f"status IN {STEP_STATUSES}", name="ck_audit_findings_status"),
        Index("ix_audit_findings_run_order", "run_id", "started_at", "step_id"),
    )

    run_id: Mapped[str] = mapped_column(ForeignKey("audit_runs.id", ondelete="CASCADE"), primary_key=True)
    step_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    case_id: Mapped[str] = mapped_column(String(36))
    case_number: Mapped[str] = mapped_column(String(64))
    unit_code: Mapped[str] = mapped_column(String(64))
    step_type: Mapped[str] = mapped_column(String(64))
    started_at: Mapped[datetime] = mapped_column(UTCDateTime)
    status: Mapped[str] = mapped_column(String(16))
    change: Mapped[str | None] = mapped_column(String(16))
    result: Mapped[dict] = mapped_column(JSON, default=dict)
    """The whole step result (workers.audit.evaluate.StepResult.as_dict)."""
