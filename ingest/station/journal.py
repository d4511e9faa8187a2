"""The station's local journal: every file under the watch dir and how far it got.

SQLite in WAL mode with synchronous=FULL, so a state written before a power cut is there
after it. Rows are keyed by the path relative to the watch dir, so the same file name under
two recorders is two rows. Safe to share between threads (one connection behind a lock).

States: pending (seen, not hashed) -> hashing -> ready (hashed) -> uploading -> done, or
failed (with a reason). A file whose size or mtime changes before it is done goes back to
pending with its hash and upload forgotten: it is never uploaded half-old. A done file that
changes afterwards (a recorder reusing a name after --delete-after-receipt) is a new recording:
its row starts again, and every receipt ever given stays in the `receipts` table.
"""
from __future__ import annotations

import sqlite3
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

STATES = ("pending", "hashing", "ready", "uploading", "done", "failed")
WORK_STATES = ("pending", "hashing", "ready", "uploading")

SCHEMA = """
CREATE TABLE IF NOT EXISTS files (
    path TEXT PRIMARY KEY,
    recorder TEXT NOT NULL,
    size INTEGER NOT NULL,
    mtime_ns INTEGER NOT NULL,
    recorded_at REAL,
    flagged INTEGER NOT NULL DEFAULT 0,
    sha256 TEXT,
    state TEXT NOT NULL CHECK (state IN ('pending', 'hashing', 'ready', 'uploading', 'done', 'failed')),
    upload_url TEXT,
    upload_offset INTEGER NOT NULL DEFAULT 0,
    clip_id TEXT,
    reason TEXT,
    attempts INTEGER NOT NULL DEFAULT 0,
    next_try_at REAL,
    first_seen REAL NOT NULL,
    updated REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS files_state ON files (state, next_try_at);
CREATE TABLE IF NOT EXISTS receipts (
    path TEXT NOT NULL,
    sha256 TEXT NOT NULL,
    clip_id TEXT NOT NULL,
    size INTEGER NOT NULL,
    received REAL NOT NULL,
    deleted REAL,
    PRIMARY KEY (path, sha256)
);
CREATE TABLE IF NOT EXISTS failures (
    path TEXT NOT NULL,
    size INTEGER NOT NULL,
    sha256 TEXT,
    reason TEXT NOT NULL,
    at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS clock_readings (
    path TEXT NOT NULL,
    mtime_ns INTEGER NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('reported', 'retry', 'failed')),
    reason TEXT,
    next_try_at REAL,
    updated REAL NOT NULL,
    PRIMARY KEY (path, mtime_ns)
);
"""

_ADVICE = ("the agent needs a writable directory with free disk space for its journal; "
           "free some space, fix the permissions or set station.journal to another path")


class JournalError(Exception):
    """The journal cannot be opened or written; the message names the path and what to do."""


class StateError(JournalError):
    """A transition the file's current state does not allow (or an unknown path)."""


@dataclass(frozen=True)
class FileRow:
    path: str
    recorder: str
    size: int
    mtime_ns: int
    recorded_at: float | None
    flagged: bool
    sha256: str | None
    state: str
    upload_url: str | None
    offset: int
    clip_id: str | None
    reason: str | None
    attempts: int
    next_try_at: float | None
    first_seen: float
    updated: float


def _row(record: sqlite3.Row) -> FileRow:
    values = dict(record)
    values["offset"] = values.pop("upload_offset")
    values["flagged"] = bool(values["flagged"])
    return FileRow(**values)


def recorder_of(path: str) -> str:
    """The recorder's folder: the first part of a path under the watch dir ('' for none)."""
    parts = path.split("/")
    return parts[0] if len(parts) > 1 else ""


