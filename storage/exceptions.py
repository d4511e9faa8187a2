"""Errors raised by the storage layer, one flat list."""


class StorageError(Exception):
    """Base class for object store and database errors."""


class ObjectNotFound(StorageError):
    """No object is stored under that key."""


class ObjectExists(StorageError):
    """An object is already stored under that key and objects are write-once."""


class ObjectLocked(StorageError):
    """The object is under retention or legal hold: it cannot be deleted or overwritten."""


class RetentionShortened(StorageError):
    """A retention date may be extended, never brought forward."""


class HashMismatch(StorageError):
    """The bytes stored do not hash to the value the caller declared; nothing was kept."""


class StoreUnavailable(StorageError):
    """The object store cannot be reached or used."""
