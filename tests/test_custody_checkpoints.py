"""Signed checkpoints of the custody log on SQLite and PostgreSQL, with their documents in each
object store (a local directory and a real SeaweedFS with Object Lock): the policy, the Merkle
tree and its proofs, racing and crashing writers, and the tampering only checkpoints can catch —
a consistent rewrite, a cut-off tail, altered, deleted or forged checkpoints, untrusted keys."""
from __future__ import annotations

import hashlib
import io
import json
import os
import threading
import uuid
from datetime import timedelta

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from sqlalchemy import delete, select, update

from storage.checkpoints import (CheckpointRefused, _count_prefixes, checkpoint_document, checkpoint_due,
                                 checkpoint_if_due, create_checkpoint, document_bytes, object_key, proofs)
from storage.custody_models import CustodyCheckpoint
from storage.custody_verify import verify_chain
from storage.db import utcnow
from storage.exceptions import ObjectLocked
from storage.merkle import (EMPTY_ROOT, Frontier, ProofCollector, inclusion_proof, leaf_hash, node_hash, root,
                            root_from_proof)
from storage.models import CustodyEvent
from storage.signing import (SigningKeyError, ensure_signing_key, load_signer, public_key_path,
                             signature_valid, trusted_public_keys, write_key)
from tests.test_custody_chain import EVENTS, assert_broken, event, fill, rehash_from, run, unguard, verify

CHECKPOINTS = CustodyCheckpoint.__table__


@pytest.fixture(params=["local", "s3"])
def settings(request, make_settings, database_url, redis_url):
    values = {"database.url": database_url, "redis.url": redis_url, "custody.checkpoint_every_events": 5}
    if request.param == "s3":
        s3 = request.getfixturevalue("seaweedfs").settings(f"custody-{uuid.uuid4().hex[:20]}")
        values.update({"object_store.backend": "s3", **{f"object_store.s3.{k}": v for k, v in s3.items()}})
    return make_settings(**values)


def checkpoint(rt, signer=None, store=None):
    with rt.session() as session, session.begin():
        return create_checkpoint(session, store or rt.store, signer or load_signer(rt.settings))


def rows(rt) -> list[int]:
    with rt.session() as session:
        return list(session.scalars(select(CustodyCheckpoint.count).order_by(CustodyCheckpoint.count)))


def hashes(rt) -> list[str]:
    with rt.session() as session:
        return list(session.scalars(select(CustodyEvent.hash).order_by(CustodyEvent.seq)))


# -- the Merkle tree (RFC 6962), against a direct transcription of the RFC ---------------------------

def rfc_root(leaves):
    if not leaves:
        return EMPTY_ROOT
    if len(leaves) == 1:
        return leaves[0]
    k = 1 << ((len(leaves) - 1).bit_length() - 1)
    return node_hash(rfc_root(leaves[:k]), rfc_root(leaves[k:]))


def rfc_path(index, leaves):
    if len(leaves) == 1:
        return []
    k = 1 << ((len(leaves) - 1).bit_length() - 1)
    if index < k:
        return rfc_path(index, leaves[:k]) + [rfc_root(leaves[k:])]
    return rfc_path(index - k, leaves[k:]) + [rfc_root(leaves[:k])]


def test_merkle_roots_and_proofs_match_the_rfc_for_every_size_up_to_70_and_some_large():
    leaves = [leaf_hash(os.urandom(32).hex()) for _ in range(1030)]
    frontier = Frontier()
    for size in range(1, 1031):
        frontier.add(leaves[size - 1])
        if size > 70 and size not in (127, 128, 129, 255, 256, 257, 1000, 1024, 1025, 1030):
            continue
        part = leaves[:size]
        expected = rfc_root(part)
        assert root(part) == frontier.root() == expected
        assert Frontier.from_hex(size, frontier.to_hex()).root() == expected
        collector = ProofCollector(range(size), size)
        for leaf in part:
            collector.add(leaf)
        streamed = collector.proofs()
        for index in range(size):
            proof = inclusion_proof(part, index)
            assert proof == rfc_path(index, part) == streamed[index]
            assert root_from_proof(part[index], index, size, proof) == expected


def test_merkle_leaf_and_node_hashes_are_domain_separated():
    event = "ab" * 32
    assert leaf_hash(event) == hashlib.sha256(b"\x00" + bytes.fromhex(event)).digest()
    assert node_hash(b"l" * 32, b"r" * 32) == hashlib.sha256(b"\x01" + b"l" * 32 + b"r" * 32).digest()
    assert root([]) == hashlib.sha256(b"").digest()


