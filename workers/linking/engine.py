"""Keeping clip links right in the database: corrected clip times, automatic links, and their
custody events, recomputed only for the clips that a change can affect.

Every writer that changes an input of linking (a step, an assignment, a clock report, a clip's
times or a manual decision) first takes the linking lock (`take_lock`) in its transaction, so
that concurrent changes are applied one after the other and each sees the others' results.
Automatic links never override a manual decision (a manual link or exclusion of that pair).
"""
from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Callable, Iterable, NamedTuple

from sqlalchemy import delete, insert, or_, select, update
from sqlalchemy.orm import Session

from storage.case_models import Step, StepDevice, StepOfficer
from storage.custody import append_events
from storage.db import utcnow
from storage.device_models import ClockReport, DeviceAssignment
from storage.link_models import ClipLink, NamedLock
from storage.models import Clip
from workers.linking import clock, rules

LOCK_NAME = "linking"
CHANGED = "fullrecord.clips_with_changed_links"
"""session.info key: clips whose links changed in this transaction → who changed them; the
retention policy of those clips is applied before the transaction commits."""
CHUNK = 1000
"""Clips re-linked per round: bounds memory and the size of IN (...) lists."""


class Actor(NamedTuple):
    """Who caused a change, for the custody events it leads to."""
    actor_type: str  # user, station or worker
    actor_id: str
    source_address: str | None = None


@dataclass
class LinkStats:
    clips: int = 0
    """Clips whose links were recomputed."""
    added: int = 0
    removed: int = 0
    updated: int = 0
    retimed: int = 0
    """Clips whose corrected times changed."""

    def __iadd__(self, other: "LinkStats") -> "LinkStats":
        self.clips += other.clips
        self.added += other.added
        self.removed += other.removed
        self.updated += other.updated
        self.retimed += other.retimed
        return self

    def as_dict(self) -> dict:
        return {"clips": self.clips, "added": self.added, "removed": self.removed, "updated": self.updated,
                "retimed": self.retimed}


def take_lock(session: Session) -> None:
    """Serialise linking writers until this transaction ends (a row lock on PostgreSQL, the
    write lock on SQLite). Take it before reading or changing anything linking depends on."""
    session.execute(update(NamedLock).where(NamedLock.name == LOCK_NAME).values(taken_at=utcnow()))


def note_changed(session: Session, clip_ids: Iterable[str], actor: Actor) -> None:
    """Remember clips whose links (or whose cases' status) changed, for `take_changed`."""
    changed = session.info.setdefault(CHANGED, {})
    for clip_id in clip_ids:
        changed.setdefault(clip_id, actor)


def take_changed(session: Session) -> dict[str, Actor]:
    """The clips noted since the last call, and who changed them."""
    return session.info.pop(CHANGED, {})


def _chunks(items: list, size: int = CHUNK) -> Iterable[list]:
    for index in range(0, len(items), size):
        yield items[index:index + size]


# --- corrected times -----------------------------------------------------------------------

def _clocks(session: Session, device_ids: set[str]) -> dict[str, clock.DeviceClock]:
    reports: dict[str, list[clock.Report]] = {device_id: [] for device_id in device_ids}
    for ids in _chunks(sorted(device_ids)):
        for row in session.execute(select(ClockReport.id, ClockReport.device_id, ClockReport.device_time,
                                          ClockReport.offset_seconds).where(ClockReport.device_id.in_(ids))):
            reports[row.device_id].append(clock.Report(row.id, row.device_time, row.offset_seconds))
    return {device_id: clock.DeviceClock(items) for device_id, items in reports.items()}


