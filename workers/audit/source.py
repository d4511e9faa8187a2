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
from sqlalchemy.orm import aliased

from server.operations.units import subtree
from storage.case_models import Case, Step, StepOfficer
from storage.link_models import ClipLink
from storage.models import Clip
from storage.processing_models import ObstructedInterval
from workers.audit.evaluate import ClipFacts, StepFacts

PAGE = 2000
"""Steps read and judged at a time."""


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


def _after(key: tuple):
    """Steps after the (started_at, id) key; the plain bound on started_at lets the database seek
    its index to the key instead of filtering from the first step on."""
    return and_(Step.started_at >= key[0],
                or_(Step.started_at > key[0], and_(Step.started_at == key[0], Step.id > key[1])))


def _up_to(key: tuple):
    """Steps up to and including the (started_at, id) key."""
    return and_(Step.started_at <= key[0],
                or_(Step.started_at < key[0], and_(Step.started_at == key[0], Step.id <= key[1])))


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
    (manual exclusions included, as the rules must explain them). A page's officers, clips and
    obstructions are read by the page's key range, not by lists of ids."""
    where = _filters(session, scope)
    if until is not None:
        where.append(_up_to(until))
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
        first, last = last, (rows[-1][5], rows[-1][0])
        in_page = [*where, _up_to(last)] + ([_after(first)] if first is not None else [])
        yield _page(session, rows, in_page, required_types, broken_clips)
        if len(rows) < page:
            return


def _page(session, rows, in_page: list, required_types, broken_clips) -> list[StepRow]:
    officers: dict[str, list[str]] = {}
    on_step = aliased(StepOfficer)  # the officer filter's EXISTS must not correlate with this one
    for step_id, code in session.execute(
            select(on_step.step_id, on_step.officer_code).join(Step, Step.id == on_step.step_id)
            .join(Case, Case.id == Step.case_id).where(*in_page).order_by(on_step.step_id, on_step.officer_code)):
        officers.setdefault(step_id, []).append(code)
    links = _links(session, [*in_page, Step.type.in_(sorted(required_types))], broken_clips)
    return [StepRow(StepFacts(r[0], r[1], r[2], r[3], r[4], r[6], r[7], tuple(officers.get(r[0], ()))),
                    r[8], r[4] in required_types, links.get(r[0], [])) for r in rows]


def _links(session, in_page: list, broken_clips) -> dict[str, list[ClipFacts]]:
    holes: dict[str, list] = {}
    for clip_id, start, end, reason in session.execute(
            select(ObstructedInterval.clip_id, ObstructedInterval.start_seconds, ObstructedInterval.end_seconds,
                   ObstructedInterval.reason)
            .join(ClipLink, ClipLink.clip_id == ObstructedInterval.clip_id).join(Step, Step.id == ClipLink.step_id)
            .join(Case, Case.id == Step.case_id).where(*in_page).distinct()):
        holes.setdefault(clip_id, []).append((start, end, reason))
    columns = (ClipLink.step_id, Clip.id, epoch(session, Clip.corrected_start), epoch(session, Clip.corrected_end),
               epoch(session, Clip.received_at), Clip.status, Clip.media_kind, Clip.device_serial, Clip.officer_id,
               epoch(session, Clip.recorded_at), Clip.clock_offset_seconds, Clip.deleted_at.is_not(None),
               ClipLink.origin, ClipLink.state, ClipLink.rule, ClipLink.reason, ClipLink.decided_by)
    out: dict[str, list[ClipFacts]] = {}
    for r in session.execute(select(*columns).join(Clip, Clip.id == ClipLink.clip_id)
                             .join(Step, Step.id == ClipLink.step_id).join(Case, Case.id == Step.case_id)
                             .where(*in_page)):
        out.setdefault(r[0], []).append(ClipFacts(
            r[1], r[2], r[3], r[4], r[5], r[6], r[7], r[8], r[9], r[10], r[11], r[1] not in broken_clips,
            r[12], r[13], r[14], r[15], r[16], tuple(sorted(holes[r[1]])) if r[1] in holes else ()))
    return out
