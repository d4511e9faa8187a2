"""Evidence bundles made by `fullrecord export` (the same code as the worker's job), on SQLite +
local store and on PostgreSQL + SeaweedFS: what a bundle holds; the offline verifier, run by a
plain isolated `python3 -I`, passing on it and failing with the fault named on every kind of
tampering; and exports refused when stored evidence or the custody log no longer match."""
import base64
import hashlib
import json
import os
import shutil
import subprocess
import uuid
import zipfile
from pathlib import Path

import pytest
from sqlalchemy import select, text

from storage.custody_models import Export
from storage.models import Clip, CustodyEvent
from storage.processing_models import Alert
from tests.casework_api import (admin_headers, make_case, make_officer, make_step, make_units, station_headers,
                                user_headers)
from tests.cli import run_cli
from tests.services.workers import write_config

OFFICER, SERIAL, OTHER_SERIAL = "3201001", "DSJ-001", "DSJ-009"
PLAIN_PYTHON = shutil.which("python3", path="/usr/bin:/bin") or "python3"
"""The system's own Python (no project packages installed into it), as a court would have."""
METADATA = {"manifest.json", "case.json", "custody.jsonl", "checkpoint.json", "public_key.txt", "README.txt",
            "verify_bundle.py"}


def at(clock: str) -> str:
    return f"2026-11-20T{clock}:00+08:00"


@pytest.fixture(params=["local-sqlite", "s3-postgresql"])
def settings(request, make_settings, tmp_path, redis_url):
    values = {"redis.url": redis_url}
    if request.param.startswith("s3"):
        s3 = request.getfixturevalue("seaweedfs").settings(f"exp-{uuid.uuid4().hex[:20]}")
        values.update({"object_store.backend": "s3", "database.url": request.getfixturevalue("postgres_url"),
                       **{f"object_store.s3.{k}": v for k, v in s3.items()}})
    else:
        values["database.url"] = f"sqlite:///{tmp_path / 'db' / 'fullrecord.db'}"
    return make_settings(**values)


def upload_clip(client, station, *, recorded_at: str, data: bytes | None = None, filename: str | None = None,
                serial: str = SERIAL, officer: str | None = OFFICER) -> str:
    """One clip through the real tus API (creation-with-upload); its id from the receipt."""
    data = os.urandom(4096) if data is None else data
    values = {"filename": filename or f"{serial}_{uuid.uuid4().hex[:6]}.mp4", "device_id": serial,
              "recorded_at": recorded_at, "sha256": hashlib.sha256(data).hexdigest(),
              **({"officer_id": officer} if officer else {})}
    metadata = ",".join(f"{key} {base64.b64encode(value.encode()).decode()}" for key, value in values.items())
    answer = client.post("/api/v1/uploads", data=data, headers={
        **station, "Tus-Resumable": "1.0.0", "Upload-Length": str(len(data)), "Upload-Metadata": metadata,
        "Content-Type": "application/offset+octet-stream"})
    assert answer.status_code == 201, answer.get_data(as_text=True)
    return answer.headers["X-Clip-Id"]


def decide(client, legal, clip_id, step_id, action, reason):
    answer = client.post("/api/v1/links", json={"clip_id": clip_id, "step_id": step_id, "action": action,
                                                "reason": reason}, headers=legal)
    assert answer.status_code == 201, answer.get_json()


def make_evidence(client, rt, sizes=(300 * 1024, 2_500_000)) -> dict:
    """A case with one inspection step, clips linked automatically (officer rule) of these sizes, one
    manual link, one automatic link that legal staff excluded, and one clip of another time."""
    admin = admin_headers(client, rt)
    make_units(client, admin)
    make_officer(client, admin, OFFICER)
    legal, station = user_headers(client, rt, "legal"), station_headers(rt)
    case = make_case(client, admin, officers=[OFFICER])
    step = make_step(client, admin, case["id"], officers=[OFFICER], started_at=at("10:00"), ended_at=at("10:30"))
    linked = [upload_clip(client, station, recorded_at=at(f"10:{5 + i:02d}"), data=os.urandom(size),
                          filename=f"现场检查_东门 {i}.mp4") for i, size in enumerate(sizes)]
    excluded = upload_clip(client, station, recorded_at=at("10:20"))
    decide(client, legal, excluded, step["id"], "unlink", "录像内容为另一案件的现场")
    manual = upload_clip(client, station, recorded_at=at("10:25"), serial=OTHER_SERIAL, officer=None)
    decide(client, legal, manual, step["id"], "link", "同行执法人员佩戴的记录仪，已核对画面")
    unrelated = upload_clip(client, station, recorded_at=at("15:00"))
    return {"admin": admin, "legal": legal, "station": station, "case": case, "step": step, "linked": linked,
            "excluded": excluded, "manual": manual, "unrelated": unrelated, "evidence": [*linked, manual]}