def retime(session: Session, clip_ids: list[str]) -> list[str]:
    """Recompute the clips' corrected times from their recorders' clock reports and their
    durations; returns the ids of clips whose times changed."""
    changed = []
    for ids in _chunks(clip_ids):
        rows = session.execute(select(Clip.id, Clip.device_id, Clip.recorded_at, Clip.duration_seconds,
                                      Clip.corrected_start, Clip.corrected_end, Clip.clock_offset_seconds,
                                      Clip.clock_report_id).where(Clip.id.in_(ids))).all()
        clocks = _clocks(session, {row.device_id for row in rows if row.device_id})
        updates = []
        for row in rows:
            report = clocks[row.device_id].in_force(row.recorded_at) if row.device_id else None
            start, end, offset = clock.corrected(row.recorded_at, row.duration_seconds, report)
            new = (start, end, offset, report.id if report else None)
            if new != (row.corrected_start, row.corrected_end, row.clock_offset_seconds, row.clock_report_id):
                updates.append({"id": row.id, "corrected_start": start, "corrected_end": end,
                                "clock_offset_seconds": offset, "clock_report_id": new[3]})
        if updates:
            session.execute(update(Clip), updates)
            changed.extend(item["id"] for item in updates)
    return changed


# --- facts for the rule --------------------------------------------------------------------

def _buffers(settings) -> dict[str, timedelta]:
    return {code: timedelta(minutes=settings.audit_value(code, "link_buffer_minutes"))
            for code in settings.step_types}


def _clip_facts(session: Session, clip_ids: list[str]) -> list[rules.ClipFacts]:
    rows = session.execute(select(Clip.id, Clip.device_id, Clip.device_serial, Clip.officer_id,
                                  Clip.corrected_start, Clip.corrected_end, Clip.clock_offset_seconds)
                           .where(Clip.id.in_(clip_ids))).all()
    device_ids = sorted({row.device_id for row in rows if row.device_id})
    assignments: dict[str, list[rules.Assignment]] = {}
    if rows and device_ids:
        low = min(row.corrected_start for row in rows)
        high = max(row.corrected_end for row in rows)
        for ids in _chunks(device_ids):
            for item in session.execute(
                    select(DeviceAssignment.device_id, DeviceAssignment.officer_code, DeviceAssignment.started_at,
                           DeviceAssignment.ended_at)
                    .where(DeviceAssignment.device_id.in_(ids), DeviceAssignment.started_at <= high,
                           or_(DeviceAssignment.ended_at.is_(None), DeviceAssignment.ended_at >= low))):
                assignments.setdefault(item.device_id, []).append(
                    rules.Assignment(item.officer_code, item.started_at, item.ended_at))
    return [rules.ClipFacts(row.id, row.device_serial, row.officer_id, row.corrected_start, row.corrected_end,
                            tuple(assignments.get(row.device_id, ())), row.clock_offset_seconds)
            for row in rows]


def _step_facts(session: Session, settings, low: datetime, high: datetime) -> list[rules.StepFacts]:
    """Steps whose widened interval can touch [low, high]."""
    buffers = _buffers(settings)
    widest = max(buffers.values(), default=timedelta(0))
    low, high = rules.widen(low, high, widest)
    rows = session.execute(select(Step.id, Step.case_id, Step.type, Step.started_at, Step.ended_at)
                           .where(Step.started_at <= high, Step.ended_at >= low)).all()
    officers: dict[str, set[str]] = {}
    devices: dict[str, set[str]] = {}
    for ids in _chunks([row.id for row in rows]):
        for step_id, code in session.execute(select(StepOfficer.step_id, StepOfficer.officer_code)
                                             .where(StepOfficer.step_id.in_(ids))):
            officers.setdefault(step_id, set()).add(code)
        for step_id, serial in session.execute(select(StepDevice.step_id, StepDevice.device_serial)
                                               .where(StepDevice.step_id.in_(ids))):
            devices.setdefault(step_id, set()).add(serial)
    return [rules.StepFacts(row.id, row.case_id, row.started_at, row.ended_at, buffers.get(row.type, widest),
                            frozenset(officers.get(row.id, ())), frozenset(devices.get(row.id, ())))
            for row in rows]


