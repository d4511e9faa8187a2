"""The retention sweeper: deletes what has expired, is not held and is linked to no open case.

Making the store match the policy for a few clips is workers/store_retention.py.

The sweeper deletes a clip in three steps, each safe to repeat after a crash:
  1. `_mark`: in one transaction under the linking lock, re-check the policy and the store's own
     locks, then set status `deleting` (a committed decision to delete);
  2. `_delete_objects`: delete the derivatives, then the original (a missing object counts as
     already deleted);
  3. `_record_deleted`: in one transaction, status `deleted`, deleted_at and the custody event
     `deleted` — only if the clip is still `deleting`, so a re-run never writes a second one.
A re-run first finishes every clip left `deleting`.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Callable, Iterator

from sqlalchemy import func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from storage.custody import append_event
from storage.db import utcnow
from storage.exceptions import ObjectNotFound, StorageError
from storage.link_models import NamedLock
from storage.models import Clip, Derivative
from storage.owners import host_name
from storage.retention import Reason, show_time
from workers.linking import Actor, take_lock
from workers.store_retention import GONE, apply, decisions, iso_or_none
from workers.transaction import run

log = logging.getLogger(__name__)

SWEEP_LOCK = "retention_sweep"
"""named_locks row whose taken_at is when the last scheduled sweep started."""
PAGE = 200


def worker_actor() -> Actor:
    return Actor("worker", f"retention@{host_name()}")


# --- facts and policy --------------------------------------------------------------------

# --- selection (shared by the sweep and its dry-run report) -------------------------------

def _expired(rules, now: datetime):
    """Clips whose applied retention passed (or, never applied, whose field period passed) and
    that are not held; the policy is checked again for each."""
    return (Clip.status.not_in(GONE), Clip.held.is_(False),
            or_(Clip.retain_until <= now,
                Clip.retain_until.is_(None) & (Clip.received_at <= now - timedelta(days=rules.field_recording_days))))


def count_expired(session: Session, rules, now: datetime) -> int:
    return session.scalar(select(func.count()).select_from(Clip).where(*_expired(rules, now)))


@dataclass
class Candidate:
    clip_id: str
    original_key: str
    size: int
    derivatives: list[dict]
    received_at: datetime
    retain_until: datetime
    reasons: tuple[Reason, ...]

    @property
    def total_bytes(self) -> int:
        return self.size + sum(item["size"] for item in self.derivatives)


def candidates(session: Session, rules, now: datetime,
               examined: Callable[[int], None] | None = None) -> Iterator[Candidate]:
    """What the sweep would delete now, by clip id; nothing is changed. `examined(n)` is told
    of every page of clips looked at."""
    after = ""
    while True:
        clips = session.scalars(select(Clip).where(*_expired(rules, now), Clip.id > after)
                                .order_by(Clip.id).limit(PAGE)).all()
        if not clips:
            return
        after = clips[-1].id
        if examined:
            examined(len(clips))
        policy = decisions(session, [clip.id for clip in clips], rules)
        derivatives: dict[str, list[dict]] = {}
        for row in session.scalars(select(Derivative).where(Derivative.clip_id.in_([c.id for c in clips]))
                                   .order_by(Derivative.created_at)):
            derivatives.setdefault(row.clip_id, []).append({"kind": row.kind, "key": row.object_key,
                                                            "size": row.size, "sha256": row.sha256})
        for clip in clips:
            decision = policy[clip.id]
            if decision.deletable(now, clip.retain_until):
                yield Candidate(clip.id, clip.original_key, clip.size, derivatives.get(clip.id, []), clip.received_at,
                                decision.expiry(clip.retain_until), decision.why_deletable(clip.retain_until))


# --- the sweep ---------------------------------------------------------------------------

@dataclass
class SweepResult:
    dry_run: bool
    deleted: list[str] = field(default_factory=list)
    kept: dict[str, str] = field(default_factory=dict)
    """Clip id → why it was kept after all (the check at deletion time)."""
    failed: dict[str, str] = field(default_factory=dict)
    """Clip id → the store's error; the next sweep retries (a clip already `deleting` stays so)."""
    bytes_freed: int = 0
    report: list[Candidate] = field(default_factory=list)

    def as_dict(self) -> dict:
        return {"dry_run": self.dry_run, "deleted": len(self.deleted), "kept": len(self.kept),
                "failed": len(self.failed), "bytes_freed": self.bytes_freed, "would_delete": len(self.report)}


