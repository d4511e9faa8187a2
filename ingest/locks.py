"""An upload's lock, held in the database so that every API process on every host sees it.

It is a lease: the holder renews it while it works, and a lock left by a killed process
frees itself when its lease runs out, or at once when that process ran on this host.
"""
from __future__ import annotations

from datetime import timedelta

from sqlalchemy import or_, select, update

from storage.db import utcnow
from storage.ingest_models import Upload
from storage.owners import new_owner, owner_dead_here  # noqa: F401  (new_owner is part of this API)


def acquire(session_factory, upload_id: str, owner: str, lease_seconds: float) -> bool:
    """Take the lock if it is free, its lease ran out, or its holder died on this host."""
    now = utcnow()
    values = {"lock_owner": owner, "lock_expires_at": now + timedelta(seconds=lease_seconds)}
    with session_factory() as session, session.begin():
        taken = session.execute(
            update(Upload).where(Upload.id == upload_id,
                                 or_(Upload.lock_owner.is_(None), Upload.lock_expires_at < now))
            .values(**values)).rowcount
        if taken:
            return True
        holder = session.scalar(select(Upload.lock_owner).where(Upload.id == upload_id))
        if owner_dead_here(holder):
            taken = session.execute(update(Upload).where(Upload.id == upload_id, Upload.lock_owner == holder)
                                    .values(**values)).rowcount
    return taken == 1


def renew(session_factory, upload_id: str, owner: str, lease_seconds: float) -> bool:
    """Extend the lease; False if it was lost (expired and taken by someone else)."""
    with session_factory() as session, session.begin():
        kept = session.execute(
            update(Upload).where(Upload.id == upload_id, Upload.lock_owner == owner)
            .values(lock_expires_at=utcnow() + timedelta(seconds=lease_seconds))
        ).rowcount
    return kept == 1


def release(session_factory, upload_id: str, owner: str) -> None:
    with session_factory() as session, session.begin():
        session.execute(update(Upload).where(Upload.id == upload_id, Upload.lock_owner == owner)
                        .values(lock_owner=None, lock_expires_at=None))
