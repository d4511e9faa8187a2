"""Staging on the API host's disk (the single-host default): STAGING_DIR/<upload>/<offset>-<tag>.seg."""
from __future__ import annotations

import os
import shutil
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import BinaryIO, Iterator

from storage.durability import FileAppender, fsync_dir
from storage.staging.base import Segment, Staging


class LocalStaging(Staging):
    name = "local"

    def __init__(self, root, chunk_size: int = 1 << 20):
        self.root, self.chunk_size = Path(root), chunk_size

    def path(self, segment: Segment) -> Path:
        return self.root / segment.key

    def write_segment(self, upload_id: str, offset: int, tag: str, source: BinaryIO) -> Segment:
        directory = self.root / upload_id
        if not directory.is_dir():
            directory.mkdir(parents=True, exist_ok=True)
            fsync_dir(directory.parent)
        key = f"{upload_id}/{offset:015d}-{tag}.seg"
        path = self.root / key
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            appender = FileAppender(fd)
            while chunk := source.read(self.chunk_size):
                appender.write(chunk)
            os.fdatasync(fd)
        except BaseException:
            os.close(fd)
            path.unlink(missing_ok=True)
            raise
        os.close(fd)  # closed before it can count: no request holds a committed segment open
        fsync_dir(directory)
        return Segment(key, offset, appender.written)

    def read_segment(self, segment: Segment) -> bytes:
        return self.path(segment).read_bytes()

    def _stream(self, segment: Segment) -> Iterator[bytes]:
        with open(self.path(segment), "rb") as handle:
            while chunk := handle.read(self.chunk_size):
                yield chunk

    def discard(self, segment: Segment) -> None:
        self.path(segment).unlink(missing_ok=True)

    def remove(self, upload_id: str) -> None:
        shutil.rmtree(self.root / upload_id, ignore_errors=True)
        (self.root / f"{upload_id}.part").unlink(missing_ok=True)  # staged before segments

    def staged_uploads(self, older_than: timedelta) -> dict[str, datetime]:
        cutoff = datetime.now(timezone.utc) - older_than
        found = {}
        if not self.root.is_dir():
            return found
        for entry in os.scandir(self.root):
            if not entry.is_dir(follow_symlinks=False):
                continue
            try:
                times = [f.stat().st_mtime for f in os.scandir(entry.path)] or [entry.stat().st_mtime]
            except FileNotFoundError:  # its writer or a removal got there first
                continue
            newest = datetime.fromtimestamp(max(times), timezone.utc)
            if newest < cutoff:
                found[entry.name] = newest
        return found

    def make_original(self, store, segments, digests, retain_until):
        return store.put_original_parts([self.path(segment) for segment in segments], digests=digests,
                                        retain_until=retain_until)
