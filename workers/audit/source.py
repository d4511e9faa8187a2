"""Read what an audit judges, a page of steps at a time (memory stays bounded however large the
scope): the steps in scope in start order, their officers, their linked clips with the facts the
rules need, and the clips' obstructed intervals. Times are read as epoch seconds computed by the
database, which is several times faster than building a datetime per value."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from typing import Iterator
from zoneinfo import ZoneInfo

from sqlalchemy import Float, and_, cast, exists, func, literal, or_, select

from server.operations.units import subtree
from storage.case_models import Case, Step, StepOfficer
from storage.link_models import ClipLink
from storage.models import Clip
from storage.processing_models import ObstructedInterval
from workers.audit.evaluate import ClipFacts, StepFacts

PAGE = 2000
"""Steps read and judged at a time."""
IN_CHUNK = 5000
"""Ids per IN (...) list (SQLite allows 32,766 parameters a statement)."""


@dataclass(frozen=True)
class Scope:
    period_from: date | None
    period_to: date | None
    """Inclusive local dates; None for no bound (a single case's whole history)."""
    timezone: str
    unit_code: str | None = None
    officer_code: str | None = None
    case_id: str | None = None

    def utc_bounds(self) -> tuple[datetime | None, datetime | None]:
        zone = ZoneInfo(self.timezone)
        low = datetime.combine(self.period_from, time(), zone).astimezone(timezone.utc) if self.period_from else None
        high = (datetime.combine(self.period_to + timedelta(days=1), time(), zone).astimezone(timezone.utc)
                if self.period_to else None)
        return low, high


@dataclass
class StepRow:
    facts: StepFacts
    created_at: float
    required: bool
    clips: list[ClipFacts]


def epoch(session, column):
    """Seconds since the epoch of a UTC datetime column, computed by the database (on SQLite from
    julianday, whose double carries ~40 us of error: rounded to the millisecond, which is exact)."""
    if session.get_bind().dialect.name == "postgresql":
        return cast(func.extract("epoch", column), Float)
    return func.round((func.julianday(column) - literal(2440587.5)) * literal(86400.0), 3)


def _filters(session, scope: Scope) -> list:
    low, high = scope.utc_bounds()
    where = []
    if low is not None:
        where.append(Step.started_at >= low)
    if high is not None:
        where.append(Step.started_at < high)
    if scope.case_id:
        where.append(Step.case_id == scope.case_id)
    if scope.unit_code:
        where.append(Case.unit_code.in_(subtree(session, scope.unit_code)))
    if scope.officer_code:
        where.append(exists().where(StepOfficer.step_id == Step.id, StepOfficer.officer_code == scope.officer_code))
    return where


def count_steps(session, scope: Scope) -> int:
    query = select(func.count()).select_from(Step).join(Case, Case.id == Step.case_id).where(*_filters(session, scope))
    return session.scalar(query) or 0


def _chunks(values: list, size: int = IN_CHUNK):
    for i in range(0, len(values), size):
        yield values[i:i + size]


def _after(key: tuple):
    return or_(Step.started_at > key[0], and_(Step.started_at == key[0], Step.id > key[1]))


def slice_keys(session, scope: Scope, total: int, parts: int) -> list[tuple]:
    """(started_at, id) keys cutting the scope's steps into `parts` runs of about equal length."""
    keys = []
    for k in range(1, parts):
        key = session.execute(select(Step.started_at, Step.id).join(Case, Case.id == Step.case_id)
                              .where(*_filters(session, scope)).order_by(Step.started_at, Step.id)
                              .offset(total * k // parts).limit(1)).first()
        if key is not None and (not keys or tuple(key) > keys[-1]):
            keys.append(tuple(key))
    return keys


def step_pages(session, scope: Scope, required_types: set[str], broken_clips: set[str] | frozenset = frozenset(),
               page: int = PAGE, after: tuple | None = None, until: tuple | None = None) -> Iterator[list[StepRow]]:
    """Pages of steps in (started_at, id) order — after the key `after`, up to and including the key
    `until` — each with its officers and, for a step whose type needs footage, its linked clips
    (manual exclusions included, as the rules must explain them)."""
    where = _filters(session, scope)
    if until is not None:
        where.append(~_after(until))
    columns = (Step.id, Step.case_id, Case.case_number, Case.unit_code, Step.type, Step.started_at,
               epoch(session, Step.started_at), epoch(session, Step.ended_at), epoch(session, Step.created_at))
    last = after
    while True:
        query = (select(*columns).join(Case, Case.id == Step.case_id).where(*where)
                 .order_by(Step.started_at, Step.id).limit(page))
        if last is not None:
            query = query.where(_after(last))
        rows = session.execute(query).all()
        if not rows:
            return
        last = (rows[-1][5], rows[-1][0])
        yield _page(session, rows, required_types, broken_clips)
        if len(rows) < page:
            return


def _page(session, rows, required_types, broken_clips) -> list[StepRow]:
    ids = [r[0] for r in rows]
    officers: dict[str, list[str]] = {}
    for chunk in _chunks(ids):
        for step_id, code in session.execute(select(StepOfficer.step_id, StepOfficer.officer_code)
                                             .where(StepOfficer.step_id.in_(chunk))
                                             .order_by(StepOfficer.step_id, StepOfficer.officer_code)):
            officers.setdefault(step_id, []).append(code)
    required = [r[0] for r in rows if r[4] in required_types]
    links = _links(session, required, broken_clips)
    return [StepRow(StepFacts(r[0], r[1], r[2], r[3], r[4], r[6], r[7], tuple(officers.get(r[0], ()))),
                    r[8], r[4] in required_types, links.get(r[0], [])) for r in rows]


def _links(session, step_ids: list[str], broken_clips) -> dict[str, list[ClipFacts]]:
    found: dict[str, list[tuple]] = {}
    clip_ids: set[str] = set()
    columns = (ClipLink.step_id, Clip.id, epoch(session, Clip.corrected_start), epoch(session, Clip.corrected_end),
               epoch(session, Clip.received_at), Clip.status, Clip.media_kind, Clip.device_serial, Clip.officer_id,
               epoch(session, Clip.recorded_at), Clip.clock_offset_seconds, Clip.deleted_at.is_not(None),
               ClipLink.origin, ClipLink.state, ClipLink.rule, ClipLink.reason, ClipLink.decided_by)
    for chunk in _chunks(step_ids):
        for row in session.execute(select(*columns).join(Clip, Clip.id == ClipLink.clip_id)
                                   .where(ClipLink.step_id.in_(chunk))):
            found.setdefault(row[0], []).append(row)
            clip_ids.add(row[1])
    holes: dict[str, list] = {}
    for chunk in _chunks(sorted(clip_ids)):
        for clip_id, start, end, reason in session.execute(
                select(ObstructedInterval.clip_id, ObstructedInterval.start_seconds, ObstructedInterval.end_seconds,
                       ObstructedInterval.reason).where(ObstructedInterval.clip_id.in_(chunk))):
            holes.setdefault(clip_id, []).append((start, end, reason))
    out: dict[str, list[ClipFacts]] = {}
    for step_id, rows in found.items():
        out[step_id] = [ClipFacts(id=r[1], start=r[2], end=r[3], received=r[4], status=r[5], kind=r[6],
                                  device_serial=r[7], officer_id=r[8], raw_start=r[9], offset=r[10], deleted=r[11],
                                  custody_ok=r[1] not in broken_clips, link_origin=r[12], link_state=r[13],
                                  link_rule=r[14], link_reason=r[15], decided_by=r[16],
                                  obstructions=tuple(sorted(holes.get(r[1], ()))))
                        for r in rows]
    return out
