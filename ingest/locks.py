"""An upload's lock, held in the database so that every API process on every host sees it.

It is a lease: the holder renews it while it works, and a lock left by a killed process
frees itself when its lease runs out, or at once when that process ran on this host.
"""
from __future__ import annotations

import os
import socket
import uuid
from datetime import timedelta

from sqlalchemy import or_, select, update

from storage.db import utcnow
from storage.ingest_models import Upload


def _host() -> str:
    return socket.gethostname()[:32]


def new_owner() -> str:
    """Who holds a lock: host, process and a per-request tag."""
    return f"{_host()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def _dead_here(owner: str | None) -> bool:
    """The holder ran on this host and its process is gone (a restart after kill -9)."""
    if not owner:
        return False
    host, _, rest = owner.partition(":")
    pid = rest.partition(":")[0]
    if host != _host() or not pid.isdigit() or int(pid) == os.getpid():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return _zombie(int(pid))


def _zombie(pid: int) -> bool:
    """Killed but not yet reaped (its parent died too): as dead as it gets."""
    try:
        with open(f"/proc/{pid}/stat") as handle:
            return handle.read().rsplit(")", 1)[1].split()[0] == "Z"
    except (OSError, IndexError):
        return False


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
        if _dead_here(holder):
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
