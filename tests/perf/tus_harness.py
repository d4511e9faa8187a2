"""Harness for bench_tus.py: the production server, memory sampling, sources and uploads."""
from __future__ import annotations

import base64
import hashlib
import os
import resource
import shutil
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import requests
import yaml
from requests.adapters import HTTPAdapter

from server.settings import SOURCE_CONFIG
from tests.perf.common import bench_bytes
from tests.services.ports import free_port, stop, tail

SIZE = bench_bytes("FULLRECORD_BENCH_TUS_BYTES", 1 << 30)
CONCURRENT_SIZE = bench_bytes("FULLRECORD_BENCH_TUS_CONCURRENT_BYTES", 256 << 20)
CONCURRENCY = int(os.environ.get("FULLRECORD_BENCH_TUS_CONCURRENCY", 16))
PATCH_BYTES = bench_bytes("FULLRECORD_BENCH_TUS_PATCH_BYTES", 0)
ROUNDS = int(os.environ.get("FULLRECORD_BENCH_TUS_ROUNDS", 3))
CONCURRENT_ROUNDS = int(os.environ.get("FULLRECORD_BENCH_TUS_CONCURRENT_ROUNDS", 2))
PROCESSES = int(os.environ.get("FULLRECORD_BENCH_TUS_PROCESSES", 2))
THREADS = int(os.environ.get("FULLRECORD_BENCH_TUS_THREADS", CONCURRENCY + 8))
HEAD_INTERVAL = float(os.environ.get("FULLRECORD_BENCH_TUS_HEAD_INTERVAL", 0.02))

TARGET_SINGLE = 0.8
TARGET_CONCURRENT = 0.7
TARGET_HEAD_P99_MS = 250
TARGET_PEAK_RSS_MB = 300  # MB = 10**6 bytes
SAMPLE_EVERY = 0.05
SEND_BLOCK = 1 << 20
WINDOW_STEP = 4096
"""Each upload sends the source from a different offset, so that its content is new."""
TUS = {"Tus-Resumable": "1.0.0"}
MiB = 1 << 20


# -- the server ----------------------------------------------------------------------------

def _proc_status(pid: int) -> dict[str, int]:
    """VmRSS / VmHWM (bytes) of a process; empty if it is gone."""
    values = {}
    try:
        with open(f"/proc/{pid}/status") as handle:
            for line in handle:
                if line.startswith(("VmRSS:", "VmHWM:")):
                    name, amount, _unit = line.split()
                    values[name[:-1]] = int(amount) * 1024
    except (FileNotFoundError, ProcessLookupError):
        pass
    return values


def _pss(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/smaps_rollup") as handle:
            for line in handle:
                if line.startswith("Pss:"):
                    return int(line.split()[1]) * 1024
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        pass
    return 0


def _cpu_seconds(pid: int) -> float:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (FileNotFoundError, ProcessLookupError):
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _own_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


@dataclass
class ApiServer:
    url: str
    token: str
    process: subprocess.Popen
    log: Path
    data_dir: Path

    def pids(self) -> list[int]:
        """The gunicorn master and its worker processes."""
        master = self.process.pid
        children = set()
        try:
            for task in os.listdir(f"/proc/{master}/task"):
                with open(f"/proc/{master}/task/{task}/children") as handle:
                    children.update(int(pid) for pid in handle.read().split())
        except (FileNotFoundError, ProcessLookupError):
            pass
        return [master, *sorted(children)]

    def cpu(self) -> dict[int, float]:
        return {pid: _cpu_seconds(pid) for pid in self.pids()}


def _run_cli(env: dict, *args: str) -> str:
    result = subprocess.run([sys.executable, "-m", "server", *args], env=env, capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == 0, f"fullrecord {' '.join(args)}: {result.stderr or result.stdout}"
    return result.stdout


@pytest.fixture(scope="module")
def api_server(redis_server, tmp_path_factory):
    base = tmp_path_factory.mktemp("bench-tus")
    need = SIZE * (ROUNDS + 1) + CONCURRENT_SIZE * (CONCURRENCY * CONCURRENT_ROUNDS + ROUNDS + 1) + (2 << 30)
    free = shutil.disk_usage(base).free
    if free < need:
        pytest.skip(f"needs {need >> 20} MiB free disk, has {free >> 20} MiB; lower FULLRECORD_BENCH_TUS_*BYTES")
    config = yaml.safe_load(Path(SOURCE_CONFIG).read_text())
    config["server"].update(processes=PROCESSES, threads=THREADS)
    config_path = base / "config.yaml"
    config_path.write_text(yaml.safe_dump(config, allow_unicode=True, sort_keys=False))
    data_dir = base / "data"
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("FULLRECORD_")}
    env.update(FULLRECORD_CONFIG=str(config_path), FULLRECORD_DATA_DIR=str(data_dir),
               FULLRECORD_DATABASE_URL=f"sqlite:///{data_dir / 'fullrecord.db'}",
               FULLRECORD_REDIS_URL=redis_server, FULLRECORD_HOST="127.0.0.1", FULLRECORD_PORT=str(port))
    data_dir.mkdir()
    _run_cli(env, "db", "upgrade")
    _run_cli(env, "custody", "keygen")
    token = _run_cli(env, "admin", "add-station", "bench-station").strip().splitlines()[-1].strip()
    log = base / "serve.log"
    with open(log, "wb") as log_handle:
        process = subprocess.Popen([sys.executable, "-m", "server", "serve"], env=env, stdout=log_handle,
                                   stderr=subprocess.STDOUT, start_new_session=True)
    server = ApiServer(f"http://127.0.0.1:{port}", token, process, log, data_dir)
    try:
        deadline = time.monotonic() + 60
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"fullrecord serve exited with {process.returncode}: {tail(log)}")
            try:
                if requests.get(f"{server.url}/healthz", timeout=2).status_code == 200:
                    break
            except requests.RequestException:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"fullrecord serve not healthy within 60 s: {tail(log)}")
            time.sleep(0.2)
        while len(server.pids()) < PROCESSES + 1 and time.monotonic() < deadline:
            time.sleep(0.1)
        yield server
    finally:
        stop(process)
        shutil.rmtree(base, ignore_errors=True)  # several GiB of originals


