"""Object store in an S3 bucket with Object Lock (SeaweedFS, MinIO, Ceph RGW, AWS), via minio.

Retention and legal hold are the server's Object Lock, so the server itself refuses to
delete a locked object. Object Lock buckets are versioned: a plain DELETE would only
hide the object behind a delete marker, so `delete` removes the object's version.

Uploads stream through `_HashingReader`, which hands every chunk to a ParallelHasher
on its way to the SDK. When the caller declares a SHA-256, the reader checks it at
end of stream, before the SDK sends the last part, so wrong bytes are never committed.
"""
from __future__ import annotations

import os
import uuid
from contextlib import contextmanager
from datetime import datetime, timedelta, timezone
from typing import BinaryIO, Iterator

import certifi
import urllib3
from minio import Minio
from minio.commonconfig import ComposeSource, CopySource
from minio.error import MinioException, S3Error
from minio.retention import Retention

from storage.exceptions import (HashMismatch, ObjectExists, ObjectLocked, ObjectNotFound,
                                RetentionShortened, StorageError, StoreUnavailable)
from storage.objects.base import ObjectInfo, ObjectStore, PutResult, check_key, original_key
from storage.objects.hashing import ParallelHasher

PART_SIZE = 16 << 20
"""Multipart part size; minio's minimum is 5 MiB. One part is held in memory per upload."""

TMP_PREFIX = "_tmp/"
"""Uploads whose key is known only at the end. No valid key starts with '_', so no clash."""

_NO_LOCK = {"NoSuchObjectLockConfiguration", "ObjectLockConfigurationNotFoundError"}
_AUTH = {"AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch", "NoSuchBucket"}
_LOCK_REFUSED = {"AccessDenied", "InvalidRequest", "ObjectLocked", "MethodNotAllowed"}


def _until(value: datetime) -> datetime:
    """UTC, rounded up to whole seconds: S3 stores seconds and must never keep less than asked."""
    if value.tzinfo is None:
        raise ValueError("retention dates must be timezone-aware")
    value = value.astimezone(timezone.utc)
    return value.replace(microsecond=0) + timedelta(seconds=1) if value.microsecond else value


class _HashingReader:
    """File-like for minio: returns what it reads, hashing it on the way past.

    It reads the source in chunk_size pieces, so the hasher's queue holds at most
    QUEUE_DEPTH small chunks even when hashing falls behind the upload, and answers
    each read in full: minio assembles a part by concatenating short reads.
    """

    def __init__(self, stream: BinaryIO, hasher: ParallelHasher, chunk_size: int,
                 expected: str | None = None):
        self._stream, self._hasher, self._chunk, self._expected = stream, hasher, chunk_size, expected

    def read(self, size: int = -1) -> bytes:
        pieces, remaining = [], size
        while remaining:
            piece = self._stream.read(self._chunk if remaining < 0 else min(remaining, self._chunk))
            if not piece:
                self._at_end()
                break
            piece = piece if type(piece) is bytes else bytes(piece)
            self._hasher.update(piece)
            pieces.append(piece)
            if remaining > 0:
                remaining -= len(piece)
        return pieces[0] if len(pieces) == 1 else b"".join(pieces)

    def _at_end(self) -> None:
        digests = self._hasher.finish()
        if self._expected is not None and digests.sha256 != self._expected:
            raise HashMismatch(f"declared SHA-256 {self._expected} but the bytes hash to {digests.sha256}")


class _CountingReader:
    def __init__(self, stream: BinaryIO):
        self._stream, self.count = stream, 0

    def read(self, size: int = -1) -> bytes:
        data = self._stream.read(size)
        self.count += len(data)
        return data


