"""Walking the custody log in seq order, checking each event against its own hash and its
predecessor: shared by `fullrecord custody verify` and by checkpoints (which never sign a
broken chain). Events are read in keyset pages, never the whole table at once.

Speed (a million events in well under 30 s): rows are read without SQLAlchemy's type processing
and serialised by `_quick_hash`, which builds the same canonical JSON as storage.custody.canonical
in a fraction of the time. Any event whose quick hash differs from its stored hash is re-read
through the model and hashed by storage.custody.event_hash, the definition, before it is called
edited: the shortcut can only save time, never change a verdict.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from datetime import timedelta, timezone
from typing import Iterator

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from storage.custody import GENESIS_HASH, event_hash
from storage.models import CustodyEvent

PAGE = 5000
"""Events read per query."""

EVENT_COLUMNS = (CustodyEvent.seq, CustodyEvent.occurred_at, CustodyEvent.actor_type, CustodyEvent.actor_id,
                 CustodyEvent.action, CustodyEvent.clip_id, CustodyEvent.case_id, CustodyEvent.details,
                 CustodyEvent.source_address, CustodyEvent.prev_hash, CustodyEvent.hash)

# details as text: the drivers' own JSON decoding costs several times what json.loads does here.
_RAW_PAGE = text("SELECT seq, occurred_at, actor_type, actor_id, action, clip_id, case_id, CAST(details AS TEXT), "
                 "source_address, prev_hash, hash FROM custody_events "
                 "WHERE seq > :after AND seq <= :upto ORDER BY seq LIMIT :page")
_LAST_SEQ = 2 ** 62
_ZERO = timedelta(0)
_ENCODE = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode
_STRING = json.encoder.encode_basestring


def iter_events(session: Session, after: int = 0, upto: int | None = None, columns=EVENT_COLUMNS,
                page: int = PAGE) -> Iterator:
    """Events with after < seq <= upto, in seq order, as typed rows of `columns`."""
    while True:
        query = select(*columns).where(CustodyEvent.seq > after).order_by(CustodyEvent.seq).limit(page)
        if upto is not None:
            query = query.where(CustodyEvent.seq <= upto)
        rows = session.execute(query).all()
        yield from rows
        if len(rows) < page:
            return
        after = rows[-1].seq


def _s(value) -> str:
    return "null" if value is None else _STRING(value)


def _quick_hash(row) -> str | None:
    """SHA-256 of the canonical form of a row as the driver returns it (times as SQLite text or
    aware datetimes, details as JSON text or already decoded); None when the row is not in a shape
    this shortcut knows."""
    seq, at, actor_type, actor_id, action, clip_id, case_id, details, source, prev, _ = row
    try:
        if isinstance(at, str):  # SQLite: "YYYY-MM-DD HH:MM:SS.ffffff", UTC
            if len(at) != 26 or at[10] != " ":
                return None
            at = f"{at[:10]}T{at[11:]}+00:00"
        else:
            if at.utcoffset() != _ZERO:
                at = at.astimezone(timezone.utc)
            at = at.isoformat(timespec="microseconds")
        if isinstance(details, (str, bytes)):
            details = json.loads(details)
        canonical = "".join((
            '{"action":', _s(action), ',"actor_id":', _s(actor_id), ',"actor_type":', _s(actor_type),
            ',"case_id":', _s(case_id), ',"clip_id":', _s(clip_id), ',"details":', _ENCODE(details),
            ',"occurred_at":', _s(at), ',"prev_hash":', _s(prev), ',"seq":', int.__repr__(seq),
            ',"source_address":', _s(source), "}"))
    except (TypeError, ValueError, AttributeError):
        return None
    return hashlib.sha256(canonical.encode()).hexdigest()


def _exact_hash(session: Session, seq: int) -> str:
    row = session.execute(select(*EVENT_COLUMNS).where(CustodyEvent.seq == seq)).one()
    return event_hash(row)


@dataclass(frozen=True)
class Problem:
    """Why the log is not intact at `seq`: a message of server/catalogs/custody.py (key
    custody.verify.<code>) with its values."""

    seq: int
    code: str
    values: dict = field(default_factory=dict)
    checkpoint: int | None = None

    def message(self, language: str = "en") -> str:
        from server.i18n import t
        return t(f"custody.verify.{self.code}", language, seq=self.seq, checkpoint=self.checkpoint, **self.values)

    @property
    def reason(self) -> str:
        return self.message("en")

    def __str__(self) -> str:
        return self.reason


class ChainWalk:
    """The events from seq `after` + 1 (whose predecessor's hash is `prev_hash`), each checked:
    it follows the previous one without a gap, hashes to its stored hash and links to it.
    `events` stops at the first problem and leaves it in `problem`."""

    def __init__(self, after: int = 0, prev_hash: str = GENESIS_HASH):
        self.last_seq, self.prev_hash = after, prev_hash
        self.problem: Problem | None = None

    def events(self, session: Session, upto: int | None = None) -> Iterator[tuple[int, str]]:
        """(seq, hash) of each intact event, in order."""
        after, upto = self.last_seq, _LAST_SEQ if upto is None else upto
        while True:
            rows = session.execute(_RAW_PAGE, {"after": after, "upto": upto, "page": PAGE}).all()
            for row in rows:
                seq, stored = row[0], row[10]
                computed = _quick_hash(row)
                if computed != stored:
                    computed = _exact_hash(session, seq)
                self.problem = self._check(seq, row[9], stored, computed)
                if self.problem:
                    return
                self.last_seq, self.prev_hash = seq, stored
                yield seq, stored
            if len(rows) < PAGE:
                return
            after = rows[-1][0]

    def _check(self, seq: int, prev_hash: str, stored: str, computed: str) -> Problem | None:
        expected = self.last_seq + 1
        if seq != expected:
            if seq == expected + 1:
                return Problem(expected, "missing")
            return Problem(expected, "missing_range", {"last": seq - 1})
        hash_ok, link_ok = computed == stored, prev_hash == self.prev_hash
        if not hash_ok and not link_ok:
            return Problem(seq, "misplaced", {"previous": self.last_seq})
        if not hash_ok:
            return Problem(seq, "edited")
        if not link_ok:
            if self.last_seq == 0:
                return Problem(seq, "not_genesis")
            return Problem(seq, "unlinked", {"previous": self.last_seq})
        return None
