"""Save and restore the running SHA-256 and SM3 of an upload, so that any API process on any
host continues an upload's digests from its acknowledged offset in O(chunk), not O(upload).

hashlib objects cannot be saved. `rehash` (the package that pickles them) refuses OpenSSL 3,
and no package offers SM3 with a saved state, so this reads and writes OpenSSL 3's digest
context directly: CPython's hash object holds an EVP_MD_CTX whose provider context (`algctx`)
is a plain C struct without pointers (SHA256_CTX, SM3_CTX). Its bytes are the midstate.

That layout is private, so nothing is trusted blindly: before the first use the module checks
that the context of a fresh hasher starts with the algorithm's initial value and that a saved
state, restored into a fresh hasher, continues to the right digest. Each saved state names the
OpenSSL build and machine it came from; a state from another build, or a platform where the
check fails, is not used (`None`), and the caller rebuilds the digests by reading the stored
bytes once. A wrong midstate can never produce a receipt: the final SHA-256 must still equal the
sender's, and the verify job re-reads the original.
"""
from __future__ import annotations

import ctypes
import functools
import hashlib
import logging
import os
import platform
import ssl
import sys

log = logging.getLogger(__name__)

_CONTEXT_BYTES = {"sha256": 112, "sm3": 108}
"""sizeof(SHA256_CTX) and sizeof(SM3_CTX) in OpenSSL 3."""
_INITIAL_WORDS = {"sha256": 0x6A09E667, "sm3": 0x7380166F}
"""First word of each algorithm's initial value, which a fresh context must start with."""
_OBJECT_HEAD = 2 * ctypes.sizeof(ctypes.c_void_p)
"""PyObject_HEAD (reference count, type) before the EVP_MD_CTX pointer in CPython's hash object."""
_ALGCTX_OFFSET = 7 * ctypes.sizeof(ctypes.c_void_p)
"""Offset of `algctx` in OpenSSL 3's struct evp_md_ctx_st (reqdigest, digest, engine, flags,
md_data, pctx, update, algctx, ...)."""


def build_tag() -> str:
    """Which OpenSSL build and machine a saved state belongs to."""
    return f"{ssl.OPENSSL_VERSION}|{platform.machine()}|{sys.byteorder}"


def _provider_context(hasher) -> int:
    context = ctypes.c_void_p.from_address(id(hasher) + _OBJECT_HEAD).value
    if not context:
        raise ValueError("hash object without an OpenSSL context")
    algctx = ctypes.c_void_p.from_address(context + _ALGCTX_OFFSET).value
    if not algctx:
        raise ValueError("OpenSSL context without a provider context")
    return algctx


def _fresh_context_looks_right(name: str) -> bool:
    hasher = hashlib.new(name)
    first = ctypes.c_uint32.from_address(_provider_context(hasher)).value
    return first == _INITIAL_WORDS[name]


@functools.cache
def supported() -> bool:
    """True when states can be saved and restored on this interpreter and OpenSSL build."""
    if not ssl.OPENSSL_VERSION.startswith("OpenSSL 3.") or sys.implementation.name != "cpython":
        log.warning("hash midstates are off (%s): a PATCH on another process re-reads the staged bytes",
                    ssl.OPENSSL_VERSION)
        return False
    try:
        for name in _CONTEXT_BYTES:
            if type(hashlib.new(name)).__name__ != "HASH" or not _fresh_context_looks_right(name):
                raise ValueError(f"{name}: unexpected hash object layout")
            for size in (0, 1, 63, 64, 65, 4099):
                head, tail = os.urandom(size), os.urandom(131)
                restored = _restore(name, _save(hashlib.new(name, head), name))
                restored.update(tail)
                if restored.digest() != hashlib.new(name, head + tail).digest():
                    raise ValueError(f"{name}: a restored state does not continue correctly")
    except (ValueError, OSError) as exc:
        log.warning("hash midstates are off (%s): a PATCH on another process re-reads the staged bytes", exc)
        return False
    return True


def _save(hasher, name: str) -> bytes:
    return ctypes.string_at(_provider_context(hasher), _CONTEXT_BYTES[name])


def _restore(name: str, raw: bytes):
    if len(raw) != _CONTEXT_BYTES[name]:
        raise ValueError(f"{name} state of {len(raw)} bytes, not {_CONTEXT_BYTES[name]}")
    hasher = hashlib.new(name)
    ctypes.memmove(_provider_context(hasher), raw, len(raw))
    return hasher


def save(sha256, sm3, size: int) -> dict | None:
    """A JSON-able record of the running digests of the first `size` bytes, or None."""
    if not supported():
        return None
    return {"size": size, "build": build_tag(),
            "sha256": _save(sha256, "sha256").hex(), "sm3": _save(sm3, "sm3").hex()}


def restore(record: dict | None, size: int):
    """(sha256, sm3) hashers continuing after `size` bytes, or None when the record is absent,
    for another offset, or from another OpenSSL build."""
    if not record or record.get("size") != size or record.get("build") != build_tag() or not supported():
        return None
    try:
        return (_restore("sha256", bytes.fromhex(record["sha256"])),
                _restore("sm3", bytes.fromhex(record["sm3"])))
    except (KeyError, TypeError, ValueError) as exc:
        log.warning("an upload's saved hash state is unusable (%s); re-reading its bytes", exc)
        return None
