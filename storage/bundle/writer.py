"""Writing a bundle's zip file: entries streamed in (never a whole file in memory), stored
without compression (media is compressed already), each copied file re-hashed on its way in.

The zip goes to a seekable local file, so every entry gets a normal local header with its
sizes and CRC (no data descriptors), which every unzip tool reads, Zip64 when large.
"""
from __future__ import annotations

import hashlib
import logging
import os
import time
import zipfile
from datetime import datetime, timezone
from typing import Callable, Iterable, Iterator

from storage.bundle.digests import ChunkHasher, FinishedFileHasher
from storage.exceptions import StorageError

log = logging.getLogger(__name__)

FILE_MODE = 0o644
Progress = Callable[[int, int], None]
"""progress(bytes copied so far, bytes to copy in all)."""


class BundleIntegrityError(StorageError):
    """A stored file (or custody event) does not hash to what was recorded for it: the export stops."""

    def __init__(self, message: str, clip_id: str | None = None):
        super().__init__(message)
        self.clip_id = clip_id


class ZipBundleWriter:
    def __init__(self, path: str | os.PathLike, stamp: datetime, total_bytes: int = 0,
                 progress: Progress | None = None, hash_output: bool = False):
        self.path = path
        self._handle = open(path, "wb")
        self._output = FinishedFileHasher(path) if hash_output else None
        self._zip = zipfile.ZipFile(self._handle, "w", compression=zipfile.ZIP_STORED, allowZip64=True)
        utc = stamp.astimezone(timezone.utc)
        self._date_time = (max(utc.year, 1980), utc.month, utc.day, utc.hour, utc.minute, utc.second)
        self.total_bytes, self.done_bytes, self._progress = total_bytes, 0, progress
        self._reported = 0.0

    def _info(self, name: str, size: int) -> zipfile.ZipInfo:
        info = zipfile.ZipInfo(name, self._date_time)
        info.compress_type = zipfile.ZIP_STORED
        info.external_attr = FILE_MODE << 16
        info.file_size = size  # lets zipfile choose Zip64 up front for large entries
        return info

    def add_stream(self, name: str, chunks: Iterable[bytes], *, size: int, sha256: str, what: str,
                   clip_id: str | None = None) -> None:
        """Copy chunks into the entry `name`; BundleIntegrityError unless they are exactly `size`
        bytes with this SHA-256 (`what` names the source in the message)."""
        written = 0
        with ChunkHasher() as digest, self._zip.open(self._info(name, size), "w") as entry:
            for chunk in chunks:
                digest.update(chunk)
                entry.write(chunk)
                written += len(chunk)
                self._advance(len(chunk))
        self._entry_done()
        actual = digest.hexdigest()
        if written != size or actual != sha256:
            raise BundleIntegrityError(
                f"{what}: the stored bytes ({written} bytes, SHA-256 {actual}) differ from the recorded "
                f"{size} bytes with SHA-256 {sha256}; the export was stopped. Run `fullrecord custody verify` and "
                "check the object store: this file must not be handed out as evidence until explained", clip_id)

    def add_bytes(self, name: str, data: bytes) -> str:
        """A small generated document; returns its SHA-256."""
        self._zip.writestr(self._info(name, len(data)), data)
        self._entry_done()
        return hashlib.sha256(data).hexdigest()

    def add_lines(self, name: str, lines: Iterator[bytes]) -> str:
        """A generated document written line by line (custody.jsonl); returns its SHA-256."""
        digest = hashlib.sha256()
        info = self._info(name, 0)
        with self._zip.open(info, "w", force_zip64=True) as entry:
            for line in lines:
                entry.write(line)
                digest.update(line)
        self._entry_done()
        return digest.hexdigest()

    def _entry_done(self) -> None:
        """Everything written so far is final: the output hasher may read it."""
        if self._output is not None:
            self._handle.flush()
            self._output.final_upto(self._handle.tell())

    def _advance(self, count: int) -> None:
        self.done_bytes += count
        now = time.monotonic()
        if self._progress is not None and now - self._reported >= 0.5:
            self._reported = now
            self._progress(self.done_bytes, self.total_bytes)

    def close(self) -> tuple[int, str | None]:
        """Finish the zip and make it durable; returns its size and SHA-256 (None unless hash_output)."""
        self._zip.close()
        self._handle.flush()
        os.fsync(self._handle.fileno())
        size = self._handle.tell()
        self._handle.close()
        sha256 = None
        if self._output is not None:
            self._output.final_upto(size)
            sha256 = self._output.finish()
        if self._progress is not None:
            self._progress(self.done_bytes, self.total_bytes)
        return size, sha256

    def abort(self) -> None:
        """Drop the partial file."""
        try:
            self._zip.close()
        except OSError as exc:  # e.g. the disk filled up: the partial file goes anyway
            log.warning("could not finish the partial bundle %s before removing it: %s", self.path, exc)
        finally:
            self._handle.close()
            if self._output is not None:
                try:
                    self._output.finish()
                except OSError as exc:
                    log.warning("reading back the partial bundle %s failed: %s", self.path, exc)
            os.unlink(self.path)
