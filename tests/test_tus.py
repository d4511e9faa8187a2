"""tus 1.0 ingest through the real HTTP API: a live server on 127.0.0.1, the `tuspy` client
and raw requests, on SQLite and PostgreSQL."""
import base64
import hashlib
import io
import os
import threading
import time
import uuid
from datetime import timedelta

import pytest
import requests
from sqlalchemy import select, update
from tusclient import client as tus_client
from tusclient.exceptions import TusCommunicationError

from ingest import uploads as ingest_uploads
from ingest.checksums import CHECKSUM_ALGORITHMS
from server import accounts
from storage.custody import GENESIS_HASH
from storage.db import utcnow
from storage.ingest_models import OutboxEntry, Upload
from storage.models import Clip, CustodyEvent, Device

TUS = {"Tus-Resumable": "1.0.0"}


@pytest.fixture(params=["local", "s3"])
def settings(request, make_settings, database_url, redis_url):
    """Every upload test on each object store: the local directory and a real SeaweedFS."""
    values = {"database.url": database_url, "redis.url": redis_url}
    if request.param == "s3":
        seaweedfs = request.getfixturevalue("seaweedfs")
        s3 = seaweedfs.settings(f"tus-{uuid.uuid4().hex[:20]}")
        values.update({"object_store.backend": "s3", **{f"object_store.s3.{k}": v for k, v in s3.items()}})
    return make_settings(**values)


@pytest.fixture
def live(live_server):
    """The app on a free port of 127.0.0.1 (tests/services/browser.py)."""
    return live_server


@pytest.fixture
def station(rt):
    with rt.session() as session, session.begin():
        _station, _row, token = accounts.create_station(session, "采集站-1")
    return token


def auth(token):
    return {"Authorization": f"Bearer {token}"}


def metadata(data: bytes, **overrides) -> dict:
    values = {"filename": "DSJ001_20261120_100000.mp4", "device_id": "DSJ-001",
              "recorded_at": "2026-11-20T10:00:00+08:00", "sha256": hashlib.sha256(data).hexdigest(),
              "officer_id": "3201001"}
    values.update(overrides)
    return {k: v for k, v in values.items() if v is not None}


def encode(values: dict) -> str:
    return ",".join(f"{k} {base64.b64encode(v.encode()).decode()}" for k, v in values.items())


def create(live, token, data, **overrides):
    return requests.post(f"{live}/api/v1/uploads", headers={
        **TUS, **auth(token), "Upload-Length": str(len(data)), "Upload-Metadata": encode(metadata(data, **overrides))})


def patch(url, token, body, offset, **headers):
    return requests.patch(url, data=body, headers={**TUS, **auth(token), "Upload-Offset": str(offset),
                                                   "Content-Type": "application/offset+octet-stream", **headers})


def staged(rt) -> dict:
    """Uploads with staged data left, on either staging area."""
    return rt.staging.staged_uploads(timedelta(0))


def tuspy_upload(live, token, data, chunk_size=1 << 20, **overrides):
    client = tus_client.TusClient(f"{live}/api/v1/uploads", headers=auth(token))
    uploader = client.uploader(file_stream=io.BytesIO(data), chunk_size=chunk_size,
                               metadata=metadata(data, **overrides))
    uploader.upload()
    return uploader


def test_tuspy_upload_gives_a_verified_receipt(live, station, rt):
    data = os.urandom(3 * 1024 * 1024 + 123)
    tuspy_upload(live, station, data)
    sha256, sm3 = hashlib.sha256(data).hexdigest(), hashlib.new("sm3", data).hexdigest()
    clips = requests.get(f"{live}/api/v1/clips", params={"sha256": sha256}, headers=auth(station)).json()
    assert len(clips) == 1
    clip = clips[0]
    assert (clip["sha256"], clip["sm3"], clip["size"]) == (sha256, sm3, len(data))
    assert clip["filename"] == "DSJ001_20261120_100000.mp4" and clip["officer_id"] == "3201001"
    assert clip["flags"] == {"unknown_device": "DSJ-001"}  # accepted and flagged, never refused
    assert rt.store.read_all(f"originals/{sha256[:2]}/{sha256[2:4]}/{sha256}") == data
    assert rt.store.stat(f"originals/{sha256[:2]}/{sha256[2:4]}/{sha256}").retain_until > utcnow() + timedelta(days=180)
    with rt.session() as session:
        event, viewed = session.scalars(select(CustodyEvent).where(CustodyEvent.clip_id == clip["id"])
                                        .order_by(CustodyEvent.seq)).all()
        assert event.action == "received" and event.details["sm3"] == sm3 and event.prev_hash == GENESIS_HASH
        assert viewed.action == "viewed" and viewed.actor_type == "station"  # the receipt check is an access too
        assert session.scalars(select(OutboxEntry.args)).all() == [[clip["id"]]]
        assert not staged(rt)


