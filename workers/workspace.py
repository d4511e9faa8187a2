"""A job's private scratch directory on this host: the original is streamed into it, tools
write their output there, and it is removed when the job ends. Directories left by killed
jobs are removed by the next worker sweep on the same host."""
from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import shutil
import tempfile
from pathlib import Path

from storage.owners import host_name, pid_dead_here

log = logging.getLogger(__name__)

OWNER_FILE = ".owner"
_SAFE_SUFFIX = re.compile(r"^\.[A-Za-z0-9]{1,8}$")


class OriginalChanged(Exception):
    """The original read back from the store does not hash to the clip's SHA-256."""


class Workspace:
    def __init__(self, work_dir: Path, label: str):
        work_dir.mkdir(parents=True, exist_ok=True)
        self.path = Path(tempfile.mkdtemp(prefix=f"{label}.", dir=work_dir))
        (self.path / OWNER_FILE).write_text(json.dumps({"host": host_name(), "pid": os.getpid()}))

    def fetch_original(self, store, clip) -> Path:
        """Stream the clip's original into the workspace, checking it is still the same bytes, so
        that the source SHA-256 a derivative records is true of what the tools read. (SHA-256
        alone: it identifies the bytes; SM3 is recomputed by the verify step. SM3 would triple
        the cost of this pass.) The name keeps the original's extension: ffmpeg uses it to
        recognise some formats."""
        suffix = Path(clip.filename).suffix.lower()
        target = self.path / ("original" + (suffix if _SAFE_SUFFIX.match(suffix) else ""))
        digest, size = hashlib.sha256(), 0
        with open(target, "wb") as handle:
            for chunk in store.get(clip.original_key):
                handle.write(chunk)
                digest.update(chunk)
                size += len(chunk)
        if digest.hexdigest() != clip.sha256 or size != clip.size:
            raise OriginalChanged(f"original {clip.original_key} read back as SHA-256 {digest.hexdigest()}, "
                                  f"{size} bytes; the clip records {clip.sha256}, {clip.size} bytes")
        return target

    def remove(self) -> None:
        shutil.rmtree(self.path, ignore_errors=True)

    def __enter__(self) -> "Workspace":
        return self

    def __exit__(self, *exc) -> None:
        self.remove()


def remove_abandoned(work_dir: Path) -> int:
    """Remove workspaces whose job process on this host is gone; returns how many."""
    removed = 0
    if not work_dir.is_dir():
        return 0
    for entry in work_dir.iterdir():
        try:
            owner = json.loads((entry / OWNER_FILE).read_text())
        except (OSError, ValueError):
            continue  # not ours, or still being created
        pid = owner.get("pid")
        if isinstance(pid, int) and pid > 0 and pid_dead_here(owner.get("host", ""), pid):
            shutil.rmtree(entry, ignore_errors=True)
            log.info("removed the workspace of a dead job: %s", entry)
            removed += 1
    return removed
