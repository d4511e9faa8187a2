"""Everything the evidence-chain and clip pages show, read with a fixed handful of queries
whatever the number of steps and clips: the clips' rows, derivatives, processing steps,
obstructed intervals and custody events are each read in one query by the case's links.

Rows are read as plain rows (not ORM objects) and each derivative and custody event is turned
into what its table row shows as it is read, so that a large case never holds thousands of rows
and decoded JSON documents at once (which also kept the garbage collector busy)."""
from __future__ import annotations

from collections import namedtuple
from dataclasses import dataclass, field

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session, selectinload

from server.web.chain_facts import CustodyRows, DerivativeRows
from server.web.chain_words import Words
from storage.case_models import Case, Officer, Step, Unit
from storage.link_models import ClipLink
from storage.models import Clip, CustodyEvent, Derivative, Station, User
from storage.processing_models import ObstructedInterval, ProcessingStep
from storage.retention_models import LegalHold



class Rows:
    """A query's columns and the named tuple its rows are read into. SQLAlchemy's Row looks a
    name up in Python on every attribute read; a named tuple does it in C (thousands of rows,
    a dozen reads each). Table columns, not ORM attributes, so the ORM's loading is skipped too."""

    def __init__(self, name: str, columns):
        self.columns = tuple(columns)
        self.shape = namedtuple(name, [column.key for column in self.columns])

    def read(self, session: Session, query):
        return map(self.shape._make, session.execute(query))


_EVENT, _STEP = CustodyEvent.__table__.c, ProcessingStep.__table__.c
EVENTS = Rows("EventRow", (_EVENT.seq, _EVENT.occurred_at, _EVENT.actor_type, _EVENT.actor_id, _EVENT.action,
                           _EVENT.clip_id, _EVENT.details, _EVENT.source_address))
STEPS = Rows("StepRow", (_STEP.clip_id, _STEP.step, _STEP.profile, _STEP.status, _STEP.progress, _STEP.attempts,
                         _STEP.error, _STEP.finished_at, _STEP.seconds))
DERIVATIVES = Rows("DerivativeRow", (c for c in Derivative.__table__.columns if c.key != "object_key"))
CLIPS = Rows("ClipRow", Clip.__table__.columns)
OBSTRUCTIONS = Rows("ObstructionRow", ObstructedInterval.__table__.columns)
LINKS = Rows("LinkRow", ClipLink.__table__.columns)


@dataclass
class ClipRecord:
    """One clip (a clips row) and what was made and done with it."""
    clip: object
    derivative_rows: list = field(default_factory=list)
    """Its derivatives as table rows (server.web.chain_facts.DerivativeRows)."""
    derivatives: list = field(default_factory=list)
    """Its derivatives' rows, when asked for (the clip page's player needs them)."""
    steps: list = field(default_factory=list)
    """Its processing steps (STEPS rows)."""
    obstructions: list = field(default_factory=list)
    """Rows of its obstructed intervals, in time order."""
    custody: list = field(default_factory=list)
    """Its custody events as table rows (server.web.chain_facts.CustodyRows), in log order."""


@dataclass
class CaseRecord:
    case: Case
    unit: Unit | None
    steps: list[Step]
    links: list
    """Rows of the case's clip links."""
    clips: dict[str, ClipRecord]
    officers: dict[str, str]
    """Badge number → name, of everyone the page names."""
    holds: int
    """Open legal holds on the case's clips."""


def actor_names(session: Session, clip_ids) -> dict[tuple[str, str], str]:
    """Readable names of the users and stations that acted on these clips (workers are named by host)."""
    wanted: dict[str, set[str]] = {}
    for kind, actor in session.execute(select(_EVENT.actor_type, _EVENT.actor_id).distinct()
                                       .where(CustodyEvent.clip_id.in_(clip_ids))):
        wanted.setdefault(kind, set()).add(actor)
    names = {}
    if wanted.get("user"):
        names.update((("user", i), n) for i, n in session.execute(
            select(User.id, User.username).where(User.id.in_(wanted["user"]))))
    if wanted.get("station"):
        names.update((("station", i), n) for i, n in session.execute(
            select(Station.id, Station.name).where(Station.id.in_(wanted["station"]))))
    return names


