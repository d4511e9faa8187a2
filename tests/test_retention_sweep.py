"""Retention applied to the object store and the retention sweeper, on both stores (a local
directory; SeaweedFS with COMPLIANCE Object Lock) and both databases (SQLite, PostgreSQL).

Clips here are written straight to the store and the database, with a store retention a few
seconds ahead and a `received_at` long past: the policy's shortest period is a whole day
(field_recording_days >= 1), and COMPLIANCE retention on SeaweedFS can never be shortened, so
the only way to see a clip expire in a test is to receive it "long ago" and lock it only
briefly. The clip's `retain_until` is set to what the store holds, as ingest + apply would have.
"""
import hashlib
import io
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select, text

from server.settings import RetentionSettings
from storage.custody import append_event
from storage.db import utcnow
from storage.exceptions import ObjectLocked, ObjectNotFound
from storage.link_models import NamedLock
from storage.models import Clip, CustodyEvent, Derivative
from tests.casework_api import admin_headers, make_case, make_step, make_units, user_headers
from tests.services.workers import write_config
from workers import retention as sweeper
from workers.linking import Actor

REPO = Path(__file__).resolve().parents[1]
LOCK_SECONDS = 2
"""Store retention of an 'expired' test clip: short, since COMPLIANCE cannot be shortened."""
LONG_AGO = timedelta(days=400)
ACTOR = Actor("user", "test-legal")


@pytest.fixture
def retention_rules() -> dict:
    """config.yaml's retention section as changed by a test (parametrize this name to change it)."""
    return {}


@pytest.fixture(params=["local", "s3"])
def settings(request, make_settings, database_url, redis_url, retention_rules):
    """Each store × each database (database_url is parametrised in conftest)."""
    values = {"database.url": database_url, "redis.url": redis_url,
              **{f"retention.{key}": value for key, value in retention_rules.items()}}
    if request.param == "s3":
        s3 = request.getfixturevalue("seaweedfs").settings(f"ret-{uuid.uuid4().hex[:20]}")
        values.update({"object_store.backend": "s3", **{f"object_store.s3.{k}": v for k, v in s3.items()}})
    return make_settings(**values)


# --- helpers (also used by test_legal_hold_api.py) -----------------------------------------

def make_clip(rt, *, lock_seconds: float = LOCK_SECONDS, received_ago: timedelta = LONG_AGO,
              derivatives: int = 2) -> str:
    """An original (locked `lock_seconds` ahead) with derivatives, and its rows."""
    data = os.urandom(4096)
    stored = rt.store.put_original(io.BytesIO(data), expected_sha256=hashlib.sha256(data).hexdigest(),
                                   retain_until=utcnow() + timedelta(seconds=lock_seconds))
    clip_id = str(uuid.uuid4())
    made = []
    for index in range(derivatives):
        key = f"derived/{clip_id}/a1-{index}.bin"
        made.append((key, rt.store.put(key, io.BytesIO(os.urandom(512 + index)))))
    with rt.session() as session, session.begin():
        session.add(Clip(id=clip_id, sha256=stored.sha256, sm3=stored.sm3, size=stored.size,
                         original_key=stored.key, filename="clip.mp4", recorded_at=utcnow() - received_ago,
                         received_at=utcnow() - received_ago, status="processed",
                         retain_until=rt.store.stat(stored.key).retain_until))
        session.flush()
        for index, (key, result) in enumerate(made):
            session.add(Derivative(clip_id=clip_id, kind=f"kind{index}", profile="", object_key=key,
                                   sha256=result.sha256, sm3=result.sm3, size=result.size,
                                   source_sha256=stored.sha256, tool_version="test", argv=["test"]))
        append_event(session, actor_type="station", actor_id="test", action="received", clip_id=clip_id,
                     details={"sha256": stored.sha256})
    return clip_id