def unzip(bundle: Path, directory: Path) -> Path:
    with zipfile.ZipFile(bundle) as archive:
        archive.extractall(directory)
    return directory


def verify(target: Path) -> subprocess.CompletedProcess:
    """The bundle's own verifier, run as a court would: the system Python, isolated (-I: no
    PYTHONPATH, no user site, not the project), in a directory of its own."""
    script = target / "verify_bundle.py" if target.is_dir() else target.with_name("verify_bundle.py")
    if not target.is_dir():
        with zipfile.ZipFile(target) as archive:
            script.write_bytes(archive.read("verify_bundle.py"))
    return subprocess.run([PLAIN_PYTHON, "-I", str(script), str(target)], capture_output=True, text=True,
                          timeout=300, cwd=script.parent, env={"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8"})


def verify_without_sm3(directory: Path) -> subprocess.CompletedProcess:
    """The verifier on a Python whose hashlib offers no SM3 (OpenSSL built without it)."""
    code = ("import hashlib, runpy, sys\n"
            "new = hashlib.new\n"
            "def without_sm3(name, *args, **kwargs):\n"
            "    if name.lower() == 'sm3':\n"
            "        raise ValueError('unsupported hash type ' + name)\n"
            "    return new(name, *args, **kwargs)\n"
            "hashlib.new = without_sm3\n"
            f"sys.argv = ['verify_bundle.py', {str(directory)!r}]\n"
            f"runpy.run_path({str(directory / 'verify_bundle.py')!r}, run_name='__main__')\n")
    return subprocess.run([PLAIN_PYTHON, "-I", "-c", code], capture_output=True, text=True, timeout=300,
                          env={"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8"})


def cli_export(settings, tmp_path, *args) -> subprocess.CompletedProcess:
    config = write_config(settings, tmp_path / "cli.yaml")
    return run_cli("--config", str(config), "--lang", "en", "export", *args, timeout=300)


def bundle_of(settings, tmp_path, world, name="bundle.zip", *extra) -> Path:
    out = tmp_path / "out" / name
    out.parent.mkdir(exist_ok=True)
    result = cli_export(settings, tmp_path, world["case"]["case_number"], "--out", str(out), *extra)
    assert result.returncode == 0, result.stdout + result.stderr
    return out


def tampered_copy(directory: Path, tmp_path: Path, name: str) -> Path:
    return Path(shutil.copytree(directory, tmp_path / name))


