"""The hash-chained custody log on SQLite and PostgreSQL: the chain that the real writers build
verifies; the database refuses UPDATE and DELETE; and someone who drops that guard and edits,
deletes, inserts or reorders events directly in the database is caught, at the right seq.
Also the tamper helpers the checkpoint and CLI tests share."""
from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from sqlalchemy import delete, insert, select, text, update
from sqlalchemy.exc import DatabaseError

from storage import custody_chain
from storage.checkpoints import create_checkpoint
from storage.custody import GENESIS_HASH, append_event, append_events, event_hash
from storage.custody_verify import verify_chain
from storage.db import utcnow
from storage.models import CustodyEvent
from storage.signing import load_signer
from tests.casework_api import make_case, make_step
from tests.test_devices_api import OFFICER, SERIAL, at, clip_links, register, sign_out, upload, world  # noqa: F401

EVENTS = CustodyEvent.__table__
GUARDED = ("custody_events", "custody_checkpoints")


# -- helpers shared by the custody tests ---------------------------------------------------------

def fill(rt, count: int, start: int = 0) -> None:
    """`count` events of assorted shapes (Chinese text, nested details, floats, case ids, times)."""
    base = utcnow().replace(microsecond=0) - timedelta(minutes=2)
    events = [{"actor_type": ("station", "worker", "user")[n % 3], "actor_id": f"actor-{n % 7}",
               "action": ("received", "verified", "linked", "viewed")[n % 4],
               "case_id": str(uuid.UUID(int=n)) if n % 5 == 0 else None,
               "details": {"n": n, "说明": "现场检查 第{}段".format(n), "ratio": n / 8, "nested": {"list": [n, None, True]}},
               "source_address": f"10.0.{n % 256}.1" if n % 2 else None,
               "occurred_at": base + timedelta(seconds=n, microseconds=n * 37)}
              for n in range(start, start + count)]
    with rt.session() as session, session.begin():
        append_events(session, events)


def unguard(engine) -> None:
    """Drop the append-only triggers, as an attacker with database access can."""
    with engine.begin() as connection:
        for table in GUARDED:
            if engine.dialect.name == "postgresql":
                connection.execute(text(f"DROP TRIGGER {table}_append_only ON {table}"))
                connection.execute(text(f"DROP TRIGGER {table}_no_truncate ON {table}"))
            else:
                connection.execute(text(f"DROP TRIGGER {table}_no_update"))
                connection.execute(text(f"DROP TRIGGER {table}_no_delete"))


def run(engine, *statements) -> None:
    with engine.begin() as connection:
        for statement in statements:
            connection.execute(statement)


def event(engine, seq: int):
    with engine.connect() as connection:
        return connection.execute(select(EVENTS).where(EVENTS.c.seq == seq)).one()


def rehash_from(engine, seq: int) -> None:
    """Recompute hash and prev_hash of every event from seq on, so the chain is consistent again."""
    with engine.begin() as connection:
        prev = connection.execute(select(EVENTS.c.hash).where(EVENTS.c.seq == seq - 1)).scalar() or GENESIS_HASH
        rows = connection.execute(select(EVENTS).where(EVENTS.c.seq >= seq).order_by(EVENTS.c.seq)).all()
        for row in rows:
            forged = CustodyEvent(**{**row._mapping, "prev_hash": prev})
            prev = event_hash(forged)
            connection.execute(update(EVENTS).where(EVENTS.c.seq == row.seq).values(prev_hash=forged.prev_hash,
                                                                                     hash=prev))


def verify(rt):
    with rt.session() as session:
        return verify_chain(session, rt.store, rt.settings)


def assert_broken(report, seq: int, code: str, *words: str):
    assert not report.ok, "tampering went unnoticed"
    assert (report.first_bad_seq, report.problem.code) == (seq, code), report.reason
    for word in words:
        assert word in report.reason


# -- the chain as written --------------------------------------------------------------------

