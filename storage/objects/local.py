"""Object store in a local directory.

    ROOT/objects/<key>        the bytes, read-only once written
    ROOT/locks/<key>.json     retention date and legal hold of that object
    ROOT/tmp/                 writes in progress; never listed

A write goes to a temp file, is fsync'd, then hard-linked to its key (which fails if
the key exists, so nothing is ever replaced) and the directory is fsync'd: a torn
write leaves at most a temp file, never a visible object.
"""
from __future__ import annotations

import errno
import json
import os
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import BinaryIO, Iterator

from storage.durability import FileAppender, fsync_dir
from storage.exceptions import (ObjectExists, ObjectLocked, ObjectNotFound, RetentionShortened,
                                StoreUnavailable)
from storage.objects.base import (ObjectInfo, ObjectStore, PutResult, check_expected, check_key,
                                  original_key)
from storage.objects.hashing import ParallelHasher

READ_ONLY = 0o444


def _utc(value: datetime) -> datetime:
    if value.tzinfo is None:
        raise ValueError("retention dates must be timezone-aware")
    return value.astimezone(timezone.utc)


def _copy_into(source: int, target: int, length: int, chunk_size: int) -> None:
    """Append `length` bytes of source to target: in the kernel where it can (copy_file_range,
    a reflink on filesystems that share blocks), else through a buffer (another filesystem)."""
    kernel = True
    while length:
        if kernel:
            try:
                copied = os.copy_file_range(source, target, length)
            except OSError as exc:
                if exc.errno not in (errno.EXDEV, errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP):
                    raise
                kernel = False
                continue
        else:
            chunk = os.read(source, min(chunk_size, length))
            view = memoryview(chunk)
            while view:
                view = view[os.write(target, view):]
            copied = len(chunk)
        if copied == 0:
            raise OSError(errno.EIO, "a staged part ended before its recorded size")
        length -= copied


