"""Signed checkpoints of the custody log.

A checkpoint signs (Ed25519) the head hash and the RFC 6962 Merkle root of the first `count`
events. Its document is written once to the object store at custody/checkpoints/<count>.json
(under legal hold) and its row to custody_checkpoints, so rewriting the database alone is caught.

Order of writes: the row is inserted first (which makes concurrent makers of the same count wait
and then lose on the primary key), then the document is put, then the row commits. A crash
between put and commit leaves a document without a row: the next checkpoint adopts it (records
its row) after checking it against the log, and until then `verify` checks it like any other.
A row is never committed without its document. A broken chain is never signed.
"""
from __future__ import annotations

import io
import json
import re
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from storage.custody import GENESIS_HASH
from storage.custody_chain import ChainWalk, Problem, iter_events
from storage.custody_models import CustodyCheckpoint
from storage.db import utcnow
from storage.exceptions import ObjectExists
from storage.merkle import Frontier, ProofCollector, leaf_hash
from storage.models import CustodyEvent
from storage.signing import Signer, key_id, signature_valid

PREFIX = "custody/checkpoints/"
VERSION = 1
_NAME = re.compile(r"^custody/checkpoints/(\d{12})\.json$")
_HEX = re.compile(r"^[0-9a-f]*$")


class CheckpointRefused(Exception):
    """Signing now would bless a log that is not intact (or disagrees with a stored checkpoint)."""

    def __init__(self, problem: Problem):
        self.problem = problem
        super().__init__(problem.reason)


class MalformedCheckpoint(ValueError):
    """A checkpoint document that is not what fullrecord writes."""


def object_key(count: int) -> str:
    return f"{PREFIX}{count:012d}.json"


def count_of(key: str) -> int | None:
    match = _NAME.match(key)
    return int(match.group(1)) if match else None


def canonical_json(value) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def checkpoint_document(cp: CustodyCheckpoint) -> dict:
    """Exactly what is stored at cp.object_key (and what bundles carry)."""
    return {"payload": json.loads(cp.payload), "payload_text": cp.payload, "signature": cp.signature,
            "public_key": cp.public_key, "key_id": cp.key_id}


def document_bytes(document: dict) -> bytes:
    return json.dumps(document, sort_keys=True, ensure_ascii=False, indent=2).encode()


@dataclass(frozen=True)
class SignedCheckpoint:
    """A parsed checkpoint document, consistent in itself (signature not yet checked)."""

    count: int
    head_hash: str
    merkle_root: str
    created_at: datetime
    key_id: str
    public_key: str
    payload: str
    signature: str

    def signature_valid(self) -> bool:
        return signature_valid(bytes.fromhex(self.public_key), bytes.fromhex(self.signature), self.payload.encode())


def _hex(value, length: int, what: str) -> str:
    if not isinstance(value, str) or len(value) != length or not _HEX.match(value):
        raise MalformedCheckpoint(f"{what} is not {length} lower-case hex digits")
    return value


def parse_document(data: bytes) -> SignedCheckpoint:
    try:
        document = json.loads(data)
        text = document["payload_text"]
        payload = json.loads(text)
    except (ValueError, TypeError, KeyError) as exc:
        raise MalformedCheckpoint(f"not a checkpoint document ({type(exc).__name__}: {exc})") from None
    if not isinstance(payload, dict) or canonical_json(payload) != text or document.get("payload") != payload:
        raise MalformedCheckpoint("payload_text is not the canonical form of payload")
    if payload.get("version") != VERSION:
        raise MalformedCheckpoint(f"unknown version {payload.get('version')!r}")
    count = payload.get("count")
    if not isinstance(count, int) or count < 1 or payload.get("head_seq") != count:
        raise MalformedCheckpoint("count and head_seq are not the same positive number")
    public_key = _hex(document.get("public_key"), 64, "public_key")
    if not (document.get("key_id") == payload.get("key_id") == key_id(bytes.fromhex(public_key))):
        raise MalformedCheckpoint("key_id is not the SHA-256 of public_key")
    try:
        created_at = datetime.fromisoformat(payload["created_at"])
    except (KeyError, TypeError, ValueError):
        raise MalformedCheckpoint("created_at is not an ISO-8601 time") from None
    if created_at.utcoffset() != timedelta(0):
        raise MalformedCheckpoint("created_at is not in UTC")
    return SignedCheckpoint(count, _hex(payload.get("head_hash"), 64, "head_hash"),
                            _hex(payload.get("merkle_root"), 64, "merkle_root"), created_at,
                            payload["key_id"], public_key, text, _hex(document.get("signature"), 128, "signature"))


