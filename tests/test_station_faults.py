"""The station agent's faults, each against the real production server: kill -9 of the agent
mid-upload, the server down for a while, a chunk damaged in transit, a file deleted or
truncated mid-upload, and a journal on a read-only or full disk."""
import json
import os
import socket
import sqlite3
import subprocess
import threading

import pytest
import requests

from tests.services.disks import small_disk  # noqa: F401  (fixture)
from tests.cli import run_cli
from tests.services.ports import free_port
from tests.station_world import sha256, world  # noqa: F401  (fixture)

pytestmark = pytest.mark.slow
MiB = 1024 * 1024
SLOW = {"bandwidth_limit_bytes_per_second": MiB}


def server_uploads(world, filename: str) -> list[tuple]:
    with sqlite3.connect(world.database_url.removeprefix("sqlite:///")) as db:
        return db.execute("SELECT status, upload_offset, length FROM uploads WHERE filename = ?", (filename,)).fetchall()


def offset_of(world, path: str) -> int:
    row = world.journal_rows().get(path)
    return row["upload_offset"] if row and row["state"] == "uploading" else 0


def slow_upload(world, size: int, until: int = 512 * 1024):
    """One recording sent at 1 MiB/s by an agent, once `until` bytes of it are at the server."""
    path = "DSJ-001/DSJ-001_8001_20261120101500_0001.MP4"
    data = os.urandom(size)
    world.put(path, data)
    world.configure(**SLOW)
    agent = world.start_agent()
    world.wait_for(lambda: offset_of(world, path) >= until, what=f"{until} bytes sent")
    return path, data, agent


def test_kill_9_mid_upload_then_restart_resumes_at_the_offset(world):
    path, data, agent = slow_upload(world, 6 * MiB, until=2 * MiB)
    name = path.split("/")[-1]
    world.kill(agent)  # kill -9: no chance to tidy up
    killed_at = world.journal_rows()[path]["upload_offset"]
    assert 2 * MiB <= killed_at < len(data)

    world.configure()
    output = world.run_agent(log_name="restart.log")
    assert "resuming at the server's offset" in output
    resumed_at = int(output.split("resuming at the server's offset ")[1].split()[0])
    assert resumed_at >= killed_at  # the server had at least what the journal recorded
    [clip] = world.clips(sha256(data))
    assert clip["size"] == len(data) and clip["filename"] == name
    assert server_uploads(world, name) == [("completed", len(data), len(data))]  # one upload, continued


def test_server_down_for_a_while_the_agent_retries_then_completes(world):
    first, second = os.urandom(3 * MiB), os.urandom(MiB)
    world.put("DSJ-001/DSJ-001_8001_20261120101500_0001.MP4", first)
    world.put("DSJ-001/DSJ-001_8001_20261120101600_0002.MP4", second)
    world.configure(**SLOW, parallel_uploads=1, order="oldest")
    agent = world.start_agent()
    world.wait_for(lambda: offset_of(world, "DSJ-001/DSJ-001_8001_20261120101500_0001.MP4") >= MiB,
                   what="1 MiB sent")
    world.server.kill()
    world.wait_for(lambda: world.log().count("retrying in") >= 3, what="three retries while the server is down")
    assert agent.poll() is None  # still running: it waits for the server
    world.server.start()
    agent.wait(120)
    assert agent.returncode == 0, world.log()[-3000:]
    assert "server_unreachable" not in world.log()
    assert len(world.clips(sha256(first))) == 1 and len(world.clips(sha256(second))) == 1
    assert {row["state"] for row in world.journal_rows().values()} == {"done"}


def test_a_revoked_token_leaves_every_file_waiting_with_the_reason(world):
    world.put("DSJ-001/DSJ-001_8001_20261120101500_0001.MP4", os.urandom(1000))
    revoked = run_cli("admin", "revoke-token", world.token_id, env=world.env)
    assert revoked.returncode == 0, revoked.stderr
    agent = world.start_agent(once=False)
    rows = world.wait_for(lambda: [r for r in world.journal_rows().values() if r["attempts"] >= 2], what="retries")
    assert rows[0]["state"] in ("ready", "uploading") and "HTTP 401" in rows[0]["reason"]  # waiting, not failed
    assert agent.poll() is None


