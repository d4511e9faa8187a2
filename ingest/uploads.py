"""What happens to an upload: creation, receiving bytes durably, completion into evidence,
termination and expiry. The HTTP layer (ingest/tus_api.py) only translates to and from tus.

A receipt is a promise: an offset is acknowledged only after its bytes are fdatasync'd,
and a clip exists only after the whole file's SHA-256 equals the sender's and the
original is stored write-once.
"""
from __future__ import annotations

import base64
import errno
import logging
import os
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import BinaryIO

from sqlalchemy import func, select
from sqlalchemy.exc import DBAPIError
from werkzeug.exceptions import ClientDisconnected

from ingest import locks
from ingest.checksums import CHECKSUM_ALGORITHMS
from ingest.hash_cache import HashCache
from storage.custody import append_event, lost_append_race
from storage.db import utcnow
from storage.durability import FileAppender, fsync_dir
from storage.ingest_models import OutboxEntry, Upload
from storage.models import Clip, Device
from storage.objects.hashing import ParallelHasher
from workers import linking, store_retention

log = logging.getLogger(__name__)

RENEW_EVERY = 64 << 20
"""Bytes received between renewals of the upload's lock lease."""
HASH_QUEUE_BYTES = 4 << 20
"""Received bytes that may wait for the hash threads, per upload: with many uploads at once
this, not the file size, decides the memory an upload takes."""
COMPLETION_ATTEMPTS = 5
"""Tries at the completion transaction when another writer extended the custody chain first."""


class UploadError(Exception):
    """A tus request that cannot be done: HTTP status and a message key (server.i18n)."""

    def __init__(self, status: int, key: str, **values):
        super().__init__(key, values)
        self.status, self.key, self.values = status, key, values


@dataclass(frozen=True)
class Receipt:
    clip_id: str
    sha256: str
    sm3: str
    size: int
    stored_at: object
    repeat: bool


def staging_path(settings, upload_id: str) -> Path:
    return settings.staging_dir / f"{upload_id}.part"


def create(rt, station_id: str, length: int, metadata: dict, source: str | None) -> Upload:
    settings = rt.settings
    if length > settings.uploads.max_size:
        raise UploadError(413, "upload.too_large", size=length, limit=settings.uploads.max_size)
    with rt.session() as session, session.begin():
        open_uploads = session.scalar(select(func.count()).select_from(Upload).where(
            Upload.station_id == station_id, Upload.status == "receiving"))
        if open_uploads >= settings.uploads.max_open_per_station:
            raise UploadError(429, "upload.too_many", limit=settings.uploads.max_open_per_station)
        extra = {k: v for k, v in metadata.items()
                 if k not in ("filename", "device_id", "officer_id", "recorded_at", "sha256", "zone_assumed")}
        if metadata.get("zone_assumed"):
            extra["_zone_assumed"] = True
        upload = Upload(station_id=station_id, length=length, upload_offset=0, status="receiving",
                        filename=metadata["filename"], device_serial=metadata["device_id"],
                        officer_id=metadata.get("officer_id"), recorded_at=metadata["recorded_at"],
                        declared_sha256=metadata["sha256"], extra_metadata=extra,
                        expires_at=utcnow() + timedelta(hours=settings.uploads.expires_hours))
        session.add(upload)
        session.flush()
        path = staging_path(settings, upload.id)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        os.close(fd)
        fsync_dir(path.parent)
    return upload


def find(rt, upload_id: str, station_id: str) -> Upload:
    """The station's upload; 404 for unknown (or another station's), 410 once expired."""
    with rt.session() as session:
        upload = session.get(Upload, upload_id)
    if upload is None or upload.station_id != station_id or upload.status == "terminated":
        raise UploadError(404, "upload.not_found", id=upload_id)
    if upload.status == "expired" or (upload.status == "receiving" and upload.expires_at <= utcnow()):
        raise UploadError(410, "upload.expired", id=upload_id)
    return upload


def parse_checksum(header: str | None):
    """`Upload-Checksum: <algorithm> <base64 digest>` -> (algorithm, digest bytes) or None."""
    if not header:
        return None
    algorithm, _, encoded = header.strip().partition(" ")
    if algorithm not in CHECKSUM_ALGORITHMS:
        raise UploadError(400, "upload.checksum_algorithm", algorithm=algorithm[:20])
    try:
        return algorithm, base64.b64decode(encoded.strip(), validate=True)
    except ValueError:
        raise UploadError(400, "upload.checksum_encoding") from None


class _Received(FileAppender):
    """Bytes of one PATCH appended to the staging file, hashed (and checksummed) as they go."""

    def __init__(self, fd: int, offset: int, hasher: ParallelHasher, check):
        super().__init__(fd, offset)
        self.hasher, self.check = hasher, check

    def write(self, chunk: bytes) -> None:
        self.hasher.update(chunk)
        if self.check is not None:
            self.check.update(chunk)
        super().write(chunk)


