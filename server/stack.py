"""`fullrecord up`: the whole stack in the foreground on embedded defaults.

Starts a private redis-server on a unix socket in the data directory, then the API
(`fullrecord serve`) and one worker (`fullrecord worker`) as child processes. Each
child runs in its own session and is told by the kernel to stop if this process dies
(PR_SET_PDEATHSIG), so Ctrl-C, SIGTERM or even SIGKILL of `up` leaves nothing behind.
"""
from __future__ import annotations

import ctypes
import os
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from redis import Redis
from redis.exceptions import RedisError

STOP_TIMEOUT = 15.0
"""Seconds a child gets to stop after SIGTERM before it is killed."""
READY_TIMEOUT = 30.0
"""Seconds redis-server and the API get to start answering."""
_PR_SET_PDEATHSIG = 1


class StackError(Exception):
    """The stack could not start; the message names the part."""


def die_with_parent() -> None:
    """Ask the kernel to send SIGTERM to this process when its parent dies (Linux)."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


@dataclass
class Child:
    name: str
    process: subprocess.Popen
    log: Path | None = None

    def running(self) -> bool:
        return self.process.poll() is None

    def stop(self) -> None:
        if not self.running():
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()


@dataclass
class Stack:
    data_dir: Path
    host: str
    port: int
    config: str | None = None
    children: list[Child] = field(default_factory=list)

    @property
    def redis_socket(self) -> Path:
        return self.data_dir / "redis" / "redis.sock"

    @property
    def child_env(self) -> dict:
        env = dict(os.environ)
        env["FULLRECORD_DATA_DIR"] = str(self.data_dir)
        env["FULLRECORD_REDIS_URL"] = f"unix://{self.redis_socket}?db=0"
        if self.config:
            env["FULLRECORD_CONFIG"] = self.config
        env["PYTHONUNBUFFERED"] = "1"
        return env

    def _spawn(self, name: str, argv: list[str], log: Path | None = None) -> Child:
        stdout = open(log, "ab") if log else None
        try:
            process = subprocess.Popen(argv, env=self.child_env, start_new_session=True,
                                       preexec_fn=die_with_parent, stdin=subprocess.DEVNULL,
                                       stdout=stdout, stderr=subprocess.STDOUT if stdout else None)
        finally:
            if stdout:
                stdout.close()
        child = Child(name, process, log)
        self.children.append(child)
        return child

    def start_redis(self) -> Child:
        binary = shutil.which("redis-server")
        if binary is None:
            raise StackError("redis-server is not installed: run `make up`, which installs it")
        directory = self.redis_socket.parent
        directory.mkdir(parents=True, exist_ok=True)
        if self._redis_answers():
            raise StackError(f"another `fullrecord up` is already running on {self.data_dir} "
                             f"(its Redis answers on {self.redis_socket})")
        self.redis_socket.unlink(missing_ok=True)  # left by a stack that was killed
        child = self._spawn("redis", [
            binary, "--port", "0", "--unixsocket", str(self.redis_socket), "--unixsocketperm", "700",
            "--dir", str(directory), "--appendonly", "yes", "--appendfsync", "everysec",
            "--save", "", "--daemonize", "no", "--logfile", "",
        ], log=directory / "redis.log")
        deadline = time.monotonic() + READY_TIMEOUT
        while time.monotonic() < deadline:
            if not child.running():
                tail = (directory / "redis.log").read_text(errors="replace").strip().splitlines()[-3:]
                raise StackError(f"redis-server exited at start: {' | '.join(tail)}")
            if self._redis_answers():
                return child
            time.sleep(0.1)
        raise StackError(f"redis-server did not answer on {self.redis_socket} within {READY_TIMEOUT:.0f} s")

    def _redis_answers(self) -> bool:
        if not self.redis_socket.exists():
            return False
        connection = Redis(unix_socket_path=str(self.redis_socket), socket_timeout=1)
        try:
            return bool(connection.ping())
        except (RedisError, OSError):
            return False
        finally:
            connection.close()

    def start_api(self) -> Child:
        return self._spawn("api", [*_fullrecord(), "serve", "--host", self.host, "--port", str(self.port)])

    def start_worker(self) -> Child:
        return self._spawn("worker", [*_fullrecord(), "worker"])

    def stop(self) -> None:
        for child in reversed(self.children):
            child.stop()
        self.children.clear()

    def wait(self) -> Child | None:
        """Block until a signal arrives (None) or a child exits on its own (that child)."""
        while True:
            for child in self.children:
                if not child.running():
                    return child
            time.sleep(0.5)


def _fullrecord() -> list[str]:
    return [sys.executable, "-m", "server"]


class Interrupted(Exception):
    pass


def _raise_interrupted(signum, _frame):
    raise Interrupted(signal.Signals(signum).name)


def install_signal_handlers() -> None:
    signal.signal(signal.SIGINT, _raise_interrupted)
    signal.signal(signal.SIGTERM, _raise_interrupted)
    signal.signal(signal.SIGHUP, _raise_interrupted)