def clip_records(session: Session, clip_ids, words: Words, derivative_link=None,
                 keep_derivatives: bool = False) -> dict[str, ClipRecord]:
    """The clips (ids: a select or a list) with their derivatives, processing steps, obstructed
    intervals and custody events, in order of their (corrected) start. derivative_link(row) gives
    the URL of a derivative's file in its table row (none: no link)."""
    clips = CLIPS.read(session, select(*CLIPS.columns).where(Clip.id.in_(clip_ids))
                       .order_by(func.coalesce(Clip.corrected_start, Clip.recorded_at), Clip.id))
    records = {clip.id: ClipRecord(clip) for clip in clips}
    if not records:
        return records
    made = DerivativeRows(words, derivative_link)
    for row in DERIVATIVES.read(session, select(*DERIVATIVES.columns).where(Derivative.clip_id.in_(clip_ids))
                                .order_by(Derivative.created_at, Derivative.kind, Derivative.profile)):
        record = records[row.clip_id]
        record.derivative_rows.append(made.row(row, record.clip.sha256))
        if keep_derivatives:
            record.derivatives.append(row)
    for row in STEPS.read(session, select(*STEPS.columns).where(ProcessingStep.clip_id.in_(clip_ids))
                          .order_by(ProcessingStep.created_at, ProcessingStep.step, ProcessingStep.profile)):
        records[row.clip_id].steps.append(row)
    for row in OBSTRUCTIONS.read(session, select(*OBSTRUCTIONS.columns).where(ObstructedInterval.clip_id.in_(clip_ids))
                                 .order_by(ObstructedInterval.start_seconds)):
        records[row.clip_id].obstructions.append(row)
    custody = CustodyRows(actor_names(session, clip_ids), words)
    for row in EVENTS.read(session, select(*EVENTS.columns).where(CustodyEvent.clip_id.in_(clip_ids))
                           .order_by(CustodyEvent.seq)):
        records[row.clip_id].custody.append(custody.row(row))
    return records


def officer_names(session: Session, codes) -> dict[str, str]:
    codes = {code for code in codes if code}
    if not codes:
        return {}
    return dict(session.execute(select(Officer.code, Officer.name).where(Officer.code.in_(codes))).all())


def load_case(session: Session, case_id: str, words: Words) -> CaseRecord | None:
    case = session.scalars(select(Case).where(Case.id == case_id).options(selectinload(Case.officers))).first()
    if case is None:
        return None
    steps = session.scalars(select(Step).where(Step.case_id == case_id).order_by(Step.started_at, Step.id)
                            .options(selectinload(Step.officers), selectinload(Step.devices))).all()
    links = list(LINKS.read(session, select(*LINKS.columns).where(ClipLink.case_id == case_id)
                            .order_by(ClipLink.step_id, ClipLink.created_at, ClipLink.clip_id)))
    linked = select(ClipLink.clip_id).where(ClipLink.case_id == case_id)
    records = clip_records(session, linked, words)
    codes = {row.officer_code for row in case.officers} | {o.officer_code for s in steps for o in s.officers}
    codes |= {r.clip.officer_id for r in records.values()}
    holds = session.scalar(select(func.count()).select_from(LegalHold).where(
        LegalHold.lifted_at.is_(None), or_(LegalHold.case_id == case_id, LegalHold.clip_id.in_(linked)))) or 0
    return CaseRecord(case=case, unit=session.get(Unit, case.unit_code), steps=list(steps), links=list(links),
                      clips=records, officers=officer_names(session, codes), holds=holds)
