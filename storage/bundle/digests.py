"""SHA-256 digests computed by threads beside the zip writer, on the machine's other core
(hashlib releases the GIL for large chunks): hashing in line would make an export as slow as
the hash and the write added together."""
from __future__ import annotations

import hashlib
import os
import queue
import threading

QUEUE_DEPTH = 16
"""Chunks (of the store's chunk size) that may wait for the hashing thread before the copy blocks."""
READ_SIZE = 1 << 20


class ChunkHasher(threading.Thread):
    """SHA-256 of the chunks handed to update(); use as a context manager."""

    def __init__(self, depth: int = QUEUE_DEPTH):
        super().__init__(daemon=True, name="bundle-file-sha256")
        self._digest, self._chunks = hashlib.sha256(), queue.Queue(depth)

    def run(self) -> None:
        update, get = self._digest.update, self._chunks.get
        while (chunk := get()) is not None:
            update(chunk)

    def update(self, chunk: bytes) -> None:
        self._chunks.put(bytes(chunk))  # a copy only if the caller's buffer is mutable

    def hexdigest(self) -> str:
        return self._digest.hexdigest()

    def __enter__(self) -> "ChunkHasher":
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self._chunks.put(None)
        self.join()


class FinishedFileHasher(threading.Thread):
    """SHA-256 of a file being written, read back (from the page cache) up to each offset the
    writer declares final: zipfile rewrites an entry's header when the entry ends, so only the
    bytes before the entry being written are final."""

    def __init__(self, path: str | os.PathLike):
        super().__init__(daemon=True, name="bundle-zip-sha256")
        self._fd = os.open(path, os.O_RDONLY)
        self._digest, self._offsets = hashlib.sha256(), queue.Queue()
        self._hashed, self._error = 0, None
        self.start()

    def run(self) -> None:
        try:
            while (final := self._offsets.get()) is not None:
                while self._hashed < final:
                    chunk = os.pread(self._fd, min(READ_SIZE, final - self._hashed), self._hashed)
                    if not chunk:
                        raise OSError(f"the bundle ended at {self._hashed} bytes, before {final}")
                    self._digest.update(chunk)
                    self._hashed += len(chunk)
        except OSError as exc:  # reported by finish(), in the writer's thread
            self._error = exc

    def final_upto(self, offset: int) -> None:
        self._offsets.put(offset)

    def finish(self) -> str:
        """The digest of everything declared final; OSError if it could not be read back."""
        if self._fd is not None:
            self._offsets.put(None)
            self.join()
            os.close(self._fd)
            self._fd = None
        if self._error is not None:
            raise self._error
        return self._digest.hexdigest()