class S3ObjectStore(ObjectStore):
    name = "s3"

    def __init__(self, endpoint: str, bucket: str, access_key: str | None, secret_key: str | None, *,
                 secure: bool = False, region: str | None = None, retention_mode: str = "COMPLIANCE",
                 chunk_size: int = 1 << 20, part_size: int = PART_SIZE) -> None:
        self.endpoint, self.bucket, self.region, self.secure = endpoint, bucket, region, secure
        self.retention_mode, self.chunk_size, self.part_size = retention_mode, chunk_size, part_size
        self._has_credentials = bool(access_key and secret_key)
        http = urllib3.PoolManager(  # minio's default waits 5 minutes to connect
            timeout=urllib3.Timeout(connect=10, read=120), maxsize=10,
            cert_reqs="CERT_REQUIRED", ca_certs=os.environ.get("SSL_CERT_FILE") or certifi.where(),
            retries=urllib3.Retry(total=3, backoff_factor=0.2, status_forcelist=[500, 502, 503, 504]))
        self.client = Minio(endpoint, access_key if self._has_credentials else None,
                            secret_key if self._has_credentials else None,
                            secure=secure, region=region, http_client=http)
        self._bucket_ready = False

    @classmethod
    def from_settings(cls, config) -> "S3ObjectStore":
        s3 = config.s3
        return cls(s3.endpoint, s3.bucket, s3.access_key, s3.secret_key, secure=s3.secure,
                   region=s3.region, retention_mode=s3.retention_mode, chunk_size=config.chunk_size)

    @property
    def address(self) -> str:
        return f"s3://{self.endpoint}/{self.bucket}"

    @contextmanager
    def _errors(self, what: str):
        """Turn SDK and connection errors into storage errors that say what failed where."""
        try:
            yield
        except S3Error as exc:
            if exc.code in ("NoSuchKey", "NoSuchVersion"):
                raise ObjectNotFound(f"no object {what!r}") from None
            kind = StoreUnavailable if exc.code in _AUTH else StorageError
            raise kind(f"S3 store {self.address}: {what}: {exc.code}: {exc.message}") from None
        except (MinioException, urllib3.exceptions.HTTPError) as exc:
            reason = getattr(exc, "reason", None) or exc  # MaxRetryError wraps the cause
            raise StoreUnavailable(f"S3 store {self.address} cannot be reached ({what}): {reason}") from None

    def _ensure_bucket(self) -> None:
        if self._bucket_ready:
            return
        if not self._has_credentials:
            raise StoreUnavailable(f"S3 store {self.address}: no access key and secret key configured")
        with self._errors(f"bucket {self.bucket}"):
            if not self.client.bucket_exists(self.bucket):
                try:
                    self.client.make_bucket(self.bucket, location=self.region, object_lock=True)
                except S3Error as exc:  # created meanwhile by another process
                    if exc.code not in ("BucketAlreadyOwnedByYou", "BucketAlreadyExists"):
                        raise
            try:
                self.client.get_object_lock_config(self.bucket)
            except S3Error as exc:
                if exc.code not in _NO_LOCK:
                    raise
                raise StoreUnavailable(
                    f"S3 store {self.address}: bucket {self.bucket!r} exists without Object Lock, which "
                    "can only be switched on when a bucket is created; configure a new bucket") from None
        self._bucket_ready = True

    # -- writing -------------------------------------------------------------

    def _upload(self, key: str, stream: BinaryIO, expected: str | None = None, *,
                retain_until: datetime | None = None, legal_hold: bool = False,
                content_type: str = "application/octet-stream") -> tuple[PutResult, str | None]:
        retention = Retention(self.retention_mode, _until(retain_until)) if retain_until else None
        with ParallelHasher(2 * self.part_size, self.chunk_size) as hasher, self._errors(key):
            # One upload at a time: minio's parallel mode, when the source fails midway, aborts
            # while parts are still in flight and strands its worker threads with a part each.
            written = self.client.put_object(
                self.bucket, key, _HashingReader(stream, hasher, self.chunk_size, expected), -1,
                content_type=content_type, part_size=self.part_size, num_parallel_uploads=1,
                retention=retention, legal_hold=legal_hold)
            digests = hasher.finish()
        return PutResult(key, digests.size, digests.sha256, digests.sm3), written.version_id

    def put(self, key, stream, *, retain_until=None, legal_hold=False,
            content_type="application/octet-stream") -> PutResult:
        check_key(key)
        # S3 has no create-if-absent in the SDK's upload (SeaweedFS honours If-None-Match on
        # single PUTs only), so two concurrent puts of one key can both pass this check.
        if self.exists(key):
            raise ObjectExists(f"object {key!r} already exists and objects are write-once")
        return self._upload(key, stream, retain_until=retain_until, legal_hold=legal_hold,
                            content_type=content_type)[0]

    def put_original(self, stream, *, expected_sha256=None, retain_until=None,
                     legal_hold=False) -> PutResult:
        self._ensure_bucket()
        if expected_sha256 is None:
            result = self._original_via_temp(stream)
        else:
            # Declared hash (the upload API's case): write straight to the content address, lock
            # included. The reader fails the end of stream on a mismatch, before the SDK sends the
            # last part, so the SDK aborts and nothing is committed, even if this process dies.
            expected = expected_sha256.lower()
            try:
                key = original_key(expected)
            except ValueError:  # not a SHA-256 at all: hash the stream to report the mismatch
                key = None
            if key is not None and not self.exists(key):
                return self._upload(key, stream, expected, retain_until=retain_until,
                                    legal_hold=legal_hold)[0]
            with ParallelHasher() as hasher:  # stored before: only confirm the claim
                reader = _HashingReader(stream, hasher, self.chunk_size, expected)
                while reader.read(self.chunk_size):
                    pass
                digests = hasher.finish()
            result = PutResult(key, digests.size, digests.sha256, digests.sm3, created=False)
        self._lock_original(result.key, retain_until, legal_hold)
        return result

    def _lock_original(self, key: str, retain_until, legal_hold: bool) -> None:
        """Lock a new copy (SeaweedFS ignores lock headers on CopyObject and compose), or extend the
        lock of content stored earlier: retention only ever grows."""
        if retain_until is not None:
            current = self._retention(key)
            if current is None or current < _until(retain_until):
                self.set_retention(key, retain_until)
        if legal_hold:
            self.set_legal_hold(key, True)

    def compose_original(self, keys: list[str], *, digests, retain_until=None, legal_hold=False) -> PutResult:
        """Make an original from staged objects on the server (no bytes pass through this host),
        unless that content is stored already; then lock it. Every key but the last must hold at
        least 5 MiB (S3's smallest part)."""
        self._ensure_bucket()
        key = original_key(digests.sha256)
        created = not self.exists(key)
        if created:
            with self._errors(key):
                written = self.client.compose_object(self.bucket, key, [ComposeSource(self.bucket, k) for k in keys])
                size = self.client.stat_object(self.bucket, key, version_id=written.version_id).size
            if size != digests.size:  # never locked, so it can go
                with self._errors(key):
                    self.client.remove_object(self.bucket, key, version_id=written.version_id)
                raise StorageError(f"S3 store {self.address}: composed {key} holds {size} bytes, not {digests.size}")
        self._lock_original(key, retain_until, legal_hold)
        return PutResult(key, digests.size, digests.sha256, digests.sm3, created)

    # -- staged objects (partial uploads; unlocked, outside the key space of put and list) ----

    def put_staged(self, key: str, stream: BinaryIO) -> int:
        """Stream into an unlocked object under a '_' prefix; its size once it is stored."""
        self._ensure_bucket()
        counter = _CountingReader(stream)
        with self._errors(key):
            self.client.put_object(self.bucket, key, counter, -1, part_size=self.part_size, num_parallel_uploads=1)
        return counter.count

    def get_staged(self, key: str) -> Iterator[bytes]:
        self._ensure_bucket()
        with self._errors(key):
            response = self.client.get_object(self.bucket, key)
        return self._body(key, response)

    def list_staged(self, prefix: str) -> list[tuple[str, str | None, datetime]]:
        """(key, version, modified) of every version under prefix."""
        self._ensure_bucket()
        with self._errors(f"list {prefix!r}"):
            return [(obj.object_name, obj.version_id, obj.last_modified) for obj in
                    self.client.list_objects(self.bucket, prefix=prefix, recursive=True, include_version=True)
                    if not obj.is_dir]

    def remove_staged(self, key: str, version: str | None = None) -> None:
        """Remove an unlocked staged object: each version, not a delete marker."""
        versions = [(key, version)] if version else [(k, v) for k, v, _ in self.list_staged(key) if k == key]
        for name, version_id in versions:
            with self._errors(name):
                self.client.remove_object(self.bucket, name, version_id=version_id)

    def _original_via_temp(self, stream: BinaryIO) -> PutResult:
        """The address is known only at the end: upload unlocked to a temp key, then copy on the
        server (no second upload) unless that content is already stored."""
        tmp = f"{TMP_PREFIX}{uuid.uuid4().hex}"
        result, version = self._upload(tmp, stream)
        key = original_key(result.sha256)
        try:
            created = not self.exists(key)
            if created:
                with self._errors(key):
                    self.client.copy_object(self.bucket, key, CopySource(self.bucket, tmp, version_id=version))
        finally:
            with self._errors(tmp):
                self.client.remove_object(self.bucket, tmp, version_id=version)
        return PutResult(key, result.size, result.sha256, result.sm3, created)

    # -- locks ---------------------------------------------------------------

    def _retention(self, key: str, version: str | None = None) -> datetime | None:
        with self._errors(key):
            try:
                retention = self.client.get_object_retention(self.bucket, key, version)
            except S3Error as exc:
                if exc.code not in _NO_LOCK:  # SeaweedFS's code for "no retention set"
                    raise
                return None
        return retention.retain_until_date if retention else None

    def _legal_hold(self, key: str, version: str | None = None) -> bool:
        with self._errors(key):
            try:
                return self.client.is_object_legal_hold_enabled(self.bucket, key, version)
            except S3Error as exc:
                if exc.code != "NoSuchObjectLegalHold":
                    raise
                return False

    def set_retention(self, key, retain_until) -> None:
        self._ensure_bucket()
        new = _until(retain_until)
        current = self._retention(check_key(key))
        if current is not None and new < current:
            raise RetentionShortened(
                f"object {key!r} is retained until {current.isoformat()}; it cannot be shortened to {new.isoformat()}")
        with self._errors(key):
            try:
                self.client.set_object_retention(self.bucket, key, Retention(self.retention_mode, new))
            except S3Error as exc:  # e.g. shortened meanwhile: COMPLIANCE must be refused by the server
                if exc.code not in _LOCK_REFUSED:
                    raise
                raise RetentionShortened(
                    f"object {key!r}: the server refused retention until {new.isoformat()}: {exc.message}") from None

    def set_legal_hold(self, key, on) -> None:
        self._stat(key)  # SeaweedFS answers 500, not NoSuchKey, for a missing object
        with self._errors(key):
            if on:
                self.client.enable_object_legal_hold(self.bucket, key)
            else:
                self.client.disable_object_legal_hold(self.bucket, key)

    # -- reading -------------------------------------------------------------

    def get(self, key, start=0, length=None) -> Iterator[bytes]:
        check_key(key)
        if start < 0 or (length is not None and length < 0):
            raise ValueError("byte range start and length must not be negative")
        self._ensure_bucket()
        if length == 0:
            self.stat(key)
            return iter(())
        with self._errors(key):
            try:
                response = self.client.get_object(self.bucket, key, offset=start, length=length or 0)
            except S3Error as exc:
                if exc.code != "InvalidRange":
                    raise
                self.stat(key)  # starts at or after the end: nothing to read, if it exists
                return iter(())
        return self._body(key, response)

    def _body(self, key: str, response) -> Iterator[bytes]:
        try:
            with self._errors(key):
                yield from response.stream(self.chunk_size)
        finally:  # also when the caller stops early
            response.close()
            response.release_conn()

    def _info(self, key: str, size: int, modified: datetime, version: str | None) -> ObjectInfo:
        return ObjectInfo(key, size, modified.astimezone(timezone.utc),
                          self._retention(key, version), self._legal_hold(key, version))

    def _stat(self, key: str):
        self._ensure_bucket()
        with self._errors(check_key(key)):
            return self.client.stat_object(self.bucket, key)

    def stat(self, key) -> ObjectInfo:
        st = self._stat(key)
        return self._info(key, st.size, st.last_modified, st.version_id)

    def exists(self, key) -> bool:
        try:
            self._stat(key)
        except ObjectNotFound:
            return False
        return True

    def list(self, prefix="") -> Iterator[ObjectInfo]:
        self._ensure_bucket()
        with self._errors(f"list {prefix!r}"):
            for obj in self.client.list_objects(self.bucket, prefix=prefix, recursive=True):
                if obj.is_dir or obj.object_name.startswith("_"):  # _tmp/, _staging/
                    continue
                try:
                    yield self._info(obj.object_name, obj.size, obj.last_modified, obj.version_id)
                except ObjectNotFound:  # deleted while listing
                    continue

    # -- deleting ------------------------------------------------------------

    def remove_stale_temporaries(self, older_than: timedelta) -> int:
        """Temp objects of originals whose writer died between upload and copy (they are
        uploaded without a lock, so they can go)."""
        self._ensure_bucket()
        cutoff = datetime.now(timezone.utc) - older_than
        removed = 0
        with self._errors(f"list {TMP_PREFIX!r}"):
            stale = [(obj.object_name, obj.version_id) for obj in
                     self.client.list_objects(self.bucket, prefix=TMP_PREFIX, recursive=True, include_version=True)
                     if not obj.is_dir and obj.last_modified is not None and obj.last_modified < cutoff]
        for name, version in stale:
            with self._errors(name):
                self.client.remove_object(self.bucket, name, version_id=version)
            removed += 1
        return removed

    def delete(self, key) -> None:
        st = self._stat(key)
        info = self._info(key, st.size, st.last_modified, st.version_id)
        if info.legal_hold:
            raise ObjectLocked(f"object {key!r} is under legal hold")
        if info.retain_until is not None and info.retain_until > datetime.now(timezone.utc):
            raise ObjectLocked(f"object {key!r} is retained until {info.retain_until.isoformat()}")
        with self._errors(key):
            try:  # the version itself, not a delete marker; the server refuses if it is locked
                self.client.remove_object(self.bucket, key, version_id=st.version_id)
            except S3Error as exc:
                if exc.code not in _LOCK_REFUSED:
                    raise
                raise ObjectLocked(f"object {key!r}: the server refused to delete it: {exc.message}") from None

    def check(self) -> None:
        self._bucket_ready = False  # look again: the bucket may have gone
        self._ensure_bucket()
