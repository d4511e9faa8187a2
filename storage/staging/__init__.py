"""Where the bytes of unfinished uploads wait: segments that only their writer ever writes.

Each PATCH streams into a segment of its own, named by its start offset and its writer's lease
generation, and the segment counts only once the database row says so (ingest/uploads.py
commits it with a fencing check). A writer that lost its lease can go on writing into its own
segment, but never into one that counts, and never into an original: completion makes the
original from committed, closed segments (a link of the only one, a copy, or an S3 compose).

With the local object store, segments are files in `staging_dir` on the API host (the
single-host embedded default). With S3, they are objects under `_staging/` in the bucket, so
every API node reads and continues every upload, and any host's sweeper removes them.
"""
from __future__ import annotations

from storage.staging.base import Segment, Staging


def open_staging(settings, store) -> Staging:
    """The staging area that goes with the configured object store."""
    if settings.object_store.backend == "s3":
        from storage.staging.s3 import S3Staging
        return S3Staging(store)
    from storage.staging.local import LocalStaging
    return LocalStaging(settings.staging_dir, chunk_size=settings.object_store.chunk_size)


__all__ = ["Segment", "Staging", "open_staging"]
