"""Appending to the custody log: every action on evidence, hash-chained.

Each event's hash is SHA-256 over a canonical JSON of all its fields, including the
previous event's hash; `prev_hash` is unique, so two writers can never both extend the
chain from the same event (the loser's transaction fails and is retried by its caller).
"""
from __future__ import annotations

import hashlib
import json
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from storage.db import utcnow
from storage.models import CustodyEvent

GENESIS_HASH = "0" * 64


def canonical(event: CustodyEvent) -> bytes:
    fields = {
        "seq": event.seq,
        "occurred_at": event.occurred_at.isoformat(timespec="microseconds"),
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


def append_event(session: Session, *, actor_type: str, actor_id: str, action: str,
                 clip_id: str | None = None, case_id: str | None = None, details: dict | None = None,
                 source_address: str | None = None, occurred_at: datetime | None = None) -> CustodyEvent:
    """Add the next event to the chain in the caller's transaction."""
    last = session.execute(select(CustodyEvent.seq, CustodyEvent.hash)
                           .order_by(CustodyEvent.seq.desc()).limit(1)).first()
    seq, prev = (last.seq + 1, last.hash) if last else (1, GENESIS_HASH)
    event = CustodyEvent(seq=seq, occurred_at=occurred_at or utcnow(), actor_type=actor_type, actor_id=actor_id,
                         action=action, clip_id=clip_id, case_id=case_id, details=details or {},
                         source_address=source_address, prev_hash=prev)
    event.hash = event_hash(event)
    session.add(event)
    session.flush()
    return event
