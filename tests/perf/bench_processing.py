"""Evidence processing through a real `fullrecord worker`: latency to a reviewable clip, the
remux path and the transcode path (issue 4), each against a baseline measured in the same run.

The stack is started here: the production `fullrecord serve` (gunicorn, as configured in
config.yaml) on 127.0.0.1 with a SQLite database and the local object store, and one real
`fullrecord worker` (RQ, one job at a time) on a Redis database of its own (so that jobs left
by other benchmarks in the same `make bench` run are not picked up). The worker is started
before any upload, warmed up on two small clips, and idle when each timed run begins.
Uploads are single tus creation-with-upload requests.

Clips are made once per run with ffmpeg lavfi, like a recorder's: testsrc2 with temporal
noise, 1920x1080, 30 fps, H.264 (x264 ultrafast, 9 Mbit/s, a keyframe every 30 frames),
yuv420p, AAC 128 kbit/s. Each job uploads a copy that differs only in a metadata tag
(`-c copy`), so every job gets a new original with the same media.

1. A 60 s MP4 (moov at the end, as recorders write it, so the remux really moves it):
   from the upload's receipt (the 201 of the creation-with-upload request, as the client
   sees it) until the verify step is done and the review derivative exists, polled in the
   database every 50 ms: <= 5 s (median of FULLRECORD_BENCH_PROC_ROUNDS rounds, 3). The
   breakdown per step (queue wait, run time) comes from the step rows.
2. The same clips: the review step (a remux) runs at >= 100 x real time, i.e. its wall time
   (step row `seconds`) <= 0.6 s for 60 s of media. Baseline: the exact argv the job
   recorded, run directly on the same file (cwd: a temp dir holding it under the job's name).
3. An MPEG-TS clip, which must be transcoded: by default the same 60 s recording remuxed
   into MPEG-TS (FULLRECORD_BENCH_PROC_TRANSCODE_SECONDS: another length is encoded anew):
   the review step's `seconds` <= 1.1 x the exact argv it recorded, run directly as above.
   FULLRECORD_BENCH_PROC_TRANSCODE_ROUNDS (3) rounds, alternating which goes first; the
   median of the per-round ratios is asserted. The job's review runs alone on the single worker (its
   thumbnails run before it, its obstruction step after it).

Where a step's time goes: a watcher thread notes every ffmpeg / ffprobe the worker starts
(start from /proc, end within 20 ms, its CPU time) and the host's busy CPU time, so a review
step splits into "before the first tool" (loading the step code, fetching the original into
the workspace with SHA-256 and SM3), each tool, and "after the last tool" (storing the
derivative with SHA-256 and SM3, fdatasync).

The machines are shared: before every timed run the bench waits (at most
FULLRECORD_BENCH_PROC_QUIET_WAIT s each, 90, and 600 s in all) until the rest of the host uses
< 0.3 cores, and reports the CPU time other processes used during each timed run. A
transcode run (job or direct) during which others kept > 0.15 cores busy is repeated, at most
FULLRECORD_BENCH_PROC_ATTEMPTS (3) times, and the least disturbed attempt counts.
"""
from __future__ import annotations

import hashlib
import os
import resource
import shutil
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import pytest
import requests
import yaml
from redis import Redis
from rq import Worker
from sqlalchemy import select

from server.settings import SOURCE_CONFIG
from storage.db import make_engine, make_sessionmaker
from storage.models import Clip, Derivative
from storage.processing_models import FINAL_STATUSES, ProcessingStep
from tests.media_samples import make_sample, top_level_atoms
from tests.perf.common import median, record
from tests.perf.tus_harness import _run_cli, _verdict
from tests.services.ports import free_port, stop, tail
from tests.services.workers import WorkerProcess, upload_file

ROUNDS = int(os.environ.get("FULLRECORD_BENCH_PROC_ROUNDS", 3))
TRANSCODE_ROUNDS = int(os.environ.get("FULLRECORD_BENCH_PROC_TRANSCODE_ROUNDS", 3))
TRANSCODE_SECONDS = float(os.environ.get("FULLRECORD_BENCH_PROC_TRANSCODE_SECONDS", 60))
REMUX_SECONDS = 60.0

TARGET_LATENCY_SECONDS = 5.0
TARGET_REMUX_SPEED = 100.0
TARGET_TRANSCODE_RATIO = 1.1

POLL_SECONDS = 0.05
QUIET_WAIT = float(os.environ.get("FULLRECORD_BENCH_PROC_QUIET_WAIT", 90))
QUIET_BUDGET = 600.0
QUIET_CORES = 0.3
NOISY_CORES = 0.15
"""A timed transcode run during which the rest of the host kept more than this many cores busy
is repeated (at most ATTEMPTS times; then the least disturbed attempt counts)."""
ATTEMPTS = int(os.environ.get("FULLRECORD_BENCH_PROC_ATTEMPTS", 3))
IDLE_POLL_SECONDS = 0.25
PROCESS_TIMEOUT = 900
REDIS_DB = 11
"""A Redis database no other benchmark enqueues into."""

