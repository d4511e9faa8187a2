"""The staging interface: write a segment, read committed segments, make the original."""
from __future__ import annotations

import abc
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from typing import BinaryIO, Iterable, Iterator

MIN_SEGMENT = 5 << 20
"""Smallest segment that may be followed by another: S3's smallest multipart part, so that the
segments can be composed on the server. A shorter last segment is rewritten, with the next
request's bytes appended, by the next writer (it reads back at most this much)."""
MAX_SEGMENTS = 9000
"""Segments one upload may have (S3 composes at most 10,000 parts)."""


@dataclass(frozen=True)
class Segment:
    key: str
    offset: int
    size: int

    def as_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, value: dict) -> "Segment":
        return cls(str(value["key"]), int(value["offset"]), int(value["size"]))


def min_segment(length: int) -> int:
    """Size below which an upload's last segment is merged into the next one."""
    return max(MIN_SEGMENT, -(-length // MAX_SEGMENTS))


class Staging(abc.ABC):
    name: str

    @abc.abstractmethod
    def write_segment(self, upload_id: str, offset: int, tag: str, source: BinaryIO) -> Segment:
        """Write all that source.read() gives into a new segment that no other writer can reach;
        it is durable on return. On any error nothing of it is left."""

    @abc.abstractmethod
    def read_segment(self, segment: Segment) -> bytes:
        """A (small) segment's bytes."""

    def read(self, segments: Iterable[Segment]) -> Iterator[bytes]:
        """The committed bytes, in order."""
        for segment in segments:
            yield from self._stream(segment)

    @abc.abstractmethod
    def _stream(self, segment: Segment) -> Iterator[bytes]: ...

    @abc.abstractmethod
    def discard(self, segment: Segment) -> None:
        """Remove one segment (gone already is fine)."""

    @abc.abstractmethod
    def remove(self, upload_id: str) -> None:
        """Remove all of an upload's staged data, from any host."""

    @abc.abstractmethod
    def staged_uploads(self, older_than: timedelta) -> dict[str, datetime]:
        """Uploads with staged data untouched for longer than older_than: id -> newest change."""

    @abc.abstractmethod
    def make_original(self, store, segments: list[Segment], digests, retain_until) -> object:
        """Store the committed segments as one write-once original (a PutResult)."""