def sweep(rt, *, dry_run: bool = False, now: datetime | None = None, actor: Actor | None = None,
          progress: Callable[[int], None] | None = None, total: Callable[[int], None] | None = None) -> SweepResult:
    """Delete every expired clip that is neither held nor linked to an open case (dry_run: only
    list them). `total(n)` is told how many clips will be looked at, `progress(n)` as they are."""
    now, actor, rules = now or utcnow(), actor or worker_actor(), rt.settings.retention
    progress = progress or (lambda _n: None)
    total = total or (lambda _n: None)
    result = SweepResult(dry_run)
    with rt.session() as session:
        if dry_run:
            total(count_expired(session, rules, now))
            result.report = list(candidates(session, rules, now, progress))
            return result
        unfinished = list(session.scalars(select(Clip.id).where(Clip.status == "deleting")))
        ids = [candidate.clip_id for candidate in candidates(session, rules, now)]
    total(len(unfinished) + len(ids))
    for clip_id in unfinished:
        _finish(rt, clip_id, actor, result)
        progress(1)
    for clip_id in ids:
        try:
            verdict = run(rt, lambda session: _mark(session, rt, clip_id, actor, now))
        except StorageError as exc:  # nothing was marked; the next sweep looks again
            log.error("retention: could not check clip %s against the store: %s", clip_id, exc)
            result.failed[clip_id] = str(exc)
            verdict = None
        if verdict == "deleting":
            _finish(rt, clip_id, actor, result)
        elif verdict is not None:
            result.kept[clip_id] = verdict
        progress(1)
    if result.deleted or result.kept or result.failed:
        log.info("retention sweep: %d clips deleted (%d bytes), %d kept after a last check, %d failed",
                 len(result.deleted), result.bytes_freed, len(result.kept), len(result.failed))
    return result


def _mark(session: Session, rt, clip_id: str, actor: Actor, now: datetime) -> str:
    """Step 1: decide at deletion time, under the linking lock; 'deleting' or why it is kept."""
    take_lock(session)
    clip = session.get(Clip, clip_id)
    if clip is None or clip.status in GONE:
        return "already being deleted or deleted"
    rules = rt.settings.retention
    decision = decisions(session, [clip_id], rules)[clip_id]
    apply(session, rt.store, [clip_id], actor, rules=rules)  # releases holds the policy no longer asks for
    if not decision.deletable(now, clip.retain_until):
        return "the policy keeps it: " + "; ".join(reason.text("en") for reason in decision.reasons)
    keys = [clip.original_key, *session.scalars(select(Derivative.object_key).where(Derivative.clip_id == clip_id))]
    for key in keys:
        try:
            info = rt.store.stat(key)
        except ObjectNotFound:
            continue
        if info.legal_hold:
            log.warning("retention: %s of clip %s is under a legal hold in the store that no record "
                        "explains; left alone", key, clip_id)
            return f"the store holds {key} (a legal hold no record explains)"
        if info.retain_until is not None and info.retain_until > now:
            if key == clip.original_key and (clip.retain_until is None or info.retain_until > clip.retain_until):
                adopted = Reason("store_retention", {"until": show_time(info.retain_until)}, info.retain_until)
                append_event(session, actor_type=actor.actor_type, actor_id=actor.actor_id, clip_id=clip_id,
                             action="retention_extended", details={"key": key, "from": iso_or_none(clip.retain_until),
                                                                   "to": iso_or_none(info.retain_until),
                                                                   "reasons": [adopted.as_dict()]})
                clip.retain_until = info.retain_until
            return f"the store retains {key} until {info.retain_until.isoformat()}"
    clip.status = "deleting"
    return "deleting"


