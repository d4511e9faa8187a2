"""Outcomes for steps that cannot succeed: the original no longer matches its hashes, or a
step failed on its last attempt. Nothing is repaired; everything is recorded and explained."""
from __future__ import annotations

import functools

from workers.media.guard import Refusal, memory_refusal, probe_timeout_refusal
from workers.media.limits import MemoryLimitExceeded
from workers.media.probe import ProbeTimeout
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


def refused(refusal: Refusal, details: dict | None = None) -> Outcome:
    """The file is kept as evidence and not decoded: it declares more than the limits allow, is in
    a format that could make ffmpeg read other files, or the tools ran out of memory or time on
    it. The alert explains why in the reader's language (alert.media_<code>)."""
    reason = refusal.reason
    facts = {**refusal.facts, **(details or {}), "reason": reason, "refused": refusal.code}
    return Outcome(status="done", result={"unplayable": reason, "refused": refusal.code, **refusal.facts},
                   clip_status="unplayable",
                   clip_media={"error": reason, "refused": refusal.code, "declared": refusal.facts},
                   clip_flags={"unplayable": reason, "refused": refusal.code},
                   events=[("marked_unplayable", facts)], alerts=[("warning", refusal.alert_code, facts)],
                   stop_processing=f"nothing is derived from this file: {reason}")


def memory_limit_is_final(run):
    """A step body whose tool ran out of its memory limit fails at once, with an alert: another
    attempt would run out the same way. What it uploaded so far is deleted again."""
    @functools.wraps(run)
    def bounded(context) -> Outcome:
        try:
            return run(context)
        except MemoryLimitExceeded as exc:
            context.discard_uploads()
            refusal = memory_refusal(exc.program, exc.limit_bytes)
            details = {**refusal.facts, "step": context.step.step, "profile": context.step.profile,
                       "reason": refusal.reason}
            return Outcome(status="failed", error=str(exc), result={"memory_limit": refusal.facts},
                           alerts=[("error", refusal.alert_code, details)])
    return bounded


def final_failure(claimed, reason: str, exc: BaseException | None = None) -> Outcome:
    """The last attempt failed. A probe that never succeeds means the file is unplayable; any
    other step is marked failed and raises an alert for an administrator."""
    if claimed.step == PROBE and isinstance(exc, ProbeTimeout):
        return refused(probe_timeout_refusal(exc.timeout, claimed.attempts), {"attempts": claimed.attempts})
    if claimed.step == PROBE:
        message = getattr(exc, "reason", None) or reason.splitlines()[-1]
        return unplayable(message, {"attempts": claimed.attempts})
    details = {"step": claimed.step, "profile": claimed.profile, "attempts": claimed.attempts,
               "reason": reason.splitlines()[-1] if reason else ""}
    return Outcome(status="failed", error=reason, alerts=[("error", "step_failed", details)])