def keys_of(rt, clip_id: str) -> list[str]:
    with rt.session() as session:
        clip = session.get(Clip, clip_id)
        return [clip.original_key, *session.scalars(select(Derivative.object_key).where(Derivative.clip_id == clip_id)
                                                    .order_by(Derivative.created_at, Derivative.object_key))]


def present(rt, clip_id: str) -> list[bool]:
    return [rt.store.exists(key) for key in keys_of(rt, clip_id)]


def clip_row(rt, clip_id: str) -> Clip:
    with rt.session() as session:
        return session.get(Clip, clip_id)


def events(rt, clip_id: str, action: str | None = None) -> list[CustodyEvent]:
    with rt.session() as session:
        statement = select(CustodyEvent).where(CustodyEvent.clip_id == clip_id).order_by(CustodyEvent.seq)
        if action:
            statement = statement.where(CustodyEvent.action == action)
        return list(session.scalars(statement))


def wait_expired(*clip_ids_and_rt):
    """Until the store's short retention of these clips has passed."""
    rt, *clip_ids = clip_ids_and_rt
    latest = max(clip_row(rt, clip_id).retain_until for clip_id in clip_ids)
    time.sleep(max(0.0, (latest - utcnow()).total_seconds()) + 0.2)


def link_to_case(client, rt, clip_ids, status: str = "open", **case_fields) -> dict:
    """A case (with a step) that legal staff link these clips to through the API."""
    admin, legal = admin_headers(client, rt), user_headers(client, rt, "legal")
    if client.get("/api/v1/units/3201", headers=admin).status_code == 404:
        make_units(client, admin)
    case = make_case(client, admin, status=status, **case_fields)
    step = make_step(client, admin, case["id"])
    for clip_id in clip_ids:
        answer = client.post("/api/v1/links", json={"clip_id": clip_id, "step_id": step["id"], "action": "link",
                                                    "reason": "现场检查录像"}, headers=legal)
        assert answer.status_code == 201, answer.get_json()
    return case


def state_snapshot(rt) -> dict:
    """Every row that retention touches, and every object with its locks."""
    with rt.engine.connect() as connection:
        rows = {table: sorted(map(repr, connection.execute(text(f"SELECT * FROM {table}"))))
                for table in ("clips", "derivatives", "custody_events", "legal_holds", "named_locks")}
    rows["objects"] = sorted(map(repr, rt.store.list()))
    return rows


# --- the sweep -----------------------------------------------------------------------------

def test_an_expired_unlinked_clip_is_deleted_with_its_derivatives_and_a_custody_event(rt):
    expired, fresh = make_clip(rt), make_clip(rt, lock_seconds=3600, received_ago=timedelta(days=1))
    wait_expired(rt, expired)
    original = clip_row(rt, expired)
    keys = keys_of(rt, expired)

    result = sweeper.sweep(rt, actor=ACTOR)

    assert result.deleted == [expired] and not result.failed
    assert present(rt, expired) == [False, False, False]
    assert present(rt, fresh) == [True, True, True]
    row = clip_row(rt, expired)
    assert row.status == "deleted" and row.deleted_at is not None and row.sha256 == original.sha256
    [deleted] = events(rt, expired, "deleted")
    details = deleted.details
    assert [item["key"] for item in details["objects"]] == keys[1:] + keys[:1]  # derivatives first
    assert details["objects"][-1] == {"role": "original", "key": original.original_key, "sha256": original.sha256,
                                      "sm3": original.sm3, "size": original.size, "already_absent": False}
    assert details["bytes"] == result.bytes_freed == original.size + 512 + 513
    assert details["policy"] == {"field_recording_days": 183, "evidence_permanent": True, "closed_case_years": 10}
    assert [reason["code"] for reason in details["reasons"]] == ["expired", "field_recording"]
    assert deleted.actor_id == ACTOR.actor_id

    again = sweeper.sweep(rt, actor=ACTOR)
    assert again.deleted == [] and len(events(rt, expired, "deleted")) == 1