def _desired(clips: list[rules.ClipFacts], steps: list[rules.StepFacts]) -> dict[tuple[str, str], tuple]:
    """(clip, step) → (case, reason) for every automatic link the rule asks for."""
    by_officer: dict[str, list[rules.StepFacts]] = {}
    by_device: dict[str, list[rules.StepFacts]] = {}
    for step in steps:
        for officer in step.officers:
            by_officer.setdefault(officer, []).append(step)
        for serial in step.devices:
            by_device.setdefault(serial, []).append(step)
    wanted = {}
    for clip in clips:
        officers = rules.officer_sources(clip)
        candidates = {step.id: step for officer in officers for step in by_officer.get(officer, ())}
        candidates.update((step.id, step) for step in by_device.get(clip.serial, ()))
        for step in candidates.values():
            reason = rules.match(clip, step, officers)
            if reason is not None:
                wanted[(clip.id, step.id)] = (step.case_id, reason)
    return wanted


# --- reconciling links ---------------------------------------------------------------------

def relink_clips(session: Session, settings, clip_ids: Iterable[str], actor: Actor,
                 progress: Callable[[int], None] | None = None) -> LinkStats:
    """Recompute the corrected times and automatic links of these clips against every step."""
    ids = sorted(set(clip_ids))
    stats = LinkStats()
    if not ids:
        return stats
    stats.retimed = len(retime(session, ids))
    now = utcnow()
    for chunk in _chunks(_time_ordered(session, ids)):
        stats += _relink_chunk(session, settings, chunk, actor, now)
        if progress:
            progress(len(chunk))
    return stats


def _time_ordered(session: Session, ids: list[str]) -> list[str]:
    """The clips sorted by corrected start, so each chunk spans a short time and meets few steps."""
    pairs = []
    for chunk in _chunks(ids):
        pairs.extend(session.execute(select(Clip.corrected_start, Clip.id).where(Clip.id.in_(chunk))).all())
    return [clip_id for _, clip_id in sorted(pairs)]


def _relink_chunk(session: Session, settings, clip_ids: list[str], actor: Actor, now: datetime) -> LinkStats:
    clips = _clip_facts(session, clip_ids)
    stats = LinkStats(clips=len(clips))
    if not clips:
        return stats
    steps = _step_facts(session, settings, min(clip.start for clip in clips), max(clip.end for clip in clips))
    wanted = _desired(clips, steps)
    existing = session.execute(select(ClipLink).where(ClipLink.clip_id.in_(clip_ids))).scalars().all()
    manual = {(link.clip_id, link.step_id) for link in existing if link.origin == "manual"}
    automatic = {(link.clip_id, link.step_id): link for link in existing if link.origin == "auto"}
    events, inserts, removals, updates = [], [], [], []
    changed: list[str] = []  # clips that lost a link (those that gained one are in inserts)
    base = {"actor_type": actor.actor_type, "actor_id": actor.actor_id, "source_address": actor.source_address,
            "occurred_at": now}
    for key, (case_id, reason) in sorted(wanted.items()):
        if key in manual:
            continue
        summary = {"step_id": key[1], "origin": "auto", "rule": reason.rule,
                   "overlap_seconds": reason.overlap_seconds, "details": reason.details}
        link = automatic.get(key)
        if link is None:
            inserts.append({"id": str(uuid.uuid4()), "clip_id": key[0], "step_id": key[1], "case_id": case_id,
                            "origin": "auto", "state": "linked", "rule": reason.rule,
                            "overlap_seconds": reason.overlap_seconds, "details": reason.details,
                            "created_at": now, "updated_at": now})
            events.append({**base, "action": "linked", "clip_id": key[0], "case_id": case_id, "details": summary})
        elif (link.rule, link.overlap_seconds, link.details) != (reason.rule, reason.overlap_seconds, reason.details):
            updates.append({"id": link.id, "rule": reason.rule, "overlap_seconds": reason.overlap_seconds,
                            "details": reason.details, "updated_at": now})
            events.append({**base, "action": "link_updated", "clip_id": key[0], "case_id": case_id,
                           "details": {**summary, "was": {"rule": link.rule, "overlap_seconds": link.overlap_seconds}}})
    for key, link in sorted(automatic.items()):
        if key not in wanted:
            removals.append(link.id)
            changed.append(link.clip_id)
            events.append({**base, "action": "unlinked", "clip_id": link.clip_id, "case_id": link.case_id,
                           "details": {"step_id": link.step_id, "origin": "auto", "rule": link.rule,
                                       "why": "rule_no_longer_matches"}})
    for ids in _chunks(removals):
        session.execute(delete(ClipLink).where(ClipLink.id.in_(ids)))
    if inserts:
        session.execute(insert(ClipLink), inserts)
    if updates:
        session.execute(update(ClipLink), updates)
    append_events(session, events)
    session.flush()
    session.expire_all()  # the bulk statements bypassed objects the caller may hold
    stats.added, stats.removed, stats.updated = len(inserts), len(removals), len(updates)
    note_changed(session, changed + [row["clip_id"] for row in inserts], actor)
    return stats


