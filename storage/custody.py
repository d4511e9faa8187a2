"""Appending to the custody log: every action on evidence, hash-chained.

Each event's hash is SHA-256 over a canonical JSON of all its fields, including the
previous event's hash; `prev_hash` is unique, so two writers can never both extend the
chain from the same event (the loser's transaction fails and is retried by its caller).
"""
from __future__ import annotations

import hashlib
import json
import time
from datetime import datetime, timezone
from typing import Callable, TypeVar

from sqlalchemy import insert, select
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.orm import Session

from storage.db import utcnow
from storage.models import CustodyEvent

GENESIS_HASH = "0" * 64
RETRYABLE_SQLSTATES = ("40P01", "40001")
"""PostgreSQL: deadlock detected, serialization failure."""
ACCESS_ACTIONS = ("viewed", "streamed", "downloaded", "bundle_downloaded")
"""Events that record who looked at evidence, as opposed to what happened to it."""
APPEND_ATTEMPTS = 5
"""Tries of a transaction that appends events when other writers keep extending the chain first."""
T = TypeVar("T")


def canonical(event: CustodyEvent) -> bytes:
    fields = {
        "seq": event.seq,
        "occurred_at": event.occurred_at.astimezone(timezone.utc).isoformat(timespec="microseconds"),
        "actor_type": event.actor_type,
        "actor_id": event.actor_id,
        "action": event.action,
        "clip_id": event.clip_id,
        "case_id": event.case_id,
        "details": event.details,
        "source_address": event.source_address,
        "prev_hash": event.prev_hash,
    }
    return json.dumps(fields, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def event_hash(event: CustodyEvent) -> str:
    return hashlib.sha256(canonical(event)).hexdigest()


def lost_append_race(error: DBAPIError) -> bool:
    """Whether a transaction that appended custody events failed only because another writer
    extended the chain first (unique seq / prev_hash), or because PostgreSQL broke a deadlock
    between two appenders (one holding a clip row the other's event references): run it again."""
    if isinstance(error, IntegrityError):
        return "custody_events" in str(error.orig)
    return getattr(error.orig, "sqlstate", None) in RETRYABLE_SQLSTATES


def in_custody_transaction(session_factory: Callable[[], Session], work: Callable[[Session], T]) -> T:
    """Run work(session) in a transaction of its own that appends custody events; run it again
    (in a new transaction) when another writer extended the chain first."""
    for attempt in range(APPEND_ATTEMPTS):
        try:
            with session_factory() as session, session.begin():
                return work(session)
        except DBAPIError as error:
            if not lost_append_race(error) or attempt == APPEND_ATTEMPTS - 1:
                raise
            time.sleep(0.02 * (attempt + 1))
    raise AssertionError("unreachable")


def _head(session: Session) -> tuple[int, str]:
    last = session.execute(select(CustodyEvent.seq, CustodyEvent.hash)
                           .order_by(CustodyEvent.seq.desc()).limit(1)).first()
    return (last.seq, last.hash) if last else (0, GENESIS_HASH)


def append_events(session: Session, events: list[dict]) -> int:
    """Add many events (each a dict of append_event's keyword arguments) in one go, in order:
    the head is read once and the rows are inserted together. Returns how many were added."""
    if not events:
        return 0
    seq, prev = _head(session)
    rows = []
    for values in events:
        seq += 1
        event = CustodyEvent(seq=seq, occurred_at=values.get("occurred_at") or utcnow(),
                             actor_type=values["actor_type"], actor_id=values["actor_id"], action=values["action"],
                             clip_id=values.get("clip_id"), case_id=values.get("case_id"),
                             details=values.get("details") or {}, source_address=values.get("source_address"),
                             prev_hash=prev)
        event.hash = prev = event_hash(event)
        rows.append({column: getattr(event, column) for column in _COLUMNS})
    session.execute(insert(CustodyEvent), rows)
    return len(rows)


_COLUMNS = ("seq", "occurred_at", "actor_type", "actor_id", "action", "clip_id", "case_id", "details",
            "source_address", "prev_hash", "hash")


def append_event(session: Session, *, actor_type: str, actor_id: str, action: str,
                 clip_id: str | None = None, case_id: str | None = None, details: dict | None = None,
                 source_address: str | None = None, occurred_at: datetime | None = None) -> CustodyEvent:
    """Add the next event to the chain in the caller's transaction."""
    seq, prev = _head(session)
    seq += 1
    event = CustodyEvent(seq=seq, occurred_at=occurred_at or utcnow(), actor_type=actor_type, actor_id=actor_id,
                         action=action, clip_id=clip_id, case_id=case_id, details=details or {},
                         source_address=source_address, prev_hash=prev)
    event.hash = event_hash(event)
    session.add(event)
    session.flush()
    return event
