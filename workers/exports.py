"""The export job: build a case's evidence bundle in the worker's scratch space, store it
write-once at exports/<export id>.zip, and keep the Export row (the truth of the job) up to date.

Running it again after a crash does no harm: a bundle already stored is only hashed and
recorded; otherwise the bundle is built again (the export's custody events, already written
for the same manifest, are not written twice).
"""
from __future__ import annotations

import hashlib
import logging
import os
import time
from datetime import timedelta

from rq import Worker
from rq.exceptions import NoSuchJobError
from rq.job import Job, JobStatus
from sqlalchemy import select, update

from storage.custody_models import Export
from storage.db import utcnow
from storage.exceptions import ObjectExists
from storage.processing_models import Alert
from storage.owners import host_name, pid_dead_here
from workers.queues import JSONSerializer, enqueue_or_defer

log = logging.getLogger(__name__)

JOB_FUNCTION = "workers.jobs.export_bundle"
MAX_ATTEMPTS = 3
"""Runs of one export (each a worker lost midway) before it is marked failed."""
PROGRESS_SECONDS = 1.0
"""Least time between two progress writes to the Export row."""
CHUNK = 1 << 20


def object_key(export_id: str) -> str:
    return f"exports/{export_id}.zip"


def job_id(export_id: str) -> str:
    return f"export-{export_id}"


def enqueue(settings, connection, export_id: str) -> bool:
    """Hand a committed Export row to RQ; False (it stays queued for reconcile) if Redis is away."""
    return enqueue_or_defer(connection, settings.exports.queue, JOB_FUNCTION, export_id, job_id=job_id(export_id),
                            timeout=settings.exports.timeout_seconds, what=f"export {export_id}")


def run(rt, export_id: str) -> str:
    """The job body; returns the export's final status."""
    with rt.session() as session, session.begin():
        export = session.get(Export, export_id, with_for_update=True)
        if export is None:
            raise LookupError(f"no export {export_id}")
        if export.status in ("done", "failed"):
            return export.status
        if export.attempts >= MAX_ATTEMPTS:
            _finish(export, "failed", error=f"gave up after {export.attempts} attempts (the worker was lost each time)")
            return export.status
        export.status, export.attempts = "running", export.attempts + 1
    key = object_key(export_id)
    try:
        if rt.store.exists(key):  # an earlier run stored it and died before recording that
            size, sha256 = _hash_stored(rt.store, key)
        else:
            size, sha256 = _build_and_store(rt, export_id, key)
    except Exception as exc:
        record_failure(rt, export_id, exc)
        raise
    with rt.session() as session, session.begin():
        _finish(session.get(Export, export_id), "done", object_key=key, size=size, sha256=sha256, progress=1.0)
    return "done"


def _build_and_store(rt, export_id: str, key: str) -> tuple[int, str]:
    from storage.bundle import build_bundle
    from storage.signing import load_signer

    signer = load_signer(rt.settings)
    scratch = rt.settings.work_dir / "exports"
    scratch.mkdir(parents=True, exist_ok=True)
    for stale in scratch.glob(f"{export_id}-*.zip"):  # left by runs of this export whose process died
        pid = stale.stem.rsplit("-", 1)[1]
        if pid.isdigit() and pid_dead_here(host_name(), int(pid)):
            stale.unlink(missing_ok=True)
    path = scratch / f"{export_id}-{os.getpid()}.zip"
    progress = ProgressWriter(rt, export_id)
    actor = {"actor_type": "worker", "actor_id": host_name(), "source_address": None}
    try:
        result = build_bundle(rt, export_id, path, actor=actor, signer=signer,
                              progress=lambda done, total: progress.report(0.5 * done / total if total else 0.5))
        with rt.session() as session, session.begin():
            row = session.get(Export, export_id)
            row.total_bytes, row.checkpoint_count = result.total_bytes, result.checkpoint_count
        with open(path, "rb") as handle:
            stored = rt.store.put(key, _Counting(handle, result.size, progress), content_type="application/zip")
    except ObjectExists:  # a run of this export that was thought lost stored its bundle first
        return _hash_stored(rt.store, key)
    finally:
        path.unlink(missing_ok=True)
    return stored.size, stored.sha256