def test_the_chain_the_real_writers_build_verifies(client, rt, world):
    register(client, world)
    case = make_case(client, world["admin"], officers=[OFFICER])
    make_step(client, world["admin"], case["id"], officers=[OFFICER], started_at=at("10:00"), ended_at=at("10:30"))
    assert sign_out(client, world["officer"], OFFICER, at("09:00")).status_code == 201
    clips = [upload(client, world["station"], SERIAL, at(f"10:{minute:02d}")) for minute in (5, 12, 40)]
    assert clip_links(client, world["admin"], clips[0])  # linking wrote its events too
    with rt.session() as session, session.begin():
        append_event(session, actor_type="user", actor_id="法制员", action="viewed", clip_id=clips[1],
                     details={"页面": "审阅", "range": [0, 4095]}, source_address="192.168.1.9")
    fill(rt, 30)

    report = verify(rt)
    assert report.ok, report.reason
    with rt.session() as session:
        count = session.scalar(select(CustodyEvent.seq).order_by(CustodyEvent.seq.desc()).limit(1))
    assert report.events_checked == report.last_seq == count >= 35
    with rt.session() as session:
        actions = set(session.scalars(select(CustodyEvent.action)))
    assert {"received", "linked", "viewed"} <= actions


AWKWARD_DETAILS = [{}, {"quote": 'a"b\\c', "control": "\x01\t\n", "emoji": "🎥", "说明": "现场"},
                   {"floats": [0.1, 1e16, -0.0, 1.5e-7, 123456789.125], "big": 10 ** 20, "neg": -1},
                   {"nested": {"z": {"b": [], "a": {}}, "a": [None, False, "", 0]}}, {"b": 1, "a": 2, "B": 3}]


def test_the_quick_hash_agrees_with_the_definition_for_awkward_events(rt):
    """verify reads rows without type processing and hashes them its own, faster way: for every
    shape of event it must find exactly the hash storage.custody.event_hash finds."""
    with rt.session() as session, session.begin():
        for number, details in enumerate(AWKWARD_DETAILS):
            append_event(session, actor_type="user", actor_id=f"法制员'{number}", action="viewed", details=details,
                         case_id="案\\" if number % 2 else None, source_address="::1" if number % 2 else None,
                         occurred_at=utcnow().replace(microsecond=number * 250000 % 1000000))
    with rt.session() as session:
        raw = session.execute(custody_chain._RAW_PAGE, {"after": 0, "upto": 100, "page": 100}).all()
        typed = session.execute(select(*custody_chain.EVENT_COLUMNS).order_by(CustodyEvent.seq)).all()
    assert len(raw) == len(typed) == len(AWKWARD_DETAILS)
    for quick, exact in zip(raw, typed):
        assert custody_chain._quick_hash(quick) == event_hash(exact) == exact.hash
    assert verify(rt).ok


def test_an_empty_log_is_intact(rt):
    report = verify(rt)
    assert report.ok and report.events_checked == 0 and report.checkpoints_checked == 0


def test_the_database_refuses_update_and_delete(rt):
    fill(rt, 3)
    with rt.session() as session, session.begin():
        assert create_checkpoint(session, rt.store, load_signer(rt.settings)).count == 3
    attempts = [update(EVENTS).where(EVENTS.c.seq == 2).values(action="deleted"),
                delete(EVENTS).where(EVENTS.c.seq == 3),
                text("UPDATE custody_checkpoints SET head_hash = 'x'"),
                text("DELETE FROM custody_checkpoints")]
    if rt.engine.dialect.name == "postgresql":
        attempts += [text("TRUNCATE custody_events CASCADE"), text("TRUNCATE custody_checkpoints")]
    for statement in attempts:
        with pytest.raises(DatabaseError, match="append-only"):
            run(rt.engine, statement)
    assert event(rt.engine, 2).action == "verified" and event(rt.engine, 3) is not None
    assert verify(rt).ok


# -- tampering with events --------------------------------------------------------------------------

@pytest.mark.parametrize("change", [{"details": {"n": 7, "说明": "改过了"}}, {"action": "tampered"},
                                    {"actor_id": "someone-else"}, {"actor_type": "user"},
                                    {"source_address": "8.8.8.8"}, {"case_id": str(uuid.uuid4())}])
def test_an_edited_event_is_named(rt, change):
    fill(rt, 12)
    unguard(rt.engine)
    run(rt.engine, update(EVENTS).where(EVENTS.c.seq == 7).values(**change))
    assert_broken(verify(rt), 7, "edited", "seq 7", "hash does not match its contents")


