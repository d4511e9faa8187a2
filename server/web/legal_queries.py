"""What the legal staff's forms offer, read from the database: the exports of a case, its legal
holds, unlinked clips near its steps, steps near a clip, and a clip's manual decisions."""
from __future__ import annotations

from datetime import timedelta

from flask import url_for
from sqlalchemy import func, select

from server.i18n import request_language, t
from server.operations.links import link_views
from server.runtime import runtime
from storage.case_models import Case, Step
from storage.custody_models import Export
from storage.link_models import ClipLink
from storage.models import Clip
from storage.retention_models import LegalHold

NEAR = timedelta(hours=2)
"""Clips and steps this close in time are offered to each other for linking by hand."""
MAX_CANDIDATES = 200
"""At most this many unlinked clips are offered on a case's page (the nearest steps' first)."""
MAX_NEARBY_STEPS = 30
FINAL = ("done", "failed")
CLIP_START = func.coalesce(Clip.corrected_start, Clip.recorded_at)
CLIP_END = func.coalesce(Clip.corrected_end, Clip.corrected_start, Clip.recorded_at)


def type_name(code: str) -> str:
    return runtime().settings.step_type_name(code, request_language())


def size_text(size: int | None) -> str:
    if size is None:
        return "—"
    value = float(size)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{size} B" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    raise AssertionError("unreachable")


def export_view(export: Export) -> dict:
    done = export.status == "done" and bool(export.object_key)
    return {"id": export.id, "case_id": export.case_id, "status": export.status,
            "status_text": t(f"web.export.status.{export.status}"), "progress": export.progress,
            "percent": int(round(100 * (export.progress or 0.0))), "final": export.status in FINAL,
            "size": export.size, "size_text": size_text(export.size), "total_text": size_text(export.total_bytes),
            "sha256": export.sha256, "error": export.error, "requested_by": export.requested_by,
            "include_review": export.include_review, "created_at": export.created_at,
            "finished_at": export.finished_at, "checkpoint_count": export.checkpoint_count,
            "url": url_for("web.export", export_id=export.id),
            "progress_url": url_for("web.export_progress", export_id=export.id),
            "download_url": url_for("web.export_download", export_id=export.id) if done else None}


def case_exports(db, case_id: str) -> list[dict]:
    return [export_view(export) for export in db.scalars(
        select(Export).where(Export.case_id == case_id).order_by(Export.created_at.desc(), Export.id))]


def case_holds(db, case_id: str) -> list[dict]:
    """Holds on the case's clips, one entry per reason and person (a case hold is one hold per clip)."""
    rows = db.execute(select(LegalHold, Clip.filename).join(Clip, Clip.id == LegalHold.clip_id)
                      .where(LegalHold.case_id == case_id).order_by(LegalHold.set_at, LegalHold.id)).all()
    groups: dict[tuple, dict] = {}
    for hold, filename in rows:
        group = groups.setdefault((hold.reason, hold.set_by), {
            "reason": hold.reason, "set_by": hold.set_by, "set_at": hold.set_at, "clips": [], "open": 0})
        group["clips"].append({"clip_id": hold.clip_id, "filename": filename, "lifted": hold.lifted_at is not None})
        group["open"] += hold.lifted_at is None
    return list(groups.values())


def unlinked_near_steps(db, case_id: str) -> dict[str, list[dict]]:
    """For each step of the case: clips linked to no step whose time is within NEAR of it."""
    steps = db.execute(select(Step.id, Step.started_at, Step.ended_at).where(Step.case_id == case_id)).all()
    if not steps:
        return {}
    low = min(step.started_at for step in steps) - NEAR
    high = max(step.ended_at for step in steps) + NEAR
    linked = select(ClipLink.id).where(ClipLink.clip_id == Clip.id, ClipLink.state == "linked").exists()
    clips = db.execute(
        select(Clip.id, Clip.filename, Clip.device_serial, Clip.officer_id, Clip.status,
               CLIP_START.label("start"), CLIP_END.label("end"))
        .where(~linked, CLIP_END >= low, CLIP_START <= high, Clip.status.not_in(("deleting", "deleted")))
        .order_by(CLIP_START, Clip.id).limit(MAX_CANDIDATES)).all()
    excluded = set(db.execute(select(ClipLink.clip_id, ClipLink.step_id).where(
        ClipLink.clip_id.in_([clip.id for clip in clips]), ClipLink.state == "excluded")).all()) if clips else set()
    found = {}
    for step in steps:
        near = [{"id": clip.id, "filename": clip.filename, "device_serial": clip.device_serial,
                 "officer_id": clip.officer_id, "status": clip.status, "start": clip.start, "end": clip.end}
                for clip in clips
                if (clip.id, step.id) not in excluded
                and clip.end >= step.started_at - NEAR and clip.start <= step.ended_at + NEAR]
        if near:
            found[step.id] = near
    return found


def steps_near_clip(db, clip: Clip, case_id: str | None = None) -> list[dict]:
    """Cases with steps near the clip's time (or every step of one case), each with its steps."""
    start = clip.corrected_start or clip.recorded_at
    end = clip.corrected_end or start
    statement = select(Step, Case.case_number, Case.title).join(Case, Case.id == Step.case_id)
    if case_id is None:
        statement = statement.where(Step.started_at <= end + NEAR, Step.ended_at >= start - NEAR)
    else:
        statement = statement.where(Step.case_id == case_id)
    rows = db.execute(statement.order_by(Step.started_at, Step.id).limit(MAX_NEARBY_STEPS)).all()
    states = dict(db.execute(select(ClipLink.step_id, ClipLink.state).where(
        ClipLink.clip_id == clip.id, ClipLink.step_id.in_([row.Step.id for row in rows]))).all()) if rows else {}
    cases: dict[str, dict] = {}
    for row in rows:
        step = row.Step
        entry = cases.setdefault(step.case_id, {"case_id": step.case_id, "case_number": row.case_number,
                                                "title": row.title, "steps": []})
        entry["steps"].append({"id": step.id, "type": step.type, "type_name": type_name(step.type),
                               "started_at": step.started_at, "ended_at": step.ended_at, "place": step.place,
                               "state": states.get(step.id)})
    return list(cases.values())


def manual_decisions(db, clip_id: str) -> list[dict]:
    links = db.scalars(select(ClipLink).where(ClipLink.clip_id == clip_id, ClipLink.origin == "manual")
                       .order_by(ClipLink.updated_at, ClipLink.id)).all()
    return [{**view, "type_name": type_name(view["step_type"])} for view in link_views(db, links)]


def clip_holds(db, clip_id: str) -> list[dict]:
    holds = db.scalars(select(LegalHold).where(LegalHold.clip_id == clip_id)
                       .order_by(LegalHold.lifted_at.is_not(None), LegalHold.set_at, LegalHold.id)).all()
    return [{"id": hold.id, "reason": hold.reason, "set_by": hold.set_by, "set_at": hold.set_at,
             "case_id": hold.case_id, "lifted": hold.lifted_at is not None, "lift_reason": hold.lift_reason,
             "lifted_by": hold.lifted_by, "lifted_at": hold.lifted_at} for hold in holds]
