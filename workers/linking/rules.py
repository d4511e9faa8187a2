"""The linking rule, as pure functions of plain facts (no database).

A clip links to a step when
- one of the clip's officers is on the step (the officer the recorder was signed out to during
  the recording, or the clip's own `officer_id` metadata), or the clip's recorder is on the step,
- and the clip's corrected interval overlaps the step's interval widened by the link buffer.

A clip whose duration is not known yet (not probed, or unreadable) is the instant it started;
it links when that instant lies within the widened interval.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

FOREVER = datetime.max.replace(tzinfo=timezone.utc)
"""The end of an assignment that has not ended."""
DAWN = datetime.min.replace(tzinfo=timezone.utc)


def widen(start: datetime, end: datetime, by: timedelta) -> tuple[datetime, datetime]:
    """[start − by, end + by], kept within the calendar (recorder clocks can read anything)."""
    low = start - by if start - DAWN > by else DAWN
    high = end + by if FOREVER - end > by else FOREVER
    return low, high


@dataclass(frozen=True)
class Assignment:
    officer: str
    start: datetime
    end: datetime | None  # None: still signed out


@dataclass(frozen=True)
class ClipFacts:
    id: str
    serial: str | None
    officer: str | None  # officer_id metadata
    start: datetime  # corrected
    end: datetime  # corrected; == start while the duration is unknown
    assignments: tuple[Assignment, ...] = ()
    offset_seconds: float | None = None


@dataclass(frozen=True)
class StepFacts:
    id: str
    case_id: str
    start: datetime
    end: datetime
    buffer: timedelta
    officers: frozenset[str] = field(default_factory=frozenset)
    devices: frozenset[str] = field(default_factory=frozenset)

    @property
    def window(self) -> tuple[datetime, datetime]:
        return widen(self.start, self.end, self.buffer)


@dataclass(frozen=True)
class LinkReason:
    rule: str  # officer, device or officer+device
    overlap_seconds: float
    details: dict


def overlap_seconds(a_start: datetime, a_end: datetime, b_start: datetime, b_end: datetime) -> float:
    return max(0.0, (min(a_end, b_end) - max(a_start, b_start)).total_seconds())


def touches(clip_start: datetime, clip_end: datetime, window_start: datetime, window_end: datetime) -> bool:
    """Does the clip's interval overlap the window (an instant: lie within it)?"""
    if clip_end <= clip_start:
        return window_start <= clip_start <= window_end
    return clip_start < window_end and clip_end > window_start


def assigned_officers(clip: ClipFacts) -> set[str]:
    """Officers the clip's recorder was signed out to at any moment of the recording."""
    found = set()
    for item in clip.assignments:
        end = item.end or FOREVER
        if clip.end <= clip.start:
            if item.start <= clip.start < end:
                found.add(item.officer)
        elif item.start < clip.end and end > clip.start:
            found.add(item.officer)
    return found


def officer_sources(clip: ClipFacts) -> dict[str, str]:
    """Each of the clip's officers and how it is known: assignment, metadata or both."""
    sources = {officer: "assignment" for officer in assigned_officers(clip)}
    if clip.officer:
        sources[clip.officer] = "both" if clip.officer in sources else "metadata"
    return sources


def match(clip: ClipFacts, step: StepFacts, officers: dict[str, str] | None = None) -> LinkReason | None:
    """Why the clip links to the step, or None when it does not."""
    window_start, window_end = step.window
    if not touches(clip.start, clip.end, window_start, window_end):
        return None
    officers = officer_sources(clip) if officers is None else officers
    matched = {officer: via for officer, via in officers.items() if officer in step.officers}
    device = clip.serial if clip.serial and clip.serial in step.devices else None
    if not matched and not device:
        return None
    rule = "officer+device" if matched and device else ("officer" if matched else "device")
    details = {
        "officers": dict(sorted(matched.items())),
        "device": device,
        "clip_interval": [clip.start.isoformat(), clip.end.isoformat()],
        "window": [window_start.isoformat(), window_end.isoformat()],
        "buffer_minutes": step.buffer.total_seconds() / 60,
        "step_overlap_seconds": round(overlap_seconds(clip.start, clip.end, step.start, step.end), 3),
        "clock_offset_seconds": clip.offset_seconds,
    }
    return LinkReason(rule, round(overlap_seconds(clip.start, clip.end, window_start, window_end), 3), details)
