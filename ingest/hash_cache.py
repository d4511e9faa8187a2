"""Running SHA-256 and SM3 of each upload, kept in memory between PATCHes.

hashlib's state cannot be saved, so after a restart (or when a PATCH lands on another
API process) the state is rebuilt once by reading the durable staging bytes; every later
PATCH continues from memory without reading the file again.
"""
from __future__ import annotations

import threading
from collections import OrderedDict
from pathlib import Path

from storage.objects.hashing import HashState, ParallelHasher

MAX_CACHED = 512
"""Uploads whose running digests one process keeps (a few hundred bytes each)."""


class HashCache:
    def __init__(self, capacity: int = MAX_CACHED, chunk_size: int = 1 << 20):
        self._states: OrderedDict[str, HashState] = OrderedDict()
        self._lock = threading.Lock()
        self.capacity, self.chunk_size = capacity, chunk_size
        self.rebuilds = 0

    def take(self, upload_id: str, offset: int, staging: Path) -> HashState:
        """The digests of the first `offset` bytes, removed from the cache while in use."""
        with self._lock:
            state = self._states.pop(upload_id, None)
        if state is not None and state.size == offset:
            return state
        return self._rebuild(staging, offset)

    def give_back(self, upload_id: str, state: HashState) -> None:
        with self._lock:
            self._states[upload_id] = state
            self._states.move_to_end(upload_id)
            while len(self._states) > self.capacity:
                self._states.popitem(last=False)

    def forget(self, upload_id: str) -> None:
        with self._lock:
            self._states.pop(upload_id, None)

    def _rebuild(self, staging: Path, offset: int) -> HashState:
        self.rebuilds += 1
        with ParallelHasher(chunk_size=self.chunk_size) as hasher, open(staging, "rb") as handle:
            left = offset
            while left:
                chunk = handle.read(min(self.chunk_size, left))
                if not chunk:
                    raise OSError(f"staging file {staging} is shorter than its durable offset {offset}")
                hasher.update(chunk)
                left -= len(chunk)
            return hasher.state()