def test_a_clip_stored_before_retention_was_recorded_is_judged_by_the_policy_and_the_store(rt):
    legacy, recent = make_clip(rt), make_clip(rt, received_ago=timedelta(days=100))
    with rt.session() as session, session.begin():  # rows from before clips had retain_until
        for clip_id in (legacy, recent):
            session.get(Clip, clip_id).retain_until = None
    wait_expired_store(rt, legacy, recent)

    assert sweeper.sweep(rt).deleted == [legacy]
    assert present(rt, recent) == [True, True, True] and clip_row(rt, recent).retain_until is None
    assert events(rt, legacy, "retention_extended") == []  # a date already past is no extension


def wait_expired_store(rt, *clip_ids):
    latest = max(rt.store.stat(keys_of(rt, clip_id)[0]).retain_until for clip_id in clip_ids)
    time.sleep(max(0.0, (latest - utcnow()).total_seconds()) + 0.2)


def test_a_clip_linked_to_an_open_case_is_never_deleted_even_when_expired(client, rt):
    linked = make_clip(rt)
    link_to_case(client, rt, [linked])
    wait_expired(rt, linked)
    assert sweeper.sweep(rt, dry_run=True).report == []
    assert sweeper.sweep(rt).deleted == []
    assert present(rt, linked) == [True, True, True]
    assert clip_row(rt, linked).status == "processed"


@pytest.mark.parametrize("retention_rules", [{"evidence_permanent": False, "closed_case_years": 0}])
def test_without_permanence_open_cases_keep_evidence_and_closed_ones_let_it_go(client, rt):
    open_case, closed_case = make_clip(rt), make_clip(rt)
    link_to_case(client, rt, [open_case])
    link_to_case(client, rt, [closed_case], status="closed", closed_at=(utcnow() - LONG_AGO).isoformat())
    with rt.session() as session, session.begin():
        sweeper.apply(session, rt.store, [open_case, closed_case], ACTOR, rules=rt.settings.retention)
    assert clip_row(rt, open_case).held and rt.store.stat(keys_of(rt, open_case)[0]).legal_hold
    assert not clip_row(rt, closed_case).held
    wait_expired(rt, open_case, closed_case)

    result = sweeper.sweep(rt)

    assert result.deleted == [closed_case]
    assert present(rt, open_case) == [True, True, True]
    reasons = [reason["code"] for reason in events(rt, closed_case, "deleted")[0].details["reasons"]]
    assert reasons == ["expired", "field_recording", "case_closed"]


def test_a_legal_hold_makes_the_store_refuse_deletion_and_the_sweep_skip_it_until_lifted(client, rt):
    clip_id = make_clip(rt)
    legal = user_headers(client, rt, "legal")
    hold = client.post(f"/api/v1/clips/{clip_id}/legal-hold", json={"reason": "行政复议中"}, headers=legal)
    assert hold.status_code == 201, hold.get_json()
    wait_expired(rt, clip_id)
    for key in keys_of(rt, clip_id):
        assert rt.store.stat(key).legal_hold
        with pytest.raises(ObjectLocked):
            rt.store.delete(key)
    assert sweeper.sweep(rt).deleted == [] and present(rt, clip_id) == [True, True, True]

    lifted = client.post(f"/api/v1/clips/{clip_id}/legal-hold/{hold.get_json()['id']}/lift",
                         json={"reason": "复议结束"}, headers=legal)
    assert lifted.status_code == 200, lifted.get_json()
    assert not any(rt.store.stat(key).legal_hold for key in keys_of(rt, clip_id))

    assert sweeper.sweep(rt).deleted == [clip_id]
    assert present(rt, clip_id) == [False, False, False]
    assert [event.action for event in events(rt, clip_id)] == [
        "received", "legal_hold_placed", "legal_hold_set", "legal_hold_lifted", "legal_hold_released", "deleted"]