def test_an_edited_time_is_named(rt):
    fill(rt, 12)
    unguard(rt.engine)
    moved = event(rt.engine, 4).occurred_at + timedelta(seconds=1)
    run(rt.engine, update(EVENTS).where(EVENTS.c.seq == 4).values(occurred_at=moved))
    assert_broken(verify(rt), 4, "edited")


def test_a_deleted_event_is_named(rt):
    fill(rt, 12)
    unguard(rt.engine)
    run(rt.engine, delete(EVENTS).where(EVENTS.c.seq == 5))
    assert_broken(verify(rt), 5, "missing", "seq 5 missing")


def test_deleted_events_at_the_start_are_named(rt):
    fill(rt, 12)
    unguard(rt.engine)
    run(rt.engine, delete(EVENTS).where(EVENTS.c.seq <= 3))
    assert_broken(verify(rt), 1, "missing_range", "seqs 1–3 missing")


def test_a_deleted_event_whose_gap_was_closed_is_named(rt):
    """Deleting seq 5 and renumbering the rest leaves no gap, but seq 5 no longer follows seq 4."""
    fill(rt, 12)
    unguard(rt.engine)
    run(rt.engine, delete(EVENTS).where(EVENTS.c.seq == 5),
        update(EVENTS).where(EVENTS.c.seq > 5).values(seq=-EVENTS.c.seq),
        update(EVENTS).where(EVENTS.c.seq < 0).values(seq=-EVENTS.c.seq - 1))
    assert_broken(verify(rt), 5, "misplaced")


def test_a_naively_inserted_event_is_named(rt):
    """An event forged into the middle with a correct hash of its own, the rest moved up by one."""
    fill(rt, 12)
    unguard(rt.engine)
    forged = CustodyEvent(seq=6, occurred_at=event(rt.engine, 5).occurred_at, actor_type="user", actor_id="x",
                          action="viewed", details={}, prev_hash="f" * 64)
    forged.hash = event_hash(forged)
    run(rt.engine, update(EVENTS).where(EVENTS.c.seq >= 6).values(seq=-EVENTS.c.seq),
        update(EVENTS).where(EVENTS.c.seq < 0).values(seq=-EVENTS.c.seq + 1),
        insert(EVENTS).values(**{c: getattr(forged, c) for c in EVENTS.c.keys()}))
    assert_broken(verify(rt), 6, "unlinked", "prev_hash does not match seq 5")


def test_a_carefully_inserted_event_is_caught_at_the_next(rt):
    """The forger links the inserted event to seq 5 and relinks the next one to it: the next one's
    own hash then no longer matches."""
    fill(rt, 12)
    unguard(rt.engine)
    five = event(rt.engine, 5)
    forged = CustodyEvent(seq=6, occurred_at=five.occurred_at, actor_type="user", actor_id="x", action="viewed",
                          details={}, prev_hash=five.hash)
    forged.hash = event_hash(forged)
    run(rt.engine, update(EVENTS).where(EVENTS.c.seq == 6).values(prev_hash=forged.hash),
        update(EVENTS).where(EVENTS.c.seq >= 6).values(seq=-EVENTS.c.seq),
        update(EVENTS).where(EVENTS.c.seq < 0).values(seq=-EVENTS.c.seq + 1),
        insert(EVENTS).values(**{c: getattr(forged, c) for c in EVENTS.c.keys()}))
    assert_broken(verify(rt), 7, "edited", "seq 7")


def test_two_swapped_events_are_named(rt):
    fill(rt, 12)
    unguard(rt.engine)
    run(rt.engine, update(EVENTS).where(EVENTS.c.seq == 8).values(seq=-8),
        update(EVENTS).where(EVENTS.c.seq == 9).values(seq=8),
        update(EVENTS).where(EVENTS.c.seq == -8).values(seq=9))
    assert_broken(verify(rt), 8, "misplaced", "seq 8", "reordered")


def test_a_consistent_rewrite_without_a_checkpoint_is_beyond_the_chain_alone(rt):
    """What the chain alone cannot see, and why checkpoints exist (see test_custody_checkpoints)."""
    fill(rt, 12)
    unguard(rt.engine)
    run(rt.engine, update(EVENTS).where(EVENTS.c.seq == 3).values(action="tampered"))
    assert not verify(rt).ok
    rehash_from(rt.engine, 3)
    assert verify(rt).ok
