"""The schema on both databases: migrations, constraints, UTC times, SQLite's pragmas."""
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import inspect, select, text
from sqlalchemy.exc import IntegrityError

from storage.custody import GENESIS_HASH, append_event, event_hash
from storage.db import make_engine, make_sessionmaker, utcnow
from storage.migrate import current_revision, head_revision, upgrade
from storage.models import ApiToken, Clip, CustodyEvent, Derivative, Device, Station, User

CORE_TABLES = {"stations", "users", "api_tokens", "devices", "clips", "derivatives", "custody_events"}


@pytest.fixture
def engine(database_url):
    engine = make_engine(database_url)
    upgrade(engine)
    yield engine
    engine.dispose()


@pytest.fixture
def session(engine):
    with make_sessionmaker(engine)() as session:
        yield session


def clip(**values):
    base = dict(sha256="a" * 64, sm3="b" * 64, size=10, original_key="originals/aa/aa/" + "a" * 64,
                filename="x.mp4", recorded_at=datetime(2026, 1, 1, tzinfo=timezone.utc))
    return Clip(**{**base, **values})


def test_migrations_create_every_core_table_and_are_repeatable(engine):
    assert CORE_TABLES <= set(inspect(engine).get_table_names())
    assert current_revision(engine) == head_revision(engine)
    assert upgrade(engine) == (head_revision(engine), head_revision(engine))


def test_foreign_keys_are_enforced(session):
    session.add(clip(device_id="no-such-device"))
    with pytest.raises(IntegrityError):
        session.commit()


def test_unique_and_check_constraints(session):
    session.add_all([Station(name="east"), Station(name="east")])
    with pytest.raises(IntegrityError):
        session.commit()
    session.rollback()
    session.add(User(username="u", role="superuser", password_hash="x"))
    with pytest.raises(IntegrityError):
        session.commit()
    session.rollback()
    session.add(ApiToken(token_hash="c" * 64, prefix="fr_x"))  # neither station nor user
    with pytest.raises(IntegrityError):
        session.commit()


def test_times_round_trip_as_utc(session):
    local = datetime(2026, 3, 1, 9, 30, tzinfo=ZoneInfo("Asia/Shanghai"))
    session.add(clip(id="c1", recorded_at=local))
    session.commit()
    session.expire_all()
    stored = session.get(Clip, "c1").recorded_at
    assert stored == local and stored.utcoffset() == timedelta(0)
    assert stored.hour == 1
    with pytest.raises(Exception, match="naive datetime"):
        session.add(clip(id="c2", recorded_at=datetime(2026, 3, 1, 9, 30)))
        session.commit()


def test_clip_derivative_and_custody_rows(session):
    device = Device(serial="DSJ-001", model="DSJ-V9")
    session.add(device)
    session.add(clip(id="c1", device=device))
    session.flush()
    session.add(Derivative(clip_id="c1", kind="review", profile="review", object_key="derived/c1/review.mp4",
                           sha256="d" * 64, size=5, source_sha256="a" * 64, tool_version="ffmpeg 5.1",
                           argv=["ffmpeg", "-i", "in", "out.mp4"]))
    first = append_event(session, actor_type="station", actor_id="s1", action="received", clip_id="c1",
                         details={"filename": "x.mp4"})
    second = append_event(session, actor_type="worker", actor_id="w1", action="verified", clip_id="c1")
    session.commit()
    assert (first.seq, first.prev_hash) == (1, GENESIS_HASH)
    assert (second.seq, second.prev_hash) == (2, first.hash)
    session.expire_all()
    stored = session.get(Clip, "c1")
    assert stored.device.serial == "DSJ-001"
    assert stored.derivatives[0].argv == ["ffmpeg", "-i", "in", "out.mp4"]
    event = session.scalars(select(CustodyEvent).order_by(CustodyEvent.seq)).first()
    assert event.details == {"filename": "x.mp4"} and event_hash(event) == event.hash  # survives the round trip


def test_the_custody_chain_cannot_fork(engine):
    factory = make_sessionmaker(engine)
    with factory() as one, factory() as two:
        append_event(one, actor_type="worker", actor_id="a", action="verified")
        one.commit()
        prev = one.scalars(select(CustodyEvent.hash)).one()
        # a second writer that read the same head tries to extend it too
        two.add(CustodyEvent(seq=9, occurred_at=utcnow(), actor_type="worker", actor_id="b", action="x",
                             details={}, prev_hash=prev, hash="f" * 64))
        two.add(CustodyEvent(seq=10, occurred_at=utcnow(), actor_type="worker", actor_id="c", action="y",
                             details={}, prev_hash=prev, hash="e" * 64))
        with pytest.raises(IntegrityError):
            two.commit()


def test_models_and_migrations_agree(engine):
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext
    from storage.db import Base
    with engine.connect() as connection:
        assert compare_metadata(MigrationContext.configure(connection), Base.metadata) == []


def test_sqlite_runs_in_wal_mode_with_foreign_keys(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path / 'new' / 'x.db'}")
    with engine.connect() as connection:
        assert connection.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        assert connection.execute(text("PRAGMA foreign_keys")).scalar() == 1
    engine.dispose()