def test_the_cli_bundle_holds_the_evidence_and_verifies_offline(client, rt, settings, tmp_path):
    world = make_evidence(client, rt)
    out = bundle_of(settings, tmp_path, world)
    result = verify(out)  # the zip itself
    assert result.returncode == 0, result.stdout + result.stderr
    assert "OK" in result.stdout and "SM3 was NOT checked" not in result.stdout

    directory = unzip(out, tmp_path / "unzipped")
    assert verify(directory).returncode == 0
    without_sm3 = verify_without_sm3(directory)
    assert without_sm3.returncode == 0 and "SM3 was NOT checked" in without_sm3.stdout, without_sm3.stdout
    manifest = json.loads((directory / "manifest.json").read_text())
    with rt.session() as session:
        export = session.scalars(select(Export)).one()
        clips = {clip_id: session.get(Clip, clip_id)
                 for clip_id in world["evidence"]}
    assert (export.status, export.progress, export.case_id) == ("done", 1.0, world["case"]["id"])
    assert export.sha256 == hashlib.sha256(out.read_bytes()).hexdigest() and export.size == out.stat().st_size
    assert export.requested_by.startswith("cli:") and export.object_key is None
    assert manifest["export_id"] == export.id and manifest["case_number"] == world["case"]["case_number"]
    assert {entry["source_clip_id"] for entry in manifest["files"]} == set(world["evidence"])
    for entry in manifest["files"]:
        clip = clips[entry["source_clip_id"]]
        assert entry["role"] == "original" and entry["path"].startswith(f"originals/{clip.id}-")
        assert (entry["sha256"], entry["sm3"], entry["size"]) == (clip.sha256, clip.sm3, clip.size)
        assert hashlib.sha256((directory / entry["path"]).read_bytes()).hexdigest() == clip.sha256
    assert any("现场检查_东门" in entry["path"] for entry in manifest["files"])
    with zipfile.ZipFile(out) as archive:
        names = set(archive.namelist())
        assert all(info.compress_type == zipfile.ZIP_STORED for info in archive.infolist())
    assert names == METADATA | {entry["path"] for entry in manifest["files"]}

    case = json.loads((directory / "case.json").read_text())
    assert case["case"]["id"] == world["case"]["id"]
    [step] = case["steps"]
    links = {link["clip_id"]: link for link in step["links"]}
    assert set(links) == set(world["evidence"]) | {world["excluded"]}
    assert (links[world["excluded"]]["state"], links[world["excluded"]]["reason"]) == ("excluded", "录像内容为另一案件的现场")
    assert (links[world["manual"]]["origin"], links[world["manual"]]["rule"]) == ("manual", "manual")
    assert all(links[clip]["rule"] == "officer" and links[clip]["details"]["officers"] for clip in world["linked"])
    assert step["type_name"]["zh-CN"].startswith("现场检查")

    custody = [json.loads(line) for line in (directory / "custody.jsonl").read_text().splitlines()]
    seqs = [event["seq"] for event in custody]
    assert seqs == sorted(seqs) and all(event["proof"] is not None for event in custody)
    concerned = set(world["evidence"]) | {world["excluded"]}
    assert {event["clip_id"] for event in custody} - {None} == concerned  # not the unrelated clip
    exported = [event for event in custody if event["action"] == "exported"]
    assert {event["clip_id"] for event in exported} == set(world["evidence"]) | {None}
    assert all(event["actor_id"].startswith("cli@") and event["details"]["export_id"] == export.id
               and event["case_id"] == world["case"]["id"] for event in exported)
    checkpoint = json.loads((directory / "checkpoint.json").read_text())
    assert checkpoint["payload"]["count"] >= max(seqs) == max(event["seq"] for event in exported)
    assert checkpoint["public_key"] in (directory / "public_key.txt").read_text()
    readme = (directory / "README.txt").read_text()
    assert "python3 verify_bundle.py" in readme and "校验" in readme and "verify" in readme
    with rt.session() as session:
        stored = session.scalars(select(CustodyEvent).where(CustodyEvent.action == "exported")).all()
    assert len(stored) == len(exported)


