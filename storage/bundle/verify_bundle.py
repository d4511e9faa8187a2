#!/usr/bin/env python3
"""Offline verifier of a fullrecord evidence bundle (执法音视频证据包离线校验程序).

Usage:  python3 verify_bundle.py bundle.zip        (or the directory it was unzipped into)

Needs only Python 3.8 or later and its standard library; it never contacts a server.
It checks that
  1. the custody checkpoint (checkpoint.json) carries a valid Ed25519 signature by the key in
     public_key.txt, and that key's fingerprint;
  2. every custody event (custody.jsonl) hashes to its recorded hash (the same canonical
     serialization as the server) and is included in the signed checkpoint (RFC 6962 Merkle proof);
  3. the export is recorded in that custody log, with the SHA-256 of manifest.json and case.json;
  4. every file listed in manifest.json has its size, SHA-256 and SM3 (when this Python offers SM3),
     agrees with the custody events that received or derived it, and no file is missing or extra.
Exit status 0 only when everything passes; otherwise every failure is printed and the status is 1.
"""
from __future__ import annotations

import hashlib
import json
import os
import sys
import zipfile

METADATA_FILES = ("manifest.json", "case.json", "custody.jsonl", "checkpoint.json", "public_key.txt",
                  "README.txt", "verify_bundle.py")
CUSTODY_FIELDS = ("seq", "occurred_at", "actor_type", "actor_id", "action", "clip_id", "case_id", "details",
                  "source_address", "prev_hash")
CHUNK = 1 << 20

# -- Ed25519 signature verification (RFC 8032, section 6 and 5.1.7) -------------------------------------

