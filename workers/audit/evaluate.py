"""Judge one enforcement step against its rule: which linked clips count as usable footage and
why the others do not, what the counted footage covers, and the step's status with its reasons.

Pure: times are seconds since the epoch (UTC), clips and steps are plain facts. A reason is a
code with values (rendered in the reader's language by workers.audit.explain).

- recorded: usable footage overlaps the step's interval widened by the link buffer.
- continuous: usable footage of all counted recorders together leaves no gap longer than
  max_gap_seconds in the step's own interval, and at least min_devices recorders each cover
  device_min_share of it.
- A clip counts when its original is present, its hashes verified, it is video whose
  obstruction map is made, its custody events are in the intact part of the log and legal staff
  have not excluded it; its obstructed intervals are not counted.
- A late upload (received more than upload_deadline_hours after the recording ended) still
  counts, but the step gets a warning. A step that would fail while footage may still arrive
  (its upload deadline has not passed, or linked clips are still being processed) gets a
  warning saying so, not a failure.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import NamedTuple
from datetime import datetime, timezone

from workers.audit import coverage

REQUIREMENTS = ("none", "recorded", "continuous")
PENDING = ("not_verified", "not_analysed")
"""Why-codes of clips that may yet count once processing finishes."""


@dataclass(frozen=True)
class Rule:
    requirement: str
    min_devices: int = 1
    max_gap_seconds: float = 30.0
    device_min_share: float = 0.8
    upload_deadline_hours: float = 24.0
    link_buffer_minutes: float = 5.0

    @classmethod
    def for_type(cls, settings, step_type: str) -> "Rule":
        if step_type not in settings.step_types:
            return cls(requirement="unknown")
        value = lambda key: float(settings.audit_value(step_type, key))  # noqa: E731
        kind = settings.step_types[step_type]
        return cls(requirement=kind.requirement, min_devices=kind.min_devices,
                   max_gap_seconds=value("max_gap_seconds"), device_min_share=value("device_min_share"),
                   upload_deadline_hours=value("upload_deadline_hours"),
                   link_buffer_minutes=value("link_buffer_minutes"))

    def as_dict(self) -> dict:
        return dict(self.__dict__)


def rules_from_settings(settings) -> dict[str, Rule]:
    return {code: Rule.for_type(settings, code) for code in settings.step_types}


class StepFacts(NamedTuple):
    id: str
    case_id: str
    case_number: str
    unit_code: str
    type: str
    start: float
    end: float
    officers: tuple[str, ...] = ()


class ClipFacts(NamedTuple):
    id: str
    start: float | None
    """Corrected (true) start; None while the clip has not been placed in time."""
    end: float | None
    received: float
    status: str
    kind: str | None = "video"
    device_serial: str | None = None
    officer_id: str | None = None
    raw_start: float | None = None
    offset: float | None = None
    """Clock offset applied (device - true), None when the recorder has no clock report."""
    deleted: bool = False
    custody_ok: bool = True
    link_origin: str = "auto"
    link_state: str = "linked"
    link_rule: str | None = None
    link_reason: str | None = None
    decided_by: str | None = None
    obstructions: tuple[tuple[float, float, str], ...] = ()
    """Obstructed stretches in seconds from the clip's start, with their reason."""


@dataclass
class Reason:
    code: str
    severity: str  # fail | warning | info
    params: dict = field(default_factory=dict)

    def as_dict(self) -> dict:
        return {"code": self.code, "severity": self.severity, "params": _json(self.params)}


class ClipVerdict:
    """Whether a clip counted for a step and why; covered_seconds: usable seconds inside the step's
    own interval; obstructed_seconds: obstructed seconds inside the window it is judged in."""

    __slots__ = ("clip", "counted", "why", "covered_seconds", "obstructed_seconds", "late_hours", "usable")

    def __init__(self, clip: ClipFacts, counted: bool, why: str, covered_seconds: float = 0.0,
                 obstructed_seconds: float = 0.0, late_hours: float | None = None, usable: list | None = None):
        self.clip, self.counted, self.why = clip, counted, why
        self.covered_seconds, self.obstructed_seconds = covered_seconds, obstructed_seconds
        self.late_hours, self.usable = late_hours, usable or []

    def as_dict(self) -> dict:
        c = self.clip
        return _json({"clip_id": c.id, "device_serial": c.device_serial, "officer_id": c.officer_id,
                      "raw_start_at": c.raw_start, "start_at": c.start, "end_at": c.end,
                      "clock_offset_seconds": c.offset, "received_at": c.received, "status": c.status,
                      "kind": c.kind, "link": {"origin": c.link_origin, "state": c.link_state, "rule": c.link_rule,
                                               "reason": c.link_reason, "decided_by": c.decided_by},
                      "counted": self.counted, "why": self.why, "covered_seconds": round(self.covered_seconds, 3),
                      "obstructed_seconds": round(self.obstructed_seconds, 3),
                      "obstructions": [{"from_seconds": s, "to_seconds": e, "reason": r} for s, e, r in c.obstructions],
                      "late_hours": None if self.late_hours is None else round(self.late_hours, 2)})


