"""Staging in the S3 bucket itself, so that any API node continues any upload:
_staging/<upload>/<offset>-<tag>, unlocked objects outside the keys of originals and derivatives."""
from __future__ import annotations

import io
import logging
from datetime import datetime, timedelta, timezone
from typing import BinaryIO, Iterator

from storage.exceptions import StorageError
from storage.staging.base import Segment, Staging

log = logging.getLogger(__name__)

PREFIX = "_staging/"


class S3Staging(Staging):
    name = "s3"

    def __init__(self, store):
        self.store = store

    def write_segment(self, upload_id: str, offset: int, tag: str, source: BinaryIO) -> Segment:
        key = f"{PREFIX}{upload_id}/{offset:015d}-{tag}"
        try:
            size = self.store.put_staged(key, source)
        except BaseException:
            self._forget(key)
            raise
        return Segment(key, offset, size)

    def _forget(self, key: str) -> None:
        try:  # the SDK aborts a failed multipart upload itself; a single PUT stores all or nothing
            self.store.remove_staged(key)
        except StorageError as exc:  # the store is away: the sweeper removes what an upload left
            log.warning("staged object %s not removed now (%s); the sweeper will", key, exc)

    def read_segment(self, segment: Segment) -> bytes:
        return b"".join(self.store.get_staged(segment.key))

    def _stream(self, segment: Segment) -> Iterator[bytes]:
        return self.store.get_staged(segment.key)

    def discard(self, segment: Segment) -> None:
        self.store.remove_staged(segment.key)

    def remove(self, upload_id: str) -> None:
        for key, version, _modified in self.store.list_staged(f"{PREFIX}{upload_id}/"):
            self.store.remove_staged(key, version)

    def staged_uploads(self, older_than: timedelta) -> dict[str, datetime]:
        newest: dict[str, datetime] = {}
        for key, _version, modified in self.store.list_staged(PREFIX):
            upload_id = key[len(PREFIX):].partition("/")[0]
            modified = modified.astimezone(timezone.utc) if modified else datetime.now(timezone.utc)
            newest[upload_id] = max(modified, newest.get(upload_id, modified))
        cutoff = datetime.now(timezone.utc) - older_than
        return {upload_id: when for upload_id, when in newest.items() if when < cutoff}

    def make_original(self, store, segments, digests, retain_until):
        if not segments:  # an empty file: nothing to compose
            return store.put_original(io.BytesIO(b""), expected_sha256=digests.sha256, retain_until=retain_until)
        return store.compose_original([segment.key for segment in segments], digests=digests,
                                      retain_until=retain_until)
