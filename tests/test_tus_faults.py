"""Faults against the production server (`fullrecord serve`, gunicorn): kill -9 in the middle
of a PATCH at random offsets, restart, resume with tuspy; one clip, hashes equal."""
import base64
import hashlib
import io
import os
import random
import socket
import threading
import time
import uuid

import pytest
import requests
import yaml
from tusclient import client as tus_client

from server.settings import SOURCE_CONFIG
from tests.cli import run_cli
from tests.services.ports import free_port
from tests.services.serve import Server

pytestmark = pytest.mark.slow
TUS = {"Tus-Resumable": "1.0.0"}
SIZE = 24 * 1024 * 1024


IDLE_TIMEOUT = 2


@pytest.fixture(params=["local", "s3"])
def server(request, tmp_path, database_url, redis_url):
    config = yaml.safe_load(SOURCE_CONFIG.read_text(encoding="utf-8"))
    config["uploads"]["idle_timeout_seconds"] = IDLE_TIMEOUT
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(config, allow_unicode=True), encoding="utf-8")
    env = {"FULLRECORD_DATA_DIR": str(tmp_path / "data"), "FULLRECORD_DATABASE_URL": database_url,
           "FULLRECORD_REDIS_URL": redis_url, "FULLRECORD_CONFIG": str(tmp_path / "config.yaml")}
    if request.param == "s3":
        seaweedfs = request.getfixturevalue("seaweedfs")
        env.update({"FULLRECORD_OBJECT_STORE": "s3", "FULLRECORD_S3_ENDPOINT": seaweedfs.endpoint,
                    "FULLRECORD_S3_BUCKET": f"faults-{uuid.uuid4().hex[:16]}",
                    "FULLRECORD_S3_ACCESS_KEY": seaweedfs.access_key,
                    "FULLRECORD_S3_SECRET_KEY": seaweedfs.secret_key})
    assert run_cli("db", "upgrade", env=env).returncode == 0
    assert run_cli("custody", "keygen", env=env).returncode == 0  # serve refuses to start without one
    token = run_cli("admin", "add-station", "采集站-故障", env=env).stdout.strip().splitlines()[-1]
    running = Server(env, free_port())
    running.start()
    running.token = token
    yield running
    if running.process.poll() is None:
        running.kill()


def metadata(data):
    return {"filename": "DSJ009.mp4", "device_id": "DSJ-009", "recorded_at": "2026-11-20T10:00:00+08:00",
            "sha256": hashlib.sha256(data).hexdigest()}


def patch_until_killed(url, token, data, offset, kill_at, sent_enough: threading.Event, killed: threading.Event):
    """Stream from offset; after kill_at bytes, signal and hold the connection open until the kill."""
    def body():
        position = offset
        while position < len(data):
            piece = data[position:position + 256 * 1024]
            yield piece
            position += len(piece)
            if position >= kill_at:
                sent_enough.set()
                killed.wait(30)  # the server dies under us
                return
    try:
        requests.patch(url, data=body(), timeout=60, headers={
            **TUS, "Authorization": f"Bearer {token}", "Upload-Offset": str(offset),
            "Content-Type": "application/offset+octet-stream"})
    except requests.RequestException:  # expected: the server is killed under this request
        return


def test_kill_9_mid_patch_then_resume_with_tuspy(server, tmp_path):
    data = os.urandom(SIZE)
    auth = {"Authorization": f"Bearer {server.token}"}
    encoded = ",".join(f"{k} {base64.b64encode(v.encode()).decode()}" for k, v in metadata(data).items())
    created = requests.post(f"{server.url}/api/v1/uploads", headers={
        **TUS, **auth, "Upload-Length": str(SIZE), "Upload-Metadata": encoded})
    assert created.status_code == 201, created.text
    location = created.headers["Location"]
    rng = random.Random(20261121)
    offset = 0
    for _ in range(3):
        kill_at = rng.randint(offset + 1024 * 1024, offset + SIZE // 4)
        sent_enough, killed = threading.Event(), threading.Event()
        client = threading.Thread(target=patch_until_killed,
                                  args=(location, server.token, data, offset, kill_at, sent_enough, killed))
        client.start()
        assert sent_enough.wait(60)
        time.sleep(0.3)  # let the server write (and maybe fsync) part of it
        server.kill()
        killed.set()
        client.join(60)
        server.start()
        head = requests.head(location, headers={**TUS, **auth})
        assert head.status_code == 200
        durable = int(head.headers["Upload-Offset"])
        assert offset <= durable <= kill_at
        offset = durable
    uploader = tus_client.TusClient(f"{server.url}/api/v1/uploads", headers=auth).uploader(
        file_stream=io.BytesIO(data), url=location, chunk_size=4 * 1024 * 1024, metadata=metadata(data))
    uploader.upload()
    clips = requests.get(f"{server.url}/api/v1/clips", params={"sha256": hashlib.sha256(data).hexdigest()},
                         headers=auth).json()
    assert len(clips) == 1
    assert clips[0]["sm3"] == hashlib.new("sm3", data).hexdigest() and clips[0]["size"] == SIZE


def test_a_stalled_client_is_cut_off_and_keeps_what_arrived(server):
    data = os.urandom(4 * 1024 * 1024)
    auth = {"Authorization": f"Bearer {server.token}"}
    encoded = ",".join(f"{k} {base64.b64encode(v.encode()).decode()}" for k, v in metadata(data).items())
    location = requests.post(f"{server.url}/api/v1/uploads", headers={
        **TUS, **auth, "Upload-Length": str(len(data)), "Upload-Metadata": encoded}).headers["Location"]
    path = location.split(str(server.port), 1)[1]
    with socket.create_connection(("127.0.0.1", server.port)) as stalled:
        stalled.sendall((f"PATCH {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nTus-Resumable: 1.0.0\r\n"
                         f"Authorization: Bearer {server.token}\r\nUpload-Offset: 0\r\n"
                         f"Content-Type: application/offset+octet-stream\r\nContent-Length: {len(data)}\r\n\r\n").encode())
        stalled.sendall(data[:1024 * 1024])
        deadline = time.monotonic() + IDLE_TIMEOUT + 20
        offset = 0
        while offset == 0 and time.monotonic() < deadline:  # the server gives up waiting, keeps 1 MiB
            time.sleep(0.5)
            offset = int(requests.head(location, headers={**TUS, **auth}).headers["Upload-Offset"])
    assert offset == 1024 * 1024
    rest = requests.patch(location, data=data[offset:], headers={
        **TUS, **auth, "Upload-Offset": str(offset), "Content-Type": "application/offset+octet-stream"})
    assert rest.status_code == 204 and rest.headers["X-Clip-Sha256"] == hashlib.sha256(data).hexdigest()
