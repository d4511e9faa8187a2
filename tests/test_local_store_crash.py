"""A process killed in the middle of a local put leaves no visible object (a real SIGKILL,
not an exception), and the key can still be written afterwards."""
import io
import signal
import subprocess
import sys
import time

from storage.objects.local import LocalObjectStore

WRITER = """
import sys
from storage.objects.local import LocalObjectStore
store = LocalObjectStore(sys.argv[1], chunk_size=64 * 1024)
print("ready", flush=True)
store.put("derived/victim", sys.stdin.buffer)
"""


def test_killed_put_leaves_nothing_visible(tmp_path):
    root = tmp_path / "store"
    writer = subprocess.Popen([sys.executable, "-c", WRITER, str(root)], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE)
    assert writer.stdout.readline().strip() == b"ready"
    for _ in range(64):  # 4 MiB in, the put is well under way
        writer.stdin.write(b"\xab" * 65536)
    writer.stdin.flush()
    deadline = time.monotonic() + 10
    while not any((root / "tmp").iterdir()) and time.monotonic() < deadline:
        time.sleep(0.05)
    writer.send_signal(signal.SIGKILL)
    writer.wait()
    writer.stdin.close()
    writer.stdout.close()
    assert any((root / "tmp").iterdir())  # the torn temp file exists ...
    store = LocalObjectStore(root)
    assert not store.exists("derived/victim")  # ... but no object does
    assert list(store.list("")) == []
    store.put("derived/victim", io.BytesIO(b"whole"))
    assert store.read_all("derived/victim") == b"whole"
