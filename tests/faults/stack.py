"""The campaign's processes, all real and on 127.0.0.1: Redis (no persistence), SeaweedFS, two
API nodes (`fullrecord serve`, each with its own directories and host name) behind nginx
round-robin, two `fullrecord worker`s and the station agent (`fullrecord station run`), which
uploads through nginx. Unfinished uploads are staged in SeaweedFS, so the surviving node
continues what the killed one was receiving. PostgreSQL comes from the `postgres_url` fixture;
it and nginx are never killed.

Every process is a `Part` that can be killed with SIGKILL and started again on the same port and
data; `start()` returns once the part answers its health check. A `Supervisor` thread restarts
any part that exits without having been killed by the driver, as systemd would, and records it:
such an exit is a crash, and the campaign fails on it.
"""
from __future__ import annotations

import os
import shutil
import signal
import subprocess
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests
from redis import Redis
from rq import Worker

from server.runtime import Runtime
from tests.cli import fullrecord_script, run_cli
from tests.cluster.proxy import Nginx
from tests.services.ports import free_port, tail
from tests.services.redis_server import RestartableRedis
from tests.services.seaweed import RestartableSeaweedFS
from tests.services.serve import Server
from tests.services.workers import WorkerProcess, descendants, write_config

ADMIN, ADMIN_PASSWORD = "campaign-admin", "fault-campaign-admin-pw"
START_TIMEOUT = 90.0
"""Seconds a restarted part may take to answer its health check (weed, gunicorn on a busy host)."""
WORKERS = 2
API_NODES = ("api-a", "api-b")
START_FAILURES = (Exception, pytest.fail.Exception)
"""What a failed start raises (weed's readiness wait ends with pytest.fail)."""

RECOVERY_SETTINGS = {
    # defaults in config.yaml: 300, 60, 3, [10, 60, 300], 30, 1000, 10 — shortened so that
    # recovery happens within the run rather than minutes later:
    "processing.stale_after_seconds": 10,  # a lost job or a dead worker's step handed out again
    "workers.sweep_seconds": 1,  # the sweeper's outbox dispatch and reconcile
    "processing.retries": 6,  # retries span ~30 s + jitter: longer than any outage here
    "processing.retry_backoff_seconds": [1, 2, 4, 8, 15],
    "uploads.lock_lease_seconds": 5,  # an upload's lock left by a killed API frees itself
    "custody.checkpoint_every_events": 100,  # several signed checkpoints written while parts die
    "custody.checkpoint_every_minutes": 1,
}
STATION_SETTINGS = {
    "station.stable_seconds": 0.5, "station.scan_seconds": 0.5, "station.report_seconds": 2,
    "station.retry_backoff_seconds": [0.5, 1, 2, 3], "station.chunk_bytes": 256 * 1024,
    "station.request_timeout_seconds": 10, "station.parallel_uploads": 2,
    "station.bandwidth_limit_bytes_per_second": 1 << 20,  # ~1 s a recording: faults land mid-upload
}


class Part:
    """One process of the stack: start() returns once it is healthy; kill() is SIGKILL."""
    name = ""
    log: Path

    def __init__(self):
        self.lock = threading.Lock()
        """Held by whoever takes the part down on purpose (the driver), so the supervisor waits."""

    @property
    def process(self) -> subprocess.Popen | None:
        raise NotImplementedError

    def start(self) -> None:
        raise NotImplementedError

    def kill(self) -> None:
        _kill_group(self.process)

    def stop(self) -> None:
        raise NotImplementedError

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def log_tail(self, lines: int = 30) -> str:
        return tail(self.log, lines)


class RedisPart(Part):
    name = "redis"

    def __init__(self, directory: Path):
        super().__init__()
        self.redis = RestartableRedis(directory)
        self.url, self.log = self.redis.url, directory / "redis.log"

    def start(self) -> None:
        self.redis.start()
        connection = Redis.from_url(self.url, socket_connect_timeout=2)
        try:
            connection.ping()
        finally:
            connection.close()

    @property
    def process(self):
        return self.redis.process

    def stop(self) -> None:
        self.redis.stop()


class StorePart(Part):
    name = "object store"

    def __init__(self, directory: Path):
        super().__init__()
        self.seaweed = RestartableSeaweedFS(directory)
        self.log = self.seaweed.server.log

    def start(self) -> None:
        self.seaweed.start()

    @property
    def process(self):
        return self.seaweed.process

    def kill(self) -> None:
        self.seaweed.kill()

    def stop(self) -> None:
        self.seaweed.stop()


