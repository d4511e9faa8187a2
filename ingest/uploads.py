"""What happens to an upload: creation, receiving bytes durably, completion into evidence,
termination and expiry. The HTTP layer (ingest/tus_api.py) only translates to and from tus.

A receipt is a promise: an offset is acknowledged only after its bytes are durable in the staging
area (storage/staging) and committed to the upload's row by a writer that still holds the
upload's lease generation (ingest/locks.py), and a clip exists only after the whole file's
SHA-256 equals the sender's and the original is stored write-once. The running SHA-256 and SM3
are saved with each committed offset, so the next request continues them on any process or host.
"""
from __future__ import annotations

import base64
import errno
import logging
import secrets
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import BinaryIO

from sqlalchemy import func, select, update
from sqlalchemy.exc import DBAPIError
from werkzeug.exceptions import ClientDisconnected

from ingest.checksums import CHECKSUM_ALGORITHMS
from ingest.locks import Lease, LeaseLost
from storage.custody import append_event, lost_append_race
from storage.db import utcnow
from storage.exceptions import StorageError
from storage.ingest_models import OutboxEntry, Upload
from storage.models import Clip, Device
from storage.objects import midstate
from storage.objects.hashing import HashState, ParallelHasher
from storage.staging import Segment
from storage.staging.base import min_segment
from workers import linking, store_retention

log = logging.getLogger(__name__)

HASH_QUEUE_BYTES = 4 << 20
"""Received bytes that may wait for the hash threads, per upload: with many uploads at once
this, not the file size, decides the memory an upload takes."""
COMPLETION_ATTEMPTS = 5
"""Tries at the completion transaction when another writer extended the custody chain first."""
ORPHAN_AGE = timedelta(hours=1)
"""Age after which staged data of an upload that is no longer receiving is removed: what a
writer left that was killed after it lost its lease."""


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


@dataclass
class Stats:
    """What this process did that costs more than the bytes it received (tests, benchmarks)."""

    rebuilds: int = 0
    rebuilt_bytes: int = 0
    rebuild_seconds: float = 0.0


stats = Stats()


def fenced(upload_id: str) -> UploadError:
    return UploadError(409, "upload.fenced", id=upload_id)


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
                        declared_sha256=metadata["sha256"], extra_metadata=extra, segments=[],
                        expires_at=utcnow() + timedelta(hours=settings.uploads.expires_hours))
        session.add(upload)
        session.flush()
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


def segments_of(upload: Upload) -> list[Segment]:
    if upload.segments is None and upload.upload_offset:  # staged before segments: one file
        return [Segment(f"{upload.id}.part", 0, upload.upload_offset)]
    return [Segment.from_dict(value) for value in upload.segments or []]


def hash_state(rt, upload: Upload) -> HashState:
    """The running digests at the upload's committed offset: restored from the row, else rebuilt
    once by reading the committed bytes (another OpenSSL build, or a row saved without one)."""
    offset = upload.upload_offset
    restored = midstate.restore(upload.hash_state, offset)
    if restored is not None:
        return HashState(restored[0], restored[1], offset)
    started = time.perf_counter()
    with ParallelHasher(chunk_size=rt.settings.object_store.chunk_size) as hasher:
        for chunk in rt.staging.read(segments_of(upload)):
            hasher.update(chunk)
        state = hasher.state()
    if state.size != offset:
        raise UploadError(503, "upload.staging_failed",
                          reason=f"staged bytes end at {state.size}, the acknowledged offset is {offset}")
    if offset:
        stats.rebuilds += 1
        stats.rebuilt_bytes += offset
        stats.rebuild_seconds += time.perf_counter() - started
        log.info("upload %s: digests rebuilt from %d staged bytes", upload.id, offset)
    return state


class _Body:
    """The request body as the staging area reads it: first the bytes of a short last segment
    being rewritten (hashed before), then this request's bytes, each hashed and checksummed,
    each handed on only while the writer still holds its lease."""

    def __init__(self, upload_id: str, body: BinaryIO, remaining: int, chunk_size: int,
                 hasher: ParallelHasher, check, lease: Lease, carried: bytes):
        self.upload_id, self.body, self.remaining, self.chunk_size = upload_id, body, remaining, chunk_size
        self.hasher, self.check, self.lease, self.carried = hasher, check, lease, carried
        self.received = 0
        self.cut_short = self.ended = False

    def read(self, size: int = -1) -> bytes:
        limit = self.chunk_size if size is None or size < 0 else min(size, self.chunk_size)
        if self.carried:
            piece, self.carried = self.carried[:limit], self.carried[limit:]
            return piece
        if self.ended or self.received >= self.remaining:
            return b""
        try:
            chunk = self.body.read(min(limit, self.remaining - self.received))
        except (OSError, ValueError, EOFError, ClientDisconnected) as exc:  # dropped, reset or stalled
            log.warning("upload %s: the client stopped sending after %d bytes of this request (%s: %s); "
                        "keeping them, it can resume", self.upload_id, self.received, type(exc).__name__, exc)
            self.cut_short = self.ended = True
            return b""
        if not chunk:  # the body ended: a PATCH may carry any part of what remains
            self.ended = True
            return b""
        self.lease.keep()  # a writer that lost its lease writes nothing more, even into its own segment
        self.hasher.update(chunk)
        if self.check is not None:
            self.check.update(chunk)
        self.received += len(chunk)
        return chunk


