"""The object store interface that every backend implements.

Keys are '/'-separated paths. Originals are content-addressed and write-once
(`put_original`); derivatives and other objects are written with `put`, which
refuses to replace an existing object. Every write streams: it never holds a whole
object in memory, and it returns size, SHA-256 and SM3 computed in the same pass.
"""
from __future__ import annotations

import abc
import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import BinaryIO, Iterator

from storage.exceptions import HashMismatch

ORIGINALS_PREFIX = "originals/"
_KEY = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._\-]*(/[A-Za-z0-9][A-Za-z0-9._\-]*)*$")
_SHA256 = re.compile(r"^[0-9a-f]{64}$")


@dataclass(frozen=True)
class PutResult:
    key: str
    size: int
    sha256: str
    sm3: str
    created: bool = True
    """False when put_original found the same content already stored."""


@dataclass(frozen=True)
class ObjectInfo:
    key: str
    size: int
    modified: datetime
    retain_until: datetime | None = None
    legal_hold: bool = False


def original_key(sha256: str) -> str:
    """Content address of an original: originals/ab/cd/<sha256>."""
    if not _SHA256.match(sha256):
        raise ValueError(f"not a lower-case hex SHA-256: {sha256!r}")
    return f"{ORIGINALS_PREFIX}{sha256[:2]}/{sha256[2:4]}/{sha256}"


def check_key(key: str) -> str:
    if not isinstance(key, str) or len(key) > 512 or not _KEY.match(key) or "/../" in f"/{key}/":
        raise ValueError(f"invalid object key {key!r}: use letters, digits, '.', '_', '-' and '/' separators")
    return key


def check_expected(result: PutResult, expected_sha256: str | None) -> None:
    if expected_sha256 is not None and result.sha256 != expected_sha256.lower():
        raise HashMismatch(f"declared SHA-256 {expected_sha256} but the bytes hash to {result.sha256}")


class ObjectStore(abc.ABC):
    """Streaming, hash-computing, write-once object storage with retention and legal hold."""

    name: str

    @abc.abstractmethod
    def put(self, key: str, stream: BinaryIO, *, retain_until: datetime | None = None,
            legal_hold: bool = False, content_type: str = "application/octet-stream") -> PutResult:
        """Store the stream under key; ObjectExists if the key is taken. Visible only when complete."""

    @abc.abstractmethod
    def put_original(self, stream: BinaryIO, *, expected_sha256: str | None = None,
                     retain_until: datetime | None = None, legal_hold: bool = False) -> PutResult:
        """Store an original under its content address. HashMismatch (and nothing kept) when the
        bytes do not match expected_sha256; the existing object when the same content is stored."""

    @abc.abstractmethod
    def get(self, key: str, start: int = 0, length: int | None = None) -> Iterator[bytes]:
        """Stream the object, or the byte range [start, start + length)."""

    @abc.abstractmethod
    def stat(self, key: str) -> ObjectInfo:
        """Size, modification time, retention and legal hold; ObjectNotFound if absent."""

    @abc.abstractmethod
    def exists(self, key: str) -> bool: ...

    @abc.abstractmethod
    def list(self, prefix: str = "") -> Iterator[ObjectInfo]:
        """Complete objects whose key starts with prefix, in key order."""

    @abc.abstractmethod
    def delete(self, key: str) -> None:
        """Remove the object; ObjectLocked while retention or legal hold applies."""

    @abc.abstractmethod
    def set_retention(self, key: str, retain_until: datetime) -> None:
        """Keep the object until then; RetentionShortened if that is earlier than now set."""

    @abc.abstractmethod
    def set_legal_hold(self, key: str, on: bool) -> None: ...

    @abc.abstractmethod
    def remove_stale_temporaries(self, older_than: timedelta) -> int:
        """Remove what interrupted writes left behind (temp files, temp objects) untouched for
        longer than older_than; returns how many. Never touches a complete object."""

    @abc.abstractmethod
    def check(self) -> None:
        """Raise StoreUnavailable (with the address) if the store cannot be used."""

    @property
    @abc.abstractmethod
    def address(self) -> str:
        """Where the store is, for health reports and error messages (no secrets)."""

    def put_original_parts(self, paths, *, digests, retain_until: datetime | None = None,
                           legal_hold: bool = False) -> PutResult:
        """Store closed, fsync'd staging files, concatenated, as one original. `digests` are the
        hashes computed while they were received; backends that copy the bytes check them again."""
        with _Concatenation(paths) as stream:
            return self.put_original(stream, expected_sha256=digests.sha256, retain_until=retain_until,
                                     legal_hold=legal_hold)

    def read_all(self, key: str) -> bytes:
        """Whole object in memory: for small objects and tests only."""
        return b"".join(self.get(key))


class _Concatenation:
    """Files read one after the other as one stream."""

    def __init__(self, paths):
        self._paths, self._handle = list(paths), None

    def read(self, size: int = -1) -> bytes:
        while True:
            if self._handle is None:
                if not self._paths:
                    return b""
                self._handle = open(self._paths.pop(0), "rb")
            data = self._handle.read(size)
            if data or size == 0:
                return data
            self._handle.close()
            self._handle = None

    def __enter__(self) -> "_Concatenation":
        return self

    def __exit__(self, *exc) -> None:
        if self._handle is not None:
            self._handle.close()
