"""Signing keys for tests: every test's settings get one (tests/conftest.py `make_settings`)."""
from __future__ import annotations

from pathlib import Path

from storage.signing import Signer, public_key_path, read_private_key, write_key

KEY_NAME = "custody-signing-key.pem"


def make_key(path: Path) -> Signer:
    """A new Ed25519 key at path (0600), its public key next to it (public_key_path(path))."""
    return write_key(Path(path))


def key_for(settings) -> Signer:
    """The key the settings name, made if missing."""
    path = settings.custody_signing_key
    return Signer(read_private_key(path), path) if path.exists() else make_key(path)


__all__ = ["KEY_NAME", "key_for", "make_key", "public_key_path"]