def test_retention_is_extended_on_the_store_and_never_shortened(rt):
    clip_id = make_clip(rt, lock_seconds=LOCK_SECONDS)
    original, applied = keys_of(rt, clip_id)[0], clip_row(rt, clip_id).retain_until
    # The policy now asks for 6 s from now: received 183 days minus 6 s ago.
    with rt.session() as session, session.begin():
        session.get(Clip, clip_id).received_at = utcnow() - timedelta(days=183) + timedelta(seconds=6)
    with rt.session() as session, session.begin():
        assert sweeper.apply(session, rt.store, [clip_id], ACTOR, rules=rt.settings.retention) == 1
    extended = clip_row(rt, clip_id).retain_until
    assert extended > applied + timedelta(seconds=3)
    assert rt.store.stat(original).retain_until >= extended
    [event] = events(rt, clip_id, "retention_extended")
    assert event.details["from"] == applied.isoformat() and event.details["to"] == extended.isoformat()

    # A looser policy (1 day instead of 183) would shorten it: nothing changes, no event.
    with rt.session() as session, session.begin():
        assert sweeper.apply(session, rt.store, [clip_id], ACTOR, rules=RetentionSettings(field_recording_days=1)) == 0
    assert clip_row(rt, clip_id).retain_until == extended
    assert rt.store.stat(original).retain_until >= extended
    assert len(events(rt, clip_id, "retention_extended")) == 1

    # The store keeps it longer than the database knows (the same content received again):
    # the longer date is adopted, never overwritten.
    longer = utcnow() + timedelta(seconds=12)
    rt.store.set_retention(original, longer)
    with rt.session() as session, session.begin():
        session.get(Clip, clip_id).received_at = utcnow() - timedelta(days=183) + timedelta(seconds=9)
    with rt.session() as session, session.begin():
        sweeper.apply(session, rt.store, [clip_id], ACTOR, rules=rt.settings.retention)
    assert clip_row(rt, clip_id).retain_until >= longer.replace(microsecond=0)
    assert rt.store.stat(original).retain_until >= longer.replace(microsecond=0)


def test_evidence_is_held_on_the_store_and_released_when_a_mistaken_link_is_undone(client, rt):
    clip_id = make_clip(rt)
    case = link_to_case(client, rt, [clip_id])  # the linking transaction applies the policy itself
    assert [rt.store.stat(key).legal_hold for key in keys_of(rt, clip_id)] == [True, True, True]
    assert clip_row(rt, clip_id).held
    [held] = events(rt, clip_id, "legal_hold_set")
    assert [reason["code"] for reason in held.details["reasons"]] == ["field_recording", "evidence_permanent"]
    assert case["case_number"] in held.details["reasons"][1]["text"]["en"]

    # A hold lost behind the database's back (a release whose transaction never committed) is
    # set again only when asked to reassert; otherwise an unchanged clip costs no store call.
    derivative = keys_of(rt, clip_id)[1]
    rt.store.set_legal_hold(derivative, False)
    with rt.session() as session, session.begin():
        assert sweeper.apply(session, rt.store, [clip_id], ACTOR, rules=rt.settings.retention) == 0
    assert not rt.store.stat(derivative).legal_hold
    with rt.session() as session, session.begin():
        sweeper.apply(session, rt.store, [clip_id], ACTOR, rules=rt.settings.retention, reassert=True)
    assert rt.store.stat(derivative).legal_hold and len(events(rt, clip_id, "legal_hold_set")) == 1

    legal = user_headers(client, rt, "legal")
    step_id = client.get(f"/api/v1/links?clip_id={clip_id}", headers=legal).get_json()[0]["step_id"]
    unlink = client.post("/api/v1/links", json={"clip_id": clip_id, "step_id": step_id, "action": "unlink",
                                                "reason": "关联有误"}, headers=legal)
    assert unlink.status_code == 201, unlink.get_json()  # ... and so does the manual decision
    assert [rt.store.stat(key).legal_hold for key in keys_of(rt, clip_id)] == [False, False, False]
    assert not clip_row(rt, clip_id).held and events(rt, clip_id)[-1].action == "legal_hold_released"