@dataclass
class StepResult:
    step: StepFacts
    rule: Rule
    status: str
    covered_share: float = 0.0
    covered_seconds: float = 0.0
    longest_gap: tuple[float, float] | None = None
    devices: list[dict] = field(default_factory=list)
    devices_counted: int = 0
    late_uploads: int = 0
    reasons: list[Reason] = field(default_factory=list)
    clips: list[ClipVerdict] = field(default_factory=list)

    @property
    def failing(self) -> bool:
        return self.status == "fail"

    def as_dict(self) -> dict:
        s = self.step
        gap = None
        if self.longest_gap:
            gap = {"from_at": self.longest_gap[0], "to_at": self.longest_gap[1],
                   "seconds": round(self.longest_gap[1] - self.longest_gap[0], 3)}
        return _json({
            "step": {"id": s.id, "case_id": s.case_id, "case_number": s.case_number, "unit_code": s.unit_code,
                     "type": s.type, "started_at": s.start, "ended_at": s.end, "officers": list(s.officers)},
            "rule": self.rule.as_dict(), "status": self.status,
            "covered_share": round(self.covered_share, 4), "covered_seconds": round(self.covered_seconds, 3),
            "longest_gap": gap, "devices": self.devices, "devices_counted": self.devices_counted,
            "late_uploads": self.late_uploads, "reasons": [r.as_dict() for r in self.reasons],
            "clips": [v.as_dict() for v in self.clips]})


def _iso(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, timezone.utc).isoformat().replace("+00:00", "Z")


def _json(value):
    """Times (keys ending in _at) become ISO 8601 UTC; floats are rounded to milliseconds."""
    if isinstance(value, dict):
        return {k: (_iso(v) if k.endswith("_at") and isinstance(v, (int, float)) else _json(v))
                for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json(v) for v in value]
    if isinstance(value, float):
        return round(value, 3)
    return value


# -- clips ---------------------------------------------------------------------------------------

def _gate(clip: ClipFacts) -> str | None:
    """Why a clip cannot count whatever its times, in the order a reader needs to hear it."""
    if clip.link_state == "excluded":
        return "excluded"
    if clip.deleted or clip.status in ("deleting", "deleted"):
        return "original_missing"
    if clip.status == "integrity_failed":
        return "integrity_failed"
    if clip.status == "received":
        return "not_verified"
    if clip.status == "unplayable":
        return "unplayable"
    if not clip.custody_ok:
        return "custody_broken"
    if clip.kind not in (None, "video"):
        return "not_video"
    if clip.status != "processed":
        return "not_analysed"
    if clip.start is None or clip.end is None or clip.end <= clip.start:
        return "no_duration"
    return None


def judge_clip(clip: ClipFacts, step: StepFacts, rule: Rule) -> ClipVerdict:
    return _judge(clip, _window(step, rule))


def _window(step: StepFacts, rule: Rule) -> tuple:
    """What judging a clip needs of the step and rule, computed once per step."""
    buffer = rule.link_buffer_minutes * 60 if rule.requirement == "recorded" else 0.0
    return (step.start - buffer, step.end + buffer, step.start, step.end, step.end <= step.start, buffer > 0,
            rule.upload_deadline_hours * 3600)


def _judge(clip: ClipFacts, window: tuple) -> ClipVerdict:
    low, high, s0, s1, instant, buffered, deadline = window
    start, end = clip.start, clip.end
    late = (clip.received - end) / 3600 if end is not None and clip.received - end > deadline else None
    why = _gate(clip)
    if why:
        return ClipVerdict(clip, False, why, 0.0, 0.0, late)
    if not clip.obstructions:  # the common case, in plain arithmetic
        in_window = min(end, high) - max(start, low)
        if in_window <= 0 and not (instant and start <= s0 <= end):
            return ClipVerdict(clip, False, "outside_step", 0.0, 0.0, late)
        return ClipVerdict(clip, True, "counted", max(0.0, min(end, s1) - max(start, s0)), 0.0, late, [(start, end)])
    usable = coverage.subtract([(start, end)], [(start + s, start + e) for s, e, _ in clip.obstructions])
    in_window = coverage.length(coverage.clip_to(usable, low, high))
    overlap = max(0.0, min(end, high) - max(start, low))
    obstructed = max(0.0, overlap - in_window)
    if in_window <= 0 and not (instant and coverage.covers_point(usable, s0)):
        touches = overlap > 0 or (instant and start <= s0 <= end)
        return ClipVerdict(clip, False, "obstructed" if touches else "outside_step", 0.0, obstructed, late)
    covered = coverage.length(coverage.clip_to(usable, s0, s1))
    return ClipVerdict(clip, True, "counted", covered, obstructed, late, usable)


