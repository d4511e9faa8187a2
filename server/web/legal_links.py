"""Legal staff's link decisions and legal holds from the pages: the forms post here, and each
runs the very operation the API runs (server.operations.links, server.resources.retention),
so the validation and the custody events are the same. A mistake or a refusal is flashed
and nothing changes; either way the browser goes back to the page it came from."""
from __future__ import annotations

import marshmallow as ma
from flask import url_for
from flask_smorest import abort
from sqlalchemy import select

from server.auth import roles
from server.i18n import t
from server.operations import Refused
from server.operations import links as ops
from server.resources import retention
from server.resources.fields import Text
from server.runtime import runtime
from server.web.blueprint import bp
from server.web.legal_queries import NEAR, steps_near_clip, type_name
from server.web.legal_support import load_form, perform
from server.web.pages import Query, back, done, parse_query, refused, render
from storage.case_models import Case
from storage.models import Clip

LINKERS = retention.WRITERS
"""Legal staff, as in the API (links: roles("legal"); holds: retention.WRITERS)."""
MAX_CASES = 10
"""Cases shown for one case number (numbers are unique per agency, not across agencies)."""


class DecisionForm(ops.DecisionBody):
    class Meta:
        unknown = ma.EXCLUDE


class WithdrawForm(ops.WithdrawBody):
    class Meta:
        unknown = ma.EXCLUDE


class ReasonForm(retention.ReasonBody):
    class Meta:
        unknown = ma.EXCLUDE


class LinkQuery(Query):
    clip_id = ma.fields.UUID(required=True)
    case_number = Text(load_default=None, validate=ma.validate.Length(max=64))


@bp.route("/links", methods=["POST"])
@roles(*LINKERS)
def link_decide():
    body = load_form(DecisionForm())
    if body is None:
        return back("web.unlinked")
    try:
        outcome = perform(ops.decide, body)
    except Refused as error:
        refused(error)
        return back("web.clip", clip_id=body["clip_id"])
    link = outcome.answer
    if outcome.replay:
        done("web.legal.done.replay")
    else:
        done(f"web.legal.done.{body['action']}", step=type_name(link["step_type"]), case_number=link["case_number"])
    return back("web.clip", clip_id=body["clip_id"])


@bp.route("/links/<uuid:link_id>/withdraw", methods=["POST"])
@roles(*LINKERS)
def link_withdraw(link_id):
    body = load_form(WithdrawForm())
    if body is None:
        return back("web.unlinked")
    try:
        outcome = perform(ops.withdraw, str(link_id), body)
    except Refused as error:
        refused(error)
        return back("web.unlinked")
    now = outcome.answer["link"]
    done("web.legal.done.withdraw", now=t("web.legal.now.linked" if now and now["state"] == "linked"
                                           else "web.legal.now.unlinked"))
    return back("web.clip", clip_id=outcome.answer["clip_id"])


@bp.route("/links/new")
@roles(*LINKERS)
def link_new():
    """Choose the step to link a clip to: steps near its time, or the steps of a case by its number."""
    query = parse_query(LinkQuery())
    with runtime().session() as db:
        clip = db.get(Clip, str(query["clip_id"]))
        if clip is None:
            abort(404, message=t("link.unknown_clip", id=str(query["clip_id"])))
        cases = []
        if query["case_number"]:
            found = db.scalars(select(Case.id).where(Case.case_number == query["case_number"].strip())
                               .order_by(Case.created_at, Case.id).limit(MAX_CASES)).all()
            for case_id in found:
                cases.extend(steps_near_clip(db, clip, case_id))
        nearby = steps_near_clip(db, clip)
        return render("legal_link.html.j2", clip=clip, case_number=query["case_number"], cases=cases,
                      searched=bool(query["case_number"]), nearby=nearby, near_hours=round(NEAR.total_seconds() / 3600),
                      next=url_for("web.clip", clip_id=clip.id))


@bp.route("/cases/<uuid:case_id>/legal-hold", methods=["POST"])
@roles(*LINKERS)
def case_hold(case_id):
    body = load_form(ReasonForm())
    if body is not None:
        try:
            outcome = perform(retention.hold_case, str(case_id), body)
        except Refused as error:
            refused(error)
        else:
            answer = outcome.answer
            done("web.legal.done.case_hold_replay" if outcome.replay else "web.legal.done.case_hold",
                 case_number=answer["case_number"], count=len(answer["holds"]))
    return back("web.case", case_id=case_id)


@bp.route("/clips/<uuid:clip_id>/legal-hold", methods=["POST"])
@roles(*LINKERS)
def clip_hold(clip_id):
    body = load_form(ReasonForm())
    if body is not None:
        try:
            outcome = perform(retention.hold_clip, str(clip_id), body)
        except Refused as error:
            refused(error)
        else:
            done("web.legal.done.clip_hold_replay" if outcome.replay else "web.legal.done.clip_hold")
    return back("web.clip", clip_id=clip_id)


@bp.route("/clips/<uuid:clip_id>/legal-hold/<uuid:hold_id>/lift", methods=["POST"])
@roles(*LINKERS)
def clip_hold_lift(clip_id, hold_id):
    body = load_form(ReasonForm())
    if body is not None:
        try:
            perform(retention.lift_hold, str(clip_id), str(hold_id), body)
        except Refused as error:
            refused(error)
        else:
            done("web.legal.done.lift")
    return back("web.clip", clip_id=clip_id)
