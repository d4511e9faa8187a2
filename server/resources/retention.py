"""Retention and legal hold: legal staff hold a clip (or every clip of a case) with a reason and
lift a hold with one; each change is a custody event and is applied to the object store at once.
Legal staff and administrators read a clip's retention and the sweeper's dry-run report."""
from __future__ import annotations

from itertools import islice

import marshmallow as ma
from flask.views import MethodView
from sqlalchemy import select

from server.auth import roles
from server.i18n import request_language
from server.operations import OpContext, Refused
from server.operations.links import _reason_field
from server.operations.versions import Instant, Outcome
from server.resources.devices import perform
from server.resources.fields import Text
from server.resources.responses import Blueprint
from server.runtime import runtime
from storage.case_models import Case
from storage.custody import append_event
from storage.db import utcnow
from storage.exceptions import StorageError
from storage.link_models import ClipLink
from storage.models import Clip
from storage.retention_models import LegalHold
from workers import retention as sweeper

blp = Blueprint("retention", __name__, description="Retention, legal holds and the retention sweep")

WRITERS = ("legal",)
READERS = ("legal", "admin")


class ReasonBody(ma.Schema):
    reason = _reason_field(metadata={"description": "Why (kept with the hold and in the custody log)"})


class HoldSchema(ma.Schema):
    id = Text()
    clip_id = Text()
    case_id = Text(allow_none=True, metadata={"description": "Set when the hold was placed on the whole case"})
    reason = Text()
    set_by = Text()
    set_at = Instant()
    lifted = ma.fields.Boolean()
    lift_reason = Text(allow_none=True)
    lifted_by = Text(allow_none=True)
    lifted_at = Instant(allow_none=True)


class CaseHoldsSchema(ma.Schema):
    case_id = Text()
    case_number = Text()
    holds = ma.fields.List(ma.fields.Nested(HoldSchema), metadata={"description": "One per clip linked to the case"})


class ReasonSchema(ma.Schema):
    code = Text(metadata={"description": "field_recording, evidence_permanent, case_open, case_closed, legal_hold "
                                         "or expired"})
    text = Text(metadata={"description": "The rule in plain words, in the reader's language"})
    until = Instant(allow_none=True, metadata={"description": "The date this rule keeps the clip until; "
                                                             "null: while it applies"})


class RetentionSchema(ma.Schema):
    clip_id = Text()
    status = Text()
    retain_until = Instant(allow_none=True, metadata={"description": "Retention applied in the object store "
                                                                    "(only ever extended)"})
    policy_retain_until = Instant(metadata={"description": "The longest retention the rules give now"})
    held = ma.fields.Boolean(metadata={"description": "Under an object legal hold (evidence, or a legal hold)"})
    deletable = ma.fields.Boolean(metadata={"description": "The sweeper may delete it now"})
    deleted_at = Instant(allow_none=True)
    reasons = ma.fields.List(ma.fields.Nested(ReasonSchema))
    holds = ma.fields.List(ma.fields.Nested(HoldSchema), metadata={"description": "Every hold, lifted ones too"})


class ReportItemSchema(ma.Schema):
    clip_id = Text()
    original_key = Text()
    size = ma.fields.Integer(metadata={"description": "Bytes of the original"})
    total_bytes = ma.fields.Integer(metadata={"description": "Original and derivatives"})
    derivatives = ma.fields.List(ma.fields.Dict(), metadata={"description": "kind, key, size, sha256"})
    received_at = Instant()
    retain_until = Instant(metadata={"description": "When its retention ended"})
    reasons = ma.fields.List(ma.fields.Nested(ReasonSchema), metadata={"description": "Why it may be deleted"})


class Page(ma.Schema):
    limit = ma.fields.Integer(load_default=100, validate=ma.validate.Range(1, 1000))
    offset = ma.fields.Integer(load_default=0, validate=ma.validate.Range(0, 10**9))


def hold_view(hold: LegalHold) -> dict:
    return {"id": hold.id, "clip_id": hold.clip_id, "case_id": hold.case_id, "reason": hold.reason,
            "set_by": hold.set_by, "set_at": hold.set_at, "lifted": hold.lifted_at is not None,
            "lift_reason": hold.lift_reason, "lifted_by": hold.lifted_by, "lifted_at": hold.lifted_at}


