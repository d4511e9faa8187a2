"""One clip's page: its facts and links, and the player — the review copy, the contact sheet's
frames laid along the clip's timeline, the obstruction map on the same timeline — or, when there
is nothing to play, why not."""
from __future__ import annotations

import re

from flask import url_for
from sqlalchemy import select
from sqlalchemy.orm import Session

from server.i18n import t
from server.web.chain_facts import clip_view, seconds_text
from server.web.chain_load import clip_records, officer_names
from server.web.chain_words import Words
from storage.case_models import Case, Step
from storage.link_models import ClipLink
from storage.models import Clip

SHEET_RATE = re.compile(r"fps=(\d+)/([0-9.]+)")
SHEET_GRID = re.compile(r"tile=(\d+)x(\d+)")
GONE = ("deleting", "deleted")


def review_copy(derivatives: list, settings):
    """The review copy of the first configured profile that has one (any profile else)."""
    copies = {d.profile: d for d in derivatives if d.kind == "review"}
    for profile in settings.processing.review_profiles:
        if profile in copies:
            return copies[profile]
    return next(iter(copies.values()), None)


def sheet_layout(sheet, duration: float | None) -> dict | None:
    """Columns, rows and the time of each tile of a contact sheet, read from the command that made
    it (fps=N/D spreads N frames over D seconds, tile=CxR lays them out row by row)."""
    command = " ".join(map(str, sheet.argv or []))
    rate, grid = SHEET_RATE.search(command), SHEET_GRID.search(command)
    if not rate or not grid:
        return None
    frames, seconds = int(rate.group(1)), float(rate.group(2))
    columns, rows = int(grid.group(1)), int(grid.group(2))
    if not frames or not columns or not rows or seconds <= 0:
        return None
    return {"columns": columns, "rows": rows, "tiles": min(frames, columns * rows), "every": seconds / frames,
            "duration": duration or seconds}


def _aspect(media: dict) -> float:
    width, height = media.get("width"), media.get("height")
    if not width or not height:
        return 16 / 9
    return height / width if (media.get("rotation") or 0) % 180 == 90 else width / height


def _tiles(clip, sheet, duration: float | None) -> list[dict]:
    layout = sheet_layout(sheet, duration) if sheet is not None else None
    if layout is None:
        return []
    url = url_for("web.clip_derivative", clip_id=clip.id, derivative_id=sheet.id)
    columns, rows, total = layout["columns"], layout["rows"], layout["duration"]
    tiles = []
    for k in range(layout["tiles"]):
        at = k * layout["every"]
        if at >= total:
            break
        column, row = k % columns, k // columns
        x = column * 100 / (columns - 1) if columns > 1 else 0
        y = row * 100 / (rows - 1) if rows > 1 else 0
        tiles.append({"seconds": round(at, 3), "text": seconds_text(at),
                      "style": f"background-image:url('{url}');background-size:{columns * 100}% {rows * 100}%;"
                               f"background-position:{x:.4f}% {y:.4f}%;aspect-ratio:{_aspect(clip.media or {}):.4f}"})
    return tiles


def missing_reason(clip, processing) -> str:
    """Why there is no review copy to play, in the reader's words."""
    if clip.status in GONE:
        return t("web.clip.missing.deleted", when=clip.deleted_at.isoformat(" ", "seconds") if clip.deleted_at else "?")
    if clip.status in ("integrity_failed", "unplayable"):
        return t(f"web.clip.missing.{clip.status}")
    if clip.media_kind == "image":
        return t("web.clip.missing.image")
    failed = [s for s in processing["steps"] if s.step == "review" and s.status == "failed"]
    if failed:
        return t("web.clip.missing.failed", error=(failed[0].error or "?").strip().splitlines()[0][:300])
    if processing["state"] in ("pending", "running"):
        return t("web.clip.missing.processing", percent=round(processing["progress"] * 100))
    return t("web.clip.missing.none")


def player(clip, derivatives: list, obstructions, processing, settings) -> dict:
    review = None if clip.status in GONE else review_copy(derivatives, settings)
    kinds = {d.kind: d for d in derivatives}
    poster = kinds.get("poster")
    duration = clip.duration_seconds
    if not duration and review is not None:
        duration = (review.checks or {}).get("duration")
    out = {"poster": url_for("web.clip_derivative", clip_id=clip.id, derivative_id=poster.id)
           if poster and clip.status not in GONE else None,
           "duration": duration, "duration_text": seconds_text(duration), "tiles": [], "holes": [], "ticks": []}
    if review is None:
        return {**out, "element": None, "missing": missing_reason(clip, processing)}
    out.update(element="audio" if review.content_type.startswith("audio/") else "video",
               src=url_for("web.clip_review", clip_id=clip.id), missing=None, review=review)
    if duration:
        out["tiles"] = _tiles(clip, kinds.get("contact_sheet"), duration) if out["element"] == "video" else []
        out["holes"] = [{"left": round(min(i.start_seconds / duration, 1) * 100, 3),
                         "width": round(max(min(i.end_seconds, duration) - i.start_seconds, 0) / duration * 100, 3),
                         "start": i.start_seconds, "reason": i.reason} for i in obstructions]
        out["ticks"] = [{"left": k * 25, "text": seconds_text(duration * k / 4)} for k in range(5)]
    return out


def clip_links(session: Session, clip_id: str, settings, language: str) -> list[dict]:
    rows = session.execute(select(ClipLink, Step.type, Step.started_at, Step.ended_at, Case.case_number)
                           .join(Step, Step.id == ClipLink.step_id).join(Case, Case.id == ClipLink.case_id)
                           .where(ClipLink.clip_id == clip_id).order_by(Step.started_at, Step.id)).all()
    return [{"case_id": link.case_id, "case_number": number, "step_id": link.step_id, "type": step_type,
             "type_name": settings.step_type_name(step_type, language), "started_at": started, "ended_at": ended,
             "origin": link.origin, "state": link.state, "rule": link.rule, "reason": link.reason,
             "decided_by": link.decided_by, "overlap_text": seconds_text(link.overlap_seconds)}
            for link, step_type, started, ended, number in rows]


def clip_page(session: Session, settings, clip_id: str, words: Words) -> dict | None:
    status = session.scalar(select(Clip.status).where(Clip.id == clip_id))
    if status is None:
        return None
    link = None if status in GONE else (  # a deleted clip's files are gone: no links
        lambda d: url_for("web.clip_derivative", clip_id=clip_id, derivative_id=d.id))
    records = clip_records(session, [clip_id], words, derivative_link=link, keep_derivatives=True)
    record = records[clip_id]
    view = clip_view(record, officer_names(session, {record.clip.officer_id}), words)
    links = clip_links(session, clip_id, settings, words.language)
    cases = list(dict.fromkeys((link["case_id"], link["case_number"]) for link in links))
    return {"clip": view, "links": links, "cases": cases,
            "player": player(record.clip, record.derivatives, record.obstructions, view.processing, settings)}
