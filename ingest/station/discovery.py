"""Finding recordings under the watch dir, and waiting until each is completely written.

The watch dir holds one sub-folder per recorder (nested as the docking software likes).
Hidden and temporary files (dotfiles, *.part, *.tmp), hidden folders and symbolic links are
skipped; the recorders' clock readings are listed apart (they are reported, never uploaded).
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

TEMPORARY_SUFFIXES = (".part", ".tmp")


@dataclass(frozen=True)
class SeenFile:
    path: str
    """Relative to the watch dir, with / between parts (the journal's key)."""
    size: int
    mtime_ns: int


@dataclass
class Scan:
    files: list[SeenFile] = field(default_factory=list)
    clocks: list[SeenFile] = field(default_factory=list)
    """The recorders' clock-reading files."""
    errors: list[str] = field(default_factory=list)
    """Folders that could not be read, each with the reason (the caller reports them)."""


def is_skipped(name: str) -> bool:
    return name.startswith(".") or name.lower().endswith(TEMPORARY_SUFFIXES)


def scan(watch_dir: str | Path, clock_file: str = "clock.json") -> Scan:
    """Every candidate recording (and clock file) under the watch dir with its size and mtime."""
    result = Scan()
    pending = [(Path(watch_dir), "")]
    while pending:
        directory, prefix = pending.pop()
        try:
            entries = list(os.scandir(directory))
        except OSError as exc:
            result.errors.append(f"{directory}: {exc.strerror or exc}")
            continue
        for entry in sorted(entries, key=lambda item: item.name):
            if is_skipped(entry.name) or entry.is_symlink():
                continue
            relative = prefix + entry.name
            if not _utf8(relative):
                # Not UTF-8 (e.g. GBK from a Windows dock): the journal and the upload metadata cannot
                # carry it. The file stays where it is, named in the log until someone renames it.
                shown = os.fsencode(relative).decode("utf-8", "backslashreplace")
                result.errors.append(f"{shown}: the name is not UTF-8 text; rename it to have it uploaded")
                continue
            try:
                if entry.is_dir(follow_symlinks=False):
                    pending.append((Path(entry.path), relative + "/"))
                elif entry.is_file(follow_symlinks=False):
                    stat = entry.stat(follow_symlinks=False)
                    listed = result.clocks if entry.name.lower() == clock_file.lower() else result.files
                    listed.append(SeenFile(relative, stat.st_size, stat.st_mtime_ns))
            except FileNotFoundError:
                continue  # removed between listing and stat: no longer there to upload
    result.files.sort(key=lambda item: item.path)
    result.clocks.sort(key=lambda item: item.path)
    return result


def _utf8(name: str) -> bool:
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:  # undecodable bytes in the name, kept by Python as surrogates
        return False
    return True


class StabilityTracker:
    """Reports files whose size and mtime have not changed for `stable_seconds` of our
    own observation (an old mtime alone proves nothing: copies may keep the original's)."""

    def __init__(self, stable_seconds: float):
        self.stable_seconds = stable_seconds
        self._since: dict[str, tuple[int, int, float]] = {}

    def update(self, files: list[SeenFile], now: float) -> list[SeenFile]:
        """Take one scan's files seen at `now`; the ones stable by now."""
        seen: dict[str, tuple[int, int, float]] = {}
        stable = []
        for item in files:
            before = self._since.get(item.path)
            if before is not None and before[:2] == (item.size, item.mtime_ns):
                since = before[2]
            else:
                since = now
            seen[item.path] = (item.size, item.mtime_ns, since)
            if now - since >= self.stable_seconds:
                stable.append(item)
        self._since = seen
        return stable
