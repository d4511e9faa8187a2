"""The evidence chain of a case as the page shows it: the case's facts, each step judged now by
the audit's rules (status, reasons in the reader's language, its band on the timeline and its
coverage bar, its linked and excluded clips), and every clip's facts and custody events."""
from __future__ import annotations

from flask import url_for
from sqlalchemy.orm import Session

from server.i18n import MESSAGES
from server.web import chain_timeline as timeline
from server.web.chain_facts import clip_view, seconds_text
from server.web.chain_load import CaseRecord, load_case
from server.web.chain_words import View, Words
from workers.audit.explain import clip_text, reason_text
from workers.audit.run import audit_case

MIN_REACH_SECONDS = 60.0
"""A band shows clips at least this far beyond its step (more for a long step or a wide link buffer)."""


def _times(clip) -> tuple[float, float, bool]:
    """The clip's interval (corrected when it has been placed in time) and whether it is corrected."""
    if clip.corrected_start is not None:
        start = clip.corrected_start.timestamp()
        end = clip.corrected_end.timestamp() if clip.corrected_end is not None else start
        return start, max(end, start), True
    start = clip.recorded_at.timestamp()
    return start, start + (clip.duration_seconds or 0.0), False


def _span(link, record: CaseRecord, verdict) -> timeline.ClipSpan:
    clip = record.clips[link.clip_id].clip
    start, end, corrected = _times(clip)
    holes = [(start + i.start_seconds, start + i.end_seconds) for i in record.clips[link.clip_id].obstructions]
    if link.state == "excluded":
        state = "excluded"
    elif verdict is not None:
        state = "counted" if verdict.counted else "unused"
    else:
        state = "linked"
    title = f"{clip.filename} · {clip.device_serial or '?'} · {seconds_text(clip.duration_seconds)}"
    return timeline.ClipSpan(clip.id, clip.device_serial or "?", start, end, holes, state, corrected, title)


def _bars(band: dict, clips: dict, words: Words) -> dict:
    """Each bar's link and the words of its state (read once here, not per bar in the template)."""
    for lane in band["lanes"]:
        for bar in lane["bars"]:
            bar["url"] = clips[bar["clip_id"]].url
            bar["title"] = f"{bar['title']} · {words.label('bar', bar['state'])}"
    return band


def _judgement(result, words: Words, zone) -> dict:
    """The step's status and reasons, and why each clip counted or not, in the reader's words
    (workers.audit.explain; the clips' texts from their facts, without the whole result's JSON)."""
    if result is None:
        return {"status": "none", "status_text": words("web.chain.not_judged"), "requirement_text": "",
                "reasons": [], "clips": {}}
    language = words.language
    reasons = [r.as_dict() for r in result.reasons]
    clips = {}
    for v in result.clips:
        c = v.clip
        clips[c.id] = clip_text({"why": v.why, "covered_seconds": round(v.covered_seconds, 3), "kind": c.kind,
                                 "late_hours": None if v.late_hours is None else round(v.late_hours, 2),
                                 "link": {"decided_by": c.decided_by, "reason": c.link_reason}}, language, zone)
    return {"status": result.status, "status_text": MESSAGES[f"audit.status.{result.status}"][language],
            "requirement_text": MESSAGES[f"audit.requirement.{result.rule.requirement}"][language],
            "reasons": [{**r, "text": reason_text(r, language, zone)} for r in reasons], "clips": clips}


def _link(link, clips: dict, judged: dict, verdicts: dict, words: Words) -> View:
    verdict = verdicts.get(link.clip_id)
    return View({"link": {"id": link.id, "clip_id": link.clip_id, "step_id": link.step_id, "state": link.state,
                          "origin": link.origin},
                 "rule": link.rule, "origin_text": words.label("origin", link.origin), "reason": link.reason,
                 "decided_by": link.decided_by, "clip": clips[link.clip_id],
                 "verdict": judged["clips"].get(link.clip_id), "counted": None if verdict is None else verdict.counted})


def _step(step, result, links, record: CaseRecord, clips: dict, settings, words: Words) -> View:
    start, end = step.started_at.timestamp(), step.ended_at.timestamp()
    judged = _judgement(result, words, settings.zone)
    verdicts = {v.clip.id: v for v in result.clips} if result is not None else {}
    rule = result.rule if result is not None else None
    buffer = rule.link_buffer_minutes * 60 if rule is not None and rule.requirement == "recorded" else 0.0
    reach = max(MIN_REACH_SECONDS, end - start, buffer)
    ordered = sorted(links, key=lambda link: (link.state != "linked", _times(record.clips[link.clip_id].clip)[0]))
    spans = [_span(link, record, verdicts.get(link.clip_id)) for link in ordered]
    band = _bars(timeline.band(start, end, spans, reach), clips, words)
    return View({
        "id": step.id, "type": step.type, "type_name": settings.step_type_name(step.type, words.language),
        "started_at": step.started_at, "ended_at": step.ended_at, "start": start, "end": end,
        "length_text": seconds_text(end - start), "place": step.place, "notes": step.notes,
        "officers": [(o.officer_code, record.officers.get(o.officer_code, "")) for o in step.officers],
        "devices": [d.device_serial for d in step.devices],
        "status": judged["status"], "status_text": judged["status_text"],
        "requirement_text": judged["requirement_text"], "reasons": judged["reasons"],
        "covered_percent": round(result.covered_share * 100, 1) if result is not None else None,
        "needs_footage": rule is not None and rule.requirement in ("recorded", "continuous"),
        "band": band, "coverage": timeline.coverage_bar(result, band["axis"]) if result is not None else None,
        "links": [_link(link, clips, judged, verdicts, words) for link in ordered],
    })


def case_page(session: Session, settings, case_id: str, words: Words) -> dict | None:
    """Everything the evidence-chain page shows; None for an unknown case."""
    record = load_case(session, case_id, words)
    if record is None:
        return None
    results = {result.step.id: result for result in audit_case(session, settings, case_id)}
    clips = {clip_id: clip_view(r, record.officers, words) for clip_id, r in record.clips.items()}
    for clip_id, view in clips.items():
        view.url = url_for("web.clip", clip_id=clip_id)
    by_step: dict[str, list] = {}
    for link in record.links:
        by_step.setdefault(link.step_id, []).append(link)
    steps = [_step(step, results.get(step.id), by_step.get(step.id, []), record, clips, settings, words)
             for step in record.steps]
    case = record.case
    tally = {status: sum(1 for s in steps if s["status"] == status) for status in ("pass", "warning", "fail")}
    return {
        "case": {"id": case.id, "case_number": case.case_number, "title": case.title, "status": case.status,
                 "unit_code": case.unit_code, "unit_name": record.unit.name if record.unit else case.unit_code,
                 "opened_at": case.opened_at, "closed_at": case.closed_at,
                 "officers": [(o.officer_code, record.officers.get(o.officer_code, "")) for o in case.officers]},
        "steps": steps, "holds": record.holds, "tally": tally,
        "overview": timeline.overview([{"id": s["id"], "start": s["start"], "end": s["end"], "status": s["status"],
                                        "title": f"{s['type_name']} · {s['status_text']}"} for s in steps]),
        "clips": list(clips.values()),
    }
