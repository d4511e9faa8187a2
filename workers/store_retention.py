"""The retention policy (storage/retention.py) applied to the object store for a few clips:
retention is extended (never shortened) on the original, the object legal hold is set or released
on the original and its derivatives, and each change is a custody event. It runs in the caller's
transaction; store calls are idempotent, so a retried transaction simply applies again.

Writers whose change can alter a clip's policy (its links, its cases' status, a legal hold) call
`apply`, or note the clips with `workers.linking.note_changed` and let
`workers.transaction.run` apply them before it commits (`apply_noted`).
"""
from __future__ import annotations

import logging
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from storage.case_models import Case
from storage.custody import append_event
from storage.db import utcnow
from storage.exceptions import ObjectNotFound, RetentionShortened
from storage.link_models import ClipLink
from storage.models import Clip, Derivative
from storage.retention import CaseFact, ClipFacts, Decision, HoldFact, decide
from storage.retention_models import LegalHold
from workers.linking import Actor, take_changed

log = logging.getLogger(__name__)

GONE = ("deleting", "deleted")


def clip_facts(session: Session, clip_ids: list[str]) -> dict[str, ClipFacts]:
    """Each clip's received time, the cases it is linked with and its open legal holds."""
    received = dict(session.execute(select(Clip.id, Clip.received_at).where(Clip.id.in_(clip_ids))).all())
    cases: dict[str, dict[str, CaseFact]] = {clip_id: {} for clip_id in received}
    for row in session.execute(select(ClipLink.clip_id, Case.id, Case.case_number, Case.status, Case.closed_at)
                               .join(Case, Case.id == ClipLink.case_id)
                               .where(ClipLink.clip_id.in_(clip_ids), ClipLink.state == "linked")):
        cases[row.clip_id][row.id] = CaseFact(row.id, row.case_number, row.status, row.closed_at)
    holds: dict[str, list[HoldFact]] = {clip_id: [] for clip_id in received}
    for hold in session.scalars(select(LegalHold).where(LegalHold.clip_id.in_(clip_ids),
                                                        LegalHold.lifted_at.is_(None))):
        holds[hold.clip_id].append(HoldFact(hold.id, hold.reason, hold.set_by, hold.set_at))
    return {clip_id: ClipFacts(at, tuple(cases[clip_id].values()), tuple(holds[clip_id]))
            for clip_id, at in received.items()}


def decisions(session: Session, clip_ids: list[str], rules) -> dict[str, Decision]:
    return {clip_id: decide(facts, rules) for clip_id, facts in clip_facts(session, clip_ids).items()}


def _reasons(decision: Decision) -> list[dict]:
    return [reason.as_dict() for reason in decision.reasons]


# --- applying the policy to the store ----------------------------------------------------

def apply(session: Session, store, clip_ids, actor: Actor, *, rules, reassert: bool = False) -> int:
    """Make the store and the clips' retain_until/held match the policy (`rules` is
    settings.retention). Call it in the transaction that changed the facts, after the change.
    The store is touched only where something changes, unless `reassert`: then the hold of a
    held clip is set again on every object (after new derivatives, or to repair a hold released
    by a transaction that did not commit). Returns how many clips changed. Store errors (other
    than a missing object) propagate, so the caller's transaction rolls back."""
    clip_ids = sorted(set(clip_ids))
    if not clip_ids:
        return 0
    clips = {clip.id: clip for clip in session.scalars(select(Clip).where(Clip.id.in_(clip_ids),
                                                                          Clip.status.not_in(GONE)))}
    derivatives: dict[str, list[str]] = {clip_id: [] for clip_id in clips}
    for clip_id, key in session.execute(select(Derivative.clip_id, Derivative.object_key)
                                        .where(Derivative.clip_id.in_(list(clips)))):
        derivatives[clip_id].append(key)
    changed = 0
    for clip_id, decision in decisions(session, list(clips), rules).items():
        clip = clips[clip_id]
        events = _apply_one(store, clip, derivatives[clip_id], decision, reassert)
        for action, details in events:
            append_event(session, actor_type=actor.actor_type, actor_id=actor.actor_id,
                         source_address=actor.source_address, action=action, clip_id=clip_id, details=details)
        changed += bool(events)
    session.flush()
    return changed


def _apply_one(store, clip: Clip, derivative_keys: list[str], decision: Decision,
               reassert: bool) -> list[tuple[str, dict]]:
    events = []
    before = clip.retain_until
    if before is None or decision.retain_until > before:
        if decision.retain_until > utcnow():
            clip.retain_until = _extend(store, clip.original_key, decision.retain_until)
            events.append(("retention_extended", {"key": clip.original_key, "from": iso_or_none(before),
                                                  "to": iso_or_none(clip.retain_until), "reasons": _reasons(decision)}))
        else:  # a date already past protects nothing: recorded, the store left as it is
            clip.retain_until = decision.retain_until
    keys = [clip.original_key, *derivative_keys]
    if decision.held and (reassert or not clip.held):
        missing = _hold(store, keys, True)
        if not clip.held:
            clip.held = True
            events.append(("legal_hold_set", {"keys": keys, "missing": missing, "reasons": _reasons(decision)}))
    elif not decision.held and clip.held:
        missing = _hold(store, keys, False)
        clip.held = False
        events.append(("legal_hold_released", {"keys": keys, "missing": missing, "reasons": _reasons(decision)}))
    return events


def _extend(store, key: str, until: datetime) -> datetime:
    """Retention on the store until `until`, or the store's own date if it is later already."""
    try:
        store.set_retention(key, until)
    except RetentionShortened:  # e.g. the same content was received again and locked longer
        return max(until, store.stat(key).retain_until or until)
    except ObjectNotFound:
        log.error("retention: the original %s is missing from the store; recording the policy only", key)
    return until


def _hold(store, keys: list[str], on: bool) -> list[str]:
    missing = []
    for key in keys:
        try:
            store.set_legal_hold(key, on)
        except ObjectNotFound:
            log.error("retention: %s is missing from the store; no legal hold to %s", key, "set" if on else "release")
            missing.append(key)
    return missing


def iso_or_none(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def apply_noted(session: Session, rt) -> int:
    """Apply the policy to the clips noted as changed in this transaction, by who changed them."""
    by_actor: dict[Actor, list[str]] = {}
    for clip_id, actor in take_changed(session).items():
        by_actor.setdefault(actor, []).append(clip_id)
    return sum(apply(session, rt.store, clip_ids, actor, rules=rt.settings.retention)
               for actor, clip_ids in by_actor.items())