_P = 2 ** 255 - 19
_L = 2 ** 252 + 27742317777372353535851937790883648493
_D = -121665 * pow(121666, _P - 2, _P) % _P
_SQRT_M1 = pow(2, (_P - 1) // 4, _P)


def _point_add(a, b):
    x1, y1, z1, t1 = a
    x2, y2, z2, t2 = b
    pa = (y1 - x1) * (y2 - x2) % _P
    pb = (y1 + x1) * (y2 + x2) % _P
    pc = t1 * 2 * _D * t2 % _P
    pd = z1 * 2 * z2 % _P
    e, f, g, h = pb - pa, pd - pc, pd + pc, pb + pa
    return e * f % _P, g * h % _P, f * g % _P, e * h % _P


def _point_mul(scalar, point):
    result = (0, 1, 1, 0)
    while scalar > 0:
        if scalar & 1:
            result = _point_add(result, point)
        point = _point_add(point, point)
        scalar >>= 1
    return result


def _point_equal(a, b):
    return ((a[0] * b[2] - b[0] * a[2]) % _P == 0) and ((a[1] * b[2] - b[1] * a[2]) % _P == 0)


def _recover_x(y, sign):
    if y >= _P:
        return None
    x2 = (y * y - 1) * pow(_D * y * y + 1, _P - 2, _P)
    if x2 % _P == 0:
        return None if sign else 0
    x = pow(x2, (_P + 3) // 8, _P)
    if (x * x - x2) % _P != 0:
        x = x * _SQRT_M1 % _P
    if (x * x - x2) % _P != 0:
        return None
    if (x & 1) != sign:
        x = _P - x
    return x


def _decompress(encoded):
    if len(encoded) != 32:
        return None
    y = int.from_bytes(encoded, "little")
    sign = y >> 255
    y &= (1 << 255) - 1
    x = _recover_x(y, sign)
    return None if x is None else (x, y, 1, x * y % _P)


_GY = 4 * pow(5, _P - 2, _P) % _P
_G = (_recover_x(_GY, 0), _GY, 1, _recover_x(_GY, 0) * _GY % _P)


def ed25519_verify(public_key: bytes, message: bytes, signature: bytes) -> bool:
    """True when signature is a valid Ed25519 signature of message by public_key (32 raw bytes)."""
    if len(public_key) != 32 or len(signature) != 64:
        return False
    a = _decompress(public_key)
    r = _decompress(signature[:32])
    if a is None or r is None:
        return False
    s = int.from_bytes(signature[32:], "little")
    if s >= _L:
        return False
    h = int.from_bytes(hashlib.sha512(signature[:32] + public_key + message).digest(), "little") % _L
    return _point_equal(_point_mul(s, _G), _point_add(r, _point_mul(h, a)))


# -- RFC 6962 Merkle inclusion proofs --------------------------------------------------------------------

def leaf_hash(event_hash_hex: str) -> bytes:
    return hashlib.sha256(b"\x00" + bytes.fromhex(event_hash_hex)).digest()


def root_from_proof(leaf: bytes, index: int, size: int, proof) -> bytes | None:
    """The tree root implied by an inclusion proof (RFC 9162 section 2.1.3.2), None if malformed."""
    if index < 0 or index >= size:
        return None
    fn, sn, r = index, size - 1, leaf
    for sibling in proof:
        if sn == 0:
            return None
        if fn & 1 or fn == sn:
            r = hashlib.sha256(b"\x01" + sibling + r).digest()
            while not fn & 1 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            r = hashlib.sha256(b"\x01" + r + sibling).digest()
        fn >>= 1
        sn >>= 1
    return r if sn == 0 else None


def canonical_event(event: dict) -> bytes:
    """Exactly the server's serialization of a custody event (storage/custody.py: canonical)."""
    fields = {name: event.get(name) for name in CUSTODY_FIELDS}
    return json.dumps(fields, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


# -- reading the bundle (a zip file or the directory it was unzipped into) --------------------------------

class Bundle:
    def __init__(self, path: str):
        self.path = path
        self.zip = None if os.path.isdir(path) else zipfile.ZipFile(path)

    def names(self) -> set:
        if self.zip is not None:
            return {info.filename for info in self.zip.infolist() if not info.is_dir()}
        found = set()
        for directory, _dirs, files in os.walk(self.path):
            relative = os.path.relpath(directory, self.path)
            for name in files:
                found.add(name if relative == "." else os.path.join(relative, name).replace(os.sep, "/"))
        return found

    def open(self, name: str):
        if self.zip is not None:
            return self.zip.open(name)
        return open(os.path.join(self.path, *name.split("/")), "rb")

    def read(self, name: str) -> bytes:
        with self.open(name) as handle:
            return handle.read()


def digest_file(bundle: Bundle, name: str, sm3_available: bool):
    """Size, SHA-256 and (if available) SM3 of one file, streamed."""
    sha = hashlib.sha256()
    sm3 = hashlib.new("sm3") if sm3_available else None
    size = 0
    with bundle.open(name) as handle:
        while True:
            chunk = handle.read(CHUNK)
            if not chunk:
                break
            size += len(chunk)
            sha.update(chunk)
            if sm3 is not None:
                sm3.update(chunk)
    return size, sha.hexdigest(), (sm3.hexdigest() if sm3 is not None else None)


def sm3_offered() -> bool:
    try:
        hashlib.new("sm3")
    except ValueError:
        return False
    return True


# -- the checks -------------------------------------------------------------------------------------------

class Verifier:
    def __init__(self, bundle: Bundle):
        self.bundle = bundle
        self.failures = []
        self.notes = []

    def fail(self, message: str) -> None:
        self.failures.append(message)

    def load_json(self, name: str):
        try:
            return json.loads(self.bundle.read(name).decode("utf-8"))
        except (OSError, KeyError, ValueError, zipfile.BadZipFile) as exc:
            self.fail(f"{name}: cannot be read as JSON ({exc})")
            return None

    def run(self) -> bool:
        names = self.bundle.names()
        for name in METADATA_FILES:
            if name not in names:
                self.fail(f"{name}: missing from the bundle")
        if self.failures:
            return False
        manifest = self.load_json("manifest.json")
        checkpoint = self.check_checkpoint()
        events = self.check_custody(checkpoint) if checkpoint else None
        if manifest is not None:
            self.check_files(manifest, names)
            if events is not None:
                self.check_export_record(manifest, events)
        return not self.failures

    def check_checkpoint(self):
        """The signed payload, if the signature, the key and its fingerprint are all right."""
        document = self.load_json("checkpoint.json")
        if not isinstance(document, dict):
            return None
        try:
            payload_text = document["payload_text"]
            payload = json.loads(payload_text)
            public_key = bytes.fromhex(document["public_key"])
            signature = bytes.fromhex(document["signature"])
        except (KeyError, TypeError, ValueError) as exc:
            self.fail(f"checkpoint.json: malformed ({exc!r})")
            return None
        fingerprint = hashlib.sha256(public_key).hexdigest()
        ok = True
        if not ed25519_verify(public_key, payload_text.encode("utf-8"), signature):
            self.fail("checkpoint.json: signature invalid (the signed checkpoint was altered or not signed by "
                      "this key) / 签名无效")
            ok = False
        if payload.get("key_id") != fingerprint or document.get("key_id") != fingerprint:
            self.fail(f"checkpoint.json: key fingerprint {fingerprint} does not match the key_id it names")
            ok = False
        if document.get("payload") != payload:
            self.fail("checkpoint.json: the readable payload differs from the signed payload_text")
            ok = False
        key_file = self.bundle.read("public_key.txt").decode("utf-8", "replace")
        values = dict(line.split(":", 1) for line in key_file.splitlines() if ":" in line)
        listed_key = values.get("public_key", "").strip().lower()
        listed_fingerprint = values.get("fingerprint", "").strip().lower()
        if listed_key != public_key.hex() or listed_fingerprint != fingerprint:
            self.fail("public_key.txt: its key or fingerprint differs from the key that signed checkpoint.json")
            ok = False
        for field in ("count", "merkle_root", "head_hash"):
            if field not in payload:
                self.fail(f"checkpoint.json: the signed payload has no {field}")
                ok = False
        if ok:
            self.notes.append(f"checkpoint of {payload['count']} custody events, signed {payload.get('created_at')} "
                              f"by key {fingerprint}")
        return payload if ok else None

    def check_custody(self, checkpoint: dict):
        """The custody events, each hashed and proved against the checkpoint; None if unreadable."""
        size, root = int(checkpoint["count"]), bytes.fromhex(checkpoint["merkle_root"])
        events = []
        try:
            lines = self.bundle.read("custody.jsonl").decode("utf-8").splitlines()
        except (OSError, UnicodeDecodeError, zipfile.BadZipFile) as exc:
            self.fail(f"custody.jsonl: cannot be read ({exc})")
            return None
        previous = None
        for number, line in enumerate(lines, 1):
            if not line.strip():
                continue
            try:
                event = json.loads(line)
                seq = int(event["seq"])
                recorded = event["hash"]
                proof = [bytes.fromhex(node) for node in event["proof"]]
            except (KeyError, TypeError, ValueError) as exc:
                self.fail(f"custody.jsonl line {number}: malformed ({exc!r})")
                continue
            if hashlib.sha256(canonical_event(event)).hexdigest() != recorded:
                self.fail(f"custody seq {seq}: its fields do not hash to its recorded hash (the event was altered)")
            elif root_from_proof(leaf_hash(recorded), seq - 1, size, proof) != root:
                self.fail(f"custody seq {seq}: not included in the signed checkpoint (Merkle proof fails)")
            if previous is not None and seq <= previous["seq"]:
                self.fail(f"custody seq {seq}: out of order after seq {previous['seq']}")
            elif previous is not None and seq == previous["seq"] + 1 and event.get("prev_hash") != previous["hash"]:
                self.fail(f"custody seq {seq}: prev_hash does not chain to seq {previous['seq']}")
            if seq == size and recorded != checkpoint["head_hash"]:
                self.fail(f"custody seq {seq}: differs from the checkpoint's head hash")
            events.append(event)
            previous = event
        return events

    def check_export_record(self, manifest: dict, events: list) -> None:
        """The export's own custody events name this manifest and case.json, and list every earlier
        event of the case and its clips (so none was left out of the excerpt); each file agrees with
        the event that received or derived it."""
        self.check_origins(manifest.get("files") or [], events)
        manifest_sha = hashlib.sha256(self.bundle.read("manifest.json")).hexdigest()
        case_sha = hashlib.sha256(self.bundle.read("case.json")).hexdigest()
        export_id = manifest.get("export_id")
        matching = [e for e in events if e.get("action") == "exported" and isinstance(e.get("details"), dict)
                    and e["details"].get("export_id") == export_id
                    and e["details"].get("manifest_sha256") == manifest_sha]
        if not matching:
            self.fail(f"manifest.json: its SHA-256 {manifest_sha} is not the one the custody log recorded for "
                      f"export {export_id} (the manifest was altered, or the export is not in custody.jsonl)")
            return
        summary = [e for e in matching if e.get("clip_id") is None]
        if not summary or summary[0]["details"].get("case_json_sha256") != case_sha:
            self.fail(f"case.json: its SHA-256 {case_sha} is not the one recorded for export {export_id}")
        if summary:
            present = {int(e["seq"]) for e in events}
            missing = sorted(set(summary[0]["details"].get("prior_events") or []) - present)
            if missing:
                self.fail(f"custody.jsonl: events recorded before the export are missing: seq {missing[:20]}")
        exported_clips = {e.get("clip_id") for e in matching if e.get("clip_id")}
        listed_clips = {entry.get("source_clip_id") for entry in manifest.get("files") or []}
        for clip_id in sorted(listed_clips - exported_clips, key=str):
            self.fail(f"custody.jsonl: no 'exported' event for clip {clip_id}")

    def check_origins(self, files: list, events: list) -> None:
        """An original agrees with the event that received it; a review copy with the one that derived it."""
        received, derived = {}, {}
        for event in events:
            details = event.get("details") if isinstance(event.get("details"), dict) else {}
            if event.get("action") == "received":
                received.setdefault(event.get("clip_id"), event)
            elif event.get("action") == "derived":
                derived.setdefault(details.get("derivative_id"), event)
        for entry in files:
            if entry.get("role") == "original":
                found = received.get(entry.get("source_clip_id"))
                what = f"'received' event of clip {entry.get('source_clip_id')}"
            else:
                found = derived.get(entry.get("derivative_id"))
                what = f"'derived' event of derivative {entry.get('derivative_id')}"
            if found is None:
                self.fail(f"{entry.get('path')}: no {what} in custody.jsonl")
                continue
            details = found.get("details") or {}
            if details.get("sha256") != entry.get("sha256") or details.get("size") != entry.get("size"):
                self.fail(f"{entry.get('path')}: the manifest's SHA-256/size differ from the {what} "
                          f"(seq {found['seq']})")

    def check_files(self, manifest: dict, names: set) -> None:
        sm3_available = sm3_offered()
        if not sm3_available:
            self.notes.append("SM3 was NOT checked: this Python's hashlib does not offer sm3 (SHA-256 was checked) "
                              "/ 本机 Python 不支持 SM3，未校验 SM3（已校验 SHA-256）")
        listed = set()
        for entry in manifest.get("files") or []:
            path = entry.get("path")
            if not isinstance(path, str) or path.startswith("/") or ".." in path.split("/") or "\\" in path:
                self.fail(f"{path!r}: not a plain path inside the bundle")
                continue
            listed.add(path)
            if path not in names:
                self.fail(f"{path}: missing from the bundle / 文件缺失")
                continue
            try:
                size, sha, sm3 = digest_file(self.bundle, path, sm3_available)
            except (OSError, zipfile.BadZipFile) as exc:
                self.fail(f"{path}: cannot be read ({exc})")
                continue
            if size != entry.get("size"):
                self.fail(f"{path}: size {size} bytes, the manifest says {entry.get('size')}")
            if sha != entry.get("sha256"):
                self.fail(f"{path}: SHA-256 {sha} does not match the manifest's {entry.get('sha256')}")
            if sm3 is not None and entry.get("sm3") is None:
                self.notes.append(f"{path}: no SM3 was recorded for it (SHA-256 was checked)")
            elif sm3 is not None and sm3 != entry.get("sm3"):
                self.fail(f"{path}: SM3 {sm3} does not match the manifest's {entry.get('sm3')}")
        for extra in sorted(names - listed - set(METADATA_FILES)):
            self.fail(f"{extra}: extra file, not listed in manifest.json / 多余文件")
        self.notes.append(f"{len(listed)} files listed in manifest.json")


def main(argv) -> int:
    if len(argv) != 2 or argv[1] in ("-h", "--help"):
        print(__doc__)
        return 2
    try:
        bundle = Bundle(argv[1])
    except (OSError, zipfile.BadZipFile) as exc:
        print(f"FAILED / 校验失败: cannot open {argv[1]}: {exc}")
        return 1
    verifier = Verifier(bundle)
    ok = verifier.run()
    for note in verifier.notes:
        print(f"note: {note}")
    for failure in verifier.failures:
        print(f"FAILED: {failure}")
    if ok:
        print("OK: every file, every custody event and the checkpoint signature verified / 校验通过")
        return 0
    print(f"FAILED / 校验失败: {len(verifier.failures)} problem(s) found")
    return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
