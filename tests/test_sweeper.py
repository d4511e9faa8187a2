"""The outbox and the sweeper: jobs written with the change survive a Redis outage and are
enqueued exactly once when Redis is back; abandoned uploads expire."""
import io
from datetime import timedelta

import pytest
from redis import Redis
from rq import SimpleWorker
from sqlalchemy import select

from storage.db import utcnow
from storage.ingest_models import OutboxEntry
from storage.models import Clip
from tests.services.ports import free_port
from workers import outbox
from workers.queues import queue
from workers.sweeper import sweep

DONE: list = []


def record_clip(clip_id):
    """The job the test registers: proves the worker ran it with the outbox's arguments."""
    DONE.append(clip_id)
    return clip_id


@pytest.fixture
def pending(rt):
    with rt.session() as session, session.begin():
        clip = Clip(sha256="a" * 64, sm3="b" * 64, size=1, original_key="k", filename="f",
                    recorded_at=utcnow())
        session.add(clip)
        session.flush()
        entry = OutboxEntry(job="process_clip", args=[clip.id])
        session.add(entry)
    return entry.id, clip.id


@pytest.fixture
def registered(monkeypatch):
    monkeypatch.setitem(outbox.REGISTRY, "process_clip", (f"{__name__}.record_clip", "short"))


def enqueued_at(rt, entry_id):
    with rt.session() as session:
        return session.scalar(select(OutboxEntry.enqueued_at).where(OutboxEntry.id == entry_id))


def test_unknown_jobs_stay_pending(rt, pending, redis_url, monkeypatch):
    monkeypatch.delitem(outbox.REGISTRY, "process_clip")
    entry_id, _ = pending
    assert outbox.dispatch(rt, Redis.from_url(redis_url)) == 0
    assert enqueued_at(rt, entry_id) is None


def test_redis_down_then_back(rt, pending, registered, redis_url):
    entry_id, clip_id = pending
    down = Redis.from_url(f"redis://127.0.0.1:{free_port()}/0", socket_connect_timeout=1)
    assert outbox.dispatch(rt, down) == 0
    assert enqueued_at(rt, entry_id) is None  # still pending, nothing lost
    connection = Redis.from_url(redis_url)
    assert sweep(rt, connection)["enqueued"] == 1
    assert enqueued_at(rt, entry_id) is not None
    assert outbox.dispatch(rt, connection) == 0  # never twice
    short = queue("short", connection)
    assert short.job_ids == [f"process_clip-{entry_id}"]
    DONE.clear()
    SimpleWorker([short], connection=connection, serializer=short.serializer).work(burst=True)
    assert DONE == [clip_id]


def test_sweep_expires_abandoned_uploads(rt, app, redis_url):
    from ingest import uploads
    from server import accounts
    with rt.session() as session, session.begin():
        station, _row, _token = accounts.create_station(session, "s")
    upload = uploads.create(rt, station.id, 10, {
        "filename": "a.mp4", "device_id": "D1", "recorded_at": utcnow(), "sha256": "c" * 64}, None)
    segment = rt.staging.write_segment(upload.id, 0, "g1-test", io.BytesIO(b"0123456789"))
    assert upload.id in rt.staging.staged_uploads(timedelta(0))
    later = utcnow() + timedelta(hours=rt.settings.uploads.expires_hours, seconds=1)
    assert uploads.expire(rt, now=utcnow()) == 0
    assert rt.staging.read_segment(segment) == b"0123456789"
    assert uploads.expire(rt, now=later) == 1
    assert upload.id not in rt.staging.staged_uploads(timedelta(0))