# Waiting for a quiet host and repeating disturbed runs can take minutes on a shared machine.
pytestmark = pytest.mark.timeout(2400)

RECORDER = ["-vf", "noise=alls=10:allf=t", "-c:v", "libx264", "-preset", "ultrafast", "-b:v", "9M",
            "-maxrate", "10M", "-bufsize", "10M", "-g", "30", "-pix_fmt", "yuv420p",
            "-c:a", "aac", "-b:a", "128k"]
CLIP_DESCRIPTION = ("1920x1080 30 fps testsrc2 + temporal noise, H.264 (x264 ultrafast, 9 Mbit/s, "
                    "keyframe every 30 frames), yuv420p, AAC 128 kbit/s")


# -- media ---------------------------------------------------------------------------------

def _ffmpeg(*args) -> None:
    argv = ["ffmpeg", "-nostdin", "-hide_banner", "-loglevel", "error", "-y", *map(str, args)]
    completed = subprocess.run(argv, capture_output=True, text=True, timeout=900)
    assert completed.returncode == 0, f"{' '.join(argv)}: {completed.stderr}"


def make_recording(path: Path, seconds: float) -> Path:
    _ffmpeg("-f", "lavfi", "-i", f"testsrc2=size=1920x1080:rate=30:duration={seconds}",
            "-f", "lavfi", "-i", f"sine=frequency=440:sample_rate=48000:duration={seconds}", *RECORDER, path)
    return path


def variants(base: Path, count: int, tag: str) -> list[Path]:
    """Copies of `base` with the same streams and a different metadata tag: new originals."""
    made = []
    for number in range(count):
        target = base.with_name(f"{base.stem}-{number}{base.suffix}")
        key = "service_name" if tag == "ts" else "comment"
        tags = ["-metadata", f"{key}=bench-{number}"]
        _ffmpeg("-i", base, "-map", "0", "-c", "copy", *tags, target)
        made.append(target)
    return made


def container_facts(path: Path) -> dict:
    out = subprocess.run(["ffprobe", "-v", "error", "-show_entries", "format=duration,bit_rate", "-of",
                          "default=nw=1", str(path)], capture_output=True, text=True, check=True).stdout
    values = dict(line.split("=", 1) for line in out.split())
    return {"duration_s": round(float(values["duration"]), 2), "mbit_s": round(int(values["bit_rate"]) / 1e6, 2),
            "bytes": path.stat().st_size}


@pytest.fixture(scope="module")
def media(tmp_path_factory):
    directory = tmp_path_factory.mktemp("bench-processing-media")
    started = time.perf_counter()
    remux_base = make_recording(directory / "DSJ-BENCH_remux.mp4", REMUX_SECONDS)
    assert top_level_atoms(remux_base).index("moov") > top_level_atoms(remux_base).index("mdat"), \
        "the remux clip must not be faststart"
    remux = variants(remux_base, ROUNDS, "mp4")
    transcode_base = directory / "DSJ-BENCH_transcode.ts"
    if TRANSCODE_SECONDS == REMUX_SECONDS:  # the same recording in MPEG-TS: no second encode
        _ffmpeg("-i", remux_base, "-map", "0", "-c", "copy", "-f", "mpegts", transcode_base)
    else:
        make_recording(transcode_base, TRANSCODE_SECONDS)
    transcode = variants(transcode_base, TRANSCODE_ROUNDS * ATTEMPTS, "ts")
    for path in remux:
        atoms = top_level_atoms(path)
        assert atoms.index("moov") > atoms.index("mdat"), (path, atoms)
    for group in (remux, transcode):
        assert len({hashlib.sha256(path.read_bytes()).hexdigest() for path in group}) == len(group), \
            "every round must upload a new original"
    facts = {"remux": container_facts(remux[0]), "transcode": container_facts(transcode[0])}
    assert abs(facts["remux"]["duration_s"] - REMUX_SECONDS) < 0.5, facts
    print(f"\nmedia made in {time.perf_counter() - started:.1f} s: {facts}")
    yield {"remux": remux, "transcode": transcode, "facts": facts}
    shutil.rmtree(directory, ignore_errors=True)


# -- which tools the worker ran, and when ----------------------------------------------------

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
WATCH_INTERVAL = 0.02


def _stat(pid: int) -> list[str] | None:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None