def read_document(store, key: str) -> SignedCheckpoint:
    return parse_document(store.read_all(key))


def last_checkpoint(session: Session) -> CustodyCheckpoint | None:
    return session.scalars(select(CustodyCheckpoint).order_by(CustodyCheckpoint.count.desc()).limit(1)).first()


def head_seq(session: Session) -> int:
    return session.scalar(select(func.max(CustodyEvent.seq))) or 0


# -- making one -----------------------------------------------------------------------------------

def create_checkpoint(session: Session, store, signer: Signer) -> CustodyCheckpoint | None:
    """Sign the log as it is now (all committed events), in the session's transaction (which the
    caller commits; it must hold no uncommitted events). None when there is nothing new or another
    writer made this checkpoint first. CheckpointRefused when the new events are not intact."""
    last = last_checkpoint(session)
    head = head_seq(session)
    start = last.count if last else 0
    if head <= start:
        return None
    frontier = Frontier.from_hex(start, last.frontier) if last else Frontier()
    if last and frontier.root().hex() != last.merkle_root:
        raise CheckpointRefused(Problem(start, "cp_frontier", checkpoint=start))
    orphans = _unrecorded_documents(store, start, head)
    walk, seen = ChainWalk(start, last.head_hash if last else GENESIS_HASH), {}
    for seq, stored in walk.events(session, head):
        frontier.add(leaf_hash(stored))
        if seq in orphans:
            seen[seq] = (stored, frontier.copy())
    if walk.problem:
        raise CheckpointRefused(walk.problem)
    if walk.last_seq != head:
        raise CheckpointRefused(Problem(walk.last_seq + 1, "missing"))
    adopted = None
    for count, key in sorted(orphans.items()):
        adopted = _adopt(session, store, count, key, *seen[count])
    if head in orphans:
        return adopted
    return _sign_and_store(session, store, signer, head, walk.prev_hash, frontier)


def _unrecorded_documents(store, after: int, upto: int) -> dict[int, str]:
    """Documents of counts after < count <= upto (left by a writer that died before its commit).
    Listed under the few key prefixes that cover exactly those counts, since listing an S3 store
    costs requests per object found."""
    found = {}
    for digits in _count_prefixes(after + 1, upto):
        for info in store.list(PREFIX + digits):
            count = count_of(info.key)
            if count is not None and after < count <= upto:
                found[count] = info.key
    return found


def _count_prefixes(low: int, high: int) -> list[str]:
    """Prefixes of 12-digit counts that together match exactly low..high: 995..1100 gives
    000000000995 ... 000000000999, 0000000010 (1000-1099) and 000000001100."""
    prefixes = []
    while low <= high:
        block = 1
        while low % (block * 10) == 0 and low + block * 10 - 1 <= high:
            block *= 10
        prefixes.append(f"{low:012d}"[:12 - (len(str(block)) - 1)])
        low += block
    return prefixes


