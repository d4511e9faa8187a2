"""Who holds a lease kept in the database (an upload's lock, a running processing step):
host, process and a tag, and whether that holder is known to be dead."""
from __future__ import annotations

import os
import socket
import uuid


def host_name() -> str:
    return socket.gethostname()[:32]


def new_owner() -> str:
    return f"{host_name()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def pid_dead_here(host: str, pid: int) -> bool:
    """The process ran on this host and is gone (or a zombie nobody reaped)."""
    if host != host_name() or pid == os.getpid():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return _zombie(pid)


def owner_dead_here(owner: str | None) -> bool:
    """The holder ran on this host and its process is gone (a restart after kill -9)."""
    if not owner:
        return False
    host, _, rest = owner.partition(":")
    pid = rest.partition(":")[0]
    return pid.isdigit() and pid_dead_here(host, int(pid))


def _zombie(pid: int) -> bool:
    """Killed but not yet reaped (its parent died too): as dead as it gets."""
    try:
        with open(f"/proc/{pid}/stat") as handle:
            return handle.read().rsplit(")", 1)[1].split()[0] == "Z"
    except (OSError, IndexError):
        return False