def test_known_device_is_linked(live, station, rt):
    with rt.session() as session, session.begin():
        session.add(Device(serial="DSJ-777"))
    data = os.urandom(1000)
    tuspy_upload(live, station, data, device_id="DSJ-777")
    with rt.session() as session:
        clip = session.scalars(select(Clip)).one()
        assert clip.device.serial == "DSJ-777" and clip.flags == {}


def test_same_content_twice_makes_one_clip_and_a_repeat_receipt(live, station, rt):
    with rt.session() as session, session.begin():
        _s, _r, other = accounts.create_station(session, "采集站-2")
    data = os.urandom(200_000)
    tuspy_upload(live, station, data)
    tuspy_upload(live, other, data)
    with rt.session() as session:
        assert len(session.scalars(select(Clip)).all()) == 1
        actions = session.scalars(select(CustodyEvent.action).order_by(CustodyEvent.seq)).all()
    assert actions == ["received", "received_again"]


def test_creation_with_upload_and_receipt_headers(live, station):
    data = os.urandom(5000)
    answer = requests.post(f"{live}/api/v1/uploads", data=data, headers={
        **TUS, **auth(station), "Upload-Length": str(len(data)), "Upload-Metadata": encode(metadata(data)),
        "Content-Type": "application/offset+octet-stream"})
    assert answer.status_code == 201, answer.text
    assert answer.headers["Upload-Offset"] == str(len(data))
    assert answer.headers["X-Clip-Sha256"] == hashlib.sha256(data).hexdigest()
    assert answer.headers["Tus-Resumable"] == "1.0.0" and "Upload-Expires" in answer.headers
    head = requests.head(answer.headers["Location"], headers={**TUS, **auth(station)})
    assert head.headers["X-Clip-Id"] == answer.headers["X-Clip-Id"]


def test_declared_hash_mismatch_is_refused_and_recorded(live, station, rt):
    data = os.urandom(100_000)
    with pytest.raises(TusCommunicationError) as info:
        tuspy_upload(live, station, data, sha256="0" * 64)
    assert info.value.status_code == 460
    with rt.session() as session:
        assert session.scalars(select(Clip)).all() == []
        upload = session.scalars(select(Upload)).one()
        assert upload.status == "rejected" and "0" * 64 in upload.error
        event = session.scalars(select(CustodyEvent)).one()
        assert event.action == "upload_rejected" and event.details["sha256"] == hashlib.sha256(data).hexdigest()
    assert list(rt.store.list("")) == [] and not staged(rt)


def test_chunk_checksum_mismatch_keeps_the_offset(live, station):
    data = os.urandom(4096)
    url = create(live, station, data).headers["Location"]
    good = base64.b64encode(hashlib.sha1(data[:1000]).digest()).decode()
    bad = patch(url, station, data[:1000], 0, **{"Upload-Checksum": f"sha1 {base64.b64encode(b'x' * 20).decode()}"})
    assert bad.status_code == 460 and "sha1" in bad.json()["message"]
    assert requests.head(url, headers={**TUS, **auth(station)}).headers["Upload-Offset"] == "0"
    ok = patch(url, station, data[:1000], 0, **{"Upload-Checksum": f"sha1 {good}"})
    assert ok.status_code == 204 and ok.headers["Upload-Offset"] == "1000"
    sha256 = base64.b64encode(hashlib.sha256(data[1000:2000]).digest()).decode()
    ok = patch(url, station, data[1000:2000], 1000, **{"Upload-Checksum": f"sha256 {sha256}"})
    assert ok.status_code == 204 and ok.headers["Upload-Offset"] == "2000"
    assert CHECKSUM_ALGORITHMS["crc32c"](b"123456789").digest() == bytes.fromhex("e3069283")  # CRC-32C's check value
    crc = CHECKSUM_ALGORITHMS["crc32c"](data[2000:]).digest()
    flipped = base64.b64encode((int.from_bytes(crc, "big") ^ 1).to_bytes(4, "big")).decode()
    assert patch(url, station, data[2000:], 2000, **{"Upload-Checksum": f"crc32c {flipped}"}).status_code == 460
    done = patch(url, station, data[2000:], 2000, **{"Upload-Checksum": f"crc32c {base64.b64encode(crc).decode()}"})
    assert done.status_code == 204 and done.headers["X-Clip-Sha256"] == hashlib.sha256(data).hexdigest()
    assert patch(url, station, b"x", 0, **{"Upload-Checksum": "md5 AAAA"}).status_code == 400
    options = requests.options(f"{live}/api/v1/uploads")
    assert options.headers["Tus-Checksum-Algorithm"] == "sha1,sha256,crc32c"