class ToolWatcher(threading.Thread):
    """Every ffmpeg / ffprobe the worker (and its work horses) starts: its start (from
    /proc/<pid>/stat, 10 ms resolution) and its end (seen within WATCH_INTERVAL), as wall
    time. Only new pids, and the worker's children not yet known to be a tool, are read each
    tick, so the watcher costs little CPU."""

    def __init__(self, root_pid: int):
        super().__init__(daemon=True, name="tool-watcher")
        self.root = root_pid
        self.family = {root_pid}
        self.seen: set[int] = set()
        self.running: dict[int, dict] = {}
        self.tools: set[int] = set()  # pids identified as a tool (running or ended)
        self.runs: list[dict] = []
        self.busy: list[tuple[float, float]] = []  # (wall time, CPU-seconds busy on the host so far)
        self.lock = threading.Lock()
        self.stopping = threading.Event()

    def run(self) -> None:
        while not self.stopping.wait(WATCH_INTERVAL):
            now = time.time()
            with self.lock:
                self.busy.append((now, cpu_busy()))
            for pid, run in list(self.running.items()):
                fields = _stat(pid)
                if fields is None or fields[0] in ("Z", "X"):
                    run["end"] = now
                    with self.lock:
                        self.runs.append(self.running.pop(pid))
                else:
                    run["cpu"] = (int(fields[11]) + int(fields[12])) / CLOCK_TICKS
            pids = sorted(int(name) for name in os.listdir("/proc") if name.isdigit())
            alive = set(pids)
            self.seen &= alive  # a pid that is gone may be used again
            self.family &= alive | {self.root}
            self.tools &= alive
            for pid in pids:
                if pid in self.seen:
                    continue
                self.seen.add(pid)
                fields = _stat(pid)
                if fields is not None and int(fields[1]) in self.family:
                    self.family.add(pid)
            # A child seen between its fork and its exec still shows the worker's command line:
            # family members that are not (yet) a tool are looked at again on every tick.
            for pid in self.family - self.running.keys() - self.tools - {self.root}:
                self._identify(pid)

    def _identify(self, pid: int) -> None:
        try:
            argv = Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace").split("\0")
        except OSError:
            return
        tool = os.path.basename(argv[0])
        fields = _stat(pid)
        if tool not in ("ffmpeg", "ffprobe") or fields is None:
            return
        self.tools.add(pid)
        age = time.clock_gettime(time.CLOCK_BOOTTIME) - int(fields[19]) / CLOCK_TICKS
        self.running[pid] = {"tool": tool, "what": _what(argv), "start": time.time() - age,
                             "cpu": (int(fields[11]) + int(fields[12])) / CLOCK_TICKS,
                             "nice": int(fields[16]), "cpus": _allowed_cpus(pid)}

    def between(self, start: float, end: float) -> list[dict]:
        with self.lock:
            return sorted((run for run in self.runs if run["start"] >= start - 0.02 and run["end"] <= end + 0.05),
                          key=lambda run: run["start"])


    def busy_between(self, start: float, end: float) -> float | None:
        """CPU-seconds the whole host spent busy between two wall times (nearest samples)."""
        with self.lock:
            samples = list(self.busy)
        before = [b for t, b in samples if t <= start]
        after = [b for t, b in samples if t >= end]
        if not before or not after:
            return None
        return after[0] - before[-1]


def cpu_busy() -> float:
    """CPU-seconds the host has spent busy (not idle, not waiting for I/O) since boot."""
    with open("/proc/stat") as handle:
        values = [int(v) for v in handle.readline().split()[1:]]
    idle = values[3] + values[4]
    return (sum(values[:8]) - idle) / CLOCK_TICKS


