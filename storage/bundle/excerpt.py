"""The custody side of an export: the export's own `exported` events, a signed checkpoint that
covers them, and the excerpt of the log (every event of the case and its clips, each with its
Merkle inclusion proof against that checkpoint).

The `exported` events record the SHA-256 of manifest.json and case.json and the sequence numbers
of every earlier event of the case and its clips, so the signed log vouches for the whole bundle:
its files (through the manifest), the case document, and that no event was left out.
"""
from __future__ import annotations

import json
import time
from typing import Iterator

from sqlalchemy import or_, select
from sqlalchemy.exc import DBAPIError

from storage.bundle.manifest import Plan
from storage.bundle.writer import BundleIntegrityError
from storage.custody import append_events, canonical, event_hash, lost_append_race
from storage.custody_models import CustodyCheckpoint
from storage.models import CustodyEvent

ATTEMPTS = 5
"""Tries when another writer extends the custody chain between our read of its head and our commit."""
PAGE = 2000
"""Events read (and proved) at a time while writing custody.jsonl."""


def _concerns(clip_ids: list[str], case_id: str):
    condition = CustodyEvent.case_id == case_id
    return or_(condition, CustodyEvent.clip_id.in_(clip_ids)) if clip_ids else condition


def in_custody_transaction(rt, work):
    """Run work(session) in a transaction that appends custody events; again when another writer
    extended the chain first (the unique prev_hash makes the loser's commit fail)."""
    for attempt in range(ATTEMPTS):
        try:
            with rt.session() as session, session.begin():
                return work(session)
        except DBAPIError as error:
            if attempt == ATTEMPTS - 1 or not lost_append_race(error):
                raise
            time.sleep(0.02 * (attempt + 1))
    raise AssertionError("unreachable")


def record_export(rt, export, plan: Plan, clip_ids: list[str], manifest_sha256: str, case_json_sha256: str,
                  actor: dict) -> int:
    """Write the export's custody events (unless a crashed earlier run of this export already wrote
    them for the same manifest); returns the highest sequence number among them."""
    def work(session) -> int:
        earlier = session.scalars(select(CustodyEvent).where(
            CustodyEvent.action == "exported", CustodyEvent.case_id == export.case_id)).all()
        mine = [event.seq for event in earlier if (event.details or {}).get("export_id") == export.id
                and event.details.get("manifest_sha256") == manifest_sha256]
        if mine:
            return max(mine)
        prior = session.scalars(select(CustodyEvent.seq).where(_concerns(clip_ids, export.case_id))
                                .order_by(CustodyEvent.seq)).all()
        common = {"export_id": export.id, "requested_by": export.requested_by, "manifest_sha256": manifest_sha256}
        events = [{**actor, "action": "exported", "clip_id": clip_id, "case_id": export.case_id,
                   "details": {**common, "files": [{"path": item.path, "role": item.role, "sha256": item.sha256}
                                                   for item in plan.files if item.clip_id == clip_id]}}
                  for clip_id in plan.clip_ids]
        events.append({**actor, "action": "exported", "clip_id": None, "case_id": export.case_id, "details": {
            **common, "include_review": export.include_review, "case_json_sha256": case_json_sha256,
            "clips": plan.clip_ids, "files": len(plan.files), "bytes": plan.total_bytes,
            "omitted": [item["clip_id"] for item in plan.omitted], "prior_events": list(prior)}})
        append_events(session, events)
        return session.scalar(select(CustodyEvent.seq).order_by(CustodyEvent.seq.desc()).limit(1))
    return in_custody_transaction(rt, work)


def checkpoint_covering(rt, seq: int, signer) -> CustodyCheckpoint:
    """A signed checkpoint of at least the first `seq` events: the latest if it does, else one made
    now (or by a concurrent maker meanwhile). CheckpointRefused if the log is not intact."""
    from storage.checkpoints import create_checkpoint, last_checkpoint

    for attempt in range(ATTEMPTS):
        with rt.session() as session, session.begin():
            newest = last_checkpoint(session)
            if newest is None or newest.count < seq:
                newest = create_checkpoint(session, rt.store, signer) or last_checkpoint(session)
        if newest is not None and newest.count >= seq:
            return newest
        time.sleep(0.05 * (attempt + 1))  # a concurrent maker has not committed yet
    raise BundleIntegrityError(f"no signed checkpoint covers custody event {seq}")


def intact_events(rt, clip_ids: list[str], case_id: str, upto: int | None = None) -> Iterator[CustodyEvent]:
    """The events of the case and these clips (up to seq `upto`) in order, each checked against its
    recorded hash: BundleIntegrityError at the first that was altered."""
    concerns = [_concerns(clip_ids, case_id)] + ([CustodyEvent.seq <= upto] if upto is not None else [])
    after = 0
    while True:
        with rt.session() as session:
            page = session.scalars(select(CustodyEvent).where(*concerns, CustodyEvent.seq > after)
                                   .order_by(CustodyEvent.seq).limit(PAGE)).all()
        if not page:
            return
        for event in page:
            if event_hash(event) != event.hash:
                raise BundleIntegrityError(
                    f"custody event {event.seq} does not match its recorded hash: the custody log was altered. "
                    "Run `fullrecord custody verify`; no bundle can be made until this is explained")
            yield event
        after = page[-1].seq


def check_intact(rt, clip_ids: list[str], case_id: str) -> int:
    """How many events the case and these clips have; BundleIntegrityError if one was altered."""
    return sum(1 for _event in intact_events(rt, clip_ids, case_id))


def excerpt_lines(rt, clip_ids: list[str], case_id: str, checkpoint: CustodyCheckpoint) -> Iterator[bytes]:
    """custody.jsonl: each event exactly as hashed (storage/custody.py canonical), its hash and its
    inclusion proof in the checkpoint's tree, one JSON object a line, in sequence order."""
    from storage.checkpoints import proofs

    with rt.session() as session:  # one pass over the log proves them all (proofs() reads every leaf)
        seqs = session.scalars(select(CustodyEvent.seq).where(
            _concerns(clip_ids, case_id), CustodyEvent.seq <= checkpoint.count).order_by(CustodyEvent.seq)).all()
        paths = proofs(session, list(seqs), checkpoint.count) if seqs else {}
    for event in intact_events(rt, clip_ids, case_id, checkpoint.count):
        line = json.loads(canonical(event))
        line.update(hash=event.hash, proof=paths[event.seq])
        yield (json.dumps(line, ensure_ascii=False, separators=(",", ":")) + "\n").encode()
