"""Fencing: a request that stalls past its upload's lease and then carries on can never write
into what another request completed (the reproduction of issue 19), on both object stores,
through the real HTTP API."""
import hashlib
import os
import socket
import time
import uuid
from urllib.parse import urlsplit

import pytest
import requests
from sqlalchemy import select

from storage.ingest_models import Upload
from storage.models import Clip
from tests.test_tus import TUS, auth, create, live, patch, staged, station  # noqa: F401,F811 (fixtures)

LEASE = 2
"""Seconds of an upload's lease in these tests: a stall of STALL outlives it."""
STALL = LEASE + 1.5


@pytest.fixture(params=["local", "s3"])
def settings(request, make_settings, database_url, redis_url):
    values = {"database.url": database_url, "redis.url": redis_url, "uploads.lock_lease_seconds": LEASE}
    if request.param == "s3":
        s3 = request.getfixturevalue("seaweedfs").settings(f"fence-{uuid.uuid4().hex[:20]}")
        values.update({"object_store.backend": "s3", **{f"object_store.s3.{k}": v for k, v in s3.items()}})
    return make_settings(**values)


class StalledPatch:
    """A PATCH written by hand on a socket: its headers and the first bytes now, the rest later."""

    def __init__(self, url: str, token: str, offset: int, length: int):
        parts = urlsplit(url)
        self.sock = socket.create_connection((parts.hostname, parts.port), timeout=30)
        head = (f"PATCH {parts.path} HTTP/1.1\r\nHost: {parts.netloc}\r\nTus-Resumable: 1.0.0\r\n"
                f"Authorization: Bearer {token}\r\nUpload-Offset: {offset}\r\n"
                f"Content-Type: application/offset+octet-stream\r\nContent-Length: {length}\r\n"
                "Connection: close\r\n\r\n")
        self.sock.sendall(head.encode())

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def answer(self) -> tuple[int, bytes]:
        received = b""
        while chunk := self.sock.recv(65536):
            received += chunk
        self.sock.close()
        status = int(received.split(b" ", 2)[1])
        return status, received.partition(b"\r\n\r\n")[2]


def test_a_stalled_writer_cannot_change_an_original_another_request_completed(live, station, rt):
    size = 200_000
    genuine, other = os.urandom(size), os.urandom(size)
    url = create(live, station, genuine).headers["Location"]
    stalled = StalledPatch(url, station, 0, size)
    stalled.send(other[:1000])
    time.sleep(STALL)  # past the lease: the next request may take the upload over
    done = patch(url, station, genuine, 0)
    assert done.status_code == 204, done.text
    clip_id = done.headers["X-Clip-Id"]
    assert done.headers["X-Clip-Sha256"] == hashlib.sha256(genuine).hexdigest()

    stalled.send(other[1000:])  # the stalled request carries on to the end of its body
    status, body = stalled.answer()
    assert status == 409, body
    assert b"HEAD" in body or "续传".encode() in body

    with rt.session() as session:
        clip = session.get(Clip, clip_id)
        assert session.scalars(select(Clip)).all() == [clip]
        row = session.scalars(select(Upload)).one()
    assert row.status == "completed" and row.upload_offset == size
    stored = rt.store.read_all(clip.original_key)
    assert stored == genuine
    head = requests.head(url, headers={**TUS, **auth(station)})
    assert head.headers["X-Clip-Sha256"] == hashlib.sha256(genuine).hexdigest()
    assert not staged(rt)  # the stalled writer's own segment went with its refusal


def test_a_stalled_writer_before_the_end_keeps_nothing_and_the_upload_goes_on(live, station, rt):
    """The takeover happens midway: the stalled request's bytes never count, the new writer's do."""
    size = 6 << 20
    data = os.urandom(size)
    url = create(live, station, data).headers["Location"]
    assert patch(url, station, data[:1 << 20], 0).status_code == 204
    stalled = StalledPatch(url, station, 1 << 20, 1 << 20)
    stalled.send(b"x" * 1000)
    time.sleep(STALL)
    assert patch(url, station, data[1 << 20:3 << 20], 1 << 20).status_code == 204
    stalled.send(b"x" * ((1 << 20) - 1000))
    assert stalled.answer()[0] == 409
    done = patch(url, station, data[3 << 20:], 3 << 20)
    assert done.status_code == 204
    assert done.headers["X-Clip-Sha256"] == hashlib.sha256(data).hexdigest()
    with rt.session() as session:
        clip = session.get(Clip, done.headers["X-Clip-Id"])
    assert hashlib.sha256(rt.store.read_all(clip.original_key)).hexdigest() == hashlib.sha256(data).hexdigest()


def test_small_requests_are_merged_so_segments_can_be_composed(live, station, rt):
    """Requests shorter than S3's smallest part: each rewrites the short last segment."""
    data = os.urandom(8 << 20)
    url = create(live, station, data).headers["Location"]
    offset = 0
    for size in (100_000, 1 << 20, 3 << 20, 2 << 20):
        assert patch(url, station, data[offset:offset + size], offset).status_code == 204
        offset += size
    with rt.session() as session:
        segments = session.scalars(select(Upload)).one().segments
    assert [(s["offset"], s["size"]) for s in segments] == [(0, offset)]  # four requests, one segment
    done = patch(url, station, data[offset:], offset)
    assert done.status_code == 204 and done.headers["X-Clip-Sha256"] == hashlib.sha256(data).hexdigest()
    with rt.session() as session:
        clip = session.get(Clip, done.headers["X-Clip-Id"])
    assert rt.store.read_all(clip.original_key) == data
    assert not staged(rt)