def receive(rt, upload: Upload, offset: int, body: BinaryIO, checksum, chunk_size: int,
            lease: Lease) -> tuple[int, HashState]:
    """Append a PATCH body at `offset`; returns the new committed offset and the digests there.

    The body goes into a new segment of this writer's own; it counts only when the row, still
    carrying this lease's generation, records it. A body cut short by the client keeps what
    arrived (tus resumes from there); a checksum mismatch, a body longer than the upload or a
    lost lease keeps nothing of this request.
    """
    if offset != upload.upload_offset:
        raise UploadError(409, "upload.offset_mismatch", given=offset, expected=upload.upload_offset)
    staging = rt.staging
    segments = segments_of(upload)
    check = CHECKSUM_ALGORITHMS[checksum[0]]() if checksum else None
    try:
        before = hash_state(rt, upload)
        carried, replaced = b"", None
        if segments and segments[-1].size < min_segment(upload.length):
            replaced = segments[-1]
            carried = staging.read_segment(replaced)
            if len(carried) != replaced.size:
                raise OSError(errno.EIO, f"staged segment {replaced.key} holds {len(carried)} bytes, "
                                         f"not {replaced.size}")
        start = replaced.offset if replaced else offset
        tag = f"g{lease.generation}-{secrets.token_hex(4)}"
        with ParallelHasher(HASH_QUEUE_BYTES, chunk_size, resume=before.copy(), background=True) as hasher:
            reader = _Body(upload.id, body, upload.length - offset, chunk_size, hasher, check, lease, carried)
            segment = staging.write_segment(upload.id, start, tag, reader)
            after = hasher.state()
    except LeaseLost:
        raise fenced(upload.id) from None
    except OSError as exc:
        raise UploadError(507 if exc.errno in (errno.ENOSPC, errno.EDQUOT) else 503,
                          "upload.staging_failed", reason=exc.strerror or str(exc)) from None
    except StorageError as exc:
        raise UploadError(503, "upload.staging_failed", reason=str(exc)[:300]) from None
    too_long = not reader.cut_short and reader.received == upload.length - offset and _has_more(body)
    rejected = too_long or (check is not None and not reader.cut_short and check.digest() != checksum[1])
    if rejected or reader.received == 0:
        _discard(staging, segment)
        if too_long:
            raise UploadError(413, "upload.body_too_long", length=upload.length)
        if rejected:
            raise UploadError(460, "upload.checksum_mismatch", algorithm=checksum[0], offset=offset)
        return offset, before
    new_offset = offset + reader.received
    committed = (segments[:-1] if replaced else segments) + [segment]
    if not _commit(rt, upload, lease, offset, new_offset, committed, after):
        _discard(staging, segment)
        raise fenced(upload.id)
    if replaced is not None:
        _discard(staging, replaced)
    upload.upload_offset, upload.segments = new_offset, [s.as_dict() for s in committed]
    return new_offset, after


def _commit(rt, upload: Upload, lease: Lease, offset: int, new_offset: int, segments: list[Segment],
            state: HashState) -> bool:
    """Record the new offset, its segments and digests, only if this writer still holds the
    lease generation and nobody moved the offset: the fencing check of every write."""
    with rt.session() as session, session.begin():
        return session.execute(
            update(Upload).where(Upload.id == upload.id, Upload.status == "receiving",
                                 Upload.lock_owner == lease.owner, Upload.lock_generation == lease.generation,
                                 Upload.upload_offset == offset)
            .values(upload_offset=new_offset, segments=[s.as_dict() for s in segments],
                    hash_state=midstate.save(state.sha256, state.sm3, new_offset), updated_at=utcnow())
        ).rowcount == 1


def _discard(staging, segment: Segment) -> None:
    try:
        staging.discard(segment)
    except (OSError, StorageError) as exc:  # the sweeper removes it with the upload
        log.warning("could not remove an uncommitted staged segment %s now: %s", segment.key, exc)


def _has_more(body: BinaryIO) -> bool:
    try:
        return bool(body.read(1))
    except (OSError, ValueError, EOFError, ClientDisconnected):  # the body ended with the connection
        return False