# --- what a change can affect --------------------------------------------------------------

def clips_touching(session: Session, low: datetime, high: datetime, device_id: str | None = None) -> list[str]:
    """Clips whose corrected interval meets [low, high] (optionally of one recorder)."""
    statement = select(Clip.id).where(Clip.corrected_start <= high, Clip.corrected_end >= low)
    if device_id is not None:
        statement = statement.where(Clip.device_id == device_id)
    return list(session.scalars(statement))


def on_step_changed(session: Session, settings, step_id: str, actor: Actor) -> LinkStats:
    """A step was created or changed (its new state flushed): re-link the clips linked to it
    automatically until now and the clips its new state can reach (an officer or a recorder of
    the step, within its widened interval). No other clip can gain or lose a link to it."""
    step = session.get(Step, step_id)
    affected = set(session.scalars(select(ClipLink.clip_id).where(ClipLink.step_id == step_id,
                                                                  ClipLink.origin == "auto")))
    buffer = timedelta(minutes=settings.audit_value(step.type, "link_buffer_minutes"))
    low, high = rules.widen(step.started_at, step.ended_at, buffer)
    officers = list(session.scalars(select(StepOfficer.officer_code).where(StepOfficer.step_id == step_id)))
    serials = list(session.scalars(select(StepDevice.device_serial).where(StepDevice.step_id == step_id)))
    assigned = select(DeviceAssignment.device_id).where(
        DeviceAssignment.officer_code.in_(officers), DeviceAssignment.started_at <= high,
        or_(DeviceAssignment.ended_at.is_(None), DeviceAssignment.ended_at >= low))
    reachable = select(Clip.id).where(Clip.corrected_start <= high, Clip.corrected_end >= low, or_(
        Clip.officer_id.in_(officers), Clip.device_serial.in_(serials), Clip.device_id.in_(assigned)))
    affected.update(session.scalars(reachable))
    return relink_clips(session, settings, affected, actor)


def on_assignment_changed(session: Session, settings, device_id: str,
                          spans: Iterable[tuple[datetime, datetime | None]], actor: Actor) -> LinkStats:
    """An assignment of this recorder was added or changed; `spans` are its old and new periods."""
    affected = set()
    for start, end in spans:
        affected.update(clips_touching(session, start, end or rules.FOREVER, device_id))
    return relink_clips(session, settings, affected, actor)


def on_clock_report(session: Session, settings, report: ClockReport, actor: Actor) -> LinkStats:
    """A new clock report for a recorder: the clips that now take it as the report in force are
    re-timed, and those whose times changed are re-linked."""
    earlier = session.scalar(select(ClockReport.device_time).where(
        ClockReport.device_id == report.device_id, ClockReport.device_time < report.device_time)
        .order_by(ClockReport.device_time.desc()).limit(1))
    later = session.scalar(select(ClockReport.device_time).where(
        ClockReport.device_id == report.device_id, ClockReport.device_time > report.device_time).limit(1))
    statement = select(Clip.id).where(Clip.device_id == report.device_id)
    if earlier is not None:
        statement = statement.where(Clip.recorded_at > earlier)
    if later is not None:
        statement = statement.where(Clip.recorded_at <= report.device_time)
    changed = retime(session, list(session.scalars(statement)))
    stats = relink_clips(session, settings, changed, actor)
    stats.retimed = len(changed)
    return stats


