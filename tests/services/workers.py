"""Real `fullrecord worker` processes for the tests: started from a config file written from
the test's Settings, in their own process group, stopped (or killed) with everything they
started."""
from __future__ import annotations

import base64
import hashlib
import os
import signal
import subprocess
import time
from pathlib import Path

import requests
import yaml

from tests.cli import fullrecord_script


def write_config(settings, path: Path, **overrides) -> Path:
    """A config file equal to these settings, with dotted-key overrides."""
    tree = settings.model_dump(mode="json")
    for dotted, value in overrides.items():
        *parents, leaf = dotted.split(".")
        node = tree
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = value
    path.write_text(yaml.safe_dump(tree, allow_unicode=True))
    return path


class WorkerProcess:
    def __init__(self, config: Path, log: Path):
        self.config, self.log, self.process = config, log, None

    def start(self) -> "WorkerProcess":
        env = {k: v for k, v in os.environ.items() if not k.startswith("FULLRECORD_")}
        env["FULLRECORD_CONFIG"] = str(self.config)
        with open(self.log, "ab") as log:
            self.process = subprocess.Popen([fullrecord_script(), "worker"], env=env, start_new_session=True,
                                            stdout=log, stderr=subprocess.STDOUT)
        return self

    def kill(self) -> None:
        """kill -9 the worker, its work horse and the tools they run, as a host crash would. (RQ
        puts each work horse in a session of its own, and run_media does so for ffmpeg, so the
        worker's process group alone would miss them.)"""
        for pid in [self.process.pid, *descendants(self.process.pid)]:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass  # already gone
        self.process.wait(10)

    def stop(self, timeout: float = 15) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()

    def log_tail(self, lines: int = 60) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"


def descendants(pid: int) -> list[int]:
    """Every process below pid, from /proc."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                parent = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue  # it ended while we looked
            children.setdefault(parent, []).append(int(entry.name))
    found, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def upload_file(live: str, token: str, path: Path, **metadata) -> str:
    """Upload a whole file in one creation-with-upload request; returns the clip id of the receipt."""
    data = path.read_bytes()
    values = {"filename": path.name, "device_id": "DSJ-001", "recorded_at": "2026-11-20T10:00:00+08:00",
              "sha256": hashlib.sha256(data).hexdigest(), **metadata}
    encoded = ",".join(f"{k} {base64.b64encode(str(v).encode()).decode()}" for k, v in values.items())
    response = requests.post(f"{live}/api/v1/uploads", data=data, headers={
        "Tus-Resumable": "1.0.0", "Authorization": f"Bearer {token}", "Upload-Length": str(len(data)),
        "Upload-Metadata": encoded, "Content-Type": "application/offset+octet-stream"}, timeout=60)
    assert response.status_code in (201, 204), response.text
    return response.headers["X-Clip-Id"]


def wait_for(predicate, *, timeout: float, what: str, worker: WorkerProcess | None = None, interval: float = 0.2):
    """Poll until predicate() returns something truthy; fail with the worker's log otherwise."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    tail = f"\nworker log:\n{worker.log_tail()}" if worker else ""
    raise AssertionError(f"timed out after {timeout} s waiting for {what}{tail}")