def test_the_sweep_checks_the_store_and_adopts_a_longer_retention_it_finds(rt):
    clip_id = make_clip(rt)
    wait_expired(rt, clip_id)
    original = keys_of(rt, clip_id)[0]
    rt.store.set_retention(original, utcnow() + timedelta(seconds=30))  # e.g. received again meanwhile

    result = sweeper.sweep(rt)

    assert result.deleted == [] and "retains" in result.kept[clip_id]
    assert present(rt, clip_id) == [True, True, True] and clip_row(rt, clip_id).status == "processed"
    assert clip_row(rt, clip_id).retain_until == rt.store.stat(original).retain_until
    assert events(rt, clip_id)[-1].action == "retention_extended"


def test_the_dry_run_and_the_report_change_nothing(client, rt, settings, tmp_path):
    expired, held, linked = make_clip(rt), make_clip(rt), make_clip(rt)
    fresh = make_clip(rt, lock_seconds=3600, received_ago=timedelta(days=1))
    legal = user_headers(client, rt, "legal")
    assert client.post(f"/api/v1/clips/{held}/legal-hold", json={"reason": "信访"}, headers=legal).status_code == 201
    link_to_case(client, rt, [linked])
    wait_expired(rt, expired, held, linked)
    before = state_snapshot(rt)

    result = sweeper.sweep(rt, dry_run=True)
    answer = client.get("/api/v1/retention/report?lang=en", headers=legal)
    cli = subprocess.run([sys.executable, "-m", "server", "--lang", "en", "retention", "sweep", "--dry-run", "--json"],
                         env=cli_env(settings, tmp_path), cwd=REPO, capture_output=True, text=True, timeout=120)

    assert state_snapshot(rt) == before
    assert [item.clip_id for item in result.report] == [expired]
    assert answer.status_code == 200
    [item] = answer.get_json()
    row = clip_row(rt, expired)
    assert item["clip_id"] == expired and item["original_key"] == row.original_key and item["size"] == row.size
    assert item["total_bytes"] == row.size + 512 + 513 and len(item["derivatives"]) == 2
    assert item["reasons"][0]["code"] == "expired" and item["reasons"][0]["text"].startswith("Retention ended")
    assert cli.returncode == 0, cli.stderr
    assert [entry["clip_id"] for entry in json.loads(cli.stdout)] == [expired]
    assert "Dry run: 1 clips" in cli.stderr
    assert fresh not in cli.stdout
    paged = client.get("/api/v1/retention/report?offset=1", headers=legal)
    assert paged.status_code == 200 and paged.get_json() == []


def cli_env(settings, tmp_path) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FULLRECORD_")}
    env["FULLRECORD_CONFIG"] = str(write_config(settings, tmp_path / "config.yaml"))
    return env


