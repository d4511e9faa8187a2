"""nginx from Debian as the reverse proxy in front of the API nodes: round-robin, request bodies
streamed through (no buffering), non-idempotent requests never retried on another node by nginx
itself, so the client sees every failure and resumes as tus says. Its access log names the node
that answered each request."""
from __future__ import annotations

import os
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests

from tests.services.ports import free_port, stop, tail

LOG_FORMAT = "$request_method $uri $status $upstream_addr $upstream_status $request_length"


@dataclass
class Request:
    method: str
    path: str
    status: int
    upstreams: list[str]
    """Every node nginx tried for it (more than one when a node was down and nginx moved on)."""


class Nginx:
    def __init__(self, directory: Path, upstreams: list[int], hash_uri: bool = False):
        binary = shutil.which("nginx") or "/usr/sbin/nginx"
        if not os.path.exists(binary):
            pytest.fail("nginx is not installed: run `make cluster`, which installs it (Debian package nginx)",
                        pytrace=False)
        self.binary, self.directory, self.port = binary, directory, free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.access_log, self.error_log = directory / "access.log", directory / "error.log"
        directory.mkdir(parents=True, exist_ok=True)
        balance = "hash $request_uri consistent;" if hash_uri else ""
        servers = "\n".join(f"    server 127.0.0.1:{port} max_fails=1 fail_timeout=2s;" for port in upstreams)
        user = "user root;" if os.geteuid() == 0 else ""
        temp = "\n".join(f"  {kind}_temp_path {directory / kind};" for kind in
                         ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))
        (directory / "nginx.conf").write_text(f"""
{user}
daemon off;
worker_processes 1;
pid {directory / 'nginx.pid'};
error_log {self.error_log} warn;
events {{ worker_connections 512; }}
http {{
  log_format nodes '{LOG_FORMAT}';
  access_log {self.access_log} nodes;
{temp}
  upstream api {{
    {balance}
{servers}
  }}
  server {{
    listen 127.0.0.1:{self.port};
    client_max_body_size 0;
    proxy_request_buffering off;
    proxy_buffering off;
    proxy_http_version 1.1;
    proxy_set_header Host $http_host;
    proxy_set_header X-Forwarded-For $remote_addr;
    proxy_read_timeout 300s;
    proxy_send_timeout 300s;
    location / {{ proxy_pass http://api; }}
  }}
}}
""")
        self.process: subprocess.Popen | None = None

    def start(self) -> "Nginx":
        with open(self.directory / "nginx.out", "ab") as out:
            self.process = subprocess.Popen([self.binary, "-p", str(self.directory), "-c",
                                             str(self.directory / "nginx.conf")],
                                            stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            assert self.process.poll() is None, f"nginx exited: {tail(self.error_log)}{tail(self.directory / 'nginx.out')}"
            try:
                requests.get(f"{self.url}/healthz", timeout=5)
                return self
            except requests.ConnectionError:
                time.sleep(0.1)
        raise AssertionError(f"nginx did not answer: {tail(self.error_log)}")

    def stop(self) -> None:
        if self.process is not None:
            stop(self.process, 10)

    def requests(self) -> list[Request]:
        found = []
        for line in self.access_log.read_text().splitlines():
            method, path, status, upstream, *_ = line.split(" ")
            found.append(Request(method, path, int(status), [u.strip() for u in upstream.split(",")]))
        return found
