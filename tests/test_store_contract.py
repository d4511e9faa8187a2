"""One contract for every object store backend: the local directory and S3 (real SeaweedFS)."""
import hashlib
import io
import os
import time
from datetime import datetime, timedelta, timezone

import pytest

from storage.exceptions import (HashMismatch, ObjectExists, ObjectLocked, ObjectNotFound,
                                RetentionShortened)
from storage.objects import original_key


class Interrupted(Exception):
    pass


class FailingStream(io.RawIOBase):
    """Yields `good` bytes then fails, like a client whose connection drops mid-upload."""

    def __init__(self, good: int):
        self.left = good

    def readable(self):
        return True

    def readinto(self, buffer):
        if self.left <= 0:
            raise Interrupted("connection dropped")
        n = min(len(buffer), self.left)
        buffer[:n] = os.urandom(n)
        self.left -= n
        return n


def future(days=1):
    return datetime.now(timezone.utc) + timedelta(days=days)


def payload(size=3 * 1024 * 1024 + 17):
    return os.urandom(size)


def test_put_returns_hashes_equal_to_hashlib(store):
    data = payload()
    result = store.put("derived/a.bin", io.BytesIO(data))
    assert result.size == len(data)
    assert result.sha256 == hashlib.sha256(data).hexdigest()
    assert result.sm3 == hashlib.new("sm3", data).hexdigest()
    assert store.read_all("derived/a.bin") == data


def test_empty_object(store):
    result = store.put("derived/empty", io.BytesIO(b""))
    assert result.size == 0
    assert result.sha256 == hashlib.sha256(b"").hexdigest()
    assert store.read_all("derived/empty") == b""


def test_put_original_is_content_addressed_and_idempotent(store):
    data = payload(100_000)
    digest = hashlib.sha256(data).hexdigest()
    first = store.put_original(io.BytesIO(data), expected_sha256=digest)
    assert first.key == original_key(digest) and first.created
    second = store.put_original(io.BytesIO(data))
    assert second.key == first.key and not second.created
    assert store.read_all(first.key) == data
    assert [info.key for info in store.list("originals/")] == [first.key]


def test_put_original_with_wrong_declared_hash_keeps_nothing(store):
    data = payload(50_000)
    with pytest.raises(HashMismatch):
        store.put_original(io.BytesIO(data), expected_sha256="0" * 64)
    assert list(store.list("")) == []
    assert not store.exists(original_key(hashlib.sha256(data).hexdigest()))


def test_objects_are_write_once(store):
    store.put("derived/once", io.BytesIO(b"first"))
    with pytest.raises(ObjectExists):
        store.put("derived/once", io.BytesIO(b"second"))
    assert store.read_all("derived/once") == b"first"


def test_byte_ranges(store):
    data = payload(2 * 1024 * 1024 + 5)
    store.put("derived/ranged", io.BytesIO(data))
    assert b"".join(store.get("derived/ranged", 10, 100)) == data[10:110]
    assert b"".join(store.get("derived/ranged", len(data) - 3)) == data[-3:]
    assert b"".join(store.get("derived/ranged", 1024 * 1024 - 1, 1024 * 1024 + 2)) == \
        data[1024 * 1024 - 1: 2 * 1024 * 1024 + 1]


def test_stat_exists_list(store):
    store.put("derived/x/1", io.BytesIO(b"abc"))
    store.put("derived/x/2", io.BytesIO(b"defg"))
    store.put("derived/y/1", io.BytesIO(b"h"))
    info = store.stat("derived/x/2")
    assert info.size == 4 and info.legal_hold is False and info.retain_until is None
    assert info.modified.tzinfo is not None
    assert store.exists("derived/x/1") and not store.exists("derived/x/3")
    assert [i.key for i in store.list("derived/x/")] == ["derived/x/1", "derived/x/2"]
    assert [i.key for i in store.list("derived/")] == ["derived/x/1", "derived/x/2", "derived/y/1"]


