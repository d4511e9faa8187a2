"""A simulated collection station: one thread doing what `fullrecord station run` does against the
server, paced like a dock, with every request timed into the shared RequestLog.

Each recording: tus POST (Upload-Metadata), PATCHes of `chunk_bytes` each with a CRC-32C
Upload-Checksum (the agent's default), the receipt on the final PATCH checked against the
declared SHA-256, then the clip read back (GET /clips/{id}) before it counts as uploaded. Every
`report_seconds` the station PUTs its agent report. Any answer other than the expected success,
and any exception or timeout, is an error.
"""
from __future__ import annotations

import base64
import random
import threading
import time
from datetime import datetime, timedelta, timezone
from urllib.parse import urljoin

import requests

from ingest.checksums import CHECKSUM_ALGORITHMS
from tests.load.recordings import distinct
from tests.load.stats import RequestLog

TUS = {"Tus-Resumable": "1.0.0"}
OFFSET_STREAM = "application/offset+octet-stream"
REQUEST_TIMEOUT = 60.0
"""Seconds a request may take before it counts as an error (the agent's own limit is 60 s)."""
CHINA = timezone(timedelta(hours=8))


def encode_metadata(values: dict) -> str:
    return ",".join(f"{key} {base64.b64encode(str(value).encode()).decode()}" for key, value in values.items())


def crc32c(chunk: bytes) -> str:
    checksum = CHECKSUM_ALGORITHMS["crc32c"]()
    checksum.update(chunk)
    return "crc32c " + base64.b64encode(checksum.digest()).decode()


