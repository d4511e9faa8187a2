"""Hashing a recording once and sending it with tus (tuspy), chunk by chunk, each chunk with
its own checksum (station.request_checksum), resuming at the server's offset.

Before every chunk the file is looked at again: a file that is gone or shorter than when it was
hashed cannot be sent whole (`FileGone`); one that changed otherwise must be hashed again
(`FileChanged`), so nothing is ever uploaded half-old. The bytes are read through a handle
opened once, and the server checks the whole file's SHA-256 against the one declared before it
gives a receipt.
"""
from __future__ import annotations

import hashlib
import logging
import os
import threading
import time
from dataclasses import dataclass
from typing import Callable
from urllib.parse import urljoin

import requests
from tusclient.client import TusClient
from tusclient.exceptions import TusCommunicationError, TusUploadFailed
from tusclient.request import TusRequest
from tusclient.uploader import Uploader

from ingest.checksums import CHECKSUM_ALGORITHMS
from ingest.station.server_api import Receipt, Refused, Unavailable, error_for, receipt_from_headers

log = logging.getLogger("fullrecord.station")

HASH_BLOCK = 4 << 20
CHECKSUM_MISMATCH = 460
OFFSET_MISMATCH = 409
CHECKSUM_RESENDS = 3
"""A chunk whose checksum the server rejected is re-read and re-sent this many times at once."""


class StationProblem(Exception):
    """A problem with one file, told by a catalogue key (station.reason.*) and its values."""

    def __init__(self, key: str, **values):
        super().__init__(f"{key} {values}")
        self.key, self.values = key, values

    def text(self, language: str) -> str:
        from server.i18n import t
        return t(f"station.reason.{self.key}", language, **self.values)


class FileGone(StationProblem):
    """The file was deleted or truncated: it cannot be sent as it was hashed."""


class FileChanged(StationProblem):
    """The file changed since it was hashed: hash it again before sending."""


class ChecksumRejected(StationProblem):
    """The server kept rejecting a chunk's checksum (the bytes arrive damaged)."""


class WholeFileRejected(StationProblem):
    """The server received every byte but their SHA-256 is not the one declared."""


@dataclass(frozen=True)
class FileState:
    size: int
    mtime_ns: int


def look(path: str) -> FileState:
    stat = os.stat(path)
    return FileState(stat.st_size, stat.st_mtime_ns)


def check_unchanged(path: str, expected: FileState) -> None:
    """FileGone when deleted or shorter; FileChanged when different otherwise."""
    try:
        now = look(path)
    except FileNotFoundError:
        raise FileGone("deleted") from None
    if now.size < expected.size:
        raise FileGone("truncated", before=expected.size, after=now.size)
    if now != expected:
        raise FileChanged("changed", before=expected.size, after=now.size)


def sha256_of(path: str, expected: FileState, progress: Callable[[int], None] = lambda n: None) -> str:
    """The file's SHA-256, if it stayed as `expected` while being read."""
    digest = hashlib.sha256()
    buffer = bytearray(HASH_BLOCK)
    view = memoryview(buffer)
    try:
        with open(path, "rb", buffering=0) as handle:
            while count := handle.readinto(buffer):
                digest.update(view[:count])
                progress(count)
    except FileNotFoundError:
        raise FileGone("deleted") from None
    check_unchanged(path, expected)
    return digest.hexdigest()


class Throttle:
    """The agent's whole upload bandwidth: senders take bytes before sending them."""

    def __init__(self, bytes_per_second: int | None, clock=time.monotonic, sleep=time.sleep):
        self.rate = bytes_per_second
        self._lock = threading.Lock()
        self._next = 0.0
        self._clock, self._sleep = clock, sleep

    def take(self, size: int) -> None:
        if not self.rate or size <= 0:
            return
        with self._lock:
            now = self._clock()
            start = max(now, self._next)
            self._next = start + size / self.rate
        if start > now:
            self._sleep(start - now)


class TimedRequest(TusRequest):
    """tuspy's PATCH with a time limit and a kept-alive connection: tuspy sets no timeout, and
    an unattended station must not hang for ever on a connection that died silently."""

    def perform(self):
        chunk = self.file.read(self._content_length)
        self.add_checksum(chunk)
        try:
            response = self.uploader.session.patch(self._url, data=chunk, headers=self._request_headers,
                                                   timeout=self.uploader.timeout)
        except requests.RequestException as error:
            raise TusUploadFailed(error) from None
        self.status_code = response.status_code
        self.response_content = response.content
        self.response_headers = {key.lower(): value for key, value in response.headers.items()}

    def __init__(self, uploader):
        super().__init__(uploader)
        self.uploader = uploader


