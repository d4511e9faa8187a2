"""An upload's lock, held in the database so that every API process on every host sees it.

It is a lease: the holder renews it while it works, and a lock left by a killed process
frees itself when its lease runs out.
"""
from __future__ import annotations

import os
import socket
import uuid
from datetime import timedelta

from sqlalchemy import or_, update

from storage.db import utcnow
from storage.ingest_models import Upload


def new_owner() -> str:
    """Who holds a lock: host, process and a per-request tag (for people reading the table)."""
    return f"{socket.gethostname()[:32]}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def acquire(session_factory, upload_id: str, owner: str, lease_seconds: float) -> bool:
    now = utcnow()
    with session_factory() as session, session.begin():
        taken = session.execute(
            update(Upload)
            .where(Upload.id == upload_id,
                   or_(Upload.lock_owner.is_(None), Upload.lock_expires_at < now))
            .values(lock_owner=owner, lock_expires_at=now + timedelta(seconds=lease_seconds))
        ).rowcount
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
