"""`custody verify` of 1,000,000 events on SQLite and on PostgreSQL. Target from the issue: <= 30 s.

The log is bulk-inserted as a valid chain (hashes computed here, rows inserted in batches) with a
signed checkpoint every 10,000 events made by the real `create_checkpoint`, documents in a local
object store. Baseline, taken in the same run on the same database: streaming the same rows with
a plain SELECT through the driver and hashing as many bytes with hashlib — the reading and
hashing any verifier must at least do. The figure is reported as a ratio to it.
"""
from __future__ import annotations

import hashlib
import os
from datetime import timedelta

from sqlalchemy import func, insert, select, text

from server.settings import SOURCE_CONFIG, load_settings
from storage.checkpoints import create_checkpoint
from storage.custody import GENESIS_HASH, event_hash
from storage.custody_models import CustodyCheckpoint
from storage.custody_verify import verify_chain
from storage.db import make_sessionmaker, utcnow
from storage.models import CustodyEvent
from storage.objects.local import LocalObjectStore
from storage.signing import load_signer
from tests.custody_keys import make_key
from tests.perf.common import bench_bytes, record, timed

EVENTS = bench_bytes("FULLRECORD_BENCH_CUSTODY_EVENTS", 1_000_000)
CHECKPOINT_EVERY = 10_000
TARGET_SECONDS = 30.0
COLUMNS = ("seq", "occurred_at", "actor_type", "actor_id", "action", "clip_id", "case_id", "details",
           "source_address", "prev_hash", "hash")


class _Event:
    __slots__ = COLUMNS


def events(start: int, count: int, prev: str):
    """Rows of a valid chain from seq start + 1, shaped like the ingest and worker events."""
    base = utcnow() - timedelta(days=30)
    rows = []
    for seq in range(start + 1, start + count + 1):
        event = _Event()
        digest = hashlib.sha256(seq.to_bytes(8, "big")).hexdigest()
        event.seq, event.occurred_at = seq, base + timedelta(milliseconds=seq * 3, microseconds=seq % 1000)
        event.actor_type, event.actor_id = ("station", "worker", "user")[seq % 3], f"actor-{seq % 97}"
        event.action = ("received", "verified", "derived", "linked", "viewed")[seq % 5]
        event.clip_id, event.case_id = None, f"case-{seq % 5000:05d}" if seq % 4 == 0 else None
        event.details = {"sha256": digest, "size": seq * 4096, "filename": f"DSJ_{seq:08d}.mp4",
                         "说明": "现场检查", "flags": ["late"] if seq % 11 == 0 else []}
        event.source_address = "10.1.2.3" if seq % 2 else None
        event.prev_hash = prev
        event.hash = prev = event_hash(event)
        rows.append({name: getattr(event, name) for name in COLUMNS})
    return rows, prev


def build(engine, store, signer) -> None:
    factory = make_sessionmaker(engine)
    prev = GENESIS_HASH
    for start in range(0, EVENTS, CHECKPOINT_EVERY):
        rows, prev = events(start, min(CHECKPOINT_EVERY, EVENTS - start), prev)
        with engine.begin() as connection:
            connection.execute(insert(CustodyEvent.__table__), rows)
        with factory() as session, session.begin():
            assert create_checkpoint(session, store, signer) is not None


def baseline(engine) -> float:
    """Stream every row through the driver (no type processing) and SHA-256 as many bytes."""
    query = f"SELECT {', '.join(COLUMNS)} FROM custody_events ORDER BY seq".replace(
        "details", "CAST(details AS TEXT)")  # as verify reads it: the drivers' JSON decoding is slow

    def work():
        connection = engine.raw_connection()
        try:
            cursor = connection.cursor()
            cursor.execute(query)
            while batch := cursor.fetchmany(5000):
                for row in batch:
                    hashlib.sha256("|".join(map(str, row)).encode()).digest()
            cursor.close()
        finally:
            connection.close()
    return timed(work)


def test_verify_a_million_events_within_the_target(database, tmp_path):
    name, engine = database
    settings = load_settings(SOURCE_CONFIG, env={}, overrides={"data_dir": str(tmp_path / "data"),
                                                                "custody.signing_key": str(tmp_path / "key.pem")})
    make_key(settings.custody_signing_key)
    store = LocalObjectStore(tmp_path / "store")
    built = timed(lambda: build(engine, store, load_signer(settings)))
    if name == "postgresql":
        with engine.begin() as connection:
            connection.execute(text("ANALYZE custody_events"))
    factory = make_sessionmaker(engine)

    def verify():
        with factory() as session:
            verify.report = verify_chain(session, store, settings)
    seconds = timed(verify)
    base = baseline(engine)
    report = verify.report
    with factory() as session:
        checkpoints = session.scalar(select(func.count()).select_from(CustodyCheckpoint))

    result = {"database": name, "events": EVENTS, "checkpoints": checkpoints, "cpus": os.cpu_count(),
              "build_seconds": round(built, 1), "verify_seconds": round(seconds, 2), "target_seconds": TARGET_SECONDS,
              "events_per_second": round(EVENTS / seconds), "baseline_seconds": round(base, 2),
              "verify_vs_baseline": round(seconds / base, 2), "ok": report.ok}
    record(f"custody-verify-{name}", result)
    assert report.ok, report.reason
    assert report.events_checked == EVENTS and report.checkpoints_checked == checkpoints == EVENTS // CHECKPOINT_EVERY
    assert seconds <= TARGET_SECONDS