def _allowed_cpus(pid: int) -> str:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("Cpus_allowed_list:"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "?"


def _what(argv: list[str]) -> str:
    if "-version" in argv:
        return "version"
    if argv and os.path.basename(argv[0]) == "ffprobe":
        return "probe"
    return argv[-1] if argv[-1] else argv[-2]  # the output: review.mp4, poster.jpg, pipe:1 ...


def split_step(row: ProcessingStep, watcher: ToolWatcher) -> dict:
    """Where a step's `seconds` went: before its first tool, each tool, after its last tool."""
    start = _wall(row.started_at)
    end = start + row.seconds
    runs = watcher.between(start, _wall(row.finished_at))
    if not runs:
        return {"tools": []}
    return {"before_first_tool_s": round(runs[0]["start"] - start, 3),
            "tools": [tool_run(run, watcher) for run in runs],
            "after_last_tool_s": round(end - max(run["end"] for run in runs), 3)}


def tool_run(run: dict, watcher: ToolWatcher) -> dict:
    """A tool's wall time, its own CPU time (up to the last sample), and what else the host ran meanwhile."""
    busy = watcher.busy_between(run["start"], run["end"])
    return {"what": f"{run['tool']} {run['what']}", "s": round(run["end"] - run["start"], 3),
            "cpu_s": round(run["cpu"], 2), "nice": run["nice"], "cpus": run["cpus"],
            "other_cpu_s": None if busy is None else _other(busy, run["cpu"])}


# -- the stack -----------------------------------------------------------------------------

@dataclass
class Stack:
    url: str
    token: str
    config: Path
    data_dir: Path
    serve: subprocess.Popen
    serve_log: Path
    worker: WorkerProcess
    redis: Redis
    session: object
    watcher: ToolWatcher | None = None

    def clip(self, clip_id: str) -> dict:
        response = requests.get(f"{self.url}/api/v1/clips/{clip_id}",
                                headers={"Authorization": f"Bearer {self.token}"}, timeout=30)
        assert response.status_code == 200, response.text
        return response.json()

    def steps(self, clip_id: str) -> dict[str, ProcessingStep]:
        with self.session() as session:
            rows = session.scalars(select(ProcessingStep).where(ProcessingStep.clip_id == clip_id)).all()
        return {row.step: row for row in rows}

    def failure(self, clip_id: str) -> str | None:
        with self.session() as session:
            clip = session.get(Clip, clip_id)
            bad = session.scalars(select(ProcessingStep).where(
                ProcessingStep.clip_id == clip_id, ProcessingStep.status.in_(("failed", "retrying")))).all()
        if bad:
            return "; ".join(f"{row.step} {row.status}: {row.error}" for row in bad)
        if clip is not None and clip.status in ("unplayable", "integrity_failed"):
            return f"clip {clip.status}: {clip.media}"
        return None

    def wait_processed(self, clip_id: str, timeout: float = PROCESS_TIMEOUT) -> None:
        """Until every step of the clip is final and the RQ worker is idle again."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            problem = self.failure(clip_id)
            assert problem is None, f"{problem}\nworker log:\n{self.worker.log_tail()}"
            with self.session() as session:
                clip = session.get(Clip, clip_id)
                open_steps = session.scalar(select(ProcessingStep.id).where(
                    ProcessingStep.status.not_in(FINAL_STATUSES)).limit(1))
            if clip is not None and clip.status == "processed" and open_steps is None and self.worker_idle():
                return
            time.sleep(IDLE_POLL_SECONDS)
        raise AssertionError(f"clip {clip_id} not processed within {timeout} s\n{self.worker.log_tail()}")

    def worker_idle(self) -> bool:
        workers = Worker.all(connection=self.redis)
        return bool(workers) and all(worker.get_state() == "idle" for worker in workers)


def _config(base: Path, redis_url: str, port: int) -> Path:
    config = yaml.safe_load(Path(SOURCE_CONFIG).read_text())
    data_dir = base / "data"
    config["data_dir"] = str(data_dir)
    config["database"]["url"] = f"sqlite:///{data_dir / 'fullrecord.db'}"
    config["redis"]["url"] = redis_url
    config["server"].update(host="127.0.0.1", port=port)
    path = base / "config.yaml"
    path.write_text(yaml.safe_dump(config, allow_unicode=True, sort_keys=False))
    return path


@pytest.fixture(scope="module")
def stack(redis_server, tmp_path_factory):
    base = tmp_path_factory.mktemp("bench-processing")
    redis_url = redis_server.rsplit("/", 1)[0] + f"/{REDIS_DB}"
    redis = Redis.from_url(redis_url)
    redis.flushdb()
    port = free_port()
    config = _config(base, redis_url, port)
    env = {k: v for k, v in os.environ.items() if not k.startswith("FULLRECORD_")}
    env["FULLRECORD_CONFIG"] = str(config)
    _run_cli(env, "db", "upgrade")
    _run_cli(env, "custody", "keygen")
    token = _run_cli(env, "admin", "add-station", "bench-station").strip().splitlines()[-1].strip()
    serve_log = base / "serve.log"
    with open(serve_log, "wb") as handle:
        serve = subprocess.Popen([sys.executable, "-m", "server", "serve"], env=env, stdout=handle,
                                 stderr=subprocess.STDOUT, start_new_session=True)
    worker = WorkerProcess(config, base / "worker.log")
    engine = make_engine(f"sqlite:///{base / 'data' / 'fullrecord.db'}")
    result = Stack(f"http://127.0.0.1:{port}", token, config, base / "data", serve, serve_log, worker, redis,
                   make_sessionmaker(engine))
    try:
        deadline = time.monotonic() + 60
        while True:
            assert serve.poll() is None, f"fullrecord serve exited: {tail(serve_log)}"
            try:
                if requests.get(f"{result.url}/healthz", timeout=2).status_code == 200:
                    break
            except requests.RequestException:
                pass
            assert time.monotonic() < deadline, f"fullrecord serve not healthy: {tail(serve_log)}"
            time.sleep(0.2)
        worker.start()
        result.watcher = ToolWatcher(worker.process.pid)
        result.watcher.start()
        # Warm-up: both paths once on small clips, so that the server, the worker, ffmpeg and the
        # database are past their first use before anything is timed.
        samples = base / "warm"
        samples.mkdir()
        for kind in ("h264_aac_mp4", "mpegts"):
            clip_id, _receipt, _wall = upload(result, make_sample(kind, samples, seconds=2))
            result.wait_processed(clip_id, timeout=180)
        yield result
    finally:
        if result.watcher is not None:
            result.watcher.stopping.set()
        worker.stop()
        stop(serve)
        engine.dispose()
        redis.flushdb()
        redis.close()
        shutil.rmtree(base, ignore_errors=True)


# -- measuring -----------------------------------------------------------------------------

def _wall(moment: datetime | None) -> float | None:
    """Seconds since the epoch of a row's time (UTCDateTime gives aware datetimes)."""
    return None if moment is None else moment.timestamp()


def breakdown(rows: dict[str, ProcessingStep], receipt_wall: float) -> dict:
    """Per step: when it was enqueued (s after the receipt), its queue wait, its run time."""
    order = ("verify", "probe", "review", "thumbnails", "obstruction")
    steps = {}
    for name in order:
        row = rows.get(name)
        if row is None:
            continue
        enqueued, started, finished = _wall(row.enqueued_at), _wall(row.started_at), _wall(row.finished_at)
        steps[name] = {
            "queue": row.queue,
            "enqueued_after_receipt_s": round(enqueued - receipt_wall, 3),
            "queue_wait_s": round(started - enqueued, 3),
            "seconds": round(row.seconds, 3),
            "started_to_finished_s": round(finished - started, 3),
            "finished_after_receipt_s": round(finished - receipt_wall, 3),
        }
    return steps


def upload(stack: Stack, path: Path) -> tuple[str, float, float]:
    """Upload; returns the clip id and the moment the receipt arrived (perf_counter, wall)."""
    try:
        clip_id = upload_file(stack.url, stack.token, path, device_id="DSJ-BENCH", officer_id="3201001")
    except AssertionError as exc:
        raise AssertionError(f"{exc}\nserver log:\n{tail(stack.serve_log, 40)}") from None
    return clip_id, time.perf_counter(), time.time()


def wait_reviewable(stack: Stack, clip_id: str, since: float, timeout: float = 300) -> float:
    """Seconds from `since` (perf_counter) until verify is done and the review derivative exists."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with stack.session() as session:
            verified = session.scalar(select(ProcessingStep.status).where(
                ProcessingStep.clip_id == clip_id, ProcessingStep.step == "verify")) == "done"
            review = session.scalar(select(Derivative.id).where(
                Derivative.clip_id == clip_id, Derivative.kind == "review")) if verified else None
        if review is not None:
            return time.perf_counter() - since
        problem = stack.failure(clip_id)
        assert problem is None, f"{problem}\nworker log:\n{stack.worker.log_tail()}"
        time.sleep(POLL_SECONDS)
    raise AssertionError(f"clip {clip_id} not reviewable within {timeout} s\n{stack.worker.log_tail()}")


def review_of(stack: Stack, clip_id: str) -> tuple[ProcessingStep, dict]:
    row = stack.steps(clip_id)["review"]
    clip = stack.clip(clip_id)
    derivative = next(d for d in clip["derivatives"] if d["kind"] == "review")
    assert row.status == "done" and row.attempts == 1, (row.status, row.attempts, row.error)
    assert row.command == [derivative["argv"]], (row.command, derivative["argv"])
    return row, derivative


def run_directly(argv: list[str], original: Path, directory: Path) -> dict:
    """The job's argv in a fresh directory holding the same original under the job's name:
    its wall time, its CPU time and the CPU time the rest of the host used meanwhile."""
    shutil.rmtree(directory, ignore_errors=True)
    directory.mkdir(parents=True)
    name = argv[argv.index("-i") + 1]
    shutil.copyfile(original, directory / name)
    with open(directory / name, "rb") as handle:  # in the page cache, as the job's fetched copy is
        while handle.read(8 << 20):
            pass
    children, busy = _children_cpu(), cpu_busy()
    started = time.perf_counter()
    completed = subprocess.run(argv, cwd=directory, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                               stderr=subprocess.PIPE, text=True)
    seconds = time.perf_counter() - started
    cpu, busy = _children_cpu() - children, cpu_busy() - busy
    assert completed.returncode == 0, completed.stderr
    shutil.rmtree(directory, ignore_errors=True)
    return {"s": round(seconds, 3), "cpu_s": round(cpu, 2), "other_cpu_s": _other(busy, cpu)}


def _other(busy: float, own: float) -> float:
    """The host's busy CPU time less one process's own. /proc/stat counts in ticks and a task's
    time is exact, so the difference is a little below 0 when nothing else ran: shown as 0."""
    return round(max(0.0, busy - own), 2)


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _code_version() -> str:
    root = Path(__file__).resolve().parents[2]
    try:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=root, capture_output=True,
                                text=True, timeout=10).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--", "server", "ingest", "storage", "workers",
                                "config.yaml"], cwd=root, capture_output=True, text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return f"{commit}{' + uncommitted changes' if dirty else ''}" if commit else "unknown"


_quiet_waited = [0.0]


def wait_quiet() -> dict:
    """Wait (at most QUIET_WAIT s, and QUIET_BUDGET s over the whole run) until the host's
    other work has paused: less than QUIET_CORES cores busy over one second. The machines are
    shared; a timed run that starts while another job runs measures that job too. Returns
    what it found."""
    started = time.monotonic()
    limit = max(0.0, min(QUIET_WAIT, QUIET_BUDGET - _quiet_waited[0]))
    while True:
        before = cpu_busy()
        time.sleep(1.0)
        cores = cpu_busy() - before
        waited = time.monotonic() - started
        if cores < QUIET_CORES or waited >= limit:
            _quiet_waited[0] += waited
            return {"waited_s": round(waited, 1), "busy_cores": round(cores, 2), "quiet": cores < QUIET_CORES,
                    "load_avg": [round(value, 2) for value in os.getloadavg()]}


def sm3_alone(path: Path) -> float:
    """Seconds to SM3 the file from the page cache: the cost of one integrity pass over it."""
    data = path.read_bytes()
    started = time.perf_counter()
    hashlib.new("sm3", data).hexdigest()
    return time.perf_counter() - started


def tool_in(split: dict, what: str) -> dict | None:
    return next((tool for tool in split.get("tools", []) if tool["what"] == what), None)


def split_summary(splits: list[dict]) -> dict:
    """Medians of where the review steps' time went (see split_step)."""
    summary = {}
    for key in ("before_first_tool_s", "after_last_tool_s"):
        values = [split[key] for split in splits if key in split]
        summary[key] = round(median(values), 3) if values else None
    for what in ("ffmpeg review.mp4", "ffprobe probe", "ffmpeg version"):
        values = [tool["s"] for split in splits if (tool := tool_in(split, what))]
        summary[f"{what} s"] = round(median(values), 3) if values else None
    return summary


def busy_share(run: dict | None) -> float | None:
    """CPU time every other process on the host used during a timed run (the worker's own
    Python threads and this bench's pollers included), in cores: 2 = both cores taken."""
    if not run or run.get("other_cpu_s") is None or not run["s"]:
        return None
    return round(run["other_cpu_s"] / run["s"], 2)


# -- 1 and 2: a 60 s H.264/AAC MP4, remuxed ------------------------------------------------

@pytest.fixture(scope="module")
def remux_rounds(stack, media, tmp_path_factory):
    scratch = tmp_path_factory.mktemp("bench-processing-plain")
    rounds = []
    for number, path in enumerate(media["remux"]):
        assert stack.worker_idle()
        quiet = wait_quiet()
        clip_id, receipt, receipt_wall = upload(stack, path)
        latency = wait_reviewable(stack, clip_id, receipt)
        stack.wait_processed(clip_id)
        row, derivative = review_of(stack, clip_id)
        assert derivative["checks"]["plan"] == "remux", derivative["checks"]
        assert "copy" in derivative["argv"] and "+faststart" in derivative["argv"]
        with stack.session() as session:
            clip = session.get(Clip, clip_id)
            received_wall, size = _wall(clip.received_at), clip.size
        rows = stack.steps(clip_id)
        steps = breakdown(rows, receipt_wall)
        review_wall = _wall(rows["review"].finished_at) - receipt_wall
        quiet_plain = wait_quiet()
        plain = run_directly(derivative["argv"], path, scratch / f"plain-{number}")
        rounds.append({
            "clip_id": clip_id, "bytes": size, "host_before_job": quiet, "host_before_plain": quiet_plain,
            "receipt_to_reviewable_polled_s": round(latency, 3),
            "receipt_to_review_finished_at_s": round(review_wall, 3),
            "stored_to_receipt_s": round(receipt_wall - received_wall, 3),
            "steps": steps,
            "review_seconds": round(row.seconds, 3),
            "review_started_to_finished_s": steps["review"]["started_to_finished_s"],
            "review_split": split_step(rows["review"], stack.watcher),
            "plain_remux_s": plain["s"],
            "plain_remux": plain,
            "sm3_alone_s": round(sm3_alone(path), 3),
            "argv": derivative["argv"],
        })
        print(f"round {number}: reviewable {latency:.2f} s after the receipt; review step {row.seconds:.2f} s, "
              f"plain remux {plain['s']:.2f} s; steps {steps}; review split {rounds[-1]['review_split']}")
    return rounds


def test_remux_clip_is_reviewable_within_5_s(remux_rounds, media):
    latencies = [r["receipt_to_reviewable_polled_s"] for r in remux_rounds]
    latency = median(latencies)
    steps = {name: {key: median([r["steps"][name][key] for r in remux_rounds])
                    for key in ("enqueued_after_receipt_s", "queue_wait_s", "seconds", "finished_after_receipt_s")}
             for name in ("verify", "probe", "review", "thumbnails", "obstruction")}
    result = {
        "clip": f"{REMUX_SECONDS:g} s {CLIP_DESCRIPTION}, MP4 with moov at the end",
        "bytes": remux_rounds[0]["bytes"],
        "container": media["facts"]["remux"],
        "receipt_to_reviewable_s": round(latency, 3),
        "rounds_s": latencies,
        "receipt_to_review_finished_at_s": [r["receipt_to_review_finished_at_s"] for r in remux_rounds],
        "median_steps": steps,
        "target_s": TARGET_LATENCY_SECONDS,
        "poll_interval_s": POLL_SECONDS,
        "rounds": [{k: v for k, v in r.items() if k != "argv"} for r in remux_rounds],
        "stack": "fullrecord serve (gunicorn) + 1 fullrecord worker, SQLite, local store, 127.0.0.1",
        "cpu_count": os.cpu_count(),
        "code": _code_version(),
        "command": "make bench",
    }
    record("processing_latency", result)
    met = latency <= TARGET_LATENCY_SECONDS
    print(f"TARGET 1 receipt -> verified + reviewable: median {latency:.2f} s (rounds {latencies}; "
          f"target <= {TARGET_LATENCY_SECONDS} s): {_verdict(met)}")
    assert met, result


def test_remux_runs_at_100x_real_time(remux_rounds):
    review = median([r["review_seconds"] for r in remux_rounds])
    started_finished = median([r["review_started_to_finished_s"] for r in remux_rounds])
    plain = median([r["plain_remux_s"] for r in remux_rounds])
    result = {
        "media_seconds": REMUX_SECONDS,
        "review_step_seconds": review,
        "review_step_started_to_finished_s": started_finished,
        "plain_remux_s": plain,
        "speed_x_real_time": round(REMUX_SECONDS / review, 1),
        "speed_started_to_finished_x_real_time": round(REMUX_SECONDS / started_finished, 1),
        "plain_speed_x_real_time": round(REMUX_SECONDS / plain, 1),
        "ratio_job_vs_plain": round(review / plain, 2),
        "target_x_real_time": TARGET_REMUX_SPEED,
        "review_step_split_median": split_summary([r["review_split"] for r in remux_rounds]),
        "sm3_alone_over_the_original_s": median([r["sm3_alone_s"] for r in remux_rounds]),
        "rounds": [{"review_seconds": r["review_seconds"],
                    "review_started_to_finished_s": r["review_started_to_finished_s"],
                    "review_split": r["review_split"], "plain_remux": r["plain_remux"],
                    "other_cores_during_plain": busy_share(r["plain_remux"]),
                    "other_cores_during_job_ffmpeg": busy_share(tool_in(r["review_split"], "ffmpeg review.mp4"))}
                   for r in remux_rounds],
        "argv": remux_rounds[0]["argv"],
        "cpu_count": os.cpu_count(),
        "code": _code_version(),
        "command": "make bench",
    }
    record("processing_remux", result)
    met = REMUX_SECONDS / review >= TARGET_REMUX_SPEED
    print(f"TARGET 2 remux review step: {review:.3f} s for {REMUX_SECONDS:g} s of media = "
          f"{result['speed_x_real_time']} x real time "
          f"(started->finished {result['speed_started_to_finished_x_real_time']} x); plain remux {plain:.3f} s "
          f"({result['plain_speed_x_real_time']} x), job/plain {result['ratio_job_vs_plain']} "
          f"(target >= {TARGET_REMUX_SPEED:g} x): {_verdict(met)}; where the step's time went (medians): "
          f"{result['review_step_split_median']}, SM3 alone over the original "
          f"{result['sm3_alone_over_the_original_s']} s")
    assert met, result


# -- 3: an MPEG-TS clip, transcoded --------------------------------------------------------

def test_transcode_job_within_1_1_of_ffmpeg(stack, media, tmp_path_factory):
    scratch = tmp_path_factory.mktemp("bench-processing-transcode")
    job_times, plain_times, rounds, argv = [], [], [], None
    fresh = iter(media["transcode"])  # every job attempt uploads a new original

    def cleanest(attempts: list[dict], share) -> dict:
        """The first attempt the rest of the host left alone, else the least disturbed one."""
        for attempt in attempts:
            if (share(attempt) or 0.0) <= NOISY_CORES:
                return attempt
        return min(attempts, key=lambda attempt: share(attempt) or 0.0)

    def job() -> None:
        nonlocal argv
        attempts = []
        for _ in range(ATTEMPTS):
            assert stack.worker_idle()
            host = wait_quiet()
            clip_id, _receipt, receipt_wall = upload(stack, next(fresh))
            stack.wait_processed(clip_id)
            row, derivative = review_of(stack, clip_id)
            assert derivative["checks"]["plan"] == "transcode", derivative["checks"]
            assert argv is None or derivative["argv"] == argv, (argv, derivative["argv"])
            argv = derivative["argv"]
            split = split_step(row, stack.watcher)
            attempts.append({"host_before": host, "clip_id": clip_id, "review_seconds": round(row.seconds, 3),
                             "review_split": split, "steps": breakdown(stack.steps(clip_id), receipt_wall),
                             "other_cores_during_ffmpeg": busy_share(tool_in(split, "ffmpeg review.mp4"))})
            if (attempts[-1]["other_cores_during_ffmpeg"] or 0.0) <= NOISY_CORES:
                break
        chosen = cleanest(attempts, lambda attempt: attempt["other_cores_during_ffmpeg"])
        job_times.append(chosen["review_seconds"])
        rounds[-1].update(job=chosen, job_attempts_discarded=len(attempts) - 1)

    def plain(path: Path) -> None:
        attempts = []
        for _ in range(ATTEMPTS):
            assert stack.worker_idle()
            host = wait_quiet()
            attempts.append({"host_before": host, **run_directly(argv, path, scratch / "plain")})
            if (busy_share(attempts[-1]) or 0.0) <= NOISY_CORES:
                break
        chosen = cleanest(attempts, busy_share)
        plain_times.append(chosen["s"])
        rounds[-1].update(plain=chosen, plain_attempts_discarded=len(attempts) - 1)

    for number in range(TRANSCODE_ROUNDS):
        path = media["transcode"][number]  # the direct runs read a file with the same streams
        rounds.append({"order": "job first" if number % 2 == 0 else "direct run first"})
        if number % 2 == 0:
            job()
            plain(path)
        else:
            plain(path)
            job()
        print(f"transcode round {number}: {rounds[-1]}")
    job_s, plain_s = median(job_times), median(plain_times)
    # Each round's job and direct run ran back to back under the same conditions: the median of
    # the per-round ratios is what is asserted (a slow spell of the host hits both sides).
    paired = [job_time / plain_time for job_time, plain_time in zip(job_times, plain_times)]
    ratio = median(paired)
    inside = [tool_in(r["job"]["review_split"], "ffmpeg review.mp4") for r in rounds]
    inside_s = median([tool["s"] for tool in inside if tool]) if any(inside) else None
    result = {
        "clip": f"{TRANSCODE_SECONDS:g} s {CLIP_DESCRIPTION}, MPEG-TS",
        "container": media["facts"]["transcode"],
        "job_review_seconds": round(job_s, 3),
        "plain_ffmpeg_seconds": round(plain_s, 3),
        "ratio_job_vs_plain": round(ratio, 3),
        "ratio_per_round": [round(value, 3) for value in paired],
        "ratio_of_medians": round(job_s / plain_s, 3),
        "job_overhead_s": round(job_s - plain_s, 3),
        "ffmpeg_inside_job_s": inside_s,
        "ratio_ffmpeg_inside_job_vs_plain": round(inside_s / plain_s, 3) if inside_s else None,
        "ffmpeg_cpu_inside_job_s": median([tool["cpu_s"] for tool in inside if tool]) if any(inside) else None,
        "plain_cpu_s": median([r["plain"]["cpu_s"] for r in rounds]),
        "review_step_split_median": split_summary([r["job"]["review_split"] for r in rounds]),
        "other_cores_during_plain": [busy_share(r["plain"]) for r in rounds],
        "other_cores_during_job_ffmpeg": [busy_share(tool) for tool in inside],
        "speed_x_real_time": round(TRANSCODE_SECONDS / job_s, 2),
        "target_ratio": TARGET_TRANSCODE_RATIO,
        "rounds": rounds,
        "argv": argv,
        "cpu_count": os.cpu_count(),
        "code": _code_version(),
        "command": "make bench",
    }
    record("processing_transcode", result)
    met = ratio <= TARGET_TRANSCODE_RATIO
    print(f"TARGET 3 transcode: review step {job_s:.2f} s (its ffmpeg {inside_s} s), the same argv directly "
          f"{plain_s:.2f} s (medians); ratio per round {result['ratio_per_round']}, median {ratio:.3f} "
          f"(target <= {TARGET_TRANSCODE_RATIO}): {_verdict(met)}; other work "
          f"on the host (cores) during the direct runs {result['other_cores_during_plain']}, during the job's "
          f"ffmpeg {result['other_cores_during_job_ffmpeg']}")
    assert met, result
