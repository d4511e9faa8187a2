"""Station agent throughput (issue 9): FULLRECORD_BENCH_STATION_FILES (20) recordings of
FULLRECORD_BENCH_STATION_BYTES (256 MiB) each, uploaded by `fullrecord station run --once` to a
real `fullrecord serve` (gunicorn, SQLite, the local object store) on 127.0.0.1, must reach
>= 0.8 of the throughput of a direct tuspy upload of the same files in the same run.

Baseline: the least a direct upload to fullrecord takes: per file, its SHA-256 (the server
requires it in the metadata) and then tuspy's own Uploader with its defaults (the whole file in
one PATCH, no per-request checksum), `parallel_uploads` files at a time. (tuspy with the agent's
chunks is no baseline: it opens a new connection per request, so the PATCHes of one upload land
on both gunicorn processes and each process rebuilds its SHA-256/SM3 state from the staged
bytes; with 8 MiB chunks it ran at a quarter of the agent's speed.) The agent does everything it
does in service inside its time: start, scan, hash each file (ahead of the sends), journal every
state (SQLite, synchronous=FULL), send `chunk_bytes` per request each with a CRC-32C checksum, read
each receipt back from the server (GET /clips/<id>) and report its status.

Each side gets a fresh server (its own data directory), so every upload stores a new original,
and FULLRECORD_BENCH_STATION_ROUNDS (2) rounds alternate which side goes first.
"""
from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import threading
import time
from pathlib import Path

import pytest
import yaml
from tusclient.client import TusClient

from server.settings import SOURCE_CONFIG
from tests.cli import fullrecord_script, run_cli
from tests.perf.common import bench_bytes, median, record
from tests.services.ports import free_port
from tests.services.serve import Server

FILES = int(os.environ.get("FULLRECORD_BENCH_STATION_FILES", 20))
SIZE = bench_bytes("FULLRECORD_BENCH_STATION_BYTES", 256 << 20)
ROUNDS = int(os.environ.get("FULLRECORD_BENCH_STATION_ROUNDS", 2))
TARGET = 0.8
MiB = 1 << 20

pytestmark = pytest.mark.timeout(7200)


def _sources(directory: Path) -> list[Path]:
    """The recordings, in one recorder's folder, written and synced once (read from the page cache)."""
    folder = directory / "DSJ-001"
    folder.mkdir(parents=True)
    made = []
    for index in range(FILES):
        path = folder / f"DSJ-001_8001_20261120{10 + index // 60:02d}{index % 60:02d}00_{index:04d}.MP4"
        with open(path, "wb") as handle:
            left = SIZE
            while left:
                block = os.urandom(min(left, 16 * MiB))
                handle.write(block)
                left -= len(block)
            handle.flush()
            os.fdatasync(handle.fileno())
        moment = time.time() - 3600
        os.utime(path, (moment, moment))
        made.append(path)
    return made


class Fresh:
    """A new server with its own data directory, a station and its token."""

    def __init__(self, root: Path, name: str, redis_url: str, config: Path):
        self.root = root / name
        self.root.mkdir()
        self.env = {"FULLRECORD_DATA_DIR": str(self.root / "data"), "FULLRECORD_CONFIG": str(config),
                    "FULLRECORD_DATABASE_URL": f"sqlite:///{self.root / 'server.db'}", "FULLRECORD_REDIS_URL": redis_url}
        assert run_cli("db", "upgrade", env=self.env).returncode == 0
        assert run_cli("custody", "keygen", env=self.env).returncode == 0
        self.token = run_cli("admin", "add-station", f"bench-{name}", env=self.env).stdout.strip().splitlines()[-1]
        self.server = Server(self.env, free_port())
        self.server.start()

    def close(self):
        self.server.kill()
        shutil.rmtree(self.root, ignore_errors=True)


