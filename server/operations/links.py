"""Legal staff's manual decisions on clip links (link, unlink, withdraw), and links as the API
shows them. A decision stands against automatic re-linking until it is withdrawn."""
from __future__ import annotations

import marshmallow as ma
from sqlalchemy import select
from sqlalchemy.orm import Session

from server.operations import OpContext, Refused
from server.operations.devices import Outcome
from server.resources.fields import Text
from storage.case_models import Case, Step
from storage.link_models import ClipLink
from storage.models import Clip
from workers import linking

STATES = {"link": "linked", "unlink": "excluded"}


def _reason_field(**kwargs):
    return Text(required=True, validate=[ma.validate.Length(max=2000),
                                         ma.validate.Regexp(r"\s*\S", error="give a reason (it must not be blank)")],
                **kwargs)


class DecisionBody(ma.Schema):
    clip_id = ma.fields.UUID(required=True)
    step_id = ma.fields.UUID(required=True)
    action = ma.fields.String(required=True, validate=ma.validate.OneOf(sorted(STATES)),
                              metadata={"description": "link: the clip documents the step; unlink: it does not"})
    reason = _reason_field(metadata={"description": "Why (kept with the link and in the custody log)"})


class WithdrawBody(ma.Schema):
    reason = _reason_field(metadata={"description": "Why the decision is withdrawn"})


def link_views(session: Session, links: list[ClipLink]) -> list[dict]:
    """Links with their step's type and their case's number."""
    step_ids = {link.step_id for link in links}
    steps = {row.id: row for row in session.execute(
        select(Step.id, Step.type, Case.case_number).join(Case, Case.id == Step.case_id)
        .where(Step.id.in_(step_ids)))} if step_ids else {}
    return [{"id": link.id, "clip_id": link.clip_id, "step_id": link.step_id, "step_type": steps[link.step_id].type,
             "case_id": link.case_id, "case_number": steps[link.step_id].case_number, "origin": link.origin,
             "state": link.state, "rule": link.rule, "overlap_seconds": link.overlap_seconds,
             "details": link.details, "reason": link.reason, "decided_by": link.decided_by,
             "created_at": link.created_at, "updated_at": link.updated_at} for link in links]


def links_of_clip(session: Session, clip_id: str) -> list[dict]:
    return link_views(session, session.scalars(select(ClipLink).where(ClipLink.clip_id == clip_id)
                                               .order_by(ClipLink.created_at, ClipLink.step_id)).all())


def decide(session: Session, ctx: OpContext, body: dict) -> Outcome:
    """Link or unlink a clip and a step by a person's decision, with its reason."""
    clip_id, step_id, state = str(body["clip_id"]), str(body["step_id"]), STATES[body["action"]]
    reason = body["reason"].strip()
    if session.get(Clip, clip_id) is None:
        raise Refused(422, "link.unknown_clip", "clip_id", id=clip_id)
    if session.get(Step, step_id) is None:
        raise Refused(422, "link.unknown_step", "step_id", id=step_id)
    standing = session.scalar(select(ClipLink).where(ClipLink.clip_id == clip_id, ClipLink.step_id == step_id,
                                                     ClipLink.origin == "manual"))
    if standing is not None and (standing.state, standing.reason) == (state, reason):
        return Outcome(200, link_views(session, [standing])[0], replay=True)
    link = linking.decide(session, ctx.settings, clip_id, step_id, state, reason, ctx.actor, ctx.label)
    return Outcome(201, link_views(session, [link])[0])


def withdraw(session: Session, ctx: OpContext, link_id: str, body: dict) -> Outcome:
    """Withdraw a manual decision: the automatic rule decides the pair again."""
    link = session.get(ClipLink, link_id)
    if link is None:
        raise Refused(404, "link.not_found", id=link_id)
    if link.origin != "manual":
        raise Refused(409, "link.not_manual", id=link_id)
    clip_id, step_id = link.clip_id, link.step_id
    stats = linking.withdraw(session, ctx.settings, link, body["reason"].strip(), ctx.actor, ctx.label)
    now = session.scalar(select(ClipLink).where(ClipLink.clip_id == clip_id, ClipLink.step_id == step_id))
    return Outcome(200, {"withdrawn": link_id, "clip_id": clip_id, "step_id": step_id,
                         "link": link_views(session, [now])[0] if now else None, "linking": stats.as_dict()})