def test_the_sweep_command_deletes_and_summarises(rt, settings, tmp_path):
    clip_id = make_clip(rt)
    wait_expired(rt, clip_id)
    run = subprocess.run([sys.executable, "-m", "server", "--lang", "en", "retention", "sweep"],
                         env=cli_env(settings, tmp_path), cwd=REPO, capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    assert "Deleted 1 clips" in run.stdout and "retention" in run.stderr  # the progress bar's label
    assert clip_row(rt, clip_id).status == "deleted" and present(rt, clip_id) == [False, False, False]
    assert events(rt, clip_id, "deleted")[0].actor_type == "worker"


# --- crash halfway -------------------------------------------------------------------------

KILLER = """
import os, signal, sys
from server.runtime import Runtime
from server.settings import load_settings
from workers import retention

point = sys.argv[1]
rt = Runtime(load_settings())
deletes = []
real_delete = rt.store.delete

def delete(key):
    if point == "before_first_delete" or (point == "between_deletes" and deletes):
        os.kill(os.getpid(), signal.SIGKILL)
    real_delete(key)
    deletes.append(key)

def record(*args, **kwargs):
    os.kill(os.getpid(), signal.SIGKILL)

rt.store.delete = delete
if point == "before_record":
    retention._record_deleted = record
retention.sweep(rt)
"""


@pytest.mark.parametrize("point", ["before_first_delete", "between_deletes", "before_record"])
def test_a_sweep_killed_halfway_is_finished_by_a_rerun_without_harm(client, rt, settings, tmp_path, point):
    """A real sweep process is SIGKILLed at a named point (its store's delete, or the final
    transaction, is wrapped to kill the process there: the only way to stop it at an exact step)."""
    doomed, held, linked = make_clip(rt), make_clip(rt), make_clip(rt)
    legal = user_headers(client, rt, "legal")
    assert client.post(f"/api/v1/clips/{held}/legal-hold", json={"reason": "诉讼"}, headers=legal).status_code == 201
    link_to_case(client, rt, [linked])
    wait_expired(rt, doomed, held, linked)

    killed = subprocess.run([sys.executable, "-c", KILLER, point], env=cli_env(settings, tmp_path), cwd=REPO,
                            capture_output=True, text=True, timeout=120)

    assert killed.returncode == -signal.SIGKILL, killed.stderr
    assert clip_row(rt, doomed).status == "deleting"
    expected_left = {"before_first_delete": [True, True, True], "between_deletes": [True, False, True],
                     "before_record": [False, False, False]}[point]
    assert present(rt, doomed) == expected_left
    assert events(rt, doomed, "deleted") == []

    result = sweeper.sweep(rt)

    assert result.deleted == [doomed] and not result.failed
    assert present(rt, doomed) == [False, False, False]
    [deleted] = events(rt, doomed, "deleted")
    absent = [item["already_absent"] for item in deleted.details["objects"]]
    assert absent == [not left for left in expected_left[1:] + expected_left[:1]]
    assert clip_row(rt, doomed).status == "deleted"
    assert present(rt, held) == [True, True, True] and present(rt, linked) == [True, True, True]
    assert sweeper.sweep(rt).deleted == [] and len(events(rt, doomed, "deleted")) == 1


def test_a_locked_object_leaves_the_clip_deleting_and_a_later_sweep_finishes(rt):
    clip_id = make_clip(rt)
    wait_expired(rt, clip_id)
    derivative = keys_of(rt, clip_id)[1]
    with rt.session() as session, session.begin():  # marked by a sweep, then the store locks a file
        session.get(Clip, clip_id).status = "deleting"
    rt.store.set_legal_hold(derivative, True)

    result = sweeper.sweep(rt)
    assert clip_id in result.failed and "legal hold" in result.failed[clip_id]
    assert clip_row(rt, clip_id).status == "deleting" and events(rt, clip_id, "deleted") == []

    rt.store.set_legal_hold(derivative, False)
    assert sweeper.sweep(rt).deleted == [clip_id]
    with pytest.raises(ObjectNotFound):
        rt.store.stat(derivative)


# --- schedule ------------------------------------------------------------------------------

@pytest.mark.parametrize("retention_rules", [{"sweep_hours": 2}])
def test_the_sweep_runs_when_due_and_remembers_when_it_last_ran(rt):
    clip_id = make_clip(rt)
    wait_expired(rt, clip_id)
    start = utcnow()
    first = sweeper.sweep_if_due(rt, now=start)
    assert first is not None and first.deleted == [clip_id]
    assert sweeper.sweep_if_due(rt, now=start + timedelta(hours=1)) is None
    with rt.session() as session:
        assert session.get(NamedLock, sweeper.SWEEP_LOCK).taken_at == start
    assert sweeper.sweep_if_due(rt, now=start + timedelta(hours=2)) is not None
    with rt.session() as session:
        assert session.get(NamedLock, sweeper.SWEEP_LOCK).taken_at == start + timedelta(hours=2)