def complete(rt, upload: Upload, lease: Lease, state: HashState | None, source: str | None) -> Receipt:
    """Turn a fully received upload into evidence, or reject it when the hash differs."""
    if state is None:
        state = hash_state(rt, upload)
    digests = ParallelHasher.digests_of(state)
    if digests.sha256 != upload.declared_sha256:
        _reject(rt, upload, lease, digests, source)
        _remove_staged(rt, upload.id)
        raise UploadError(460, "upload.hash_mismatch", declared=upload.declared_sha256, actual=digests.sha256)
    received_at = utcnow()
    retain_until = received_at + timedelta(days=rt.settings.retention.field_recording_days)
    try:
        stored = rt.staging.make_original(rt.store, segments_of(upload), digests, retain_until)
    except Exception as exc:  # the store's own errors differ per backend; the upload stays resumable
        log.exception("upload %s: storing the original failed; no receipt, staging kept", upload.id)
        raise UploadError(503, "upload.store_failed", reason=str(exc)[:300]) from None
    for attempt in range(COMPLETION_ATTEMPTS):
        try:
            receipt, job = _record(rt, upload, lease, stored, source, received_at, retain_until)
            break
        except DBAPIError as error:  # another writer extended the custody chain first
            if not lost_append_race(error) or attempt == COMPLETION_ATTEMPTS - 1:
                raise
    _remove_staged(rt, upload.id)
    if job is not None:
        _enqueue_now(rt, job)
    return receipt


def _remove_staged(rt, upload_id: str) -> None:
    try:
        rt.staging.remove(upload_id)
    except (OSError, StorageError) as exc:  # the sweeper removes staged data of finished uploads
        log.warning("upload %s: staged data not removed now (%s); the sweeper will", upload_id, exc)


def _enqueue_now(rt, outbox_id: str) -> None:
    """Start processing at once; if Redis is away the sweeper enqueues the row later."""
    try:
        from workers import outbox
        outbox.dispatch(rt, rt.redis(), ids=[outbox_id])
    except Exception:  # the clip is stored and recorded; only the start of processing waits
        log.exception("could not enqueue outbox row %s now; the sweeper will", outbox_id)


def _record(rt, upload: Upload, lease: Lease, stored, source: str | None, received_at: datetime,
            retain_until: datetime) -> tuple[Receipt, str | None]:
    """Clip, custody event, its first links and outbox entry in one transaction (or the
    existing clip, again)."""
    with rt.session() as session, session.begin():
        linking.take_lock(session)
        row = session.scalars(select(Upload).where(Upload.id == upload.id).with_for_update()).one()
        if (row.lock_owner, row.lock_generation, row.status) != (lease.owner, lease.generation, "receiving"):
            raise fenced(upload.id)
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


def _reject(rt, upload: Upload, lease: Lease, digests, source: str | None) -> None:
    with rt.session() as session, session.begin():
        row = session.scalars(select(Upload).where(Upload.id == upload.id).with_for_update()).one()
        if (row.lock_owner, row.lock_generation, row.status) != (lease.owner, lease.generation, "receiving"):
            raise fenced(upload.id)
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


def terminate(rt, upload: Upload, lease: Lease) -> None:
    if upload.status == "completed":
        raise UploadError(409, "upload.completed_is_evidence", id=upload.id)
    with rt.session() as session, session.begin():
        ended = session.execute(
            update(Upload).where(Upload.id == upload.id, Upload.status == "receiving",
                                 Upload.lock_generation == lease.generation)
            .values(status="terminated", updated_at=utcnow())).rowcount
    if not ended:
        raise fenced(upload.id)
    _remove_staged(rt, upload.id)


def expire(rt, now=None) -> int:
    """Remove partial uploads past their Upload-Expires, and staged data that no receiving upload
    owns any more; returns how many uploads expired."""
    now = now or utcnow()
    with rt.session() as session, session.begin():
        rows = session.scalars(select(Upload).where(Upload.status == "receiving", Upload.expires_at <= now)).all()
        for row in rows:
            row.status, row.updated_at = "expired", now
        expired = [row.id for row in rows]
    for upload_id in expired:
        _remove_staged(rt, upload_id)
    remove_orphans(rt)
    return len(expired)


def remove_orphans(rt, older_than: timedelta = ORPHAN_AGE) -> int:
    """Staged data of uploads that finished, expired or were terminated, untouched for a while
    (left by a writer killed after it lost its lease, or a removal the store refused then)."""
    try:
        staged = rt.staging.staged_uploads(older_than)
    except (OSError, StorageError) as exc:
        log.warning("staged data not swept now: %s", exc)
        return 0
    if not staged:
        return 0
    with rt.session() as session:
        receiving = set(session.scalars(select(Upload.id).where(Upload.id.in_(list(staged)),
                                                                Upload.status == "receiving")))
    orphans = [upload_id for upload_id in staged if upload_id not in receiving]
    for upload_id in orphans:
        _remove_staged(rt, upload_id)
    return len(orphans)
