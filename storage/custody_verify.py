"""`fullrecord custody verify`: is the custody log exactly what was recorded?

One pass over the events in seq order: each hashes to its stored hash (nothing edited), links to
its predecessor and follows it without a gap (nothing inserted, deleted or reordered). The Merkle
tree grows during the same pass, and at each checkpoint's count the checkpoint is checked: its
database row equals its write-once copy in the object store, the signature is valid and made by a
trusted key, and its head hash and Merkle root equal those of the events now. That catches even a
log rewritten consistently (hashes recomputed), which the chain alone cannot. Finally the log must
reach every checkpoint (nothing cut off its end). The first problem found is reported.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

from sqlalchemy import select
from sqlalchemy.orm import Session

from storage.checkpoints import (PREFIX, MalformedCheckpoint, SignedCheckpoint, count_of, head_seq,
                                 read_document)
from storage.custody_chain import ChainWalk, Problem
from storage.custody_models import CustodyCheckpoint
from storage.exceptions import ObjectNotFound
from storage.merkle import Frontier, leaf_hash
from storage.signing import trusted_public_keys

PROGRESS_EVERY = 10000
"""Events between progress callbacks."""

_ROW_FIELDS = ("head_hash", "merkle_root", "key_id", "public_key", "payload", "signature", "created_at")


@dataclass
class Report:
    ok: bool
    events_checked: int
    checkpoints_checked: int
    last_seq: int
    last_checkpoint: int
    problem: Problem | None = None
    notes: list[Problem] = field(default_factory=list)

    @property
    def first_bad_seq(self) -> int | None:
        return self.problem.seq if self.problem else None

    @property
    def reason(self) -> str | None:
        return self.problem.reason if self.problem else None

    def as_dict(self, language: str = "en") -> dict:
        return {"ok": self.ok, "events_checked": self.events_checked,
                "checkpoints_checked": self.checkpoints_checked, "last_seq": self.last_seq,
                "last_checkpoint": self.last_checkpoint, "first_bad_seq": self.first_bad_seq,
                "checkpoint": self.problem.checkpoint if self.problem else None,
                "code": self.problem.code if self.problem else None,
                "reason": self.problem.message(language) if self.problem else None,
                "notes": [note.message(language) for note in self.notes]}


class _Checkpoints:
    """Every checkpoint known to the database or the store, checked in count order."""

    def __init__(self, session: Session, store, trusted: dict[str, bytes]):
        self.store, self.trusted = store, trusted
        self.rows = {cp.count: cp for cp in session.scalars(select(CustodyCheckpoint))}
        self.documents = {}
        for info in store.list(PREFIX):
            count = count_of(info.key)
            if count is not None and count > 0:
                self.documents[count] = info.key
        self.counts = sorted(self.rows.keys() | self.documents.keys())
        self.highest_row = max(self.rows, default=0)
        self.notes: list[Problem] = []

    def check(self, count: int, event_hash: str, frontier: Frontier) -> Problem | None:
        row, key = self.rows.get(count), self.documents.get(count)
        signed, problem = self._document(count, key, row)
        if problem:
            return problem
        if not signed.signature_valid():
            return Problem(count, "cp_signature", checkpoint=count)
        if self.trusted.get(signed.key_id) != bytes.fromhex(signed.public_key):
            return Problem(count, "cp_untrusted", {"key_id": signed.key_id}, count)
        if row is not None:
            differs = [name for name in _ROW_FIELDS if getattr(row, name) != getattr(signed, name)]
            differs += ["object_key"] if row.object_key != key else []
            if differs:
                return Problem(count, "cp_row_differs", {"fields": ", ".join(differs)}, count)
        if signed.head_hash != event_hash:
            return Problem(count, "cp_head", checkpoint=count)
        if signed.merkle_root != frontier.root().hex():
            return Problem(count, "cp_root", checkpoint=count)
        if row is not None and row.frontier != frontier.to_hex():
            return Problem(count, "cp_frontier", checkpoint=count)
        if row is None:
            self.notes.append(Problem(count, "cp_unrecorded", {"object": key}, count))
        return None

    def _document(self, count: int, key: str | None, row) -> tuple[SignedCheckpoint | None, Problem | None]:
        if key is None:
            return None, Problem(count, "cp_no_copy", {"object": row.object_key}, count)
        if row is None and count < self.highest_row:
            return None, Problem(count, "cp_row_deleted", {"object": key}, count)
        try:
            signed = read_document(self.store, key)
        except ObjectNotFound:
            return None, Problem(count, "cp_no_copy", {"object": key}, count)
        except MalformedCheckpoint as exc:
            return None, Problem(count, "cp_malformed", {"object": key, "detail": str(exc)}, count)
        if signed.count != count:
            detail = f"it says count {signed.count}"
            return None, Problem(count, "cp_malformed", {"object": key, "detail": detail}, count)
        return signed, None


def verify_chain(session: Session, store, settings,
                 progress: Callable[[int, int], None] | None = None) -> Report:
    """Check the whole log and every checkpoint; `progress(events_done, events_total)` is called
    as it goes. SigningKeyError when no key can be trusted; store errors propagate."""
    checkpoints = _Checkpoints(session, store, trusted_public_keys(settings))
    total = head_seq(session)
    pending = iter(checkpoints.counts)
    next_count = next(pending, None)
    walk, frontier, checked, checked_upto = ChainWalk(), Frontier(), 0, 0

    def report(problem: Problem | None) -> Report:
        if progress:
            progress(walk.last_seq, total)
        return Report(problem is None, walk.last_seq, checked, walk.last_seq, checked_upto, problem,
                      checkpoints.notes)

    for seq, stored in walk.events(session):
        frontier.add(leaf_hash(stored))
        if seq == next_count:
            problem = checkpoints.check(seq, stored, frontier)
            if problem:
                return report(problem)
            checked, checked_upto, next_count = checked + 1, seq, next(pending, None)
        if progress and seq % PROGRESS_EVERY == 0:
            progress(seq, total)
    if walk.problem:
        return report(walk.problem)
    if next_count is not None:
        last = max(checkpoints.counts)
        return report(Problem(walk.last_seq + 1, "truncated", {"last": walk.last_seq, "count": last}, last))
    if walk.last_seq > checked_upto:
        checkpoints.notes.append(Problem(walk.last_seq, "unsigned_tail",
                                         {"events": walk.last_seq - checked_upto, "count": checked_upto}))
    return report(None)