def test_tampering_is_caught_and_named(client, rt, settings, tmp_path):
    world = make_evidence(client, rt)
    directory = unzip(bundle_of(settings, tmp_path, world), tmp_path / "good")
    manifest = json.loads((directory / "manifest.json").read_text())
    victim = manifest["files"][-1]["path"]

    flipped = tampered_copy(directory, tmp_path, "flipped")
    data = bytearray((flipped / victim).read_bytes())
    data[len(data) // 2] ^= 0x01
    (flipped / victim).write_bytes(bytes(data))
    result = verify(flipped)
    assert result.returncode == 1 and f"FAILED: {victim}: SHA-256" in result.stdout, result.stdout

    edited = tampered_copy(directory, tmp_path, "edited")
    lines = (edited / "custody.jsonl").read_text().splitlines()
    event = json.loads(lines[0])
    event["actor_id"] = "someone-else"
    lines[0] = json.dumps(event, ensure_ascii=False, separators=(",", ":"))
    (edited / "custody.jsonl").write_text("\n".join(lines) + "\n")
    result = verify(edited)
    assert result.returncode == 1 and f"custody seq {event['seq']}: its fields do not hash" in result.stdout

    rehashed = tampered_copy(directory, tmp_path, "rehashed")  # hash recomputed too: the proof fails
    lines = (rehashed / "custody.jsonl").read_text().splitlines()
    event = json.loads(lines[1])
    event["details"] = {**event["details"], "note": "added later"}
    event["hash"] = hashlib.sha256(json.dumps({k: event[k] for k in (
        "seq", "occurred_at", "actor_type", "actor_id", "action", "clip_id", "case_id", "details", "source_address",
        "prev_hash")}, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()).hexdigest()
    lines[1] = json.dumps(event, ensure_ascii=False)
    (rehashed / "custody.jsonl").write_text("\n".join(lines) + "\n")
    result = verify(rehashed)
    assert result.returncode == 1 and f"custody seq {event['seq']}: not included in the signed checkpoint" \
        in result.stdout, result.stdout

    signed = tampered_copy(directory, tmp_path, "signature")
    document = json.loads((signed / "checkpoint.json").read_text())
    document["signature"] = ("0" if document["signature"][0] != "0" else "1") + document["signature"][1:]
    (signed / "checkpoint.json").write_text(json.dumps(document))
    result = verify(signed)
    assert result.returncode == 1 and "signature invalid" in result.stdout

    removed = tampered_copy(directory, tmp_path, "removed")
    (removed / victim).unlink()
    result = verify(removed)
    assert result.returncode == 1 and f"FAILED: {victim}: missing" in result.stdout

    altered = tampered_copy(directory, tmp_path, "manifest")  # the entry made to fit the flipped file
    entry_manifest = json.loads((altered / "manifest.json").read_text())
    entry_manifest["files"][-1]["sha256"] = hashlib.sha256(bytes(data)).hexdigest()
    (altered / "manifest.json").write_text(json.dumps(entry_manifest, ensure_ascii=False, indent=2))
    (altered / victim).write_bytes(bytes(data))
    result = verify(altered)
    assert result.returncode == 1 and "manifest.json: its SHA-256" in result.stdout
    assert f"{victim}: the manifest's SHA-256/size differ from the 'received' event" in result.stdout

    extra = tampered_copy(directory, tmp_path, "extra")
    (extra / "originals" / "planted.mp4").write_bytes(b"not evidence")
    result = verify(extra)
    assert result.returncode == 1 and "originals/planted.mp4: extra file" in result.stdout

    dropped = tampered_copy(directory, tmp_path, "dropped")  # an inconvenient event left out of the excerpt
    lines = (dropped / "custody.jsonl").read_text().splitlines()
    (dropped / "custody.jsonl").write_text("\n".join(lines[1:]) + "\n")
    result = verify(dropped)
    assert result.returncode == 1 and "events recorded before the export are missing" in result.stdout

    assert verify(directory).returncode == 0  # the untouched copy still passes


def test_a_flipped_byte_inside_the_zip_is_caught(client, rt, settings, tmp_path):
    world = make_evidence(client, rt, sizes=(200_000,))
    out = bundle_of(settings, tmp_path, world)
    with zipfile.ZipFile(out) as archive:
        info = next(i for i in archive.infolist() if i.filename.startswith("originals/"))
    data = bytearray(out.read_bytes())
    data[info.header_offset + 200 + len(info.filename.encode())] ^= 0x40
    out.write_bytes(bytes(data))
    result = verify(out)
    assert result.returncode == 1 and f"FAILED: {info.filename}" in result.stdout, result.stdout


def test_cli_errors_are_clear_and_change_nothing(client, rt, settings, tmp_path):
    world = make_evidence(client, rt, sizes=(1000,))
    number = world["case"]["case_number"]
    unknown = cli_export(settings, tmp_path, "无此案号", "--out", str(tmp_path / "x.zip"))
    assert unknown.returncode == 1 and "No case numbered '无此案号'" in unknown.stderr
    other = make_case(client, world["admin"], case_number=number, unit="320104-01", agency="320104")
    assert other["agency"] != world["case"]["agency"]
    ambiguous = cli_export(settings, tmp_path, number, "--out", str(tmp_path / "x.zip"))
    assert ambiguous.returncode == 1 and "--agency" in ambiguous.stderr and other["agency"] in ambiguous.stderr
    (tmp_path / "taken.zip").write_bytes(b"keep me")
    taken = cli_export(settings, tmp_path, number, "--agency", world["case"]["agency"], "--out",
                       str(tmp_path / "taken.zip"))
    assert taken.returncode == 1 and "already exists" in taken.stderr
    assert (tmp_path / "taken.zip").read_bytes() == b"keep me" and not (tmp_path / "x.zip").exists()
    with rt.session() as session:
        assert session.scalars(select(Export)).all() == []

    out = tmp_path / "chosen.zip"
    chosen = cli_export(settings, tmp_path, number, "--agency", world["case"]["agency"], "--out", str(out))
    assert chosen.returncode == 0, chosen.stderr
    assert "Bundle written to" in chosen.stdout and "exporting" in chosen.stderr  # the progress bar
    assert verify(out).returncode == 0


def test_an_original_that_no_longer_matches_stops_the_export(client, rt, settings, tmp_path):
    if settings.object_store.backend != "local":
        pytest.skip("a write-once S3 store (Object Lock) cannot be altered in place")
    world = make_evidence(client, rt, sizes=(50_000,))
    with rt.session() as session:
        clip = session.get(Clip, world["linked"][0])
    path = settings.local_store_root / "objects" / clip.original_key
    path.chmod(0o644)
    data = bytearray(path.read_bytes())
    data[100] ^= 0xFF
    path.write_bytes(bytes(data))
    out = tmp_path / "refused.zip"
    result = cli_export(settings, tmp_path, world["case"]["case_number"], "--out", str(out))
    assert result.returncode == 1 and clip.id in result.stderr and clip.sha256 in result.stderr
    assert "Traceback" not in result.stderr
    assert not out.exists() and not list(tmp_path.glob(".refused.zip.*"))
    with rt.session() as session:
        export = session.scalars(select(Export)).one()
        alert = session.scalars(select(Alert).where(Alert.code == "export_integrity_failed")).one()
        exported = session.scalars(select(CustodyEvent).where(CustodyEvent.action == "exported")).all()
    assert export.status == "failed" and clip.sha256 in export.error
    assert (alert.severity, alert.clip_id, alert.details["export_id"]) == ("critical", clip.id, export.id)
    assert exported == []  # nothing recorded as handed out


def test_an_altered_custody_log_stops_the_export(client, rt, settings, tmp_path):
    world = make_evidence(client, rt, sizes=(1000,))
    first = bundle_of(settings, tmp_path, world, "first.zip")  # signs a checkpoint over the log so far
    assert verify(first).returncode == 0
    with rt.engine.begin() as connection:  # someone with database access drops the guard first
        if connection.dialect.name == "postgresql":
            connection.execute(text("DROP TRIGGER custody_events_append_only ON custody_events"))
        else:
            connection.execute(text("DROP TRIGGER custody_events_no_update"))
        seq = connection.execute(text("SELECT min(seq) FROM custody_events WHERE action = 'received'")).scalar()
        connection.execute(text("UPDATE custody_events SET actor_id = 'forged' WHERE seq = :seq"), {"seq": seq})
    result = cli_export(settings, tmp_path, world["case"]["case_number"], "--out", str(tmp_path / "second.zip"))
    assert result.returncode == 1 and str(seq) in result.stderr, result.stderr
    assert not (tmp_path / "second.zip").exists()


def test_a_case_without_footage_still_exports_and_verifies(client, rt, settings, tmp_path):
    admin = admin_headers(client, rt)
    make_units(client, admin)
    case = make_case(client, admin)
    out = tmp_path / "empty.zip"
    result = cli_export(settings, tmp_path, case["case_number"], "--out", str(out))
    assert result.returncode == 0, result.stderr
    assert verify(out).returncode == 0
    with zipfile.ZipFile(out) as archive:
        assert set(archive.namelist()) == METADATA
        assert json.loads(archive.read("manifest.json"))["files"] == []
        [event] = [json.loads(line) for line in archive.read("custody.jsonl").decode().splitlines()]
    assert (event["action"], event["clip_id"], event["case_id"]) == ("exported", None, case["id"])


def test_file_names_in_a_bundle_are_safe_everywhere():
    from storage.bundle.manifest import safe_name
    assert safe_name("现场检查_东门 1.mp4") == "现场检查_东门 1.mp4"
    assert safe_name("../../etc/passwd") == "_.._etc_passwd"
    assert safe_name('a\\b:c*?"<>|\x00.mp4') == "a_b_c_______.mp4"
    assert safe_name("...") == "file" and safe_name("") == "file"
    long = safe_name("录" * 300 + ".mp4")
    assert len(long) == 120 and long.endswith(".mp4")