class MemorySampler(threading.Thread):
    """VmRSS summed over the API's processes every SAMPLE_EVERY seconds (PSS every 10th sample)."""

    def __init__(self, server: ApiServer):
        super().__init__(daemon=True, name="rss-sampler")
        self.server = server
        self.samples: list[tuple[float, int, int]] = []  # (time, summed VmRSS, processes)
        self.pss: list[tuple[float, int]] = []
        self.stopping = threading.Event()
        self.idle: dict | None = None  # after the first warm-up, before any timed upload

    def run(self) -> None:
        count = 0
        while not self.stopping.is_set():
            now, pids = time.perf_counter(), self.server.pids()
            self.samples.append((now, sum(_proc_status(pid).get("VmRSS", 0) for pid in pids), len(pids)))
            if count % 10 == 0:
                self.pss.append((now, sum(_pss(pid) for pid in pids)))
            count += 1
            self.stopping.wait(SAMPLE_EVERY)

    def peak(self, start: float, end: float) -> dict:
        rss = [s for s in self.samples if start <= s[0] <= end]
        pss = [p[1] for p in self.pss if start <= p[0] <= end]
        return {"peak_rss_sum_MB": round(max(s[1] for s in rss) / 1e6, 1) if rss else None,
                "peak_pss_sum_MB": round(max(pss) / 1e6, 1) if pss else None,
                "samples": len(rss), "processes": max((s[2] for s in rss), default=0)}

    def snapshot(self) -> dict:
        """VmRSS and PSS of each process now (MB)."""
        return {str(pid): {"rss_MB": round(_proc_status(pid).get("VmRSS", 0) / 1e6, 1),
                           "pss_MB": round(_pss(pid) / 1e6, 1)} for pid in self.server.pids()}

    def hwm(self) -> dict:
        return {str(pid): round(_proc_status(pid).get("VmHWM", 0) / 1e6, 1) for pid in self.server.pids()}


@pytest.fixture
def scratch(tmp_path):
    """A per-test directory for source files, emptied afterwards (pytest keeps tmp_path)."""
    yield tmp_path
    for path in tmp_path.iterdir():
        path.unlink()


@pytest.fixture(scope="module")
def memory(api_server):
    sampler = MemorySampler(api_server)
    sampler.start()
    phases: dict[str, dict] = {}
    yield sampler, phases
    sampler.stopping.set()
    sampler.join(5)


# -- the clients ---------------------------------------------------------------------------

class _BigBlocks(HTTPAdapter):
    """urllib3 sends a file body 16 KiB per send() by default; 1 MiB costs the client less CPU."""

    def init_poolmanager(self, *args, **kwargs):
        kwargs["blocksize"] = SEND_BLOCK
        super().init_poolmanager(*args, **kwargs)


def _session() -> requests.Session:
    session = requests.Session()
    session.mount("http://", _BigBlocks())
    return session


class FileWindow:
    """`length` bytes of a file from `start`, as a request body of known length."""

    def __init__(self, path: Path, start: int, length: int):
        self._file = open(path, "rb", buffering=0)
        self._file.seek(start)
        self._length = self._left = length

    def __len__(self) -> int:
        return self._length

    def read(self, size: int = -1) -> bytes:
        size = self._left if size is None or size < 0 else min(size, self._left)
        data = self._file.read(size) if size else b""
        self._left -= len(data)
        return data

    def close(self) -> None:
        self._file.close()