def test_non_ascii_where_base64_belongs_is_a_400_not_a_500(live, station, rt):
    """Found by hypothesis (tests/test_parsers_fuzz.py): a header byte above 0x7F in a metadata
    value made base64 raise an error nobody caught."""
    answer = requests.post(f"{live}/api/v1/uploads", headers={
        **TUS, **auth(station), "Upload-Length": "10", "Upload-Metadata": "filename \x80abc"})
    assert answer.status_code == 400 and "base64" in answer.json()["message"]
    with rt.session() as session:
        assert session.scalars(select(Upload)).all() == []


def test_protocol_errors(live, station, rt, client):
    data = os.urandom(2048)
    url = create(live, station, data).headers["Location"]
    assert patch(url, station, data[:10], 5).status_code == 409
    assert patch(url, station, data + b"extra", 0).status_code == 413
    assert requests.head(url, headers={**TUS, **auth(station)}).headers["Upload-Offset"] == "0"
    assert requests.patch(url, data=b"x", headers={**TUS, **auth(station), "Upload-Offset": "0"}).status_code == 415
    assert requests.head(url, headers=auth(station)).status_code == 412
    missing = f"{live}/api/v1/uploads/00000000-0000-4000-8000-000000000000"
    assert requests.head(missing, headers={**TUS, **auth(station)}).status_code == 404
    assert requests.head(url, headers=TUS).status_code == 401
    accounts_user = ("clerk", "officer")
    with rt.session() as session, session.begin():
        accounts.create_user(session, rt.password_hasher(), *accounts_user, "a long password")
    token = requests.post(f"{live}/api/v1/auth/tokens", json={"username": "clerk", "password": "a long password"}).json()["token"]
    assert create(live, token, data).status_code == 403


@pytest.mark.parametrize("overrides, field", [
    ({"sha256": None}, "sha256"), ({"sha256": "abc"}, "sha256"), ({"device_id": "../x"}, "device_id"),
    ({"recorded_at": "yesterday"}, "recorded_at"), ({"filename": None}, "filename"),
])
def test_bad_metadata_is_refused_before_any_bytes(live, station, rt, overrides, field):
    answer = create(live, station, b"abc", **overrides)
    assert answer.status_code == 400 and field in answer.json()["message"]
    with rt.session() as session:
        assert session.scalars(select(Upload)).all() == []


def test_metadata_is_made_harmless(live, station, rt):
    data = b"evidence"
    tuspy_upload(live, station, data, filename="..\\..//etc/\x01passwd", recorded_at="2026-11-20T10:00:00")
    with rt.session() as session:
        clip = session.scalars(select(Clip)).one()
    assert clip.filename == "passwd"
    assert clip.recorded_at.isoformat() == "2026-11-20T02:00:00+00:00"  # assumed Asia/Shanghai
    assert clip.flags["recorded_at_zone_assumed"] == "Asia/Shanghai"


def test_locked_upload_answers_423_until_the_lease_runs_out(live, station, rt):
    data = os.urandom(1000)
    url = create(live, station, data).headers["Location"]
    upload_id = url.rsplit("/", 1)[1]
    with rt.session() as session, session.begin():
        session.execute(update(Upload).where(Upload.id == upload_id).values(
            lock_owner="dead-host:1:x", lock_expires_at=utcnow() + timedelta(minutes=5)))
    assert patch(url, station, data, 0).status_code == 423
    with rt.session() as session, session.begin():  # the holder was killed: its lease runs out
        session.execute(update(Upload).where(Upload.id == upload_id).values(lock_expires_at=utcnow() - timedelta(seconds=1)))
    assert patch(url, station, data, 0).status_code == 204


def test_a_patch_continues_the_saved_digests_without_reading_staged_bytes(live, station, rt):
    data = os.urandom(3 * 1024 * 1024)
    url = create(live, station, data).headers["Location"]
    assert patch(url, station, data[:1_000_000], 0).status_code == 204
    with rt.session() as session:
        saved = session.get(Upload, url.rsplit("/", 1)[1]).hash_state
    assert saved["size"] == 1_000_000
    rebuilds = ingest_uploads.stats.rebuilds
    assert patch(url, station, data[1_000_000:2_000_000], 1_000_000).status_code == 204
    done = patch(url, station, data[2_000_000:], 2_000_000)
    assert ingest_uploads.stats.rebuilds == rebuilds
    assert done.headers["X-Clip-Sm3"] == hashlib.new("sm3", data).hexdigest()