def _tuspy(fresh: Fresh, sources, parallel: int) -> float:
    client = TusClient(f"{fresh.server.url}/api/v1/uploads", headers={"Authorization": f"Bearer {fresh.token}"})
    queue = list(sources)
    lock = threading.Lock()
    errors = []

    def work():
        while True:
            with lock:
                if not queue:
                    return
                path = queue.pop(0)
            try:
                with open(path, "rb") as handle:
                    sha256 = hashlib.file_digest(handle, "sha256").hexdigest()
                client.uploader(str(path), metadata={
                    "filename": path.name, "device_id": "DSJ-001", "recorded_at": "2026-11-20T10:00:00+08:00",
                    "sha256": sha256}).upload()
            except Exception as exc:  # reported below: the baseline must not silently shrink
                errors.append(exc)
    threads = [threading.Thread(target=work) for _ in range(parallel)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - started
    assert not errors, errors
    return elapsed


def _agent(fresh: Fresh, watch: Path, config: Path, scratch: Path) -> float:
    token_file = scratch / "token"
    token_file.write_text(fresh.token)
    journal = watch.parent / f".{watch.name}.fullrecord-station.db"
    for leftover in (journal, Path(f"{journal}-wal"), Path(f"{journal}-shm")):
        leftover.unlink(missing_ok=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith("FULLRECORD_")}
    env["FULLRECORD_CONFIG"] = str(config)
    started = time.perf_counter()
    result = subprocess.run([fullrecord_script(), "station", "run", "--server", fresh.server.url, "--token-file",
                             str(token_file), "--watch", str(watch), "--once", "--no-progress"],
                            env=env, capture_output=True, text=True, timeout=7200)
    elapsed = time.perf_counter() - started
    assert result.returncode == 0, result.stderr[-3000:]
    assert f"完成 {FILES}，失败 0，待处理 0" in result.stderr, result.stderr[-3000:]
    return elapsed


def test_agent_throughput_against_direct_tuspy(tmp_path, redis_url):
    config_data = yaml.safe_load(SOURCE_CONFIG.read_text(encoding="utf-8"))
    config_data["station"].update({"stable_seconds": 0, "scan_seconds": 0.2})
    config = tmp_path / "config.yaml"
    config.write_text(yaml.safe_dump(config_data, allow_unicode=True), encoding="utf-8")
    station = config_data["station"]
    parallel, chunk = station["parallel_uploads"], station["chunk_bytes"]
    watch = tmp_path / "dock"
    sources = _sources(watch)
    total = FILES * SIZE
    baseline_times, agent_times = [], []
    for round_ in range(ROUNDS):
        order = ("tuspy", "agent") if round_ % 2 == 0 else ("agent", "tuspy")
        for side in order:
            fresh = Fresh(tmp_path, f"{side}-{round_}", redis_url, config)
            try:
                if side == "tuspy":
                    baseline_times.append(_tuspy(fresh, sources, parallel))
                else:
                    agent_times.append(_agent(fresh, watch, config, tmp_path))
            finally:
                fresh.close()
    baseline, agent = median(baseline_times), median(agent_times)
    ratio = baseline / agent
    result = {
        "files": FILES, "bytes_each": SIZE, "parallel_uploads": parallel, "agent_chunk_bytes": chunk,
        "tuspy": "SHA-256 of the file, then tuspy's defaults: one PATCH per file, no checksum",
        "agent_request_checksum": station["request_checksum"], "rounds": ROUNDS,
        "server": "fullrecord serve (gunicorn), SQLite, local object store, 127.0.0.1",
        "tuspy_seconds": [round(value, 2) for value in baseline_times],
        "agent_seconds": [round(value, 2) for value in agent_times],
        "tuspy_MiB_s": round(total / MiB / baseline, 1), "agent_MiB_s": round(total / MiB / agent, 1),
        "ratio_agent_vs_tuspy": round(ratio, 3), "target": TARGET,
        "verdict": "met" if ratio >= TARGET else "NOT met",
    }
    record("station_agent", result)
    assert ratio >= TARGET, result
