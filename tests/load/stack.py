"""The production stack of the load run, set up as an operator would: one config file for every
process; `fullrecord db upgrade`, `custody keygen`, `admin add-user`, `admin add-station` per
station (its token is the last line printed); `fullrecord serve` and N `fullrecord worker`s;
recorders registered through the API."""
from __future__ import annotations

import re
import shutil
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import requests

from server.settings import SOURCE_CONFIG, load_settings
from tests.cli import run_cli
from tests.services.ports import free_port
from tests.services.serve import Server
from tests.services.workers import WorkerProcess, write_config

ADMIN, PASSWORD = "load-admin", "load-run-admin-password"
DEVICES_PER_STATION = 2
PROBLEM = re.compile(r"Traceback|\b(ERROR|CRITICAL|WARNING)\b|\[ERROR\]|\[CRITICAL\]|\[WARNING\]")
"""A log line of a problem: Python logging's and gunicorn's levels, and tracebacks."""
SETUP_PARALLEL = 2
"""CLI commands run side by side while setting up (the machine has 2 cores)."""


class LoadStack:
    def __init__(self, directory: Path, *, postgres_url: str, redis_url: str, s3: dict, workers: int):
        self.directory = directory
        directory.mkdir(parents=True, exist_ok=True)
        values = {"data_dir": str(directory / "data"), "database.url": postgres_url, "redis.url": redis_url,
                  "object_store.backend": "s3", **{f"object_store.s3.{k}": v for k, v in s3.items()},
                  "custody.signing_key": str(directory / "keys" / "custody-signing-key.pem"),
                  # Cheap password hashing: the admin signs in once; nothing else uses passwords.
                  "auth.password_memory_cost": 8192, "auth.password_time_cost": 1,
                  "audit.nightly.enabled": False}
        self.settings = load_settings(SOURCE_CONFIG, env={}, overrides=values)
        self.config = write_config(self.settings, directory / "config.yaml")
        self.env = {"FULLRECORD_CONFIG": str(self.config)}
        self.server = Server(self.env, free_port(), log=directory / "serve.log")
        self.workers = [WorkerProcess(self.config, directory / f"worker-{n}.log") for n in range(workers)]
        self._admin: dict | None = None

    @property
    def url(self) -> str:
        return self.server.url

    def cli(self, *args: str, input: str | None = None) -> str:
        done = run_cli(*args, env=self.env, input=input)
        assert done.returncode == 0, f"fullrecord {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}"
        return done.stdout

    def prepare(self, stations: int) -> list[str]:
        """Schema, signing key, admin and stations; the stations' tokens."""
        self.cli("db", "upgrade")
        self.cli("custody", "keygen")
        self.cli("admin", "add-user", ADMIN, "--role", "admin", "--password-stdin", input=PASSWORD + "\n")
        names = [f"负载采集站-{number:02d}-{uuid.uuid4().hex[:6]}" for number in range(stations)]
        with ThreadPoolExecutor(SETUP_PARALLEL) as pool:
            outputs = list(pool.map(lambda name: self.cli("admin", "add-station", name), names))
        return [output.strip().splitlines()[-1] for output in outputs]

    def start(self) -> None:
        self.server.start()
        for worker in self.workers:
            worker.start()

    def admin(self) -> dict:
        if self._admin is None:
            answer = requests.post(f"{self.url}/api/v1/auth/tokens", json={"username": ADMIN, "password": PASSWORD},
                                   timeout=30)
            assert answer.status_code == 201, answer.text
            self._admin = {"Authorization": f"Bearer {answer.json()['token']}"}
        return self._admin

    def register_devices(self, stations: int) -> list[list[str]]:
        """Each station's recorders, registered through the API."""
        serials = [[f"DSJ-L{station:03d}-{n}" for n in range(DEVICES_PER_STATION)] for station in range(stations)]
        with requests.Session() as session:
            for serial in (serial for group in serials for serial in group):
                answer = session.put(f"{self.url}/api/v1/devices/{serial}", json={"model": "DSJ-V8"},
                                     headers=self.admin(), timeout=30)
                assert answer.status_code in (200, 201), answer.text
        return serials

    def stop(self) -> None:
        for worker in self.workers:
            worker.stop()
        self.server.stop()

    def keep_logs(self, destination: Path) -> Path:
        """Copy the server's and workers' logs out of the temp dir (pytest prunes old ones)."""
        shutil.rmtree(destination, ignore_errors=True)
        destination.mkdir(parents=True)
        for log in [self.server.log, *(worker.log for worker in self.workers)]:
            if log.exists():
                shutil.copy2(log, destination / log.name)
        return destination

    def log_problems(self) -> dict[str, int]:
        """Lines of each log that report an error or a traceback (0 everywhere in a clean run)."""
        counts = {}
        for log in [self.server.log, *(worker.log for worker in self.workers)]:
            text = log.read_text(errors="replace") if log.exists() else ""
            counts[log.name] = sum(1 for line in text.splitlines() if PROBLEM.search(line))
        return counts

    def log_tails(self, lines: int = 40) -> str:
        parts = [f"--- {worker.log.name}\n{worker.log_tail(lines)}" for worker in self.workers]
        try:
            serve = "\n".join(self.server.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            serve = "(no log)"
        return "\n".join([f"--- serve.log\n{serve}", *parts])
