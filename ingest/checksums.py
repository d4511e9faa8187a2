"""The tus checksum extension's algorithms (`Upload-Checksum: <name> <base64 digest>`), shared by
the server, which checks each request's body, and the station agent, which sends them.

A request's checksum only guards that request's bytes on the way, so that a damaged chunk alone
is sent again; the evidence itself is guarded end to end by the whole file's SHA-256 (declared
before the upload, checked before any receipt) and SM3. So besides SHA-1 (which the tus
specification requires) and SHA-256 there is CRC-32C, the transmission check of iSCSI, SCTP and
Google Cloud Storage's uploads, computed by the processor's CRC32 instruction (google-crc32c):
about four times cheaper than SHA-256 on both ends.
"""
from __future__ import annotations

import hashlib

import google_crc32c

CHECKSUM_ALGORITHMS = {"sha1": hashlib.sha1, "sha256": hashlib.sha256, "crc32c": google_crc32c.Checksum}
"""Name -> constructor of an object with update() and digest() (CRC-32C: 4 bytes, big-endian)."""