def _hash_stored(store, key: str) -> tuple[int, str]:
    digest, size = hashlib.sha256(), 0
    for chunk in store.get(key):
        digest.update(chunk)
        size += len(chunk)
    return size, digest.hexdigest()


def record_failure(rt, export_id: str, exc: BaseException, log_it: bool = True) -> str:
    """Mark the export failed with the reason (returned); a stored file that no longer matches its
    recorded hash also raises a critical alert. log_it: a worker logs it with its traceback; the
    CLI tells the person instead."""
    from storage.bundle import BundleIntegrityError
    from storage.signing import SigningKeyError
    reason = exc.message(rt.settings.language) if isinstance(exc, SigningKeyError) else (str(exc) or type(exc).__name__)
    if log_it:
        log.error("export %s failed: %s", export_id, reason, exc_info=exc)
    with rt.session() as session, session.begin():
        _finish(session.get(Export, export_id), "failed", error=reason)
        if isinstance(exc, BundleIntegrityError):
            session.add(Alert(severity="critical", code="export_integrity_failed", clip_id=exc.clip_id,
                              details={"export_id": export_id, "reason": reason}))
    return reason


def _finish(export: Export, status: str, **values) -> None:
    export.status, export.finished_at = status, utcnow()
    for name, value in values.items():
        setattr(export, name, value)


class ProgressWriter:
    """Writes an export's progress to its row, at most once a PROGRESS_SECONDS."""

    def __init__(self, rt, export_id: str):
        self.rt, self.export_id, self._last = rt, export_id, 0.0

    def report(self, fraction: float) -> None:
        now = time.monotonic()
        if now - self._last < PROGRESS_SECONDS:
            return
        self._last = now
        with self.rt.session() as session, session.begin():
            session.execute(update(Export).where(Export.id == self.export_id, Export.status == "running")
                            .values(progress=round(min(fraction, 0.999), 3)))


class _Counting:
    """The finished zip on its way to the store: the second half of the progress."""

    def __init__(self, handle, size: int, progress: ProgressWriter):
        self._handle, self._size, self._progress, self._read = handle, max(size, 1), progress, 0

    def read(self, size: int = -1) -> bytes:
        chunk = self._handle.read(size if size and size > 0 else CHUNK)
        self._read += len(chunk)
        self._progress.report(0.5 + 0.5 * self._read / self._size)
        return chunk


# -- found by the worker sweep ---------------------------------------------------------------------

def reconcile(rt, connection) -> int:
    """Enqueue again exports whose job Redis lost or whose worker died (queued or running for longer
    than processing.stale_after_seconds with no live job); returns how many."""
    cutoff = utcnow() - timedelta(seconds=rt.settings.processing.stale_after_seconds)
    with rt.session() as session:
        suspects = session.scalars(select(Export.id).where(Export.status.in_(("queued", "running")),
                                                           Export.created_at < cutoff)).all()
    handed = 0
    for export_id in suspects:
        if not _job_alive(connection, job_id(export_id)):
            log.warning("export %s lost its job (Redis restarted or its worker died): enqueuing it again", export_id)
            handed += enqueue(rt.settings, connection, export_id)
    return handed


def _job_alive(connection, rq_id: str) -> bool:
    try:
        job = Job.fetch(rq_id, connection=connection, serializer=JSONSerializer)
    except NoSuchJobError:
        return False
    status = job.get_status()
    if status in (JobStatus.QUEUED, JobStatus.SCHEDULED, JobStatus.DEFERRED):
        return True
    if status == JobStatus.STARTED and job.worker_name:  # a killed worker's registration expires
        return Worker.find_by_key(f"{Worker.redis_worker_namespace_prefix}{job.worker_name}", connection,
                                  serializer=JSONSerializer) is not None
    return False