class SimulatedStation(threading.Thread):
    def __init__(self, number: int, url: str, token: str, devices: list[str], base_clips, log: RequestLog,
                 stop: threading.Event, *, interval: tuple[float, float], chunk_bytes: int,
                 report_seconds: float, seed: int):
        super().__init__(name=f"station-{number}", daemon=True)
        self.number, self.url, self.devices, self.base_clips = number, url, devices, base_clips
        self.log, self.stop, self.interval = log, stop, interval
        self.chunk_bytes, self.report_seconds = chunk_bytes, report_seconds
        self.random = random.Random(seed)
        self.session = requests.Session()
        self.session.headers["Authorization"] = f"Bearer {token}"
        self.started_at = datetime.now(timezone.utc)
        self.done = self.failed = 0
        self.crash: Exception | None = None

    # -- the loop --------------------------------------------------------------

    def run(self) -> None:
        try:
            self._loop()
        except Exception as exc:  # a bug in the harness: the test reports it, not a silent thread
            self.crash = exc
        finally:
            self.session.close()

    def _loop(self) -> None:
        # Docks come and go at random: the first recording and the first report at a random offset.
        next_upload = time.monotonic() + self.random.uniform(0, self.interval[1])
        next_report = time.monotonic() + self.random.uniform(0, self.report_seconds)
        number = 0
        while not self.stop.is_set():
            now = time.monotonic()
            if now >= next_report:
                self.report()
                next_report = now + self.report_seconds
            if now >= next_upload:
                # Paced by start times, not by the gaps after each upload: a slow server does not
                # lower the offered load (it lets the station fall behind, as a busy dock would).
                next_upload = max(next_upload + self.random.uniform(*self.interval), time.monotonic())
                self.upload(number)
                number += 1
                continue
            self.stop.wait(max(0.0, min(next_upload, next_report) - time.monotonic()))

    # -- requests --------------------------------------------------------------

    def _request(self, kind: str, method: str, path: str, expected: int, check=None, **kwargs):
        """The answer if it was `expected` and `check(answer)` found nothing wrong with it (a
        check returns a description of what is wrong, or None), else None; timed and logged."""
        start = time.perf_counter()
        try:
            answer = self.session.request(method, path if path.startswith("http") else self.url + path,
                                          timeout=REQUEST_TIMEOUT, **kwargs)
        except requests.RequestException as exc:
            self.log.add(kind, None, time.perf_counter() - start, False, f"{type(exc).__name__}: {exc}")
            return None
        seconds = time.perf_counter() - start
        if answer.status_code != expected:
            problem = f"expected {expected}: {answer.text}"
        else:
            problem = check(answer) if check else None
        self.log.add(kind, answer.status_code, seconds, problem is None, problem or "")
        return answer if problem is None else None

    def upload(self, number: int) -> bool:
        """Recording `number` of this station, uploaded and its receipt read back; True when done."""
        recording = distinct(self.base_clips, self.number, number)
        data = recording.data
        device = self.devices[number % len(self.devices)]
        officer = f"32{self.number:03d}{number % len(self.devices) + 1:02d}"
        started = datetime.now(CHINA) - timedelta(seconds=recording.seconds + 60)
        metadata = {"filename": f"{device}_{officer}_{started:%Y%m%d%H%M%S}_{number:04d}.mp4", "device_id": device,
                    "officer_id": officer, "recorded_at": started.isoformat(timespec="seconds"),
                    "sha256": recording.sha256}
        created = self._request("tus POST", "POST", "/api/v1/uploads", 201, check=has_location, headers={
            **TUS, "Upload-Length": str(len(data)), "Upload-Metadata": encode_metadata(metadata)})
        if created is None:
            return self._failed()
        location = urljoin(self.url + "/api/v1/uploads", created.headers["Location"])
        offset, answer = 0, None
        while offset < len(data):
            chunk = data[offset:offset + self.chunk_bytes]
            end = offset + len(chunk)
            final = end == len(data)
            answer = self._request("tus PATCH (final)" if final else "tus PATCH", "PATCH", location, 204,
                                   check=patched(end, recording.sha256 if final else None), data=chunk,
                                   headers={**TUS, "Upload-Offset": str(offset), "Upload-Checksum": crc32c(chunk),
                                            "Content-Type": OFFSET_STREAM})
            if answer is None:
                return self._failed()
            offset = end
        clip_id = answer.headers["X-Clip-Id"]
        if self._request("receipt GET", "GET", f"/api/v1/clips/{clip_id}", 200,
                         check=same_clip(recording.sha256, len(data))) is None:
            return self._failed()
        self.done += 1
        self.log.uploaded(len(data))
        return True

    def _failed(self) -> bool:
        self.failed += 1
        return False

    def report(self) -> None:
        self._request("report PUT", "PUT", "/api/v1/stations/me/agent", 200, json={
            "agent_version": "load-simulation", "hostname": f"load-station-{self.number:02d}",
            "watch_dir": "/srv/dock", "started_at": self.started_at.isoformat(),
            "files": {"pending": 0, "hashing": 0, "ready": 0, "uploading": 0, "done": self.done,
                      "failed": self.failed},
            "backlog_bytes": 0, "oldest_waiting_since": None, "failed": [], "last_error": None})


# -- what a successful answer must say -------------------------------------------

def has_location(answer) -> str | None:
    return None if answer.headers.get("Location") else "201 without a Location header"


def patched(offset: int, sha256: str | None):
    """The server is at `offset`; with `sha256` (the last PATCH), the receipt carries it."""
    def check(answer) -> str | None:
        if answer.headers.get("Upload-Offset") != str(offset):
            return f"Upload-Offset {answer.headers.get('Upload-Offset')!r}, expected {offset}"
        if sha256 is not None and (not answer.headers.get("X-Clip-Id")
                                   or answer.headers.get("X-Clip-Sha256") != sha256):
            return (f"receipt {answer.headers.get('X-Clip-Id')!r} with sha256 "
                    f"{answer.headers.get('X-Clip-Sha256')!r}, expected {sha256}")
        return None
    return check


def same_clip(sha256: str, size: int):
    """The clip read back has the declared SHA-256 and size."""
    def check(answer) -> str | None:
        try:
            body = answer.json()
        except ValueError:
            return f"not JSON: {answer.text[:200]}"
        if body.get("sha256") != sha256 or body.get("size") != size:
            return f"clip has sha256 {body.get('sha256')} size {body.get('size')}, expected {sha256} {size}"
        return None
    return check