@dataclass
class Source:
    path: Path
    size: int

    def window(self, index: int) -> tuple[int, str]:
        """Start of the index-th window and its SHA-256."""
        start = index * WINDOW_STEP
        assert start + self.size <= self.path.stat().st_size
        digest = hashlib.sha256()
        with open(self.path, "rb") as handle:
            handle.seek(start)
            left = self.size
            while left:
                block = handle.read(min(left, 8 * MiB))
                digest.update(block)
                left -= len(block)
        return start, digest.hexdigest()


def _make_source(path: Path, size: int, windows: int) -> Source:
    with open(path, "wb") as handle:
        left = size + windows * WINDOW_STEP
        while left:
            block = os.urandom(min(left, 16 * MiB))
            handle.write(block)
            left -= len(block)
        handle.flush()
        os.fdatasync(handle.fileno())  # no writeback of the source competes with the timed runs
    return Source(path, size)


def _encode(values: dict) -> str:
    return ",".join(f"{k} {base64.b64encode(v.encode()).decode()}" for k, v in values.items())


@dataclass
class Upload:
    server: ApiServer
    source: Source
    start: int
    sha256: str
    name: str
    session: requests.Session = field(default_factory=_session)
    location: str = ""
    patches: int = 0

    def headers(self, **more) -> dict:
        return {**TUS, "Authorization": f"Bearer {self.server.token}", **more}

    def create(self) -> None:
        metadata = {"filename": f"{self.name}.mp4", "device_id": "DSJ-BENCH", "officer_id": "3201001",
                    "recorded_at": "2026-11-20T10:00:00+08:00", "sha256": self.sha256}
        response = self.session.post(f"{self.server.url}/api/v1/uploads", headers=self.headers(**{
            "Upload-Length": str(self.source.size), "Upload-Metadata": _encode(metadata)}))
        assert response.status_code == 201, (response.status_code, response.text)
        self.location = response.headers["Location"]

    def send(self) -> None:
        offset, size = 0, self.source.size
        response = None
        while offset < size:
            length = size - offset if PATCH_BYTES <= 0 else min(PATCH_BYTES, size - offset)
            body = FileWindow(self.source.path, self.start + offset, length)
            try:
                response = self.session.patch(self.location, data=body, headers=self.headers(**{
                    "Upload-Offset": str(offset), "Content-Type": "application/offset+octet-stream"}))
            finally:
                body.close()
            assert response.status_code == 204, (response.status_code, response.text)
            offset = int(response.headers["Upload-Offset"])
            self.patches += 1
        assert response is not None and response.headers.get("X-Clip-Sha256") == self.sha256, \
            (self.name, dict(response.headers) if response is not None else None)

    def run(self) -> None:
        self.create()
        self.send()

    def close(self) -> None:
        self.session.close()


def _dd(source: Source, start: int, target: Path) -> None:
    subprocess.run(["dd", f"if={source.path}", f"of={target}", "bs=1M", f"skip={start}", f"count={source.size}",
                    "iflag=skip_bytes,count_bytes", "conv=fdatasync", "status=none"], check=True)


def _sm3_alone(source: Source, start: int, chunk: int = MiB) -> str:
    """As bench_local_store.sm3_alone: read the same bytes 1 MiB at a time, SM3 only."""
    digest = hashlib.new("sm3")
    with open(source.path, "rb") as handle:
        handle.seek(start)
        left = source.size
        while left:
            block = handle.read(min(chunk, left))
            digest.update(block)
            left -= len(block)
    return digest.hexdigest()


def _warm_up(server: ApiServer, tmp_path: Path) -> None:
    """A few small uploads so that every worker process has imported and connected everything."""
    source = _make_source(tmp_path / "warm.bin", 4 * MiB, 8)
    uploads = [Upload(server, source, *source.window(i), name=f"warm-{i}") for i in range(8)]
    threads = [threading.Thread(target=upload.run) for upload in uploads]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for upload in uploads:
        assert upload.patches, f"warm-up upload {upload.name} failed"
        upload.close()


def _code_version() -> str:
    """The commit the server ran, and whether its code had uncommitted changes (read-only git)."""
    root = Path(__file__).resolve().parents[2]
    try:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=root, capture_output=True,
                                text=True, timeout=10).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--", "server", "ingest", "storage", "config.yaml"],
                               cwd=root, capture_output=True, text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return f"{commit}{' + uncommitted changes' if dirty else ''}" if commit else "unknown"


def _cpu_delta(before: dict[int, float], after: dict[int, float]) -> dict[str, float]:
    return {str(pid): round(after[pid] - before.get(pid, 0.0), 2) for pid in after}


def _mib_s(size: int, seconds: float) -> float:
    return round(size / MiB / seconds, 1)


def _verdict(met: bool) -> str:
    return "met" if met else "NOT met"


# -- 1: one large upload against dd ----------------------------------------------------------