def test_missing_objects(store):
    with pytest.raises(ObjectNotFound):
        store.stat("derived/nope")
    with pytest.raises(ObjectNotFound):
        b"".join(store.get("derived/nope"))
    with pytest.raises(ObjectNotFound):
        store.delete("derived/nope")


def test_delete_unretained_object(store):
    store.put("derived/tmp", io.BytesIO(b"abc"))
    store.delete("derived/tmp")
    assert not store.exists("derived/tmp")


def test_delete_of_retained_object_is_refused(store):
    result = store.put_original(io.BytesIO(payload(1000)), retain_until=future())
    with pytest.raises(ObjectLocked):
        store.delete(result.key)
    assert store.exists(result.key)
    assert store.stat(result.key).retain_until > datetime.now(timezone.utc)


def test_retention_cannot_be_shortened(store):
    store.put("derived/kept", io.BytesIO(b"abc"), retain_until=future(10))
    with pytest.raises(RetentionShortened):
        store.set_retention("derived/kept", future(2))
    store.set_retention("derived/kept", future(20))
    assert store.stat("derived/kept").retain_until > future(19)
    with pytest.raises(ObjectLocked):
        store.delete("derived/kept")


def test_legal_hold_blocks_delete_until_released(store):
    store.put("derived/held", io.BytesIO(b"abc"))
    store.set_legal_hold("derived/held", True)
    assert store.stat("derived/held").legal_hold is True
    with pytest.raises(ObjectLocked):
        store.delete("derived/held")
    store.set_legal_hold("derived/held", False)
    store.delete("derived/held")
    assert not store.exists("derived/held")


@pytest.mark.parametrize("good", [0, 100, 7 * 1024 * 1024])
def test_interrupted_put_leaves_nothing_visible(store, good):
    with pytest.raises(Interrupted):
        store.put("derived/torn", io.BufferedReader(FailingStream(good)))
    assert not store.exists("derived/torn")
    with pytest.raises(Interrupted):
        store.put_original(io.BufferedReader(FailingStream(good)))
    assert list(store.list("")) == []
    store.put("derived/torn", io.BytesIO(b"complete"))  # the key is still free
    assert store.read_all("derived/torn") == b"complete"


@pytest.mark.parametrize("key", ["", "/abs", "a/../b", "a//b", "../up", "sp ace"])
def test_invalid_keys_are_refused(store, key):
    with pytest.raises(ValueError):
        store.put(key, io.BytesIO(b"x"))


def test_check_passes_on_a_working_store(store):
    store.check()


def leave_temporary(store):
    """What a writer killed mid-put leaves behind in this backend; returns 'is it still there?'."""
    if hasattr(store, "client"):  # S3: an original uploaded to its temp key, never copied
        from storage.objects.s3 import TMP_PREFIX
        name = f"{TMP_PREFIX}abandoned"
        list(store.list(""))  # makes sure the bucket exists
        store.client.put_object(store.bucket, name, io.BytesIO(b"partial"), 7)
        return lambda: any(True for _ in store.client.list_objects(store.bucket, prefix=name))
    path = store._tmp / "put-abandoned"
    path.write_bytes(b"partial")
    return path.exists


def test_stale_temporaries_of_interrupted_writes_are_removed(store):
    store.put("derived/kept", io.BytesIO(b"complete"))
    still_there = leave_temporary(store)
    assert store.remove_stale_temporaries(timedelta(hours=1)) == 0, "a recent temp may be a write in progress"
    assert still_there()
    if not hasattr(store, "client"):
        old = datetime.now(timezone.utc).timestamp() - 7200
        os.utime(store._tmp / "put-abandoned", (old, old))
        assert store.remove_stale_temporaries(timedelta(hours=1)) == 1
    else:  # S3 cannot backdate an object: wait past its one-second timestamp instead
        time.sleep(1.5)
        assert store.remove_stale_temporaries(timedelta(seconds=1)) == 1
    assert not still_there()
    assert store.read_all("derived/kept") == b"complete"
    assert [info.key for info in store.list("")] == ["derived/kept"]