class ChecksummedUploader(Uploader):
    """tuspy's uploader with the configured checksum on each request (tuspy's own is SHA-1), and
    every request (create, HEAD, PATCH) with a time limit on one kept-alive connection."""

    def __init__(self, *args, session: requests.Session, timeout: float, checksum: str = "crc32c", **kwargs):
        self.session, self.timeout = session, timeout
        self.CHECKSUM_ALGORITHM_PAIR = (checksum, CHECKSUM_ALGORITHMS[checksum])
        super().__init__(*args, **kwargs)

    def get_offset(self):
        try:
            response = self.session.head(self.url, headers=self.get_headers(), timeout=self.timeout)
        except requests.RequestException as error:
            raise TusCommunicationError(error) from None
        offset = response.headers.get("upload-offset")
        if offset is None:
            raise TusCommunicationError(f"no offset (HTTP {response.status_code})", response.status_code,
                                        response.content)
        return int(offset)

    def create_url(self):
        try:
            response = self.session.post(self.client.url, headers=self.get_url_creation_headers(),
                                         timeout=self.timeout)
        except requests.RequestException as error:
            raise TusCommunicationError(error) from None
        location = response.headers.get("location")
        if response.status_code != 201 or location is None:
            raise TusCommunicationError(f"no upload created (HTTP {response.status_code})", response.status_code,
                                        response.content)
        return urljoin(self.client.url, location)

    def _do_request(self):
        self.request = TimedRequest(self)
        self.request.perform()
        if not 200 <= self.request.status_code < 300:
            raise TusUploadFailed("", self.request.status_code, self.request.response_content)


def _tus_failure(error: TusCommunicationError, step: str) -> Exception:
    if error.status_code is None:
        return Unavailable(step, str(error)[:200])
    body = error.response_content or b""
    return error_for(step, error.status_code, body if isinstance(body, bytes) else str(body).encode())


@dataclass
class Upload:
    """One file's transfer; `on_url` and `on_offset` let the journal follow it."""
    path: str
    sha256: str
    expected: FileState
    metadata: dict
    client: TusClient
    api: object
    chunk_bytes: int
    throttle: Throttle
    on_url: Callable[[str], None]
    on_offset: Callable[[int], None]
    timeout: float = 60
    checksum: str = "crc32c"
    stop: threading.Event | None = None

    def __post_init__(self):
        self.session = requests.Session()

    def _uploader(self, handle, url: str | None) -> ChecksummedUploader:
        return ChecksummedUploader(file_stream=handle, url=url, client=self.client, chunk_size=self.chunk_bytes,
                                   metadata=self.metadata, upload_checksum=True, session=self.session,
                                   timeout=self.timeout, checksum=self.checksum)

    def _open_upload(self, handle, url: str | None) -> ChecksummedUploader:
        """Resume at the server's offset, or create a new upload (a vanished one too)."""
        if url:
            try:
                uploader = self._uploader(handle, url)  # HEAD: the server's offset
                self.on_url(url)
                return uploader
            except TusCommunicationError as error:
                if error.status_code not in (404, 410):
                    raise _tus_failure(error, "resume") from None
        uploader = self._uploader(handle, None)
        try:
            uploader.set_url(uploader.create_url())
        except TusCommunicationError as error:
            raise _tus_failure(error, "create") from None
        uploader.offset = 0
        self.on_url(uploader.url)
        return uploader

    def run(self, url: str | None) -> Receipt:
        """Send what the server does not have yet; the receipt once it has all of it."""
        try:
            handle = open(self.path, "rb")
        except FileNotFoundError:
            raise FileGone("deleted") from None
        with handle, self.session:
            check_unchanged(self.path, self.expected)
            uploader = self._open_upload(handle, url)
            if uploader.offset:
                log.info("%s: resuming at the server's offset %d of %d", self.path, uploader.offset, self.expected.size)
            self.on_offset(uploader.offset)
            receipt = None
            resends = 0
            while uploader.offset < self.expected.size:
                if self.stop is not None and self.stop.is_set():
                    raise Unavailable("send", "stopped; resumes at the next start")
                check_unchanged(self.path, self.expected)
                self.throttle.take(min(self.chunk_bytes, self.expected.size - uploader.offset))
                try:
                    uploader.upload_chunk()
                except TusCommunicationError as error:
                    if error.status_code not in (CHECKSUM_MISMATCH, OFFSET_MISMATCH):
                        raise _tus_failure(error, "send") from None
                    if error.status_code == CHECKSUM_MISMATCH and self._whole_file_rejected(uploader.url):
                        raise WholeFileRejected("whole_file") from None
                    resends += 1
                    if resends > CHECKSUM_RESENDS:
                        if error.status_code == CHECKSUM_MISMATCH:
                            raise ChecksumRejected("checksum", offset=uploader.offset, times=resends) from None
                        raise _tus_failure(error, "send") from None
                    if error.status_code == CHECKSUM_MISMATCH:
                        log.warning("%s: the server rejected the checksum of the chunk at offset %d; "
                                    "re-reading and re-sending it", self.path, uploader.offset)
                    else:  # someone else sent bytes of this upload: go on from where the server is
                        log.warning("%s: the server is not at offset %d; going on from its offset",
                                    self.path, uploader.offset)
                    self._resync(uploader)
                    continue
                resends = 0
                self.on_offset(uploader.offset)
                receipt = receipt_from_headers(uploader.request.response_headers)
            return receipt or self._receipt(uploader.url)

    @staticmethod
    def _resync(uploader: ChecksummedUploader) -> None:
        try:
            uploader.offset = uploader.get_offset()
        except TusCommunicationError as error:
            raise _tus_failure(error, "resume") from None

    def _whole_file_rejected(self, url: str) -> bool:
        try:
            return self.api.upload_state(url).get("status") == "rejected"
        except Refused:
            return False

    def _receipt(self, url: str) -> Receipt:
        receipt = self.api.upload_receipt(url)
        if receipt is None:
            state = self.api.upload_state(url)
            if state.get("status") == "rejected":
                raise WholeFileRejected("whole_file")
            raise Unavailable("receipt", f"no receipt yet (upload {state.get('status')})")
        return receipt