def _finish(rt, clip_id: str, actor: Actor, result: SweepResult) -> None:
    with rt.session() as session:
        clip = session.get(Clip, clip_id)
        if clip is None or clip.status != "deleting":
            return
        objects = [{"role": "derivative", "kind": row.kind, "profile": row.profile, "key": row.object_key,
                    "sha256": row.sha256, "sm3": row.sm3, "size": row.size}
                   for row in session.scalars(select(Derivative).where(Derivative.clip_id == clip_id)
                                              .order_by(Derivative.created_at, Derivative.object_key))]
        objects.append({"role": "original", "key": clip.original_key, "sha256": clip.sha256, "sm3": clip.sm3,
                        "size": clip.size})
    try:
        _delete_objects(rt.store, objects)
    except StorageError as exc:  # e.g. locked by the store's own admin, or the store is down
        log.error("retention: could not delete the objects of clip %s (it stays 'deleting'; the next "
                  "sweep retries): %s", clip_id, exc)
        result.failed[clip_id] = str(exc)
        return
    if run(rt, lambda session: _record_deleted(session, rt, clip_id, objects, actor)):
        result.deleted.append(clip_id)
        result.bytes_freed += sum(item["size"] for item in objects if not item["already_absent"])


def _delete_objects(store, objects: list[dict]) -> None:
    """Step 2: derivatives first, the original last."""
    for item in objects:
        try:
            store.delete(item["key"])
            item["already_absent"] = False
        except ObjectNotFound:
            item["already_absent"] = True


def _record_deleted(session: Session, rt, clip_id: str, objects: list[dict], actor: Actor) -> bool:
    """Step 3: once, whatever runs reach this point."""
    take_lock(session)
    clip = session.get(Clip, clip_id)
    if clip.status != "deleting":
        return False
    rules = rt.settings.retention
    decision = decisions(session, [clip_id], rules)[clip_id]
    clip.status, clip.deleted_at = "deleted", utcnow()
    append_event(session, actor_type=actor.actor_type, actor_id=actor.actor_id, action="deleted", clip_id=clip_id,
                 details={"objects": objects, "bytes": sum(item["size"] for item in objects),
                          "retain_until": iso_or_none(decision.expiry(clip.retain_until)),
                          "policy": {"field_recording_days": rules.field_recording_days,
                                     "evidence_permanent": rules.evidence_permanent,
                                     "closed_case_years": rules.closed_case_years},
                          "reasons": [reason.as_dict() for reason in decision.why_deletable(clip.retain_until)]})
    return True


# --- schedule ----------------------------------------------------------------------------

def sweep_if_due(rt, now: datetime | None = None) -> SweepResult | None:
    """Sweep when settings.retention.sweep_hours have passed since the last scheduled sweep
    started (kept in named_locks); only one of many workers wins each period."""
    now = now or utcnow()
    due = now - timedelta(hours=rt.settings.retention.sweep_hours)
    try:
        with rt.session() as session, session.begin():
            claimed = session.execute(update(NamedLock).where(
                NamedLock.name == SWEEP_LOCK, or_(NamedLock.taken_at.is_(None), NamedLock.taken_at <= due))
                .values(taken_at=now)).rowcount
            if not claimed and session.get(NamedLock, SWEEP_LOCK) is None:
                session.add(NamedLock(name=SWEEP_LOCK, taken_at=now))
                claimed = 1
    except IntegrityError:  # another worker made the row first, and so runs this sweep
        return None
    return sweep(rt, now=now) if claimed else None