def receive(rt, cache: HashCache, upload: Upload, offset: int, body: BinaryIO,
            checksum, chunk_size: int, lock_owner: str | None = None) -> int:
    """Append a PATCH body at `offset`; returns the new durable offset. The caller holds the lock.

    A body cut short by the client keeps what arrived (tus resumes from there); a checksum
    mismatch or a body longer than the upload keeps nothing of this request. On any other
    failure nothing is acknowledged and the running digests are dropped (rebuilt next time).
    """
    if offset != upload.upload_offset:
        raise UploadError(409, "upload.offset_mismatch", given=offset, expected=upload.upload_offset)
    path = staging_path(rt.settings, upload.id)
    remaining = upload.length - offset
    check = CHECKSUM_ALGORITHMS[checksum[0]]() if checksum else None
    before = cache.take(upload.id, offset, path)
    fd = os.open(path, os.O_WRONLY)
    try:
        os.ftruncate(fd, offset)  # bytes past the durable offset were never acknowledged
        os.lseek(fd, offset, os.SEEK_SET)
        with ParallelHasher(HASH_QUEUE_BYTES, chunk_size, resume=before.copy(), background=True) as hasher:
            received = _Received(fd, offset, hasher, check)
            cut_short = _copy_body(rt, upload.id, lock_owner, body, received, remaining, chunk_size)
            too_long = not cut_short and received.written == remaining and _has_more(body)
            rejected = too_long or (check is not None and not cut_short and check.digest() != checksum[1])
            if rejected:
                os.ftruncate(fd, offset)
            os.fdatasync(fd)
            after = hasher.state()
    except OSError as exc:
        raise UploadError(507 if exc.errno in (errno.ENOSPC, errno.EDQUOT) else 503,
                          "upload.staging_failed", reason=exc.strerror or str(exc)) from None
    finally:
        os.close(fd)
    if rejected:
        cache.give_back(upload.id, before)
        if too_long:
            raise UploadError(413, "upload.body_too_long", length=upload.length)
        raise UploadError(460, "upload.checksum_mismatch", algorithm=checksum[0], offset=offset)
    new_offset = offset + received.written
    with rt.session() as session, session.begin():
        row = session.get(Upload, upload.id)
        row.upload_offset = new_offset
        row.updated_at = utcnow()
    cache.give_back(upload.id, after)
    return new_offset


def _copy_body(rt, upload_id, lock_owner, body, received: _Received, remaining: int, chunk_size: int) -> bool:
    """Copy the request body into the staging file; True if the client went away midway."""
    renewed = 0
    while received.written < remaining:
        try:
            chunk = body.read(min(chunk_size, remaining - received.written))
        except (OSError, ValueError, EOFError, ClientDisconnected) as exc:  # dropped, reset or stalled
            log.warning("upload %s: the client stopped sending after %d bytes of this request (%s: %s); "
                        "keeping them, it can resume", upload_id, received.written, type(exc).__name__, exc)
            return True
        if not chunk:  # the body ended: a PATCH may carry any part of what remains
            return False
        received.write(chunk)
        if lock_owner and received.written - renewed >= RENEW_EVERY:
            locks.renew(rt.session, upload_id, lock_owner, rt.settings.uploads.lock_lease_seconds)
            renewed = received.written
    return False


def _has_more(body: BinaryIO) -> bool:
    try:
        return bool(body.read(1))
    except (OSError, ValueError, EOFError, ClientDisconnected):  # the body ended with the connection
        return False


def complete(rt, cache: HashCache, upload: Upload, source: str | None) -> Receipt:
    """Turn a fully received upload into evidence, or reject it when the hash differs."""
    path = staging_path(rt.settings, upload.id)
    state = cache.take(upload.id, upload.length, path)
    digests = ParallelHasher.digests_of(state)
    if digests.sha256 != upload.declared_sha256:
        _reject(rt, upload, digests, source)
        path.unlink(missing_ok=True)
        cache.forget(upload.id)
        raise UploadError(460, "upload.hash_mismatch", declared=upload.declared_sha256, actual=digests.sha256)
    received_at = utcnow()
    retain_until = received_at + timedelta(days=rt.settings.retention.field_recording_days)
    try:
        stored = rt.store.put_original_file(path, digests=digests, retain_until=retain_until)
    except Exception as exc:  # the store's own errors differ per backend; the upload stays resumable
        log.exception("upload %s: storing the original failed; no receipt, staging kept", upload.id)
        cache.give_back(upload.id, state)
        raise UploadError(503, "upload.store_failed", reason=str(exc)[:300]) from None
    for attempt in range(COMPLETION_ATTEMPTS):
        try:
            receipt, job = _record(rt, upload, stored, source, received_at, retain_until)
            break
        except DBAPIError as error:  # another writer extended the custody chain first
            if not lost_append_race(error) or attempt == COMPLETION_ATTEMPTS - 1:
                raise
    path.unlink(missing_ok=True)
    cache.forget(upload.id)
    if job is not None:
        _enqueue_now(rt, job)
    return receipt