def _order(clip: ClipFacts):
    return (clip.start or 0.0, clip.id)


# -- steps ---------------------------------------------------------------------------------------

def evaluate_step(step: StepFacts, clips: list[ClipFacts], rule: Rule, now: float) -> StepResult:
    if rule.requirement == "unknown":
        return StepResult(step, rule, "fail", reasons=[Reason("unknown_step_type", "fail", {"type": step.type})])
    if rule.requirement == "none":
        return StepResult(step, rule, "not_required")
    window = _window(step, rule)
    verdicts = [_judge(c, window) for c in sorted(clips, key=_order)]
    counted, by_device, late, pending = [], {}, [], 0
    manual = excluded = uncorrected = 0
    obstructed = 0.0
    for v in verdicts:
        clip = v.clip
        if v.counted:
            counted.append(v)
            by_device.setdefault(clip.device_serial or "?", []).extend(v.usable)
            obstructed += v.obstructed_seconds
            if v.late_hours is not None:
                late.append(v.late_hours)
            if clip.offset is None:
                uncorrected += 1
        elif v.why == "obstructed":
            obstructed += v.obstructed_seconds
        elif v.why == "excluded":
            excluded += 1
        elif v.why in PENDING:
            pending += 1
        if clip.link_origin == "manual" and clip.link_state == "linked":
            manual += 1
    if len(counted) == 1:
        union = list(counted[0].usable)
    else:
        union = coverage.merge(i for v in counted for i in v.usable)
    inside = coverage.clip_to(union, step.start, step.end)
    result = StepResult(step, rule, "pass", covered_share=coverage.share(union, step.start, step.end),
                        covered_seconds=coverage.length(inside), clips=verdicts)
    result.longest_gap = coverage.longest_gap(inside, step.start, step.end)
    reasons = result.reasons

    continuous = rule.requirement == "continuous"
    for device, intervals in sorted(by_device.items()):
        device_share = coverage.share(coverage.merge(intervals), step.start, step.end)
        result.devices.append({"device_serial": None if device == "?" else device, "share": round(device_share, 4),
                               "counted": device_share >= rule.device_min_share if continuous else True})
    result.devices_counted = sum(1 for d in result.devices if d["counted"])

    if not verdicts:
        reasons.append(Reason("no_footage", "fail"))
    elif not counted:
        reasons.append(Reason("no_usable_footage", "fail", {"clips": len(verdicts)}))
    elif continuous:
        gap = result.longest_gap
        if gap and gap[1] - gap[0] > rule.max_gap_seconds:
            reasons.append(Reason("gap_too_long", "fail", {"from_at": gap[0], "to_at": gap[1],
                                                           "seconds": gap[1] - gap[0],
                                                           "limit": rule.max_gap_seconds}))
        if result.devices_counted < rule.min_devices:
            reasons.append(Reason("too_few_devices", "fail", {
                "counted": result.devices_counted, "required": rule.min_devices,
                "share_percent": round(rule.device_min_share * 100, 1),
                "devices": ", ".join(f"{d['device_serial'] or '?'} {d['share'] * 100:.0f}%" for d in result.devices)}))
    elif result.covered_seconds <= 0 and not (step.end <= step.start and result.covered_share > 0):
        reasons.append(Reason("within_buffer_only", "info", {"minutes": rule.link_buffer_minutes}))

    result.late_uploads = len(late)
    if late:
        reasons.append(Reason("late_upload", "warning", {
            "clips": len(late), "worst_hours": max(late), "deadline_hours": rule.upload_deadline_hours}))
    if obstructed > 0:
        reasons.append(Reason("obstructed_time", "info", {"seconds": obstructed}))
    if manual:
        reasons.append(Reason("manual_links", "info", {"clips": manual}))
    if excluded:
        reasons.append(Reason("manual_exclusions", "info", {"clips": excluded}))
    if uncorrected:
        reasons.append(Reason("uncorrected_clock", "info", {"clips": uncorrected}))

    failing = any(r.severity == "fail" for r in reasons)
    if failing:
        deadline = step.end + rule.upload_deadline_hours * 3600
        if now < deadline:
            reasons.append(Reason("awaiting_upload", "warning", {"until_at": deadline}))
        if pending:
            reasons.append(Reason("awaiting_processing", "warning", {"clips": pending}))
        result.status = "warning" if now < deadline or pending else "fail"
    elif any(r.severity == "warning" for r in reasons):
        result.status = "warning"
    return result
