"""Ed25519 keys that sign custody checkpoints.

The private key is a PEM file (PKCS#8, unencrypted, mode 0600) named by custody.signing_key
(default data_dir/custody-signing-key.pem). A key is known by its id: the hex SHA-256 of its raw
32-byte public key. Checkpoints are trusted when their key is the current one or one of the
public keys in custody.trusted_keys (earlier keys, kept after a rotation): a valid signature by
any other key proves nothing, since anyone can make a key.
"""
from __future__ import annotations

import contextlib
import hashlib
import os
import tempfile
from pathlib import Path

from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

PRIVATE_MODE = 0o600


class SigningKeyError(Exception):
    """A key file is missing, unreadable or not an Ed25519 key. `key` and `values` name a message
    of server/catalogs/custody.py; str() is the English text, `message(language)` any other."""

    def __init__(self, key: str, **values):
        self.key, self.values = key, {name: str(value) for name, value in values.items()}
        super().__init__(self.message("en"))

    def message(self, language: str = "en") -> str:
        from server.i18n import t
        return t(f"custody.{self.key}", language, **self.values)


def key_id(raw_public_key: bytes) -> str:
    return hashlib.sha256(raw_public_key).hexdigest()


def raw_public(public_key: Ed25519PublicKey) -> bytes:
    return public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


class Signer:
    def __init__(self, private_key: Ed25519PrivateKey, path: Path | None = None):
        self._private = private_key
        self.path = path
        self.public_key_raw = raw_public(private_key.public_key())
        self.public_key_hex = self.public_key_raw.hex()
        self.key_id = key_id(self.public_key_raw)

    def sign(self, data: bytes) -> bytes:
        return self._private.sign(data)


def signature_valid(public_key_raw: bytes, signature: bytes, data: bytes) -> bool:
    try:
        Ed25519PublicKey.from_public_bytes(public_key_raw).verify(signature, data)
    except (InvalidSignature, ValueError):
        return False
    return True


# -- key files ---------------------------------------------------------------------------------

def _read(path: Path, role: str) -> bytes:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise SigningKeyError(f"{role}_missing", path=path) from None
    except OSError as exc:
        raise SigningKeyError(f"{role}_unreadable", path=path, reason=exc.strerror or type(exc).__name__) from None


def _kind(key) -> str:
    return type(key).__name__.removeprefix("_").replace("PrivateKey", "").replace("PublicKey", "") or "unknown"


def _first_line(exc: Exception) -> str:
    return str(exc).splitlines()[0] if str(exc) else "not PEM"


def read_private_key(path: Path) -> Ed25519PrivateKey:
    data = _read(path, "key")
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except TypeError:  # the PEM is encrypted and we have no password
        raise SigningKeyError("key_encrypted", path=path) from None
    except (ValueError, UnsupportedAlgorithm) as exc:
        raise SigningKeyError("key_invalid", path=path, reason=_first_line(exc))
    if not isinstance(key, Ed25519PrivateKey):
        raise SigningKeyError("key_not_ed25519", path=path, kind=_kind(key))
    return key


def read_public_key(path: Path) -> bytes:
    """Raw public key from a PEM public key, or from a PEM private key (its public half)."""
    data = _read(path, "trusted_key")
    try:
        if b"PRIVATE KEY" in data:
            key = serialization.load_pem_private_key(data, password=None).public_key()
        else:
            key = serialization.load_pem_public_key(data)
    except (TypeError, ValueError, UnsupportedAlgorithm) as exc:
        raise SigningKeyError("trusted_key_invalid", path=path, reason=_first_line(exc))
    if not isinstance(key, Ed25519PublicKey):
        raise SigningKeyError("trusted_key_invalid", path=path, reason=f"a {_kind(key)} key, not Ed25519")
    return raw_public(key)


def public_pem(raw_public_key: bytes) -> bytes:
    return Ed25519PublicKey.from_public_bytes(raw_public_key).public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)


def public_key_path(private_path: Path) -> Path:
    """Where keygen writes the public half: custody-signing-key.pem -> custody-signing-key.pub.pem."""
    return private_path.with_name(f"{private_path.stem}.pub.pem")


def _write_new(path: Path, data: bytes, mode: int, replace: bool) -> None:
    """Write a whole file with `mode` from the start; never a torn or world-readable key."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        os.fchmod(fd, mode)
        os.write(fd, data)
        os.fsync(fd)
        os.close(fd)
        fd = -1
        if replace:
            os.replace(temp, path)
        else:
            os.link(temp, path)  # fails if path exists: nothing is overwritten
    finally:
        if fd >= 0:
            os.close(fd)
        Path(temp).unlink(missing_ok=True)


def write_key(path: Path, *, replace: bool = False) -> Signer:
    """Make a new Ed25519 key at path (0600) and its public half next to it; FileExistsError if
    path exists and replace is false."""
    private = Ed25519PrivateKey.generate()
    pem = private.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
    _write_new(path, pem, PRIVATE_MODE, replace)
    signer = Signer(private, path)
    _write_new(public_key_path(path), public_pem(signer.public_key_raw), 0o644, True)
    return signer


def keep_public_key(raw_public_key: bytes, private_path: Path) -> Path:
    """Save a retiring key's public half (for custody.trusted_keys) before it is replaced."""
    target = private_path.with_name(f"{private_path.stem}.{key_id(raw_public_key)[:16]}.pub.pem")
    _write_new(target, public_pem(raw_public_key), 0o644, True)
    return target


# -- what the rest of fullrecord calls -------------------------------------------------------------

def load_signer(settings) -> Signer:
    """The configured signing key; SigningKeyError (saying which file and how to fix it) otherwise.
    `serve` and `worker` call this at start and refuse to run without a key."""
    path = settings.custody_signing_key
    return Signer(read_private_key(path), path)


def ensure_signing_key(settings) -> Path:
    """The configured key file, made (0600) if missing, for `fullrecord up`. An existing file that
    is not a usable key is never replaced: SigningKeyError."""
    path = settings.custody_signing_key
    if not path.exists():
        with contextlib.suppress(FileExistsError):  # made by a concurrent start: checked below
            write_key(path)
    load_signer(settings)
    return path


def trusted_public_keys(settings) -> dict[str, bytes]:
    """key id -> raw public key: the current key (if its file exists) and every custody.trusted_keys
    file. With neither, SigningKeyError: nothing could be trusted."""
    trusted = {}
    path = settings.custody_signing_key
    if path.exists() or not settings.custody.trusted_keys:
        signer = load_signer(settings)
        trusted[signer.key_id] = signer.public_key_raw
    for name in settings.custody.trusted_keys:
        raw = read_public_key(Path(name).expanduser().resolve())
        trusted[key_id(raw)] = raw
    return trusted
