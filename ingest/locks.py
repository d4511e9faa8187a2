"""An upload's lock, held in the database so that every API process on every host sees it.

It is a lease with a fencing token: each acquisition raises the upload's `lock_generation`, the
holder renews its lease before each buffer it writes, and a writer's bytes count only when the
row still carries its generation as they are committed (ingest/uploads.py). So a writer that
paused past its lease (a stalled client, GC, SIGSTOP) and carries on is refused, whatever its
clock says. A lock left by a killed process frees itself when its lease runs out, or at once
when that process ran on this host.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import timedelta

from sqlalchemy import or_, select, update

from storage.db import utcnow
from storage.ingest_models import Upload
from storage.owners import new_owner, owner_dead_here

RENEW_FRACTION = 1 / 3
"""Part of the lease after which the writer renews it before writing its next buffer."""


class LeaseLost(Exception):
    """Another request took the upload over: this writer must not write or commit anything."""


@dataclass
class Lease:
    session_factory: object
    upload_id: str
    owner: str
    generation: int
    seconds: float
    _renew_at: float = field(default=0.0)

    def __post_init__(self) -> None:
        self._renew_at = time.monotonic() + self.seconds * RENEW_FRACTION

    def keep(self) -> None:
        """Before each buffer: renew once a third of the lease has passed; LeaseLost if taken over."""
        if time.monotonic() < self._renew_at:
            return
        if not renew(self.session_factory, self.upload_id, self.owner, self.generation, self.seconds):
            raise LeaseLost(self.upload_id)
        self._renew_at = time.monotonic() + self.seconds * RENEW_FRACTION

    def release(self) -> None:
        release(self.session_factory, self.upload_id, self.owner, self.generation)


def acquire(session_factory, upload_id: str, lease_seconds: float) -> Lease | None:
    """Take the lock if it is free, its lease ran out, or its holder died on this host; the
    lease carries the next generation. None when someone else holds it."""
    owner = new_owner()
    now = utcnow()
    values = {"lock_owner": owner, "lock_expires_at": now + timedelta(seconds=lease_seconds),
              "lock_generation": Upload.lock_generation + 1}
    with session_factory() as session, session.begin():
        taken = session.execute(
            update(Upload).where(Upload.id == upload_id,
                                 or_(Upload.lock_owner.is_(None), Upload.lock_expires_at < now))
            .values(**values)).rowcount
        if not taken:
            holder = session.scalar(select(Upload.lock_owner).where(Upload.id == upload_id))
            if owner_dead_here(holder):
                taken = session.execute(update(Upload).where(Upload.id == upload_id, Upload.lock_owner == holder)
                                        .values(**values)).rowcount
        if taken != 1:
            return None
        generation = session.scalar(select(Upload.lock_generation).where(Upload.id == upload_id))
    return Lease(session_factory, upload_id, owner, generation, lease_seconds)


def renew(session_factory, upload_id: str, owner: str, generation: int, lease_seconds: float) -> bool:
    """Extend the lease; False if it was lost (expired and taken by someone else)."""
    with session_factory() as session, session.begin():
        kept = session.execute(
            update(Upload).where(Upload.id == upload_id, Upload.lock_owner == owner,
                                 Upload.lock_generation == generation)
            .values(lock_expires_at=utcnow() + timedelta(seconds=lease_seconds))
        ).rowcount
    return kept == 1


def release(session_factory, upload_id: str, owner: str, generation: int) -> None:
    with session_factory() as session, session.begin():
        session.execute(update(Upload).where(Upload.id == upload_id, Upload.lock_owner == owner,
                                             Upload.lock_generation == generation)
                        .values(lock_owner=None, lock_expires_at=None))