def test_bytes_sent_by_someone_else_make_the_agent_go_on_from_the_servers_offset(world):
    """A second sender on the same upload (a copy of the station's journal on another machine):
    the agent's next PATCH is refused with 409, it asks the server where the upload stands and
    continues from there; the clip is whole and single."""
    path, data, agent = slow_upload(world, 4 * MiB)
    url = world.journal_rows()[path]["upload_url"]
    headers = {"Tus-Resumable": "1.0.0", "Authorization": f"Bearer {world.token_file.read_text().strip()}"}

    def send_one_piece():
        offset = int(requests.head(url, headers=headers, timeout=10).headers["Upload-Offset"])
        answer = requests.patch(url, data=data[offset:offset + 64 * 1024], timeout=10, headers={
            **headers, "Upload-Offset": str(offset), "Content-Type": "application/offset+octet-stream"})
        return answer.status_code == 204  # 423 or 409 while the agent's own PATCH is in: try again
    world.wait_for(send_one_piece, what="a PATCH of our own between the agent's")
    agent.wait(120)
    assert agent.returncode == 0, world.log()[-3000:]
    log = world.log()
    # The agent meets our bytes as a 409 on its next PATCH (and goes on from the server's offset)
    # or, when its PATCH arrived while ours held the upload's lock, as a 423 and a resume from HEAD.
    assert "going on from its offset" in log or "HTTP 423" in log, log[-3000:]
    [clip] = world.clips(sha256(data))
    assert clip["size"] == len(data)
    assert server_uploads(world, "DSJ-001_8001_20261120101500_0001.MP4") == [("completed", len(data), len(data))]


class CorruptingProxy:
    """A TCP proxy that flips one byte of the first tus PATCH body it carries, once: damage in
    transit that a real server and network cannot be made to produce on demand (a fake fault,
    placed between two real parts)."""

    def __init__(self, target_port: int):
        self.target_port = target_port
        self.port = free_port()
        self.corrupted = 0
        self._lock = threading.Lock()
        self.listener = socket.create_server(("127.0.0.1", self.port))
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            upstream = socket.create_connection(("127.0.0.1", self.target_port))
            threading.Thread(target=self._pump, args=(client, upstream, True), daemon=True).start()
            threading.Thread(target=self._pump, args=(upstream, client, False), daemon=True).start()

    def _pump(self, source, sink, to_server):
        seen = b""
        try:
            while data := source.recv(65536):
                if to_server and not self.corrupted:
                    seen = (seen + data)[-200_000:]
                    marker = seen.find(b"\r\n\r\n", seen.lower().find(b"upload-checksum"))
                    if seen.lower().find(b"upload-checksum") >= 0 and marker >= 0 and len(seen) > marker + 5000:
                        with self._lock:
                            if not self.corrupted:
                                index = len(data) - 1
                                data = data[:index] + bytes([data[index] ^ 0xFF]) + data[index + 1:]
                                self.corrupted += 1
                sink.sendall(data)
        except OSError:  # either side closed the connection: this pump's work is over
            return
        finally:
            for end in (source, sink):
                try:
                    end.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def close(self):
        self.listener.close()


def test_a_chunk_damaged_in_transit_is_re_read_and_re_sent(world):
    proxy = CorruptingProxy(world.server.port)
    data = os.urandom(2 * MiB)
    world.put("DSJ-001/DSJ-001_8001_20261120101500_0001.MP4", data)
    real_url = world.server.url
    world.server.url = f"http://127.0.0.1:{proxy.port}"  # the agent talks through the proxy
    try:
        output = world.run_agent()
    finally:
        world.server.url = real_url
        proxy.close()
    assert proxy.corrupted == 1
    assert "rejected the checksum of the chunk" in output
    [clip] = world.clips(sha256(data))
    assert clip["size"] == len(data)
    assert {row["state"] for row in world.journal_rows().values()} == {"done"}