class ApiPart(Part):
    """One API node: its own data and staging directories, and its own host name (a UTS
    namespace), as on a host of its own."""

    def __init__(self, name: str, env: dict, directory: Path):
        super().__init__()
        self.name, self.log = name, directory / "serve.log"
        directory.mkdir(parents=True, exist_ok=True)
        env = {**env, "FULLRECORD_DATA_DIR": str(directory / "data"), "FULLRECORD_STAGING_DIR": str(directory / "staging")}
        prefix = ["unshare", "--uts", "sh", "-c", f'hostname {name} && exec "$@"', "--"]
        self.server = Server(env, free_port(), log=self.log, prefix=prefix)
        self.url = self.server.url

    def start(self) -> None:
        self.server.start()

    @property
    def process(self):
        return self.server.process

    def stop(self) -> None:
        if self.alive():
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.kill()


class WorkerPart(Part):
    def __init__(self, index: int, config: Path, log: Path, redis_url: str):
        super().__init__()
        self.name, self.log, self.redis_url = f"worker-{index}", log, redis_url
        self.worker = WorkerProcess(config, log)

    def start(self) -> None:
        """Until RQ has registered this process's worker (it is taking jobs)."""
        self.worker.start()
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if not self.alive():
                raise RuntimeError(f"{self.name} exited with {self.process.returncode}:\n{self.log_tail()}")
            if self._registered():
                return
            time.sleep(0.2)
        raise RuntimeError(f"{self.name} did not register with RQ within {START_TIMEOUT:.0f} s:\n{self.log_tail()}")

    def _registered(self) -> bool:
        connection = Redis.from_url(self.redis_url, socket_connect_timeout=2, socket_timeout=2)
        try:
            return any(worker.pid == self.process.pid for worker in Worker.all(connection=connection))
        except Exception:  # Redis not answering yet: not registered
            return False
        finally:
            connection.close()

    def pids(self) -> set[int]:
        """The worker, its work horse and their children: who may own a running step."""
        if not self.alive():
            return set()
        return {self.process.pid, *descendants(self.process.pid)}

    @property
    def process(self):
        return self.worker.process

    def kill(self) -> None:
        """The worker, its work horse and ffmpeg (tests/services/workers.py)."""
        self.worker.kill()

    def stop(self) -> None:
        self.worker.stop()


class AgentPart(Part):
    """`fullrecord station run --delete-after-receipt` (not --once), as on a station host."""
    name = "agent"

    def __init__(self, config: Path, api_url: str, token_file: Path, watch: Path, log: Path):
        super().__init__()
        self.config, self.api_url, self.token_file, self.watch, self.log = config, api_url, token_file, watch, log
        self._process: subprocess.Popen | None = None

    @property
    def process(self):
        return self._process

    @property
    def journal(self) -> Path:
        return self.watch.parent / f".{self.watch.name}.fullrecord-station.db"

    def start(self) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith("FULLRECORD_")}
        env["FULLRECORD_CONFIG"] = str(self.config)
        with open(self.log, "ab") as log:
            self._process = subprocess.Popen(
                [fullrecord_script(), "station", "run", "--server", self.api_url, "--token-file", str(self.token_file),
                 "--watch", str(self.watch), "--delete-after-receipt", "--no-progress"],
                env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)

    def stop(self) -> None:
        """SIGTERM: it stops between chunks (as systemd stops it)."""
        if not self.alive():
            return
        os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(60)
        except subprocess.TimeoutExpired:
            self.kill()


def _kill_group(process: subprocess.Popen | None) -> None:
    if process is None:
        return
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass  # already gone
    process.wait(10)


@dataclass
class Crash:
    part: str
    at: float
    returncode: int | None
    log_tail: str


class Supervisor(threading.Thread):
    """Restarts a part that exited on its own (not killed by the driver) and records the crash."""

    def __init__(self, parts: list[Part]):
        super().__init__(name="fault-campaign-supervisor", daemon=True)
        self.parts = parts
        self.crashes: list[Crash] = []
        self.stopping = threading.Event()

    def run(self) -> None:
        while not self.stopping.wait(0.5):
            for part in self.parts:
                if not part.lock.acquire(blocking=False):
                    continue  # the driver has it down on purpose
                try:
                    if not part.alive() and not self.stopping.is_set():
                        self._restart(part)
                finally:
                    part.lock.release()

    def _restart(self, part: Part) -> None:
        code = part.process.returncode if part.process is not None else None
        self.crashes.append(Crash(part.name, time.time(), code, part.log_tail()))
        print(f"[supervisor] {part.name} exited on its own (code {code}); restarting it", flush=True)
        try:
            part.start()
        except START_FAILURES as exc:  # recorded: the next round tries again
            self.crashes.append(Crash(part.name, time.time(), None, f"restart failed: {exc}"))


