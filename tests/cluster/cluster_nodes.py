"""`make cluster`: two `fullrecord serve` nodes that share nothing but PostgreSQL, Redis and
SeaweedFS, each with its own data, staging and work directories and host name, behind nginx
round-robin (tests/cluster/stack.py). Issue 19's proofs:

a. uploads through the proxy with tuspy, the station agent and tus-js-client: no 5xx, PATCHes
   answered by both nodes, receipts equal to the senders' hashes;
b. kill -9 of the node holding an upload in the middle of a PATCH: the client resumes on the
   other node from the acknowledged offset, no acknowledged byte lost, exactly one clip;
c. a PATCH whose server process is SIGSTOPped past its lease and then continued cannot change a
   stored byte or the outcome;
and staged data of an upload left by one node is removed by the other's expiry.
"""
from __future__ import annotations

import hashlib
import io
import json
import os
import signal
import subprocess
import threading
import time
from datetime import timedelta
from pathlib import Path

import pytest
import requests
from sqlalchemy import select, update
from tusclient import client as tus_client

from ingest import uploads as ingest_uploads
from storage.db import utcnow
from storage.ingest_models import Upload
from storage.models import Clip
from tests.cli import fullrecord_script
from tests.cluster.stack import LEASE_SECONDS, Cluster

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]

TUS = {"Tus-Resumable": "1.0.0"}
CHUNK = 8 << 20
JS_CLIENT = Path(__file__).parent / "js"


@pytest.fixture
def cluster(tmp_path, make_settings, postgres_url, redis_url, seaweedfs):
    running = Cluster(tmp_path, make_settings, postgres_url, redis_url, seaweedfs)
    yield running
    running.close()


def metadata(data: bytes, serial: str = "DSJ-100") -> dict:
    return {"filename": f"{serial}_20261120_100000.mp4", "device_id": serial,
            "recorded_at": "2026-11-20T10:00:00+08:00", "sha256": hashlib.sha256(data).hexdigest()}


def auth(cluster) -> dict:
    return {"Authorization": f"Bearer {cluster.token}", **TUS}


def clips_with(cluster, digest: str) -> list[Clip]:
    with cluster.rt.session() as session:
        return session.scalars(select(Clip).where(Clip.sha256 == digest)).all()


def stored_bytes(cluster, digest: str) -> bytes:
    [clip] = clips_with(cluster, digest)
    return cluster.rt.store.read_all(clip.original_key)


def no_5xx(cluster) -> None:
    failed = [r for r in cluster.proxy.requests() if r.status >= 500]
    assert not failed, failed


def create(cluster, data: bytes) -> str:
    from tests.test_tus import encode
    answer = requests.post(f"{cluster.url}/api/v1/uploads", timeout=30, headers={
        **auth(cluster), "Upload-Length": str(len(data)), "Upload-Metadata": encode(metadata(data))})
    assert answer.status_code == 201, answer.text
    return answer.headers["Location"]


def offset_of(cluster, url: str) -> int:
    return int(requests.head(url, headers=auth(cluster), timeout=30).headers["Upload-Offset"])


def holder_of(cluster, upload_id: str) -> tuple[str, int]:
    """(host, pid) of the server process that holds the upload's lease now."""
    deadline = time.monotonic() + 30
    while (holder := cluster.lock_holder(upload_id)) is None:
        assert time.monotonic() < deadline, "no node took the PATCH"
        time.sleep(0.05)
    return holder


def patch_until_done(cluster, url: str, data: bytes, deadline: float = 60) -> requests.Response:
    """Resume as a tus client does: ask the offset, send the rest; a 423 (the lease of the request
    that died is still running) or a 409 is answered by asking again."""
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        offset = offset_of(cluster, url)
        answer = requests.patch(url, data=data[offset:], timeout=120, headers={
            **auth(cluster), "Upload-Offset": str(offset), "Content-Type": "application/offset+octet-stream"})
        if answer.status_code == 204:
            return answer
        assert answer.status_code in (409, 423), (answer.status_code, answer.text)
        time.sleep(0.5)
    raise AssertionError("the upload could not be resumed")