def test_wrong_proofs_are_refused():
    leaves = [leaf_hash(os.urandom(32).hex()) for _ in range(11)]
    proof = inclusion_proof(leaves, 6)
    assert root_from_proof(leaves[6], 6, 11, proof) == root(leaves)
    assert root_from_proof(leaves[5], 6, 11, proof) != root(leaves)
    assert root_from_proof(leaves[6], 7, 11, proof) != root(leaves)
    with pytest.raises(ValueError, match="too short"):
        root_from_proof(leaves[6], 6, 11, proof[:-1])
    with pytest.raises(ValueError, match="too long"):
        root_from_proof(leaves[6], 6, 11, proof + [leaves[0]])
    with pytest.raises(ValueError):
        root_from_proof(leaves[6], 11, 11, proof)
    with pytest.raises(ValueError):
        Frontier(3, [leaves[0]])


def test_unrecorded_documents_are_looked_for_under_prefixes_that_match_exactly_the_new_counts():
    prefixes = _count_prefixes(995, 1100)
    assert prefixes == ["000000000995", "000000000996", "000000000997", "000000000998", "000000000999",
                        "0000000010", "000000001100"]
    for low, high in ((1, 1), (1, 10 ** 6), (999, 1001), (123456, 654321), (10 ** 11 - 7, 10 ** 11 + 3)):
        prefixes = _count_prefixes(low, high)
        assert len(prefixes) <= 9 * 2 * 12
        for count in (low - 1, low, (low + high) // 2, high, high + 1):
            matched = any(f"{count:012d}".startswith(prefix) for prefix in prefixes)
            assert matched == (low <= count <= high), (low, high, count)


# -- signing keys ----------------------------------------------------------------------------------

def test_a_missing_or_unusable_key_says_which_file_and_what_to_do(make_settings, tmp_path):
    missing = make_settings(**{"custody.signing_key": str(tmp_path / "nowhere" / "key.pem")})
    with pytest.raises(SigningKeyError) as error:
        load_signer(missing)
    assert str(tmp_path / "nowhere" / "key.pem") in str(error.value)
    assert "fullrecord custody keygen" in str(error.value) and "does not exist" in str(error.value)
    assert "fullrecord custody keygen" in error.value.message("zh-CN") and "不存在" in error.value.message("zh-CN")

    rsa_key = tmp_path / "rsa.pem"
    rsa_key.write_bytes(rsa.generate_private_key(65537, 2048).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    with pytest.raises(SigningKeyError, match="holds a RSA key; custody checkpoints need an Ed25519 key"):
        load_signer(make_settings(**{"custody.signing_key": str(rsa_key)}))

    garbage = tmp_path / "garbage.pem"
    garbage.write_text("not a key\n")
    with pytest.raises(SigningKeyError, match="is not an Ed25519 private key in PEM format"):
        load_signer(make_settings(**{"custody.signing_key": str(garbage)}))
    with pytest.raises(SigningKeyError, match="Cannot read the custody signing key"):
        load_signer(make_settings(**{"custody.signing_key": str(tmp_path)}))  # a directory


def test_ensure_signing_key_makes_a_private_key_once_and_never_replaces_a_bad_one(make_settings, tmp_path):
    settings = make_settings(**{"custody.signing_key": str(tmp_path / "keys" / "signing.pem")})
    path = ensure_signing_key(settings)
    assert path == tmp_path / "keys" / "signing.pem" and path.stat().st_mode & 0o777 == 0o600
    first = load_signer(settings)
    assert ensure_signing_key(settings) == path and load_signer(settings).key_id == first.key_id
    assert first.key_id == hashlib.sha256(bytes.fromhex(first.public_key_hex)).hexdigest()
    assert signature_valid(first.public_key_raw, first.sign(b"payload"), b"payload")
    assert not signature_valid(first.public_key_raw, first.sign(b"payload"), b"payloaD")
    assert public_key_path(path).exists()

    bad = tmp_path / "bad.pem"
    bad.write_text("junk")
    with pytest.raises(SigningKeyError):
        ensure_signing_key(make_settings(**{"custody.signing_key": str(bad)}))
    assert bad.read_text() == "junk"


def test_trusted_keys_are_the_current_key_and_the_listed_public_keys(make_settings, tmp_path):
    old = write_key(tmp_path / "old.pem")
    settings = make_settings(**{"custody.trusted_keys": [str(public_key_path(old.path))]})
    current = load_signer(settings)
    assert trusted_public_keys(settings) == {current.key_id: current.public_key_raw, old.key_id: old.public_key_raw}
    broken = tmp_path / "broken.pub.pem"
    broken.write_text("junk")
    with pytest.raises(SigningKeyError, match="custody.trusted_keys"):
        trusted_public_keys(make_settings(**{"custody.trusted_keys": [str(broken)]}))
    # an auditor without the private key verifies with the public keys alone
    public_only = make_settings(**{"custody.signing_key": str(tmp_path / "absent.pem"),
                                   "custody.trusted_keys": [str(public_key_path(old.path))]})
    assert trusted_public_keys(public_only) == {old.key_id: old.public_key_raw}


# -- making checkpoints ----------------------------------------------------------------------------

def test_checkpoints_follow_the_policy_and_are_stored_write_once_under_hold(rt):
    fill(rt, 4)
    assert checkpoint_if_due(rt) is None  # 4 of 5 events, and just now
    with rt.session() as session:
        assert checkpoint_due(session, rt.settings, now=utcnow() + timedelta(minutes=11))
    fill(rt, 1, start=4)
    made = checkpoint_if_due(rt)
    assert made.count == 5 and made.object_key == object_key(5) == "custody/checkpoints/000000000005.json"

    stored = rt.store.read_all(made.object_key)
    assert stored == document_bytes(checkpoint_document(made))
    document = json.loads(stored)
    assert set(document) == {"payload", "payload_text", "signature", "public_key", "key_id"}
    payload = document["payload"]
    assert document["payload_text"] == json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    assert set(payload) == {"version", "count", "head_seq", "head_hash", "merkle_root", "created_at", "key_id"}
    assert (payload["version"], payload["count"], payload["head_seq"]) == (1, 5, 5)
    assert payload["head_hash"] == event(rt.engine, 5).hash
    assert payload["merkle_root"] == root([leaf_hash(h) for h in hashes(rt)]).hex()
    assert payload["created_at"].endswith("+00:00")
    assert signature_valid(bytes.fromhex(document["public_key"]), bytes.fromhex(document["signature"]),
                           document["payload_text"].encode())
    assert document["key_id"] == payload["key_id"] == load_signer(rt.settings).key_id

    assert rt.store.stat(made.object_key).legal_hold
    with pytest.raises(ObjectLocked):
        rt.store.delete(made.object_key)

    fill(rt, 2, start=5)
    assert checkpoint_if_due(rt) is None
    with rt.session() as session:
        assert not checkpoint_due(session, rt.settings, now=utcnow() + timedelta(minutes=9))
        assert checkpoint_due(session, rt.settings, now=utcnow() + timedelta(minutes=11))
    assert checkpoint(rt).count == 7
    assert checkpoint(rt) is None  # nothing new
    report = verify(rt)
    assert report.ok and report.checkpoints_checked == 2 and report.last_checkpoint == 7


def test_each_checkpoint_hashes_on_from_the_last_and_proofs_lead_to_its_root(rt):
    for start, count in ((0, 3), (3, 1), (4, 9), (13, 16), (29, 1)):
        fill(rt, count, start=start)
        checkpoint(rt)
    assert rows(rt) == [3, 4, 13, 29, 30]
    leaves = [leaf_hash(h) for h in hashes(rt)]
    with rt.session() as session:
        for cp in session.scalars(select(CustodyCheckpoint)):
            assert cp.merkle_root == root(leaves[:cp.count]).hex()
            assert Frontier.from_hex(cp.count, cp.frontier).root().hex() == cp.merkle_root
        found = proofs(session, [1, 2, 13, 29], 29)
    assert set(found) == {1, 2, 13, 29}
    for seq, proof in found.items():
        assert proof == [node.hex() for node in inclusion_proof(leaves[:29], seq - 1)]
        assert root_from_proof(leaves[seq - 1], seq - 1, 29, [bytes.fromhex(p) for p in proof]) == root(leaves[:29])
    assert verify(rt).ok


def test_racing_workers_make_one_checkpoint(rt):
    fill(rt, 5)
    barrier, results, errors = threading.Barrier(6), [], []

    def work():
        barrier.wait()
        try:
            results.append(checkpoint_if_due(rt))
        except Exception as exc:  # reported below, so a failure names its cause
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert not errors, errors
    assert [cp.count for cp in results if cp is not None] == [5]
    assert rows(rt) == [5] and [info.key for info in rt.store.list("custody/")] == [object_key(5)]
    assert verify(rt).ok


class _DiesAfterPut:
    """The real store, but the process "dies" right after the document is stored, before the
    checkpoint's row commits."""

    def __init__(self, store):
        self.store = store

    def list(self, prefix=""):
        return self.store.list(prefix)

    def read_all(self, key):
        return self.store.read_all(key)

    def put(self, key, stream, **options):
        self.store.put(key, stream, **options)
        raise SystemExit("killed")


def crash_while_checkpointing(rt):
    with pytest.raises(SystemExit):
        checkpoint(rt, None, _DiesAfterPut(rt.store))


def test_a_crash_between_storing_and_committing_is_adopted_not_called_tampering(rt):
    fill(rt, 6)
    crash_while_checkpointing(rt)
    assert rows(rt) == [] and rt.store.exists(object_key(6))
    report = verify(rt)
    assert report.ok and report.checkpoints_checked == 1
    assert [note.code for note in report.notes] == ["cp_unrecorded"]

    adopted = checkpoint(rt)  # nothing new since: the stored one is recorded
    assert adopted.count == 6 and rt.store.read_all(object_key(6)) == document_bytes(checkpoint_document(adopted))
    fill(rt, 3, start=6)
    crash_while_checkpointing(rt)
    fill(rt, 2, start=9)
    assert checkpoint(rt).count == 11  # adopts 9 on the way
    assert rows(rt) == [6, 9, 11]
    report = verify(rt)
    assert report.ok and report.checkpoints_checked == 3 and not report.notes


def test_a_broken_chain_is_never_signed(rt):
    fill(rt, 5)
    checkpoint(rt)
    fill(rt, 5, start=5)
    unguard(rt.engine)
    run(rt.engine, update(EVENTS).where(EVENTS.c.seq == 8).values(action="tampered"))
    with pytest.raises(CheckpointRefused) as refused:
        checkpoint(rt)
    assert (refused.value.problem.seq, refused.value.problem.code) == (8, "edited")
    assert rows(rt) == [5] and not rt.store.exists(object_key(10))


# -- tampering that only checkpoints catch ---------------------------------------------------------

def test_a_deleted_tail_is_named(rt):
    fill(rt, 10)
    checkpoint(rt)
    fill(rt, 2, start=10)
    unguard(rt.engine)
    run(rt.engine, delete(EVENTS).where(EVENTS.c.seq >= 8))
    assert_broken(verify(rt), 8, "truncated", "log ends at 7 but checkpoint 10 covers 10 events (deleted tail?)")


def test_a_consistently_rewritten_log_is_caught_by_the_signed_checkpoint(rt):
    fill(rt, 10)
    checkpoint(rt)
    fill(rt, 5, start=10)
    unguard(rt.engine)
    run(rt.engine, update(EVENTS).where(EVENTS.c.seq == 4).values(details={"说明": "改写"}))
    rehash_from(rt.engine, 4)
    assert_broken(verify(rt), 10, "cp_head", "checkpoint 10", "rewritten")


def test_a_rewrite_with_re_signed_checkpoint_rows_is_caught_by_the_store_copy(rt, tmp_path):
    fill(rt, 10)
    checkpoint(rt)
    unguard(rt.engine)
    run(rt.engine, update(EVENTS).where(EVENTS.c.seq == 2).values(actor_id="nobody"))
    rehash_from(rt.engine, 2)
    run(rt.engine, delete(CHECKPOINTS))
    with rt.session() as session, session.begin():  # the forger signs the new log, with the real key even
        forged = create_checkpoint(session, _NoStore(), load_signer(rt.settings))
    assert forged.count == 10
    assert_broken(verify(rt), 10, "cp_row_differs", "differs from the signed copy", "head_hash")


class _NoStore:
    """An object store the forger cannot write to: it lists nothing and accepts the put silently."""

    def list(self, prefix=""):
        return iter(())

    def put(self, key, stream, **_options):
        return None


@pytest.mark.parametrize("change, named", [({"head_hash": "0" * 64}, "head_hash"),
                                           ({"signature": "0" * 128}, "signature"),
                                           ({"created_at": utcnow()}, "created_at"),
                                           ({"object_key": object_key(99)}, "object_key")])
def test_an_altered_checkpoint_row_is_named(rt, change, named):
    fill(rt, 10)
    checkpoint(rt)
    unguard(rt.engine)
    run(rt.engine, update(CHECKPOINTS).where(CHECKPOINTS.c.count == 10).values(**change))
    assert_broken(verify(rt), 10, "cp_row_differs", named)


def test_an_altered_frontier_is_named(rt):
    fill(rt, 6)
    checkpoint(rt)
    unguard(rt.engine)
    run(rt.engine, update(CHECKPOINTS).values(frontier=["ab" * 32, "cd" * 32]))
    assert_broken(verify(rt), 6, "cp_frontier")
    fill(rt, 1, start=6)
    with pytest.raises(CheckpointRefused, match="frontier"):
        checkpoint(rt)


def test_a_deleted_checkpoint_row_is_named(rt):
    for start in (0, 5, 10):
        fill(rt, 5, start=start)
        checkpoint(rt)
    unguard(rt.engine)
    run(rt.engine, delete(CHECKPOINTS).where(CHECKPOINTS.c.count == 10))
    assert_broken(verify(rt), 10, "cp_row_deleted", "checkpoint 10: its database row was deleted")


def test_deleting_the_latest_checkpoint_row_hides_nothing(rt):
    """Its store copy is still checked (like one whose writer died before committing)."""
    fill(rt, 10)
    checkpoint(rt)
    unguard(rt.engine)
    run(rt.engine, delete(CHECKPOINTS))
    assert verify(rt).ok
    run(rt.engine, update(EVENTS).where(EVENTS.c.seq == 3).values(action="tampered"))
    rehash_from(rt.engine, 3)
    assert_broken(verify(rt), 10, "cp_head")


def test_a_forged_checkpoint_row_without_a_store_copy_is_named(rt):
    fill(rt, 8)
    with rt.session() as session, session.begin():
        create_checkpoint(session, _NoStore(), load_signer(rt.settings))
    assert_broken(verify(rt), 8, "cp_no_copy", "checkpoint 8", "missing from the object store")


def test_a_forged_store_copy_with_a_bad_signature_is_named(rt):
    fill(rt, 5)
    made = checkpoint(rt)
    fill(rt, 4, start=5)
    document = checkpoint_document(made)
    payload = {**document["payload"], "count": 9, "head_seq": 9, "head_hash": event(rt.engine, 9).hash,
               "merkle_root": root([leaf_hash(h) for h in hashes(rt)]).hex()}
    text = json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    forged = {**document, "payload": payload, "payload_text": text}  # the old signature
    rt.store.put(object_key(9), io.BytesIO(document_bytes(forged)))
    assert_broken(verify(rt), 9, "cp_signature", "checkpoint 9: signature invalid")


def test_checkpoints_of_a_key_that_is_not_trusted_fail(rt, tmp_path):
    fill(rt, 5)
    stranger = write_key(tmp_path / "stranger.pem")
    checkpoint(rt, stranger)  # mathematically valid, but anyone can make a key
    report = verify(rt)
    assert_broken(report, 5, "cp_untrusted", stranger.key_id, "custody.trusted_keys")


def test_after_a_key_rotation_old_checkpoints_verify_while_the_old_key_is_trusted(rt, settings, tmp_path):
    fill(rt, 5)
    old = load_signer(rt.settings)
    checkpoint(rt)
    new_key = write_key(tmp_path / "rotated.pem")
    fill(rt, 5, start=5)
    checkpoint(rt, new_key)
    retired_public = tmp_path / "old.pub.pem"
    retired_public.write_bytes(public_key_path(settings.custody_signing_key).read_bytes())
    rotated = settings.model_copy(update={"custody": settings.custody.model_copy(update={
        "signing_key": str(new_key.path), "trusted_keys": [str(retired_public)]})})
    forgotten = settings.model_copy(update={"custody": settings.custody.model_copy(update={
        "signing_key": str(new_key.path)})})
    with rt.session() as session:
        kept = verify_chain(session, rt.store, rotated)
        lost = verify_chain(session, rt.store, forgotten)
    assert kept.ok and kept.checkpoints_checked == 2
    assert_broken(lost, 5, "cp_untrusted", old.key_id)