class LocalObjectStore(ObjectStore):
    name = "local"

    def __init__(self, root: str | os.PathLike, chunk_size: int = 1 << 20) -> None:
        self.root = Path(root)
        self.chunk_size = chunk_size
        self._objects = self.root / "objects"
        self._locks = self.root / "locks"
        self._tmp = self.root / "tmp"
        try:
            for directory in (self._objects, self._locks, self._tmp):
                directory.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreUnavailable(f"local object store at {self.root}: {exc.strerror}") from None

    @property
    def address(self) -> str:
        return f"file://{self.root}"

    # -- writing -------------------------------------------------------------

    def _write_temp(self, stream: BinaryIO) -> tuple[Path, "PutResult"]:
        fd, tmp_name = tempfile.mkstemp(dir=self._tmp, prefix="put-")
        tmp = Path(tmp_name)
        try:
            with ParallelHasher(chunk_size=self.chunk_size) as hasher:
                appender = FileAppender(fd)
                while chunk := stream.read(self.chunk_size):
                    hasher.update(chunk)
                    appender.write(chunk)
                os.fdatasync(fd)
                digests = hasher.finish()
            os.fchmod(fd, READ_ONLY)
        except BaseException:
            os.close(fd)
            tmp.unlink(missing_ok=True)
            raise
        os.close(fd)
        return tmp, PutResult("", digests.size, digests.sha256, digests.sm3)

    def _link(self, source: Path, key: str) -> None:
        """Make the file visible under key, atomically and without replacing anything."""
        target = self._objects / key
        self._make_dirs(target.parent)
        try:
            os.link(source, target)
        except FileExistsError:
            raise ObjectExists(f"object {key!r} already exists and objects are write-once") from None
        fsync_dir(target.parent)

    def _make_dirs(self, directory: Path) -> None:
        missing = []
        while not directory.exists():
            missing.append(directory)
            directory = directory.parent
        for new in reversed(missing):
            try:
                new.mkdir()
            except FileExistsError:  # made meanwhile by a concurrent put, which fsyncs it itself
                continue
            fsync_dir(new.parent)

    def put(self, key, stream, *, retain_until=None, legal_hold=False,
            content_type="application/octet-stream") -> PutResult:
        check_key(key)
        if self.exists(key):
            raise ObjectExists(f"object {key!r} already exists and objects are write-once")
        tmp, result = self._write_temp(stream)
        if retain_until is not None or legal_hold:
            self._write_lock(key, _utc(retain_until) if retain_until else None, legal_hold)
        try:
            self._link(tmp, key)
        finally:
            tmp.unlink(missing_ok=True)
        return PutResult(key, result.size, result.sha256, result.sm3)

    def put_original(self, stream, *, expected_sha256=None, retain_until=None,
                     legal_hold=False) -> PutResult:
        tmp, result = self._write_temp(stream)
        try:
            check_expected(result, expected_sha256)
            return self._adopt(tmp, result, retain_until, legal_hold)
        finally:
            tmp.unlink(missing_ok=True)

    def put_original_parts(self, paths, *, digests, retain_until=None, legal_hold=False) -> PutResult:
        """The only part of a single-request upload is linked in (no second copy); several parts
        are copied by the kernel into a new file. Either way the original is an inode that no
        upload request has open: a staged part is closed by its writer before it counts, and a
        writer that lost its lease only ever writes into a part of its own that never counts."""
        paths = [Path(path) for path in paths]
        size = sum(path.stat().st_size for path in paths)
        if size != digests.size:
            raise ValueError(f"staged parts hold {size} bytes, not {digests.size}")
        if len(paths) == 1 and paths[0].stat().st_dev == self._objects.stat().st_dev:
            os.chmod(paths[0], READ_ONLY)
            return self._adopt(paths[0], digests, retain_until, legal_hold)
        tmp = self._concatenate(paths)
        try:
            return self._adopt(tmp, digests, retain_until, legal_hold)
        finally:
            tmp.unlink(missing_ok=True)

    def _concatenate(self, paths: list[Path]) -> Path:
        fd, tmp_name = tempfile.mkstemp(dir=self._tmp, prefix="put-")
        try:
            for path in paths:
                with open(path, "rb") as source:
                    _copy_into(source.fileno(), fd, os.fstat(source.fileno()).st_size, self.chunk_size)
            os.fdatasync(fd)
            os.fchmod(fd, READ_ONLY)
        except BaseException:
            os.close(fd)
            os.unlink(tmp_name)
            raise
        os.close(fd)
        return Path(tmp_name)

    def _adopt(self, source: Path, digests, retain_until, legal_hold: bool) -> PutResult:
        """Link a complete, fsync'd file in as the original with its content address; if that
        content is stored already (now or by a concurrent writer), only extend its locks."""
        key = original_key(digests.sha256)
        created = not self.exists(key)
        if created:
            if retain_until is not None or legal_hold:
                self._write_lock(key, _utc(retain_until) if retain_until else None, legal_hold)
            try:
                self._link(source, key)
            except ObjectExists:
                created = False
        if not created:
            self._extend_locks(key, retain_until, legal_hold)
        return PutResult(key, digests.size, digests.sha256, digests.sm3, created)

    def _extend_locks(self, key: str, retain_until, legal_hold: bool) -> None:
        """Content stored before: its retention may only grow, and a hold may be added."""
        if retain_until is not None:
            current = self._read_lock(key)[0]
            if current is None or current < _utc(retain_until):
                self.set_retention(key, retain_until)
        if legal_hold:
            self.set_legal_hold(key, True)

    # -- locks ---------------------------------------------------------------

    def _lock_path(self, key: str) -> Path:
        return self._locks / f"{key}.json"

    def _read_lock(self, key: str) -> tuple[datetime | None, bool]:
        try:
            data = json.loads(self._lock_path(key).read_text())
        except FileNotFoundError:
            return None, False
        until = data.get("retain_until")
        return (datetime.fromisoformat(until) if until else None), bool(data.get("legal_hold"))

    def _write_lock(self, key: str, retain_until: datetime | None, legal_hold: bool) -> None:
        path = self._lock_path(key)
        self._make_dirs(path.parent)
        body = json.dumps({"retain_until": retain_until.isoformat() if retain_until else None,
                           "legal_hold": legal_hold}).encode()
        fd, tmp_name = tempfile.mkstemp(dir=self._tmp, prefix="lock-")
        try:
            os.write(fd, body)
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp_name, path)
        fsync_dir(path.parent)

    def _require(self, key: str) -> Path:
        path = self._objects / check_key(key)
        if not path.is_file():
            raise ObjectNotFound(f"no object {key!r}")
        return path

    def set_retention(self, key, retain_until) -> None:
        self._require(key)
        new = _utc(retain_until)
        current, hold = self._read_lock(key)
        if current is not None and new < current:
            raise RetentionShortened(
                f"object {key!r} is retained until {current.isoformat()}; it cannot be shortened to {new.isoformat()}")
        self._write_lock(key, new, hold)

    def set_legal_hold(self, key, on) -> None:
        self._require(key)
        current, _ = self._read_lock(key)
        self._write_lock(key, current, bool(on))

    # -- reading -------------------------------------------------------------

    def get(self, key, start=0, length=None) -> Iterator[bytes]:
        path = self._require(key)
        if start < 0 or (length is not None and length < 0):
            raise ValueError("byte range start and length must not be negative")
        return self._read(path, start, length)

    def _read(self, path: Path, start: int, length: int | None) -> Iterator[bytes]:
        with open(path, "rb") as handle:
            handle.seek(start)
            remaining = length
            while remaining is None or remaining > 0:
                want = self.chunk_size if remaining is None else min(self.chunk_size, remaining)
                chunk = handle.read(want)
                if not chunk:
                    return
                if remaining is not None:
                    remaining -= len(chunk)
                yield chunk

    def stat(self, key) -> ObjectInfo:
        path = self._require(key)
        st = path.stat()
        until, hold = self._read_lock(key)
        return ObjectInfo(key, st.st_size, datetime.fromtimestamp(st.st_mtime, timezone.utc), until, hold)

    def exists(self, key) -> bool:
        return (self._objects / check_key(key)).is_file()

    def list(self, prefix="") -> Iterator[ObjectInfo]:
        keys = []
        for directory, _dirs, files in os.walk(self._objects):
            rel = os.path.relpath(directory, self._objects)
            base = "" if rel == "." else rel.replace(os.sep, "/") + "/"
            if not (base.startswith(prefix) or prefix.startswith(base)):
                _dirs.clear()
                continue
            keys.extend(base + name for name in files if (base + name).startswith(prefix))
        for key in sorted(keys):
            try:
                yield self.stat(key)
            except ObjectNotFound:  # deleted while listing
                continue

    # -- deleting ------------------------------------------------------------

    def delete(self, key) -> None:
        path = self._require(key)
        until, hold = self._read_lock(key)
        if hold:
            raise ObjectLocked(f"object {key!r} is under legal hold")
        if until is not None and until > datetime.now(timezone.utc):
            raise ObjectLocked(f"object {key!r} is retained until {until.isoformat()}")
        path.unlink()
        self._lock_path(key).unlink(missing_ok=True)
        fsync_dir(path.parent)

    def remove_stale_temporaries(self, older_than: timedelta) -> int:
        # A write in progress keeps touching its temp file, so an old one is abandoned.
        cutoff = time.time() - older_than.total_seconds()
        removed = 0
        for entry in os.scandir(self._tmp):
            try:
                if entry.is_file(follow_symlinks=False) and entry.stat().st_mtime < cutoff:
                    os.unlink(entry.path)
                    removed += 1
            except FileNotFoundError:
                continue  # its writer finished with it while we looked
        return removed

    def check(self) -> None:
        try:
            fd, name = tempfile.mkstemp(dir=self._tmp, prefix="health-")
            os.close(fd)
            os.unlink(name)
        except OSError as exc:
            reason = errno.errorcode.get(exc.errno, "") if exc.errno else ""
            raise StoreUnavailable(f"local object store at {self.root} is not writable: {exc.strerror or reason}") from None
