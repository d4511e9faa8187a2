"""A collection station against the production server: `fullrecord serve` (killable, restartable
on its port) and the agent run as a user would (`fullrecord station run` in its own process)."""
from __future__ import annotations

import hashlib
import os
import signal
import sqlite3
import subprocess
import time
from pathlib import Path

import pytest
import requests
import yaml

from server.settings import SOURCE_CONFIG
from tests.cli import fullrecord_script, run_cli
from tests.services.ports import free_port
from tests.services.serve import Server

PASSWORD = "station-tests-admin-pw"
FAST_STATION = {"stable_seconds": 0.3, "scan_seconds": 0.2, "report_seconds": 1,
                "retry_backoff_seconds": [0.3, 0.6, 1.0], "chunk_bytes": 256 * 1024, "request_timeout_seconds": 10}


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class StationWorld:
    def __init__(self, tmp_path: Path, database_url: str, redis_url: str):
        self.tmp = tmp_path
        self.watch = tmp_path / "dock"
        self.watch.mkdir()
        self.config_path = tmp_path / "config.yaml"
        self.database_url = database_url
        self.env = {"FULLRECORD_DATA_DIR": str(tmp_path / "data"), "FULLRECORD_DATABASE_URL": database_url,
                    "FULLRECORD_REDIS_URL": redis_url, "FULLRECORD_CONFIG": str(self.config_path)}
        self.configure()
        assert run_cli("db", "upgrade", env=self.env).returncode == 0
        assert run_cli("custody", "keygen", env=self.env).returncode == 0
        added = run_cli("admin", "add-station", "采集站-一号", env=self.env)
        assert added.returncode == 0, added.stderr
        self.token_file = tmp_path / "station.token"
        self.token_file.write_text(added.stdout.strip().splitlines()[-1] + "\n")
        self.token_id = added.stdout.split("令牌编号 ")[1].split("）")[0]
        user = run_cli("admin", "add-user", "admin1", "--role", "admin", "--password-stdin",
                       env=self.env, input=PASSWORD + "\n")
        assert user.returncode == 0, user.stderr
        self.server = Server(self.env, free_port())
        self.server.start()
        self._admin = None
        self.agents: list[subprocess.Popen] = []

    def configure(self, **station) -> None:
        config = yaml.safe_load(SOURCE_CONFIG.read_text(encoding="utf-8"))
        config["station"].update({**FAST_STATION, **station})
        self.config_path.write_text(yaml.safe_dump(config, allow_unicode=True), encoding="utf-8")

    @property
    def url(self) -> str:
        return self.server.url

    def admin(self) -> dict:
        if self._admin is None:
            answer = requests.post(f"{self.url}/api/v1/auth/tokens", json={"username": "admin1", "password": PASSWORD},
                                   timeout=30)
            assert answer.status_code == 201, answer.text
            self._admin = {"Authorization": f"Bearer {answer.json()['token']}"}
        return self._admin

    def register(self, serial: str) -> None:
        answer = requests.put(f"{self.url}/api/v1/devices/{serial}", json={"model": "DSJ-V8"}, headers=self.admin(),
                              timeout=30)
        assert answer.status_code in (200, 201), answer.text

    def put(self, relative: str, data: bytes, age: float = 60) -> Path:
        """A recording as the docking software leaves it (mtime in the past: already stable)."""
        path = self.watch / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        moment = time.time() - age
        os.utime(path, (moment, moment))
        return path

    def clips(self, digest: str) -> list[dict]:
        answer = requests.get(f"{self.url}/api/v1/clips", params={"sha256": digest}, headers=self.admin(), timeout=30)
        assert answer.status_code == 200, answer.text
        return answer.json()

    def admin_get(self, path: str):
        answer = requests.get(f"{self.url}{path}", headers=self.admin(), timeout=30)
        assert answer.status_code == 200, answer.text
        return answer.json()

    def argv(self, *extra: str, once: bool = True) -> list[str]:
        return [fullrecord_script(), "station", "run", "--server", self.url, "--token-file", str(self.token_file),
                "--watch", str(self.watch), "--no-progress", *(("--once",) if once else ()), *extra]

    def start_agent(self, *extra: str, log_name: str = "agent.log", once: bool = True) -> subprocess.Popen:
        env = {k: v for k, v in os.environ.items() if not k.startswith("FULLRECORD_")}
        env["FULLRECORD_CONFIG"] = str(self.config_path)  # the agent shares only the config file
        log = open(self.tmp / log_name, "ab")
        process = subprocess.Popen(self.argv(*extra, once=once), env=env, stdout=log, stderr=subprocess.STDOUT,
                                   start_new_session=True)
        log.close()
        self.agents.append(process)
        return process

    def run_agent(self, *extra: str, timeout: float = 120, log_name: str = "agent.log") -> str:
        """Run `station run --once` to its end; its output."""
        process = self.start_agent(*extra, log_name=log_name)
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill(process)
            pytest.fail(f"the agent did not finish in {timeout} s:\n{self.log(log_name)[-3000:]}")
        output = self.log(log_name)
        assert process.returncode == 0, output[-3000:]
        return output

    def log(self, name: str = "agent.log") -> str:
        path = self.tmp / name
        return path.read_text(encoding="utf-8", errors="replace") if path.exists() else ""

    @staticmethod
    def kill(process: subprocess.Popen) -> None:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()

    @property
    def journal_path(self) -> Path:
        return self.watch.parent / f".{self.watch.name}.fullrecord-station.db"

    def journal_rows(self) -> dict[str, dict]:
        """The journal as another process sees it (read-only)."""
        if not self.journal_path.exists():
            return {}
        with sqlite3.connect(f"file:{self.journal_path}?mode=ro", uri=True, timeout=10) as db:
            db.row_factory = sqlite3.Row
            try:
                return {row["path"]: dict(row) for row in db.execute("SELECT * FROM files")}
            except sqlite3.OperationalError:  # not created yet
                return {}

    def wait_for(self, condition, timeout: float = 60, what: str = "the condition"):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            value = condition()
            if value:
                return value
            time.sleep(0.05)
        pytest.fail(f"timed out waiting for {what}:\n{self.log()[-3000:]}")

    def status(self, *extra: str):
        env = {"FULLRECORD_CONFIG": str(self.config_path)}
        return run_cli("station", "status", "--watch", str(self.watch), *extra, env=env)

    def close(self) -> None:
        for process in self.agents:
            self.kill(process)
        if self.server.process is not None and self.server.process.poll() is None:
            self.server.kill()


@pytest.fixture
def world(tmp_path, redis_url):
    built = StationWorld(tmp_path, f"sqlite:///{tmp_path / 'server.db'}", redis_url)
    yield built
    built.close()
