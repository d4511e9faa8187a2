"""Outcomes for steps that cannot succeed: the original no longer matches its hashes, or a
step failed on its last attempt. Nothing is repaired; everything is recorded and explained."""
from __future__ import annotations

from workers.steps import PROBE, Outcome


def integrity_failure(reason: str, details: dict) -> Outcome:
    """The stored original is missing or no longer hashes to what was received."""
    facts = {**details, "reason": reason}
    return Outcome(status="failed", error=reason, clip_status="integrity_failed",
                   clip_flags={"integrity_failed": reason}, events=[("integrity_failed", facts)],
                   alerts=[("critical", "integrity_failed", facts)],
                   stop_processing="the original failed its integrity check; nothing is derived from it")


def unplayable(reason: str, details: dict | None = None) -> Outcome:
    """The file is kept as evidence, but no tool can read it as media."""
    facts = {**(details or {}), "reason": reason}
    return Outcome(status="done", result={"unplayable": reason}, clip_status="unplayable",
                   clip_media={"error": reason}, clip_flags={"unplayable": reason},
                   events=[("marked_unplayable", facts)], alerts=[("warning", "unplayable", facts)],
                   stop_processing="the file cannot be read as media")


def final_failure(claimed, reason: str, exc: BaseException | None = None) -> Outcome:
    """The last attempt failed. A probe that never succeeds means the file is unplayable; any
    other step is marked failed and raises an alert for an administrator."""
    if claimed.step == PROBE:
        message = getattr(exc, "reason", None) or reason.splitlines()[-1]
        return unplayable(message, {"attempts": claimed.attempts})
    details = {"step": claimed.step, "profile": claimed.profile, "attempts": claimed.attempts,
               "reason": reason.splitlines()[-1] if reason else ""}
    return Outcome(status="failed", error=reason, alerts=[("error", "step_failed", details)])
