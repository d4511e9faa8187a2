"""Object stores: originals (write-once, content-addressed) and derivatives."""
from __future__ import annotations

from storage.objects.base import ObjectInfo, ObjectStore, PutResult, original_key


def open_store(settings) -> ObjectStore:
    """The object store that settings.object_store names."""
    config = settings.object_store
    if config.backend == "s3":
        from storage.objects.s3 import S3ObjectStore
        return S3ObjectStore.from_settings(config)
    from storage.objects.local import LocalObjectStore
    return LocalObjectStore(settings.local_store_root, chunk_size=config.chunk_size)


__all__ = ["ObjectInfo", "ObjectStore", "PutResult", "open_store", "original_key"]
