"""`fullrecord custody verify | keygen | checkpoint`, run as the installed command on SQLite and
PostgreSQL: exit 0 when the log is intact, 1 naming the first bad seq and why; keys that are
never overwritten by accident and rotate without orphaning old checkpoints; a clear error when
the signing key is missing."""
from __future__ import annotations

import hashlib
import json

from cryptography.hazmat.primitives import serialization
from sqlalchemy import delete, update

from storage.signing import load_signer, public_key_path
from tests.cli import run_cli
from tests.services.workers import write_config
from tests.test_custody_chain import EVENTS, fill, unguard


def cli(settings, tmp_path, *args, **overrides):
    config = write_config(settings, tmp_path / "cli-config.yaml", **overrides)
    return run_cli("--config", str(config), *args)


def test_verify_an_intact_log(rt, tmp_path):
    fill(rt, 12)
    made = cli(rt.settings, tmp_path, "--lang", "en", "custody", "checkpoint")
    assert made.returncode == 0, made.stderr
    assert "Checkpoint 12 signed by key" in made.stdout and "custody/checkpoints/000000000012.json" in made.stdout
    again = cli(rt.settings, tmp_path, "--lang", "en", "custody", "checkpoint")
    assert again.returncode == 0 and "No new custody events since checkpoint 12" in again.stdout
    fill(rt, 3, start=12)

    result = cli(rt.settings, tmp_path, "--lang", "en", "custody", "verify")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "custody log intact: 15 events and 1 signed checkpoints checked (last seq 15)" in result.stdout
    assert "3 events after checkpoint 12 are not yet covered" in result.stdout
    assert "verifying the custody log" in result.stderr  # the progress bar
    chinese = cli(rt.settings, tmp_path, "custody", "verify")
    assert chinese.returncode == 0 and "托管日志完好" in chinese.stdout

    as_json = cli(rt.settings, tmp_path, "custody", "verify", "--json")
    report = json.loads(as_json.stdout)
    assert as_json.returncode == 0 and report["ok"] is True
    assert (report["events_checked"], report["checkpoints_checked"], report["first_bad_seq"]) == (15, 1, None)


def test_verify_names_the_first_bad_seq_and_exits_1(rt, tmp_path):
    fill(rt, 12)
    assert cli(rt.settings, tmp_path, "custody", "checkpoint").returncode == 0
    unguard(rt.engine)
    with rt.engine.begin() as connection:
        connection.execute(update(EVENTS).where(EVENTS.c.seq == 5).values(details={"tampered": True}))
    result = cli(rt.settings, tmp_path, "--lang", "en", "custody", "verify")
    assert result.returncode == 1
    assert "custody log NOT intact: first bad seq 5: seq 5: hash does not match its contents (edited?)" in result.stdout
    report = json.loads(cli(rt.settings, tmp_path, "--lang", "en", "custody", "verify", "--json").stdout)
    assert (report["ok"], report["first_bad_seq"], report["code"]) == (False, 5, "edited")
    assert report["events_checked"] == 4
    chinese = cli(rt.settings, tmp_path, "custody", "verify")
    assert chinese.returncode == 1 and "序号 5：哈希与内容不符" in chinese.stdout


def test_verify_names_a_deleted_tail(rt, tmp_path):
    fill(rt, 10)
    assert cli(rt.settings, tmp_path, "custody", "checkpoint").returncode == 0
    unguard(rt.engine)
    with rt.engine.begin() as connection:
        connection.execute(delete(EVENTS).where(EVENTS.c.seq > 7))
    result = cli(rt.settings, tmp_path, "--lang", "en", "custody", "verify")
    assert result.returncode == 1
    assert "log ends at 7 but checkpoint 10 covers 10 events (deleted tail?)" in result.stdout


def test_keygen_never_overwrites_by_accident_and_rotation_keeps_old_checkpoints_verifiable(rt, tmp_path):
    key = rt.settings.custody_signing_key
    old_id, before = load_signer(rt.settings).key_id, key.read_bytes()
    refused = cli(rt.settings, tmp_path, "--lang", "en", "custody", "keygen")
    assert refused.returncode == 1 and "already exists" in refused.stderr and "--force" in refused.stderr
    assert key.read_bytes() == before

    fill(rt, 6)
    assert cli(rt.settings, tmp_path, "custody", "checkpoint").returncode == 0
    rotated = cli(rt.settings, tmp_path, "--lang", "en", "custody", "keygen", "--force")
    assert rotated.returncode == 0, rotated.stderr
    new_id = rotated.stdout.strip().splitlines()[-1]
    assert new_id == load_signer(rt.settings).key_id != old_id
    assert key.stat().st_mode & 0o777 == 0o600
    public = serialization.load_pem_public_key(public_key_path(key).read_bytes())
    raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    assert hashlib.sha256(raw).hexdigest() == new_id
    retired = key.with_name(f"{key.stem}.{old_id[:16]}.pub.pem")
    assert str(retired) in rotated.stdout and "custody.trusted_keys" in rotated.stdout

    fill(rt, 2, start=6)
    assert cli(rt.settings, tmp_path, "custody", "checkpoint").returncode == 0  # by the new key
    untrusted = cli(rt.settings, tmp_path, "--lang", "en", "custody", "verify")
    assert untrusted.returncode == 1 and f"checkpoint 6: signed by key {old_id}, which is not trusted" in untrusted.stdout
    trusted = cli(rt.settings, tmp_path, "custody", "verify", "--json", **{"custody.trusted_keys": [str(retired)]})
    report = json.loads(trusted.stdout)
    assert trusted.returncode == 0 and report["ok"] and report["checkpoints_checked"] == 2


def test_keygen_to_a_new_file(rt, tmp_path):
    target = tmp_path / "keys" / "next.pem"
    made = cli(rt.settings, tmp_path, "custody", "keygen", "--out", str(target))
    assert made.returncode == 0, made.stderr
    assert target.stat().st_mode & 0o777 == 0o600 and public_key_path(target).exists()
    assert len(made.stdout.strip().splitlines()[-1]) == 64


def test_a_missing_signing_key_stops_checkpoint_with_a_clear_error(rt, tmp_path):
    fill(rt, 3)
    missing = tmp_path / "gone" / "custody.pem"
    result = cli(rt.settings, tmp_path, "--lang", "en", "custody", "checkpoint", **{"custody.signing_key": str(missing)})
    assert result.returncode == 1
    assert str(missing) in result.stderr and "fullrecord custody keygen" in result.stderr
    assert "does not exist" in result.stderr and "Traceback" not in result.stderr
    cannot = cli(rt.settings, tmp_path, "--lang", "en", "custody", "verify", **{"custody.signing_key": str(missing)})
    assert cannot.returncode == 2 and "cannot verify" in cannot.stderr and str(missing) in cannot.stderr
