"""`fullrecord serve` (gunicorn, the production server) as a child process on 127.0.0.1, for
tests that kill -9 it, stop it for a while and start it again on the same port."""
import os
import signal
import subprocess
import time

import requests

from tests.cli import fullrecord_script
from tests.services.ports import stop as stop_group


class Server:
    def __init__(self, env, port, log=None, prefix=()):
        """`log`: a file that gets the server's output (appended across restarts); none by default.
        `prefix`: argv that runs the server (e.g. in a UTS namespace with a host name of its own)."""
        self.env, self.port, self.process, self.prefix = env, port, None, list(prefix)
        self.log = log
        self.url = f"http://127.0.0.1:{port}"

    def start(self, healthy: bool = True):
        """Start and wait until /healthz answers 200 (or, with healthy=False, answers at all)."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("FULLRECORD_")}
        env.update(self.env)
        output = open(self.log, "ab") if self.log else subprocess.DEVNULL
        try:
            self.process = subprocess.Popen([*self.prefix, fullrecord_script(), "serve", "--port", str(self.port)], env=env,
                                            start_new_session=True, stdout=output, stderr=subprocess.STDOUT)
        finally:
            if self.log:
                output.close()
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            assert self.process.poll() is None, "fullrecord serve exited"
            try:
                status = requests.get(f"{self.url}/healthz", timeout=5).status_code
                if status == 200 or not healthy:
                    return
            except (requests.ConnectionError, requests.Timeout):  # still starting (slow on a loaded host)
                time.sleep(0.2)
        raise AssertionError("fullrecord serve did not become healthy")

    def kill(self):
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait()

    def stop(self, timeout: float = 20) -> None:
        """As an operator stops it: SIGTERM, then SIGKILL after `timeout`."""
        if self.process is not None:
            stop_group(self.process, timeout)