def _adopt(session, store, count: int, key: str, head_hash: str, frontier: Frontier) -> CustodyCheckpoint | None:
    try:
        signed = read_document(store, key)
    except MalformedCheckpoint as exc:
        raise CheckpointRefused(Problem(count, "cp_malformed", {"object": key, "detail": str(exc)}, count)) from None
    if signed.count != count or not signed.signature_valid() or signed.head_hash != head_hash \
            or signed.merkle_root != frontier.root().hex():
        raise CheckpointRefused(Problem(count, "cp_store_conflict", {"object": key}, count))
    cp = CustodyCheckpoint(count=count, head_hash=signed.head_hash, merkle_root=signed.merkle_root,
                           frontier=frontier.to_hex(), created_at=signed.created_at, key_id=signed.key_id,
                           public_key=signed.public_key, payload=signed.payload, signature=signed.signature,
                           object_key=key)
    try:
        with session.begin_nested():
            session.add(cp)
            session.flush()
    except IntegrityError:  # adopted by a concurrent writer
        return None
    return cp


def _sign_and_store(session, store, signer: Signer, count: int, head_hash: str,
                    frontier: Frontier) -> CustodyCheckpoint | None:
    created_at = utcnow()
    payload = canonical_json({"version": VERSION, "count": count, "head_seq": count, "head_hash": head_hash,
                              "merkle_root": frontier.root().hex(), "key_id": signer.key_id,
                              "created_at": created_at.astimezone(timezone.utc).isoformat(timespec="microseconds")})
    cp = CustodyCheckpoint(count=count, head_hash=head_hash, merkle_root=frontier.root().hex(),
                           frontier=frontier.to_hex(), created_at=created_at, key_id=signer.key_id,
                           public_key=signer.public_key_hex, payload=payload,
                           signature=signer.sign(payload.encode()).hex(), object_key=object_key(count))
    try:
        with session.begin_nested():
            session.add(cp)
            session.flush()  # concurrent makers of this count now wait for our commit, then lose
            store.put(cp.object_key, io.BytesIO(document_bytes(checkpoint_document(cp))), legal_hold=True,
                      content_type="application/json")
    except IntegrityError:
        return None
    except ObjectExists:  # a writer that died after its put: its document is adopted next time
        return None
    return cp


# -- when ----------------------------------------------------------------------------------------

def checkpoint_due(session: Session, settings, now: datetime | None = None) -> bool:
    """custody.checkpoint_every_events new events, or any new event and
    custody.checkpoint_every_minutes since the last checkpoint (or since the first event)."""
    last = last_checkpoint(session)
    covered = last.count if last else 0
    new = head_seq(session) - covered
    if new <= 0:
        return False
    if new >= settings.custody.checkpoint_every_events:
        return True
    since = last.created_at if last else session.scalar(
        select(CustodyEvent.occurred_at).where(CustodyEvent.seq == covered + 1))
    if since is None:
        return False
    return (now or utcnow()) - since >= timedelta(minutes=settings.custody.checkpoint_every_minutes)


def checkpoint_if_due(rt) -> CustodyCheckpoint | None:
    """Make a checkpoint if the policy says so (called from the worker sweep; safe when several
    workers race: one makes it, the others get None). SigningKeyError without a usable key."""
    from storage.signing import load_signer
    with rt.session() as session:
        if not checkpoint_due(session, rt.settings):
            return None
    signer = load_signer(rt.settings)
    with rt.session() as session, session.begin():
        return create_checkpoint(session, rt.store, signer)


# -- proofs --------------------------------------------------------------------------------------

def proofs(session: Session, seqs, size: int) -> dict[int, list[str]]:
    """Inclusion proofs (hex, bottom first) of those events in the tree of the first `size` events
    (the tree a checkpoint of count `size` signs), in one pass over the events' hashes."""
    collector = ProofCollector([seq - 1 for seq in seqs], size)
    for event in iter_events(session, 0, size, columns=(CustodyEvent.seq, CustodyEvent.hash)):
        collector.add(leaf_hash(event.hash))
    return {index + 1: [node.hex() for node in path] for index, path in collector.proofs().items()}
