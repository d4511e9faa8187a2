"""`fullrecord up`: the whole stack on embedded defaults, and nothing left behind when it stops."""
import json
import os
import signal
import subprocess
import threading
import time
import urllib.error
import urllib.request

import pytest

from tests.cli import fullrecord_script
from tests.services.ports import free_port

pytestmark = pytest.mark.slow


def descendants(pid: int) -> set[int]:
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as handle:
                fields = handle.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(entry))
    found, todo = set(), [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.add(child)
            todo.append(child)
    return found


def alive(pids) -> set[int]:
    living = set()
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat") as handle:
                if handle.read().rsplit(")", 1)[1].split()[0] != "Z":
                    living.add(pid)
        except OSError:
            pass
    return living


def wait_healthy(port: int, process, timeout=60) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert process.poll() is None, process.output.text(timeout=5)
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as answer:
                return json.load(answer)
        except (urllib.error.URLError, OSError):
            time.sleep(0.3)
    raise AssertionError("the stack did not become healthy")


class Output:
    """Collects a process's output in the background, so a test can wait for a line."""

    def __init__(self, stream):
        self.lines: list[str] = []
        self._thread = threading.Thread(target=lambda: self.lines.extend(stream), daemon=True)
        self._thread.start()

    def wait_for(self, marker: str, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while not any(marker in line for line in self.lines):
            assert time.monotonic() < deadline, f"no {marker!r} in output:\n{self.text()}"
            time.sleep(0.1)

    def text(self, timeout: float = 0) -> str:
        self._thread.join(timeout)
        return "".join(self.lines)


def start_up(tmp_path):
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("FULLRECORD_")}
    process = subprocess.Popen([fullrecord_script(), "up", "--port", str(port), "--data", str(tmp_path / "data")],
                               env=env, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                               text=True, start_new_session=True)
    process.output = Output(process.stdout)
    return port, process


def interrupt(process) -> str:
    process.send_signal(signal.SIGINT)
    process.wait(60)
    return process.output.text(timeout=10)


def wait_gone(pids, timeout=30) -> set[int]:
    deadline = time.monotonic() + timeout
    while alive(pids) and time.monotonic() < deadline:
        time.sleep(0.2)
    return alive(pids)


def test_up_serves_all_green_and_ctrl_c_leaves_no_process(tmp_path):
    port, process = start_up(tmp_path)
    try:
        health = wait_healthy(port, process)
        assert health["status"] == "ok"
        assert all(check["status"] == "ok" for check in health["checks"].values())
        assert "redis.sock" in health["checks"]["redis"]["address"]
        children = descendants(process.pid)
        assert len(children) >= 3  # redis-server, the API, the worker
        process.output.wait_for("admin add-station")
    finally:
        output = interrupt(process)
    assert process.returncode == 0, output
    assert wait_gone(children) == set()
    assert "admin add-user" in output and "/api/v1/auth/tokens" in output
    assert (tmp_path / "data" / "fullrecord.db").exists()


def test_children_stop_even_if_up_is_killed(tmp_path):
    port, process = start_up(tmp_path)
    wait_healthy(port, process)
    children = descendants(process.pid)
    process.kill()
    process.wait()
    leftover = wait_gone(children)
    for pid in leftover:
        os.kill(pid, signal.SIGKILL)
    assert leftover == set()


def test_second_run_reuses_the_data(tmp_path):
    for _ in range(2):
        port, process = start_up(tmp_path)
        try:
            wait_healthy(port, process)
            process.output.wait_for("admin add-station")
        finally:
            output = interrupt(process)
        assert process.returncode == 0, output
    assert "已创建数据库" not in output and "Created the database" not in output


def test_up_refuses_to_start_when_the_database_is_unreachable(tmp_path):
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("FULLRECORD_")}
    env["FULLRECORD_DATABASE_URL"] = f"postgresql+psycopg://fr:pw@127.0.0.1:{port}/fr"
    process = subprocess.Popen([fullrecord_script(), "up", "--port", str(free_port()),
                                "--data", str(tmp_path / "data")], env=env, cwd=tmp_path,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    seen: set[int] = set()
    while process.poll() is None:  # collect the children it starts, to check they are gone
        seen |= descendants(process.pid)
        time.sleep(0.05)
    _, errors = process.communicate()
    assert process.returncode == 1
    lines = errors.strip().splitlines()
    assert len(lines) == 1 and f"database unreachable at postgresql+psycopg://fr:***@127.0.0.1:{port}" in lines[0]
    assert wait_gone(seen) == set()


def run_up_expecting_failure(tmp_path, port) -> str:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FULLRECORD_")}
    result = subprocess.run([fullrecord_script(), "up", "--port", str(port), "--data", str(tmp_path / "data")],
                            env=env, cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert result.returncode == 1, result.stdout + result.stderr
    return result.stderr


def test_up_stops_cleanly_when_the_port_is_taken(tmp_path):
    import socket
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        errors = run_up_expecting_failure(tmp_path, taken.getsockname()[1])
    assert "fullrecord: api exited at start" in errors


def test_a_second_up_on_the_same_data_is_refused(tmp_path):
    port, first = start_up(tmp_path)
    try:
        wait_healthy(port, first)
        errors = run_up_expecting_failure(tmp_path, free_port())
        assert "already running" in errors
        assert wait_healthy(port, first)["status"] == "ok"  # the first stack is untouched
    finally:
        interrupt(first)
    assert first.returncode == 0
