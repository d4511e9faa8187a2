"""Small helpers for making writes durable on Linux."""
from __future__ import annotations

import ctypes
import functools
import os

WRITEBACK_EVERY = 8 << 20
"""Bytes written between asking the kernel to start flushing them, so that the final
fdatasync finds little left to do instead of a whole file of dirty pages."""
_SYNC_FILE_RANGE_WRITE = 2


def fsync_dir(path) -> None:
    """Make a new or renamed directory entry durable."""
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@functools.cache
def _sync_file_range():
    try:
        function = ctypes.CDLL(None, use_errno=True).sync_file_range
    except (OSError, AttributeError):  # not Linux: the final fdatasync does all the work
        return None
    function.argtypes = (ctypes.c_int, ctypes.c_longlong, ctypes.c_longlong, ctypes.c_uint)
    return function


def start_writeback(fd: int, offset: int, length: int) -> None:
    """Start writing [offset, offset+length) to disk without waiting for it."""
    function = _sync_file_range()
    if function is not None:
        function(fd, offset, length, _SYNC_FILE_RANGE_WRITE)


class FileAppender:
    """Writes whole chunks to a file descriptor from `offset` on, asking the kernel to start
    flushing every WRITEBACK_EVERY bytes; the caller fdatasyncs before acknowledging."""

    def __init__(self, fd: int, offset: int = 0):
        self.fd, self.start = fd, offset
        self.written = self._flushed = 0

    def write(self, chunk) -> None:
        view = memoryview(chunk)
        while view:
            view = view[os.write(self.fd, view):]
        self.written += len(chunk)
        if self.written - self._flushed >= WRITEBACK_EVERY:
            start_writeback(self.fd, self.start + self._flushed, self.written - self._flushed)
            self._flushed = self.written