def test_clients_upload_through_round_robin_without_a_5xx(cluster, tmp_path):
    # tuspy, 8 MiB chunks: consecutive PATCHes land on alternate nodes
    data = os.urandom(6 * CHUNK + 12345)
    client = tus_client.TusClient(f"{cluster.url}/api/v1/uploads", headers={"Authorization": f"Bearer {cluster.token}"})
    uploader = client.uploader(file_stream=io.BytesIO(data), chunk_size=CHUNK, metadata=metadata(data), retries=0)
    uploader.upload()
    assert stored_bytes(cluster, hashlib.sha256(data).hexdigest()) == data
    patches = [r for r in cluster.proxy.requests() if r.method == "PATCH"]
    assert len(patches) == 7 and len({r.upstreams[-1] for r in patches}) == 2  # both nodes took part

    # the station agent, 8 MiB requests
    watch = tmp_path / "dock"
    recording = os.urandom(3 * CHUNK + 999)
    (watch / "DSJ-101").mkdir(parents=True)
    path = watch / "DSJ-101" / "DSJ-101_8001_20261120101500_0001.MP4"
    path.write_bytes(recording)
    os.utime(path, (time.time() - 60, time.time() - 60))
    token_file = tmp_path / "station.token"
    token_file.write_text(cluster.token + "\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith("FULLRECORD_")}
    from tests.services.workers import write_config
    env["FULLRECORD_CONFIG"] = str(write_config(cluster.settings, tmp_path / "station.yaml",
                                                **{"station.chunk_bytes": CHUNK, "station.stable_seconds": 0.5}))
    agent = subprocess.run([fullrecord_script(), "station", "run", "--server", cluster.url, "--token-file",
                            str(token_file), "--watch", str(watch), "--no-progress", "--once"],
                           env=env, capture_output=True, text=True, timeout=300)
    assert agent.returncode == 0, agent.stdout[-3000:] + agent.stderr[-3000:]
    assert stored_bytes(cluster, hashlib.sha256(recording).hexdigest()) == recording

    # tus-js-client (the client of browsers, through Uppy), 8 MiB chunks
    if not (JS_CLIENT / "node_modules" / "tus-js-client").exists():
        pytest.fail("tus-js-client is not installed: run `make cluster` (npm ci in tests/cluster/js)", pytrace=False)
    page = os.urandom(2 * CHUNK + 77)
    (tmp_path / "page.bin").write_bytes(page)
    digest = hashlib.sha256(page).hexdigest()
    node = subprocess.run(["node", str(JS_CLIENT / "upload.js"), f"{cluster.url}/api/v1/uploads", cluster.token,
                           str(tmp_path / "page.bin"), digest, str(CHUNK)],
                          capture_output=True, text=True, timeout=300)
    assert node.returncode == 0, node.stdout + node.stderr
    assert json.loads(node.stdout)["receipt"]["sha256"] == digest
    assert stored_bytes(cluster, digest) == page
    no_5xx(cluster)
    assert all(node.staging_is_empty() for node in cluster.nodes)  # nothing staged on a node's disk


def test_kill_9_of_the_node_in_the_middle_of_a_patch(cluster):
    data = os.urandom(5 * CHUNK)
    url = create(cluster, data)
    first = requests.patch(url, data=data[:CHUNK], timeout=60, headers={
        **auth(cluster), "Upload-Offset": "0", "Content-Type": "application/offset+octet-stream"})
    assert first.status_code == 204
    acknowledged = int(first.headers["Upload-Offset"])
    upload_id = url.rsplit("/", 1)[1]
    sent, killed = threading.Event(), threading.Event()

    def body():
        yield data[CHUNK:2 * CHUNK]
        sent.set()
        killed.wait(60)
        yield data[2 * CHUNK:]

    def send():
        try:
            requests.patch(url, data=body(), timeout=120, headers={
                **auth(cluster), "Upload-Offset": str(acknowledged), "Content-Type": "application/offset+octet-stream"})
        except requests.RequestException:  # the node dies under it
            pass

    sender = threading.Thread(target=send)
    sender.start()
    assert sent.wait(30)
    holder = holder_of(cluster, upload_id)
    victim = cluster.node_by_host(holder[0])
    victim.kill()
    killed.set()
    sender.join(60)

    assert offset_of(cluster, url) >= acknowledged  # no acknowledged byte lost
    done = patch_until_done(cluster, url, data)
    assert done.headers["X-Clip-Sha256"] == hashlib.sha256(data).hexdigest()
    assert len(clips_with(cluster, hashlib.sha256(data).hexdigest())) == 1
    assert stored_bytes(cluster, hashlib.sha256(data).hexdigest()) == data
    survivor = next(node for node in cluster.nodes if node is not victim)
    after_kill = [r for r in cluster.proxy.requests() if r.method in ("HEAD", "PATCH") and r.status < 500]
    assert after_kill[-1].upstreams[-1] == f"127.0.0.1:{survivor.port}"


def test_a_sigstopped_writer_cannot_change_the_outcome(cluster):
    size = 6 << 20
    genuine, other = os.urandom(size), os.urandom(size)
    url = create(cluster, genuine)
    upload_id = url.rsplit("/", 1)[1]
    sent, resumed = threading.Event(), threading.Event()
    outcome = {}

    def body():
        yield other[:1 << 20]
        sent.set()
        resumed.wait(60)
        yield other[1 << 20:]

    def send():
        try:
            outcome["answer"] = requests.patch(url, data=body(), timeout=120, headers={
                **auth(cluster), "Upload-Offset": "0", "Content-Type": "application/offset+octet-stream"})
        except requests.RequestException as exc:
            outcome["error"] = exc

    sender = threading.Thread(target=send)
    sender.start()
    assert sent.wait(30)
    holder = holder_of(cluster, upload_id)
    time.sleep(0.3)  # let its first megabyte reach the server process
    os.kill(holder[1], signal.SIGSTOP)
    try:
        time.sleep(LEASE_SECONDS + 1.5)
        done = patch_until_done(cluster, url, genuine)
        assert done.headers["X-Clip-Sha256"] == hashlib.sha256(genuine).hexdigest()
    finally:
        os.kill(holder[1], signal.SIGCONT)
    resumed.set()
    sender.join(90)
    answer = outcome.get("answer")
    assert answer is not None and answer.status_code == 409, outcome  # fenced off, nothing of it kept
    digest = hashlib.sha256(genuine).hexdigest()
    assert stored_bytes(cluster, digest) == genuine
    assert len(clips_with(cluster, digest)) == 1 and not clips_with(cluster, hashlib.sha256(other).hexdigest())
    head = requests.head(url, headers=auth(cluster), timeout=30)
    assert head.headers["X-Clip-Sha256"] == digest and int(head.headers["Upload-Offset"]) == size
    assert not cluster.rt.staging.staged_uploads(timedelta(0))  # the stalled writer's segment is gone too


def test_expiry_on_one_host_removes_what_another_node_staged(cluster):
    data = os.urandom(CHUNK)
    url = create(cluster, data)
    answer = requests.patch(url, data=data[:1 << 20], timeout=60, headers={
        **auth(cluster), "Upload-Offset": "0", "Content-Type": "application/offset+octet-stream"})
    assert answer.status_code == 204
    upload_id = url.rsplit("/", 1)[1]
    assert upload_id in cluster.rt.staging.staged_uploads(timedelta(0))
    with cluster.rt.session() as session, session.begin():
        session.execute(update(Upload).where(Upload.id == upload_id).values(expires_at=utcnow() - timedelta(seconds=1)))
    assert ingest_uploads.expire(cluster.rt) == 1  # this test process is a third host
    assert upload_id not in cluster.rt.staging.staged_uploads(timedelta(0))