def test_a_file_deleted_or_truncated_mid_upload_fails_with_its_reason_and_the_rest_goes_on(world):
    names = {key: f"DSJ-00{index}/DSJ-00{index}_8001_20261120101500_0001.MP4"
             for index, key in enumerate(("deleted", "truncated", "fine"), start=1)}
    fine = os.urandom(3 * MiB)
    world.put(names["deleted"], os.urandom(3 * MiB))
    world.put(names["truncated"], os.urandom(3 * MiB))
    world.put(names["fine"], fine)
    world.configure(bandwidth_limit_bytes_per_second=3 * MiB // 2, parallel_uploads=3)
    agent = world.start_agent()
    world.wait_for(lambda: all(offset_of(world, path) >= 256 * 1024 for path in names.values()),
                   what="all three uploading")
    os.remove(world.watch / names["deleted"])
    with open(world.watch / names["truncated"], "r+b") as handle:
        handle.truncate(1000)
    agent.wait(120)
    assert agent.returncode == 0, world.log()[-3000:]

    rows = world.journal_rows()
    assert rows[names["deleted"]]["state"] == "failed"
    assert rows[names["deleted"]]["reason"] == "文件在上传完成前被删除"
    assert rows[names["fine"]]["state"] == "done" and len(world.clips(sha256(fine))) == 1
    failures = {item["path"]: item["reason"] for item in json.loads(world.status("--json").stdout)["failures"]}
    assert failures[names["truncated"]] == "文件在上传完成前被截短（3145728 字节 → 1000 字节）"
    # what is left of the truncated file is a recording of its own now: kept and uploaded as it is
    assert rows[names["truncated"]]["state"] == "done"
    truncated = (world.watch / names["truncated"]).read_bytes()
    assert len(world.clips(sha256(truncated))) == 1
    status = world.status("--state", "failed")
    assert "文件在上传完成前被删除" in status.stdout and names["deleted"] in status.stdout


def test_a_file_that_changes_mid_upload_is_hashed_again_and_never_sent_half_old(world):
    path, first, agent = slow_upload(world, 3 * MiB)
    more = os.urandom(MiB)
    with open(world.watch / path, "ab") as handle:  # the docking software was not finished after all
        handle.write(more)
    agent.wait(120)
    assert agent.returncode == 0, world.log()[-3000:]
    assert world.clips(sha256(first)) == []  # the half-old version never became evidence
    [clip] = world.clips(sha256(first + more))
    assert clip["size"] == len(first) + len(more)
    statuses = sorted(status for status, _, _ in server_uploads(world, "DSJ-001_8001_20261120101500_0001.MP4"))
    assert statuses == ["completed", "terminated"]  # the old partial upload was closed at the server


def test_a_read_only_journal_disk_is_a_clear_error(world, small_disk):
    read_only = small_disk("ro", "1m", "ro")
    world.configure(journal=str(read_only / "journal.db"))
    world.put("DSJ-001/DSJ-001_8001_20261120101500_0001.MP4", os.urandom(1000))
    process = world.start_agent()
    process.wait(60)
    assert process.returncode == 1
    output = world.log()
    assert f"cannot open the station journal {read_only / 'journal.db'}" in output
    assert "writable directory with free disk space" in output and "Traceback" not in output


def test_a_full_journal_disk_is_a_clear_error(world, small_disk):
    disk = small_disk("journal", "512k")
    world.configure(journal=str(disk / "journal.db"))
    world.put("DSJ-001/DSJ-001_8001_20261120101500_0001.MP4", os.urandom(10))
    process = world.start_agent("--delete-after-receipt", once=False)
    world.wait_for(lambda: not (world.watch / "DSJ-001/DSJ-001_8001_20261120101500_0001.MP4").exists(),
                   what="the first file done")
    subprocess.run(["dd", "if=/dev/zero", f"of={disk / 'filler'}", "bs=4k"], capture_output=True)  # until full
    for index in range(300):
        world.put(f"DSJ-001/DSJ-001_8001_20261121{index // 60:02d}{index % 60:02d}00_{index:04d}.MP4", os.urandom(10))
    process.wait(120)
    output = world.log()
    assert process.returncode == 1, output[-2000:]
    assert f"station journal {disk / 'journal.db'}" in output and "full" in output
    assert "free some space" in output and "Traceback" not in output