def on_device_registered(session: Session, settings, device_id: str, serial: str, actor: Actor) -> LinkStats:
    """Clips that arrived before their recorder was registered now belong to it."""
    orphans = list(session.scalars(select(Clip.id).where(Clip.device_serial == serial, Clip.device_id.is_(None))))
    for ids in _chunks(orphans):
        session.execute(update(Clip).where(Clip.id.in_(ids)).values(device_id=device_id))
    return relink_clips(session, settings, orphans, actor)


def relink_all(session: Session, settings, actor: Actor,
               progress: Callable[[int], None] | None = None) -> LinkStats:
    """Every clip, e.g. after an upgrade or a change of the link buffer in config.yaml."""
    return relink_clips(session, settings, list(session.scalars(select(Clip.id))), actor, progress)


# --- manual decisions ----------------------------------------------------------------------

def decide(session: Session, settings, clip_id: str, step_id: str, state: str, reason: str, actor: Actor,
           decided_by: str) -> ClipLink:
    """Legal staff link (state `linked`) or unlink (`excluded`) a clip and a step; the decision
    stands against automatic re-linking until it is withdrawn."""
    relink_clips(session, settings, [clip_id], actor)  # times and automatic links are current first
    step = session.get(Step, step_id)
    clip = _clip_facts(session, [clip_id])[0]
    window = _step_facts_one(session, settings, step)
    overlap = round(rules.overlap_seconds(clip.start, clip.end, *window.window), 3)
    link = session.scalar(select(ClipLink).where(ClipLink.clip_id == clip_id, ClipLink.step_id == step_id))
    was = None if link is None else {"origin": link.origin, "state": link.state, "rule": link.rule}
    now = utcnow()
    if link is None:
        link = ClipLink(id=str(uuid.uuid4()), clip_id=clip_id, step_id=step_id, case_id=step.case_id,
                        created_at=now)
        session.add(link)
    automatic = rules.match(clip, window)
    link.origin, link.state, link.rule, link.overlap_seconds = "manual", state, "manual", overlap
    link.reason, link.decided_by, link.updated_at = reason, decided_by, now
    link.details = {"clip_interval": [clip.start.isoformat(), clip.end.isoformat()],
                    "window": [window.window[0].isoformat(), window.window[1].isoformat()],
                    "automatic_rule": automatic.rule if automatic else None}
    session.flush()
    append_events(session, [{"actor_type": actor.actor_type, "actor_id": actor.actor_id,
                             "source_address": actor.source_address, "occurred_at": now,
                             "action": "linked" if state == "linked" else "unlinked", "clip_id": clip_id,
                             "case_id": step.case_id,
                             "details": {"step_id": step_id, "origin": "manual", "reason": reason,
                                         "decided_by": decided_by, "overlap_seconds": overlap, "was": was}}])
    note_changed(session, [clip_id], actor)
    return link


def withdraw(session: Session, settings, link: ClipLink, reason: str, actor: Actor, decided_by: str) -> LinkStats:
    """Withdraw a manual decision: the pair is decided by the automatic rule again."""
    summary = {"step_id": link.step_id, "origin": "manual", "state": link.state, "reason": reason,
               "decided_by": decided_by, "previous_reason": link.reason}
    clip_id, case_id = link.clip_id, link.case_id
    session.delete(link)
    session.flush()
    append_events(session, [{"actor_type": actor.actor_type, "actor_id": actor.actor_id,
                             "source_address": actor.source_address, "action": "link_decision_withdrawn",
                             "clip_id": clip_id, "case_id": case_id, "details": summary}])
    note_changed(session, [clip_id], actor)
    return relink_clips(session, settings, [clip_id], actor)


def _step_facts_one(session: Session, settings, step: Step) -> rules.StepFacts:
    buffer = timedelta(minutes=settings.audit_value(step.type, "link_buffer_minutes"))
    officers = frozenset(session.scalars(select(StepOfficer.officer_code).where(StepOfficer.step_id == step.id)))
    devices = frozenset(session.scalars(select(StepDevice.device_serial).where(StepDevice.step_id == step.id)))
    return rules.StepFacts(step.id, step.case_id, step.started_at, step.ended_at, buffer, officers, devices)