class Stack:
    """Everything the campaign runs; build() starts it in order, close() stops whatever is running."""

    def __init__(self, tmp_path: Path):
        self.tmp = tmp_path
        self.watch = tmp_path / "dock"
        self.token_file = tmp_path / "station.token"
        self.parts: list[Part] = []
        self.proxy: Nginx | None = None
        self.supervisor: Supervisor | None = None
        self.rt: Runtime | None = None

    def build(self, make_settings, database_url: str) -> "Stack":
        tmp = self.tmp
        self.watch.mkdir()
        if os.geteuid() != 0:  # a skipped campaign must not read as a passed one
            pytest.fail("the fault campaign gives each API node its own host name (unshare --uts) and so "
                        "must run as root (as CI does)")
        self.redis = self._started(RedisPart(tmp / "redis"))
        self.store = self._started(StorePart(tmp / "seaweedfs"))
        s3 = self.store.seaweed.server.settings("evidence")
        self.settings = make_settings(**{
            "database.url": database_url, "redis.url": self.redis.url, "object_store.backend": "s3",
            **{f"object_store.s3.{key}": value for key, value in s3.items()},
            **RECOVERY_SETTINGS, **STATION_SETTINGS})
        self.config = write_config(self.settings, tmp / "config.yaml")
        self.env = {"FULLRECORD_CONFIG": str(self.config)}
        self.rt = Runtime(self.settings)
        self._prepare_database()
        self.apis = [self._started(ApiPart(name, self.env, tmp / name)) for name in API_NODES]
        self.proxy = Nginx(tmp / "nginx", [api.server.port for api in self.apis]).start()
        self.url = self.proxy.url
        self.workers = [self._started(WorkerPart(index, self.config, tmp / f"worker-{index}.log", self.redis.url))
                        for index in range(WORKERS)]
        self.agent = AgentPart(self.config, self.url, self.token_file, self.watch, tmp / "agent.log")
        return self

    def _started(self, part):
        self.parts.append(part)
        part.start()
        return part

    def _prepare_database(self) -> None:
        add_user = ("admin", "add-user", ADMIN, "--role", "admin", "--password-stdin")
        for argv, stdin in ((("db", "upgrade"), None), (add_user, ADMIN_PASSWORD + "\n")):
            done = run_cli(*argv, env=self.env, input=stdin)
            assert done.returncode == 0, done.stderr
        added = run_cli("admin", "add-station", "故障演练采集站", env=self.env)
        assert added.returncode == 0, added.stderr
        self.token_file.write_text(added.stdout.strip().splitlines()[-1] + "\n")

    def start_agent_and_supervise(self) -> None:
        """The agent last (the casework is in place), then every part is watched for crashes."""
        self._started(self.agent)
        self.supervisor = Supervisor(self.parts)
        self.supervisor.start()

    def part(self, name: str) -> Part:
        [found] = [part for part in self.parts if part.name == name]
        return found

    def admin_headers(self) -> dict:
        answer = requests.post(f"{self.url}/api/v1/auth/tokens",
                               json={"username": ADMIN, "password": ADMIN_PASSWORD}, timeout=30)
        assert answer.status_code == 201, answer.text
        return {"Authorization": f"Bearer {answer.json()['token']}"}

    def stop_supervising(self) -> None:
        if self.supervisor is not None:
            self.supervisor.stopping.set()
            self.supervisor.join(120)

    def keep_logs(self, directory: Path) -> None:
        """Every part's log (and the audit report) copied where they outlive the temp dir."""
        shutil.rmtree(directory, ignore_errors=True)
        directory.mkdir(parents=True)
        logs = {f"{part.name.replace(' ', '-')}.log": part.log for part in self.parts}
        logs.update({"nginx-access.log": self.tmp / "nginx" / "access.log", "audit.json": self.tmp / "audit.json"})
        for name, path in logs.items():
            if path.exists():
                shutil.copy(path, directory / name)

    def close(self) -> None:
        self.stop_supervising()
        for part in reversed(self.parts):
            try:
                part.stop()
            except Exception as exc:  # the others must still be stopped
                print(f"stopping {part.name} failed: {exc}", flush=True)
        if self.proxy is not None:
            self.proxy.stop()
        if self.rt is not None:
            self.rt.close()