class Journal:
    def __init__(self, path: Path, connection: sqlite3.Connection, clock=time.time):
        self.path = path
        self._db = connection
        self._lock = threading.Lock()
        self._clock = clock

    @classmethod
    def open(cls, path: str | Path, clock=time.time) -> "Journal":
        """Open (and create) the journal at this path; JournalError when that is impossible."""
        path = Path(path)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            connection = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        except (OSError, sqlite3.Error) as exc:
            raise JournalError(f"cannot open the station journal {path}: {exc}; {_ADVICE}") from None
        journal = cls(path, connection, clock)
        connection.row_factory = sqlite3.Row
        try:
            with journal._guard("create"):
                mode = connection.execute("PRAGMA journal_mode=WAL").fetchone()[0]
                if mode != "wal":
                    raise sqlite3.OperationalError(f"cannot switch to WAL mode (still {mode})")
                connection.execute("PRAGMA synchronous=FULL")
                connection.executescript(SCHEMA)
        except JournalError:
            connection.close()
            raise
        return journal

    def close(self) -> None:
        with self._lock:
            self._db.close()

    @contextmanager
    def _guard(self, what: str):
        """Under the lock; SQLite errors become a JournalError naming the path and what to do."""
        with self._lock:
            try:
                yield self._db
            except sqlite3.Error as exc:
                if self._db.in_transaction:
                    self._db.rollback()
                raise JournalError(f"cannot {what} the station journal {self.path}: {exc}; {_ADVICE}") from None

    @contextmanager
    def _writing(self, what: str):
        """One transaction (rolled back on any error) under the guard."""
        with self._guard(what) as db:
            db.execute("BEGIN IMMEDIATE")
            try:
                yield db
            except BaseException:
                db.rollback()
                raise
            db.execute("COMMIT")

    def _current(self, db, path: str, allowed: tuple[str, ...], action: str) -> sqlite3.Row:
        record = db.execute("SELECT * FROM files WHERE path = ?", (path,)).fetchone()
        if record is None:
            raise StateError(f"{path}: not in the journal")
        if record["state"] not in allowed:
            raise StateError(f"{path}: cannot {action} a file that is {record['state']}")
        return record

    def _update(self, db, path: str, **values) -> None:
        values["updated"] = self._clock()
        columns = ", ".join(f"{key} = ?" for key in values)
        db.execute(f"UPDATE files SET {columns} WHERE path = ?", (*values.values(), path))

    def observe(self, path: str, size: int, mtime_ns: int, recorded_at: float | None = None,
                flagged: bool = False) -> str:
        """Record a stable file seen by the scanner: new, unchanged, changed (back to pending)
        or changed_after_done (a done file is left done; the caller decides what to say)."""
        with self._writing("record a file in") as db:
            record = db.execute("SELECT state, size, mtime_ns FROM files WHERE path = ?", (path,)).fetchone()
            now = self._clock()
            if record is None:
                db.execute("INSERT INTO files (path, recorder, size, mtime_ns, recorded_at, flagged, state,"
                           " first_seen, updated) VALUES (?, ?, ?, ?, ?, ?, 'pending', ?, ?)",
                           (path, recorder_of(path), size, mtime_ns, recorded_at, int(flagged), now, now))
                return "new"
            if (record["size"], record["mtime_ns"]) == (size, mtime_ns):
                return "unchanged"
            self._update(db, path, size=size, mtime_ns=mtime_ns, recorded_at=recorded_at, state="pending",
                         flagged=int(flagged), sha256=None, upload_url=None, upload_offset=0, clip_id=None,
                         reason=None, attempts=0, next_try_at=None)
            return "changed_after_done" if record["state"] == "done" else "changed"

    def flag(self, path: str, flagged: bool = True) -> None:
        with self._writing("flag a file in") as db:
            self._current(db, path, STATES, "flag")
            self._update(db, path, flagged=int(flagged))

    def start_hashing(self, path: str) -> None:
        with self._writing("update") as db:
            self._current(db, path, ("pending", "hashing"), "hash")
            self._update(db, path, state="hashing")

    def set_hashed(self, path: str, sha256: str, size: int, mtime_ns: int) -> bool:
        """Ready to upload, if the file still has the size and mtime it was hashed at; False
        (and left pending) when it changed meanwhile, so it must be hashed again."""
        with self._writing("update") as db:
            record = self._current(db, path, ("pending", "hashing"), "set the hash of")
            if (record["size"], record["mtime_ns"]) != (size, mtime_ns):
                self._update(db, path, state="pending")
                return False
            self._update(db, path, state="ready", sha256=sha256, reason=None)
            return True

    def start_upload(self, path: str, url: str) -> None:
        """Uploading to this tus URL; a new URL starts again at offset 0."""
        with self._writing("update") as db:
            record = self._current(db, path, ("ready", "uploading"), "upload")
            offset = record["upload_offset"] if record["upload_url"] == url else 0
            self._update(db, path, state="uploading", upload_url=url, upload_offset=offset)

    def advance(self, path: str, offset: int) -> None:
        with self._writing("update") as db:
            self._current(db, path, ("uploading",), "advance")
            self._update(db, path, upload_offset=offset)

    def done(self, path: str, clip_id: str, sha256: str) -> None:
        """The server's receipt: only a receipt with the journal's own SHA-256 makes a file done."""
        with self._writing("update") as db:
            record = self._current(db, path, ("ready", "uploading"), "complete")
            if record["sha256"] != sha256:
                raise StateError(f"{path}: the receipt's SHA-256 {sha256} is not the file's {record['sha256']}")
            self._update(db, path, state="done", clip_id=clip_id, reason=None, next_try_at=None)
            db.execute("INSERT OR REPLACE INTO receipts (path, sha256, clip_id, size, received) VALUES (?, ?, ?, ?, ?)",
                       (path, sha256, clip_id, record["size"], self._clock()))

    def deleted(self, path: str) -> None:
        """The agent removed the done file (--delete-after-receipt)."""
        with self._writing("update") as db:
            record = self._current(db, path, ("done",), "delete")
            db.execute("UPDATE receipts SET deleted = ? WHERE path = ? AND sha256 = ?",
                       (self._clock(), path, record["sha256"]))

    def receipts(self, path: str | None = None) -> list[dict]:
        """Every receipt the server gave, oldest first (of one path, or all)."""
        sql = "SELECT * FROM receipts" + (" WHERE path = ?" if path else "") + " ORDER BY received, path"
        with self._guard("read"):
            return [dict(record) for record in self._db.execute(sql, (path,) if path else ())]

    def retry_failed(self, paths: list[str] | None = None) -> int:
        """Failed files back to pending (all, or these); how many."""
        with self._writing("update") as db:
            rows = db.execute("SELECT path FROM files WHERE state = 'failed'").fetchall()
            chosen = [row["path"] for row in rows if paths is None or row["path"] in paths]
            for path in chosen:
                self._update(db, path, state="pending", sha256=None, upload_url=None, upload_offset=0,
                             reason=None, attempts=0, next_try_at=None)
            return len(chosen)

    def clock_due(self, path: str, mtime_ns: int, now: float | None = None) -> bool:
        """Whether this clock reading (file at this mtime) still needs reporting now."""
        now = self._clock() if now is None else now
        with self._guard("read"):
            record = self._db.execute("SELECT state, next_try_at FROM clock_readings WHERE path = ? AND mtime_ns = ?",
                                      (path, mtime_ns)).fetchone()
        return record is None or (record["state"] == "retry" and (record["next_try_at"] or 0) <= now)

    def clock_result(self, path: str, mtime_ns: int, state: str, reason: str | None = None,
                     next_try_at: float | None = None) -> None:
        with self._writing("record a clock reading in") as db:
            db.execute("INSERT OR REPLACE INTO clock_readings (path, mtime_ns, state, reason, next_try_at, updated)"
                       " VALUES (?, ?, ?, ?, ?, ?)", (path, mtime_ns, state, reason, next_try_at, self._clock()))

    def clock_readings(self) -> list[dict]:
        with self._guard("read"):
            return [dict(record) for record in
                    self._db.execute("SELECT * FROM clock_readings ORDER BY path, mtime_ns")]

    def backlog(self) -> tuple[int, float | None]:
        """Bytes of files not yet done (failed excluded) and when the oldest of them was first seen."""
        with self._guard("read"):
            record = self._db.execute("SELECT COALESCE(SUM(size), 0), MIN(first_seen) FROM files"
                                      " WHERE state IN ('pending', 'hashing', 'ready', 'uploading')").fetchone()
        return int(record[0]), record[1]

    def failed(self, path: str, reason: str) -> None:
        """Failed, with the reason; kept in `failures` too, should the file come back changed."""
        with self._writing("update") as db:
            record = self._current(db, path, WORK_STATES + ("failed",), "fail")
            self._update(db, path, state="failed", reason=reason, next_try_at=None)
            db.execute("INSERT INTO failures (path, size, sha256, reason, at) VALUES (?, ?, ?, ?, ?)",
                       (path, record["size"], record["sha256"], reason, self._clock()))

    def failures(self) -> list[dict]:
        """Every failure ever recorded, oldest first."""
        with self._guard("read"):
            return [dict(record) for record in self._db.execute("SELECT * FROM failures ORDER BY at, path")]

    def retry_later(self, path: str, reason: str, at: float) -> None:
        """Keep the file's state (and upload offset) but leave it alone until `at`."""
        with self._writing("update") as db:
            record = self._current(db, path, WORK_STATES, "retry")
            state = "pending" if record["state"] == "hashing" else record["state"]
            self._update(db, path, state=state, reason=reason, next_try_at=at,
                         attempts=record["attempts"] + 1)

    def restart(self, path: str, size: int, mtime_ns: int, reason: str, at: float) -> None:
        """Hash and send again from the start, not before `at`: the file changed under the agent,
        or the server received bytes that did not hash to the declared SHA-256."""
        with self._writing("update") as db:
            record = self._current(db, path, WORK_STATES, "restart")
            self._update(db, path, state="pending", size=size, mtime_ns=mtime_ns, sha256=None, upload_url=None,
                         upload_offset=0, reason=reason, next_try_at=at, attempts=record["attempts"] + 1)

    def get(self, path: str) -> FileRow | None:
        with self._guard("read"):
            record = self._db.execute("SELECT * FROM files WHERE path = ?", (path,)).fetchone()
        return _row(record) if record else None

    def pending(self, now: float | None = None, order: str = "newest", flagged_first: bool = True,
                limit: int | None = None) -> list[FileRow]:
        """Files with work left that is due now: flagged first, then newest or oldest first
        (by recording time, else mtime)."""
        if order not in ("newest", "oldest"):
            raise ValueError(f"order {order!r}: expected newest or oldest")
        now = self._clock() if now is None else now
        direction = "DESC" if order == "newest" else "ASC"
        sql = ("SELECT * FROM files WHERE state IN ('pending', 'hashing', 'ready', 'uploading')"
               " AND (next_try_at IS NULL OR next_try_at <= ?) ORDER BY "
               + ("flagged DESC, " if flagged_first else "")
               + f"COALESCE(recorded_at, mtime_ns / 1e9) {direction}, path LIMIT ?")
        with self._guard("read"):
            records = self._db.execute(sql, (now, -1 if limit is None else limit)).fetchall()
        return [_row(record) for record in records]

    def counts(self) -> dict[str, int]:
        with self._guard("read"):
            records = self._db.execute("SELECT state, COUNT(*) FROM files GROUP BY state").fetchall()
        return {state: 0 for state in STATES} | {state: count for state, count in records}

    def listing(self, states: tuple[str, ...] = STATES) -> list[FileRow]:
        """Rows for `station status`, by state (in STATES order) then path."""
        marks = ", ".join("?" for _ in states)
        order = " ".join(f"WHEN '{state}' THEN {index}" for index, state in enumerate(STATES))
        with self._guard("read"):
            records = self._db.execute(f"SELECT * FROM files WHERE state IN ({marks})"
                                       f" ORDER BY CASE state {order} END, path", states).fetchall()
        return [_row(record) for record in records]