def reason_views(reasons) -> list[dict]:
    language = request_language()
    return [{"code": reason.code, "text": reason.text(language), "until": reason.until} for reason in reasons]


# --- operations (each runs in one transaction under the linking lock) ---------------------

def _apply(session, ctx: OpContext, clip_ids) -> None:
    try:
        sweeper.apply(session, runtime().store, clip_ids, ctx.actor, rules=ctx.settings.retention, reassert=True)
    except StorageError as exc:
        raise Refused(503, "retention.store_failed", reason=str(exc)[:300]) from None


def _holdable_clip(session, clip_id: str) -> Clip:
    clip = session.get(Clip, clip_id)
    if clip is None:
        raise Refused(404, "retention.unknown_clip", id=clip_id)
    if clip.status == "deleted":
        raise Refused(409, "retention.clip_deleted", id=clip_id, when=clip.deleted_at.isoformat())
    if clip.status == "deleting":
        raise Refused(409, "retention.clip_deleting", id=clip_id)
    return clip


def _place(session, ctx: OpContext, clip_id: str, reason: str, case_id: str | None) -> LegalHold:
    hold = LegalHold(clip_id=clip_id, case_id=case_id, reason=reason, set_by=ctx.label, set_at=utcnow())
    session.add(hold)
    session.flush()
    append_event(session, actor_type=ctx.actor.actor_type, actor_id=ctx.actor.actor_id,
                 source_address=ctx.source_address, action="legal_hold_placed", clip_id=clip_id, case_id=case_id,
                 details={"hold_id": hold.id, "reason": reason, "set_by": ctx.label})
    return hold


def _open_hold(session, clip_id: str, reason: str, case_id: str | None = None) -> LegalHold | None:
    statement = select(LegalHold).where(LegalHold.clip_id == clip_id, LegalHold.lifted_at.is_(None),
                                        LegalHold.reason == reason)
    if case_id is not None:
        statement = statement.where(LegalHold.case_id == case_id)
    return session.scalars(statement.order_by(LegalHold.set_at)).first()


def hold_clip(session, ctx: OpContext, clip_id: str, body: dict) -> Outcome:
    reason = body["reason"].strip()
    _holdable_clip(session, clip_id)
    standing = _open_hold(session, clip_id, reason)
    if standing is not None:
        return Outcome(200, hold_view(standing), replay=True)
    hold = _place(session, ctx, clip_id, reason, None)
    _apply(session, ctx, [clip_id])
    return Outcome(201, hold_view(hold))


def lift_hold(session, ctx: OpContext, clip_id: str, hold_id: str, body: dict) -> Outcome:
    hold = session.get(LegalHold, hold_id)
    if hold is None or hold.clip_id != clip_id:
        raise Refused(404, "retention.unknown_hold", id=hold_id, clip_id=clip_id)
    if hold.lifted_at is not None:
        raise Refused(409, "retention.hold_lifted", id=hold_id, by=hold.lifted_by, when=hold.lifted_at.isoformat(),
                      reason=hold.lift_reason)
    hold.lift_reason, hold.lifted_by, hold.lifted_at = body["reason"].strip(), ctx.label, utcnow()
    append_event(session, actor_type=ctx.actor.actor_type, actor_id=ctx.actor.actor_id,
                 source_address=ctx.source_address, action="legal_hold_lifted", clip_id=clip_id, case_id=hold.case_id,
                 details={"hold_id": hold.id, "reason": hold.lift_reason, "lifted_by": ctx.label,
                          "hold_reason": hold.reason})
    session.flush()
    _apply(session, ctx, [clip_id])
    return Outcome(200, hold_view(hold))