def _enqueue_now(rt, outbox_id: str) -> None:
    """Start processing at once; if Redis is away the sweeper enqueues the row later."""
    try:
        from workers import outbox
        outbox.dispatch(rt, rt.redis(), ids=[outbox_id])
    except Exception:  # the clip is stored and recorded; only the start of processing waits
        log.exception("could not enqueue outbox row %s now; the sweeper will", outbox_id)


def _record(rt, upload: Upload, stored, source: str | None, received_at: datetime,
            retain_until: datetime) -> tuple[Receipt, str | None]:
    """Clip, custody event, its first links and outbox entry in one transaction (or the
    existing clip, again)."""
    with rt.session() as session, session.begin():
        linking.take_lock(session)
        row = session.get(Upload, upload.id)
        actor = {"actor_type": "station", "actor_id": upload.station_id, "source_address": source}
        facts = {"upload_id": upload.id, "filename": upload.filename, "size": stored.size,
                 "sha256": stored.sha256, "sm3": stored.sm3, "station_id": upload.station_id}
        clip = session.scalars(select(Clip).where(Clip.sha256 == stored.sha256)
                               .order_by(Clip.received_at)).first()
        repeat = clip is not None
        job = None
        if repeat:
            append_event(session, action="received_again", clip_id=clip.id, details=facts, **actor)
        else:
            device = session.scalar(select(Device).where(Device.serial == upload.device_serial))
            flags = {}
            if device is None:
                flags["unknown_device"] = upload.device_serial
            if upload.extra_metadata.get("_zone_assumed"):
                flags["recorded_at_zone_assumed"] = rt.settings.timezone
            clip = Clip(sha256=stored.sha256, sm3=stored.sm3, size=stored.size, original_key=stored.key,
                        filename=upload.filename, device_id=device.id if device else None,
                        device_serial=upload.device_serial, officer_id=upload.officer_id,
                        station_id=upload.station_id, recorded_at=upload.recorded_at, flags=flags,
                        received_at=received_at, retain_until=retain_until)
            session.add(clip)
            session.flush()
            append_event(session, action="received", clip_id=clip.id, details={**facts, "flags": flags}, **actor)
            linking.relink_clips(session, rt.settings, [clip.id],
                                 linking.Actor("station", upload.station_id, source))
            store_retention.apply_noted(session, rt)  # linked at once: evidence, held
            job = OutboxEntry(job="process_clip", args=[clip.id])
            session.add(job)
            session.flush()
        row.status, row.clip_id, row.updated_at = "completed", clip.id, utcnow()
        receipt = Receipt(clip.id, clip.sha256, clip.sm3, clip.size, clip.received_at, repeat)
        return receipt, job.id if job is not None else None


def _reject(rt, upload: Upload, digests, source: str | None) -> None:
    with rt.session() as session, session.begin():
        row = session.get(Upload, upload.id)
        row.status, row.updated_at = "rejected", utcnow()
        row.error = f"declared SHA-256 {upload.declared_sha256}, received bytes hash to {digests.sha256}"
        append_event(session, actor_type="station", actor_id=upload.station_id, action="upload_rejected",
                     source_address=source,
                     details={"upload_id": upload.id, "filename": upload.filename, "size": digests.size,
                              "declared_sha256": upload.declared_sha256, "sha256": digests.sha256,
                              "sm3": digests.sm3, "reason": "hash_mismatch"})


def receipt_for(rt, upload: Upload) -> Receipt | None:
    if upload.clip_id is None:
        return None
    with rt.session() as session:
        clip = session.get(Clip, upload.clip_id)
        return Receipt(clip.id, clip.sha256, clip.sm3, clip.size, clip.received_at, False)


def terminate(rt, cache: HashCache, upload: Upload) -> None:
    if upload.status == "completed":
        raise UploadError(409, "upload.completed_is_evidence", id=upload.id)
    with rt.session() as session, session.begin():
        row = session.get(Upload, upload.id)
        row.status, row.updated_at = "terminated", utcnow()
    staging_path(rt.settings, upload.id).unlink(missing_ok=True)
    cache.forget(upload.id)


def expire(rt, now=None) -> int:
    """Remove partial uploads past their Upload-Expires; returns how many."""
    now = now or utcnow()
    with rt.session() as session, session.begin():
        rows = session.scalars(select(Upload).where(Upload.status == "receiving", Upload.expires_at <= now)).all()
        for row in rows:
            row.status, row.updated_at = "expired", now
            staging_path(rt.settings, row.id).unlink(missing_ok=True)
        return len(rows)
