"""Geometry of the evidence-chain timeline, in percentages the template puts in style="left:..%;
width:..%": the case's steps on one axis (the overview), and for each step a band on its own
axis with one lane per recorder showing its clips (obstructed stretches marked), and the
step's coverage bar (covered, obstructed, gap) from the audit's judgement.

Times are epoch seconds (UTC), corrected (true) times where the clip has them."""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timezone

from workers.audit import coverage

MIN_WIDTH = 0.4
"""Least width (%) of a mark, so that an instant or a short clip stays visible and clickable."""
TICKS = 5


@dataclass
class Axis:
    low: float
    high: float

    @classmethod
    def around(cls, low: float, high: float, pad_share: float = 0.03, least: float = 2.0) -> "Axis":
        pad = max((high - low) * pad_share, least)
        return cls(low - pad, high + pad)

    def at(self, moment: float) -> float:
        return round(min(100.0, max(0.0, (moment - self.low) / (self.high - self.low) * 100)), 3)

    def box(self, start: float, end: float) -> dict:
        """left/width (%) of [start, end] cut to the axis, and whether it goes on beyond either end."""
        left, right = self.at(start), self.at(end)
        width = max(right - left, MIN_WIDTH)
        left = min(left, 100.0 - width)
        return {"left": left, "width": round(width, 3), "before": start < self.low, "after": end > self.high}

    def ticks(self) -> list[dict]:
        step = (self.high - self.low) / (TICKS - 1)
        return [{"left": round(k * 100 / (TICKS - 1), 3), "at": moment(self.low + k * step)} for k in range(TICKS)]


def moment(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, timezone.utc)


@dataclass
class ClipSpan:
    """One clip as the timeline draws it."""
    clip_id: str
    device: str
    start: float
    end: float
    holes: list[tuple[float, float]] = field(default_factory=list)
    """Obstructed stretches, absolute times."""
    state: str = "linked"
    """counted, unused (judged and not counted), excluded, linked (a step that needs no footage)."""
    corrected: bool = True
    title: str = ""


def overview(steps: list[dict]) -> dict:
    """The case's steps on one axis: each step's mark, coloured by its status."""
    if not steps:
        return {"marks": [], "ticks": []}
    axis = Axis.around(min(s["start"] for s in steps), max(s["end"] for s in steps), pad_share=0.02, least=30)
    return {"marks": [{**axis.box(s["start"], s["end"]), "id": s["id"], "status": s["status"], "title": s["title"]}
                      for s in steps], "ticks": axis.ticks()}


def band(start: float, end: float, spans: list[ClipSpan], reach: float) -> dict:
    """A step's band: its own axis (the step and the clips around it, at most `reach` seconds
    beyond either end), the step's box, and a lane per recorder (sorted by serial)."""
    low = min([start, *(s.start for s in spans if s.end >= start - reach)])
    high = max([end, *(s.end for s in spans if s.start <= end + reach)])
    axis = Axis.around(max(low, start - reach), min(high, end + reach))
    lanes: dict[str, list[dict]] = {}
    for span in sorted(spans, key=lambda s: (s.start, s.clip_id)):
        bar = axis.box(span.start, span.end)
        length = max(span.end - span.start, 1e-9)
        bar["holes"] = [_inside(bar, axis, span.start, length, a, b) for a, b in span.holes]
        bar.update(clip_id=span.clip_id, state=span.state, corrected=span.corrected, title=span.title)
        lanes.setdefault(span.device, []).append(bar)
    return {"axis": axis, "step": axis.box(start, end), "ticks": axis.ticks(),
            "lanes": [{"device": device, "bars": bars} for device, bars in sorted(lanes.items())]}


def _inside(bar: dict, axis: Axis, start: float, length: float, a: float, b: float) -> dict:
    """An obstructed stretch as left/width (%) of its clip's bar (the bar may be cut by the axis)."""
    left, right = axis.at(max(a, start)), axis.at(min(b, start + length))
    if bar["width"] <= 0:
        return {"left": 0.0, "width": 0.0}
    return {"left": round(max(0.0, (left - bar["left"]) / bar["width"] * 100), 3),
            "width": round(max(0.0, (right - left) / bar["width"] * 100), 3)}


def coverage_bar(result, axis: Axis) -> list[dict] | None:
    """The step's own interval split into covered, obstructed and gap stretches, on the band's axis;
    None for a step that needs no footage or has no length."""
    step = result.step
    if result.rule.requirement not in ("recorded", "continuous") or step.end <= step.start:
        return None
    covered = coverage.clip_to(coverage.merge(i for v in result.clips if v.counted for i in v.usable),
                               step.start, step.end)
    holes = []
    for verdict in result.clips:
        clip = verdict.clip
        if (verdict.counted or verdict.why == "obstructed") and clip.start is not None:
            holes.extend((clip.start + a, clip.start + b) for a, b, _reason in clip.obstructions)
    obstructed = coverage.subtract(coverage.clip_to(coverage.merge(holes), step.start, step.end), covered)
    pieces = [(a, b, "covered") for a, b in covered] + [(a, b, "obstructed") for a, b in obstructed]
    pieces += [(a, b, "gap") for a, b in coverage.subtract(coverage.gaps(covered, step.start, step.end), obstructed)]
    return [{**axis.box(a, b), "kind": kind, "from": moment(a), "to": moment(b), "seconds": round(b - a, 1)}
            for a, b, kind in sorted(pieces)]