def test_without_a_saved_state_the_digests_are_rebuilt_once(live, station, rt):
    """A row saved by another OpenSSL build: its state is not used, the staged bytes are read."""
    data = os.urandom(3 * 1024 * 1024)
    url = create(live, station, data).headers["Location"]
    upload_id = url.rsplit("/", 1)[1]
    assert patch(url, station, data[:1_000_000], 0).status_code == 204
    with rt.session() as session, session.begin():
        row = session.get(Upload, upload_id)
        row.hash_state = {**row.hash_state, "build": "OpenSSL 9.9 elsewhere"}
    rebuilds = ingest_uploads.stats.rebuilds
    assert patch(url, station, data[1_000_000:2_000_000], 1_000_000).status_code == 204
    done = patch(url, station, data[2_000_000:], 2_000_000)
    assert ingest_uploads.stats.rebuilds == rebuilds + 1
    assert done.headers["X-Clip-Sha256"] == hashlib.sha256(data).hexdigest()
    assert done.headers["X-Clip-Sm3"] == hashlib.new("sm3", data).hexdigest()


def test_termination_and_expiry(live, station, rt):
    data = os.urandom(1000)
    url = create(live, station, data).headers["Location"]
    patch(url, station, data[:10], 0)
    assert requests.delete(url, headers={**TUS, **auth(station)}).status_code == 204
    assert requests.head(url, headers={**TUS, **auth(station)}).status_code == 404
    old = create(live, station, data).headers["Location"]
    with rt.session() as session, session.begin():
        session.execute(update(Upload).where(Upload.id == old.rsplit("/", 1)[1])
                        .values(expires_at=utcnow() - timedelta(seconds=1)))
    assert requests.head(old, headers={**TUS, **auth(station)}).status_code == 410
    assert ingest_uploads.expire(rt) == 1
    assert not staged(rt)
    done = create(live, station, data)
    patch(done.headers["Location"], station, data, 0)
    answer = requests.delete(done.headers["Location"], headers={**TUS, **auth(station)})
    assert answer.status_code == 409 and "evidence" in answer.json()["message"] or "证据" in answer.json()["message"]


def test_another_station_cannot_see_an_upload(live, station, rt):
    with rt.session() as session, session.begin():
        _s, _r, other = accounts.create_station(session, "采集站-3")
    url = create(live, station, b"abc").headers["Location"]
    assert requests.head(url, headers={**TUS, **auth(other)}).status_code == 404
    assert patch(url, other, b"abc", 0).status_code == 404


def test_lock_of_a_dead_process_on_this_host_is_taken_over_at_once(live, station, rt):
    import socket
    import subprocess
    dead = subprocess.Popen(["true"])
    dead.wait()
    data = os.urandom(1000)
    url = create(live, station, data).headers["Location"]
    with rt.session() as session, session.begin():
        session.execute(update(Upload).where(Upload.id == url.rsplit("/", 1)[1]).values(
            lock_owner=f"{socket.gethostname()[:32]}:{dead.pid}:x", lock_expires_at=utcnow() + timedelta(minutes=5)))
    assert patch(url, station, data, 0).status_code == 204


def test_a_second_patch_while_one_is_writing_gets_423_and_corrupts_nothing(live, station, rt):
    data = os.urandom(2 * 1024 * 1024)
    url = create(live, station, data).headers["Location"]
    writing, release = threading.Event(), threading.Event()

    def slow_body():
        yield data[:1024 * 1024]
        writing.set()
        release.wait(30)
        yield data[1024 * 1024:]
    first = {}
    thread = threading.Thread(target=lambda: first.update(answer=patch(url, station, slow_body(), 0)))
    thread.start()
    assert writing.wait(30)
    time.sleep(0.3)
    second = patch(url, station, b"\0" * 4096, 0)
    release.set()
    thread.join(30)
    assert second.status_code == 423 and second.json()["message"]
    assert first["answer"].status_code == 204
    assert first["answer"].headers["X-Clip-Sha256"] == hashlib.sha256(data).hexdigest()


def test_open_uploads_per_station_are_limited(live, station, rt):
    limit = rt.settings.uploads.max_open_per_station
    for _ in range(limit):
        assert create(live, station, b"x").status_code == 201
    refused = create(live, station, b"x")
    assert refused.status_code == 429 and str(limit) in refused.json()["message"]


@pytest.mark.parametrize("key, value", [("note", "x" * 5000), ("officer_id", "a" * 65),
                                        ("device_id", "DSJ\x00001"), ("filename", "..")])
def test_long_or_dangerous_metadata_is_refused(live, station, key, value):
    answer = create(live, station, b"abc", **{key: value})
    assert answer.status_code == 400 and key in answer.json()["message"]
