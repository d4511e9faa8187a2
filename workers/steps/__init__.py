"""The processing steps of a clip and what each one produces.

verify -> probe -> (review per profile, thumbnails, obstruction), the last three only for the
kinds of media they apply to. A step body gets a StepContext and returns an Outcome; the runner
applies the Outcome in one transaction with the step's final state and custody events.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

VERIFY, PROBE, REVIEW, THUMBNAILS, OBSTRUCTION = "verify", "probe", "review", "thumbnails", "obstruction"
DERIVE_STEPS = (REVIEW, THUMBNAILS, OBSTRUCTION)

APPLIES_TO = {
    REVIEW: ("video", "audio"),
    THUMBNAILS: ("video", "image"),
    OBSTRUCTION: ("video",),
}
"""Which media kinds (from probe) each derive step runs for."""


@dataclass
class NewDerivative:
    kind: str
    profile: str
    object_key: str
    sha256: str
    sm3: str
    size: int
    content_type: str
    argv: list
    tool_version: str
    checks: dict = field(default_factory=dict)


@dataclass
class Outcome:
    """What a step found and what should change because of it."""
    status: str = "done"                                  # done | failed | skipped
    result: dict = field(default_factory=dict)
    error: str | None = None
    clip_status: str | None = None                        # new clip status, if any
    clip_media: dict | None = None
    clip_duration: float | None = None
    clip_flags: dict = field(default_factory=dict)
    events: list[tuple[str, dict]] = field(default_factory=list)   # (custody action, details)
    alerts: list[tuple[str, str, dict]] = field(default_factory=list)  # (severity, code, details)
    derivatives: list[NewDerivative] = field(default_factory=list)
    obstructions: list[dict] = field(default_factory=list)
    next_steps: list[tuple[str, str]] = field(default_factory=list)  # (step, profile) rows to create
    stop_processing: str | None = None                    # reason the remaining steps are skipped


def body(step: str) -> Callable:
    """The function that does a step's work (imported late: media libraries are heavy)."""
    from workers.steps import obstruction, probe, review, thumbnails, verify
    return {VERIFY: verify.run, PROBE: probe.run, REVIEW: review.run,
            THUMBNAILS: thumbnails.run, OBSTRUCTION: obstruction.run}[step]