def hold_case(session, ctx: OpContext, case_id: str, body: dict) -> Outcome:
    reason = body["reason"].strip()
    case = session.get(Case, case_id)
    if case is None:
        raise Refused(404, "retention.unknown_case", id=case_id)
    clip_ids = sorted(set(session.scalars(
        select(ClipLink.clip_id).join(Clip, Clip.id == ClipLink.clip_id)
        .where(ClipLink.case_id == case_id, ClipLink.state == "linked", Clip.status.not_in(sweeper.GONE)))))
    if not clip_ids:
        raise Refused(409, "retention.case_without_clips", case_number=case.case_number)
    holds, placed = [], False
    for clip_id in clip_ids:
        hold = _open_hold(session, clip_id, reason, case_id)
        if hold is None:
            hold, placed = _place(session, ctx, clip_id, reason, case_id), True
        holds.append(hold)
    if placed:
        _apply(session, ctx, clip_ids)
    answer = {"case_id": case_id, "case_number": case.case_number, "holds": [hold_view(hold) for hold in holds]}
    return Outcome(201 if placed else 200, answer, replay=not placed)


# --- endpoints ---------------------------------------------------------------------------

@blp.route("/clips/<uuid:clip_id>/legal-hold")
class ClipHold(MethodView):
    @roles(*WRITERS)
    @blp.arguments(ReasonBody)
    @blp.response(201, HoldSchema)
    @blp.alt_response(200, schema=HoldSchema, description="An open hold with this reason already stands (replay)")
    @blp.errors(409, 503)
    def post(self, body, clip_id):
        """Hold a clip: its original and derivatives cannot be deleted until the hold is lifted."""
        return perform(hold_clip, str(clip_id), body)


@blp.route("/clips/<uuid:clip_id>/legal-hold/<uuid:hold_id>/lift")
class LiftHold(MethodView):
    @roles(*WRITERS)
    @blp.arguments(ReasonBody)
    @blp.response(200, HoldSchema)
    @blp.errors(409, 503)
    def post(self, body, clip_id, hold_id):
        """Lift a hold, with a reason; the clip is released once no other rule keeps it."""
        return perform(lift_hold, str(clip_id), str(hold_id), body)


@blp.route("/cases/<uuid:case_id>/legal-hold")
class CaseHold(MethodView):
    @roles(*WRITERS)
    @blp.arguments(ReasonBody)
    @blp.response(201, CaseHoldsSchema)
    @blp.alt_response(200, schema=CaseHoldsSchema, description="Every linked clip already has this hold (replay)")
    @blp.errors(409, 503)
    def post(self, body, case_id):
        """Hold every clip linked to the case (one hold per clip, each lifted on its own)."""
        return perform(hold_case, str(case_id), body)


@blp.route("/clips/<uuid:clip_id>/retention")
class ClipRetention(MethodView):
    @roles(*READERS)
    @blp.response(200, RetentionSchema)
    def get(self, clip_id):
        """How long the clip is kept and why, and its legal holds."""
        rt = runtime()
        with rt.session() as session:
            clip = session.get(Clip, str(clip_id))
            if clip is None:
                raise Refused(404, "retention.unknown_clip", id=str(clip_id))
            decision = sweeper.decisions(session, [clip.id], rt.settings.retention)[clip.id]
            holds = session.scalars(select(LegalHold).where(LegalHold.clip_id == clip.id)
                                    .order_by(LegalHold.set_at, LegalHold.id)).all()
            deletable = clip.status not in sweeper.GONE and decision.deletable(utcnow(), clip.retain_until)
            return {"clip_id": clip.id, "status": clip.status, "retain_until": clip.retain_until,
                    "policy_retain_until": decision.retain_until, "held": clip.held, "deletable": deletable,
                    "deleted_at": clip.deleted_at, "reasons": reason_views(decision.reasons),
                    "holds": [hold_view(hold) for hold in holds]}


@blp.route("/retention/report")
class Report(MethodView):
    @roles(*READERS)
    @blp.arguments(Page, location="query")
    @blp.response(200, ReportItemSchema(many=True))
    def get(self, query):
        """The sweeper's dry run: clips it would delete now and why, by clip id; nothing is changed."""
        rt = runtime()
        with rt.session() as session:
            found = sweeper.candidates(session, rt.settings.retention, utcnow())
            page = list(islice(found, query["offset"], query["offset"] + query["limit"]))
        return [{"clip_id": item.clip_id, "original_key": item.original_key, "size": item.size,
                 "total_bytes": item.total_bytes, "derivatives": item.derivatives, "received_at": item.received_at,
                 "retain_until": item.retain_until, "reasons": reason_views(item.reasons)} for item in page]
