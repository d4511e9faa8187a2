"""SHA-256 and SM3 of a stream, computed beside the write instead of after it.

hashlib releases the GIL for large buffers, so each digest runs in its own thread
and keeps up with the disk while the caller writes; memory is bounded by the queue
depth times the chunk size.
"""
from __future__ import annotations

import hashlib
import logging
import os
import queue
import threading
from dataclasses import dataclass

log = logging.getLogger(__name__)

QUEUE_BYTES = 16 << 20
"""Default bytes that may wait for a hashing thread before the writer blocks."""
BACKGROUND_NICENESS = 10
"""Priority of hash threads that run beside an API server's request threads."""

_STOP = object()


@dataclass(frozen=True)
class Digests:
    size: int
    sha256: str
    sm3: str


def new_sm3():
    return hashlib.new("sm3")


@dataclass
class HashState:
    """Digests of the first `size` bytes of a stream, able to take more (hashlib objects
    cannot be saved, so this lives in memory; after a restart it is rebuilt once)."""

    sha256: "hashlib._Hash"
    sm3: "hashlib._Hash"
    size: int

    def copy(self) -> "HashState":
        return HashState(self.sha256.copy(), self.sm3.copy(), self.size)


class _DigestThread(threading.Thread):
    def __init__(self, hasher, depth: int, background: bool):
        super().__init__(daemon=True, name=f"hash-{hasher.name}")
        self.hasher = hasher
        self.chunks: queue.Queue = queue.Queue(depth)
        self.background = background

    def run(self) -> None:
        if self.background:  # let request threads (HEAD, small calls) go first on a busy host
            try:
                os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), BACKGROUND_NICENESS)
            except (AttributeError, OSError) as exc:  # not Linux: threads share the process's priority
                log.warning("hash thread keeps normal priority (%s): HEAD may wait behind uploads", exc)
        update, get = self.hasher.update, self.chunks.get
        while (chunk := get()) is not _STOP:
            update(chunk)


class ParallelHasher:
    """Feed chunks with update(); finish() returns size and hex digests.

    Use as a context manager so the threads end even when the caller fails midway.
    `queue_bytes` / `chunk_size` chunks may wait: a writer that sends in bursts (S3 parts)
    wants room for a whole part, so hashing runs while the network waits.
    """

    def __init__(self, queue_bytes: int = QUEUE_BYTES, chunk_size: int = 1 << 20,
                 resume: "HashState | None" = None, background: bool = False) -> None:
        depth = max(2, queue_bytes // max(1, chunk_size))
        sha, sm3, size = (resume.sha256, resume.sm3, resume.size) if resume else (hashlib.sha256(), new_sm3(), 0)
        self._threads = [_DigestThread(sha, depth, background), _DigestThread(sm3, depth, background)]
        self._size = size
        self._result: Digests | None = None
        for thread in self._threads:
            thread.start()

    def update(self, chunk: bytes) -> None:
        if not chunk:
            return
        chunk = bytes(chunk)  # the caller may reuse its buffer
        self._size += len(chunk)
        for thread in self._threads:
            thread.chunks.put(chunk)

    def finish(self) -> Digests:
        if self._result is None:
            self._stop()
            sha, sm3 = (thread.hasher.hexdigest() for thread in self._threads)
            self._result = Digests(self._size, sha, sm3)
        return self._result

    @staticmethod
    def digests_of(state: "HashState") -> Digests:
        return Digests(state.size, state.sha256.hexdigest(), state.sm3.hexdigest())

    def state(self) -> "HashState":
        """The running digests after finish(), to continue with more bytes later."""
        self.finish()
        return HashState(self._threads[0].hasher, self._threads[1].hasher, self._size)

    def _stop(self) -> None:
        for thread in self._threads:
            thread.chunks.put(_STOP)
        for thread in self._threads:
            thread.join()

    def __enter__(self) -> "ParallelHasher":
        return self

    def __exit__(self, *exc) -> None:
        if self._result is None:
            self._stop()
