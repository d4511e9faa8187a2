"""The standalone verifier's own pieces, against the project's: its pure-Python Ed25519 against
`cryptography` (and RFC 8032's test vectors), its RFC 6962 proof check against storage/merkle.py,
its custody serialization against storage/custody.py; and that it stays a standard-library-only,
Python 3.8 file."""
import ast
import hashlib
import os
import random
import sys
from datetime import datetime, timezone
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from storage import merkle
from storage.bundle import verify_bundle as vb
from storage.custody import canonical, event_hash
from storage.models import CustodyEvent

SCRIPT = Path(vb.__file__)


def raw_public(key: Ed25519PrivateKey) -> bytes:
    return key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def test_ed25519_accepts_what_cryptography_signs():
    rng = random.Random(6)
    for length in (0, 1, 31, 32, 64, 1000, 5000):
        key = Ed25519PrivateKey.generate()
        message = bytes(rng.getrandbits(8) for _ in range(length))
        assert vb.ed25519_verify(raw_public(key), message, key.sign(message))


def test_ed25519_refuses_anything_altered():
    key, other = Ed25519PrivateKey.generate(), Ed25519PrivateKey.generate()
    message = b'{"count":12,"head_hash":"ab"}'
    signature = key.sign(message)
    public = raw_public(key)
    assert not vb.ed25519_verify(public, message + b" ", signature)
    assert not vb.ed25519_verify(public, message[:-1], signature)
    assert not vb.ed25519_verify(raw_public(other), message, signature)
    assert not vb.ed25519_verify(public, message, other.sign(message))
    for position in (0, 17, 31, 32, 50, 63):  # R and S halves
        altered = bytearray(signature)
        altered[position] ^= 0x01
        assert not vb.ed25519_verify(public, message, bytes(altered))
    s = int.from_bytes(signature[32:], "little")
    assert not vb.ed25519_verify(public, message, signature[:32] + (s + vb._L).to_bytes(32, "little"))  # S >= L
    assert not vb.ed25519_verify(public, message, signature[:63])
    assert not vb.ed25519_verify(public[:31], message, signature)
    assert not vb.ed25519_verify(b"\xff" * 32, message, signature)  # not a point on the curve


@pytest.mark.parametrize("secret, public, message, signature", [
    ("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60",
     "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a", "",
     "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b"),
    ("4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb",
     "3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c", "72",
     "92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da085ac1e43e15996e458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00"),
])
def test_ed25519_rfc8032_vectors(secret, public, message, signature):
    key = Ed25519PrivateKey.from_private_bytes(bytes.fromhex(secret))
    assert raw_public(key).hex() == public
    assert key.sign(bytes.fromhex(message)).hex() == signature
    assert vb.ed25519_verify(bytes.fromhex(public), bytes.fromhex(message), bytes.fromhex(signature))


def test_merkle_proofs_agree_with_the_server():
    leaves = [merkle.leaf_hash(hashlib.sha256(str(i).encode()).hexdigest()) for i in range(40)]
    for size in range(1, 41):
        root = merkle.root(leaves[:size])
        for index in range(size):
            proof = merkle.inclusion_proof(leaves[:size], index)
            assert vb.root_from_proof(leaves[index], index, size, proof) == root
            if size > 1:
                assert vb.root_from_proof(leaves[index], (index + 1) % size, size, proof) != root
                assert vb.root_from_proof(leaves[index], index, size, proof[:-1]) != root
    assert vb.root_from_proof(leaves[0], 5, 5, []) is None
    assert vb.leaf_hash("ab" * 32) == merkle.leaf_hash("ab" * 32)


def test_custody_serialization_is_the_servers():
    event = CustodyEvent(seq=7, occurred_at=datetime(2026, 11, 20, 2, 5, 1, 250, tzinfo=timezone.utc),
                         actor_type="user", actor_id="u-1", action="linked", clip_id="c-1", case_id=None,
                         details={"reason": "同行执法人员", "overlap": 1800.0, "nested": {"b": [1, 2], "a": None}},
                         source_address="10.0.0.8", prev_hash="0" * 64)
    import json
    as_bundled = json.loads(canonical(event))  # what custody.jsonl carries for the event
    assert vb.canonical_event({**as_bundled, "hash": "x", "proof": []}) == canonical(event)
    assert hashlib.sha256(vb.canonical_event(as_bundled)).hexdigest() == event_hash(event)


def test_it_is_one_standard_library_file_for_python_3_8():
    source = SCRIPT.read_text()
    tree = ast.parse(source, feature_version=(3, 8))
    imported = {alias.name.split(".")[0] for node in ast.walk(tree) if isinstance(node, ast.Import)
                for alias in node.names}
    imported |= {node.module.split(".")[0] for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
    assert imported <= set(sys.stdlib_module_names) | {"__future__"}, imported
    newer = {"removeprefix", "removesuffix", "file_digest", "is_relative_to", "bit_count", "pairwise"}  # 3.9+
    assert not {node.attr for node in ast.walk(tree) if isinstance(node, ast.Attribute)} & newer


def test_usage_and_unreadable_input(tmp_path, capsys):
    assert vb.main(["verify_bundle.py"]) == 2
    assert "Usage" in capsys.readouterr().out
    (tmp_path / "not.zip").write_bytes(b"PK\x03\x04 broken")
    assert vb.main(["verify_bundle.py", str(tmp_path / "not.zip")]) == 1
    assert "FAILED" in capsys.readouterr().out
    os.mkdir(tmp_path / "empty")
    assert vb.main(["verify_bundle.py", str(tmp_path / "empty")]) == 1
    assert "manifest.json: missing from the bundle" in capsys.readouterr().out


def test_a_manifest_cannot_point_outside_the_bundle(tmp_path, capsys):
    bundle = tmp_path / "bundle"
    bundle.mkdir()
    for name in vb.METADATA_FILES:
        (bundle / name).write_text("{}")
    (tmp_path / "secret").write_text("outside")
    (bundle / "manifest.json").write_text('{"files": [{"path": "../secret", "sha256": "x", "size": 7}]}')
    assert vb.main(["verify_bundle.py", str(bundle)]) == 1
    out = capsys.readouterr().out
    assert "'../secret': not a plain path inside the bundle" in out and "checkpoint.json: malformed" in out
