"""Evidence bundle exports through the HTTP API, built by a real `fullrecord worker`, on SQLite +
local store and on PostgreSQL + SeaweedFS: legal staff start one, watch its progress, download it
(a custody event) and the bundle verifies offline; who may do what; bad requests; and the job run
again after a crash, or handed out again after Redis lost it, doing no harm."""
import hashlib
import json
import uuid

import pytest
from redis import Redis
from rq.job import Job
from sqlalchemy import select, text, update

from storage.bundle import BundleIntegrityError, build_bundle
from storage.custody_models import Export
from storage.db import utcnow
from storage.models import Clip, CustodyEvent, Derivative
from tests.casework_api import snapshot, user_headers
from tests.media_samples import make_sample
from tests.services.workers import WorkerProcess, wait_for, write_config
from tests.test_export_bundle import at, make_evidence, settings, unzip, upload_clip, verify  # noqa: F401
from workers import exports
from workers.queues import JSONSerializer

pytestmark = pytest.mark.slow

MiB = 1 << 20
EXPORT_TABLES = ("exports", "custody_events")


@pytest.fixture
def worker(settings, tmp_path):
    process = WorkerProcess(write_config(settings, tmp_path / "worker.yaml"), tmp_path / "worker.log").start()
    yield process
    process.stop()


def start_export(client, headers, case_id, **body):
    answer = client.post(f"/api/v1/cases/{case_id}/exports", json=body, headers=headers)
    assert answer.status_code == 202, answer.get_json()
    export = answer.get_json()
    assert answer.headers["Location"] == f"/api/v1/exports/{export['id']}"
    return export


def export_row(client, headers, export_id) -> dict:
    answer = client.get(f"/api/v1/exports/{export_id}", headers=headers)
    assert answer.status_code == 200, answer.get_json()
    return answer.get_json()


def test_legal_staff_export_a_case_and_download_a_bundle_that_verifies(client, rt, settings, tmp_path, worker):
    world = make_evidence(client, rt, sizes=(48 * MiB, 48 * MiB))
    sample = make_sample("h264_aac_mp4", tmp_path / "media", seconds=2.0)
    media = upload_clip(client, world["station"], recorded_at=at("10:15"), data=sample.read_bytes(),
                        filename="执法记录_1015.mp4")

    def reviewed():
        with rt.session() as session:
            return session.scalars(select(Derivative).where(Derivative.clip_id == media,
                                                            Derivative.kind == "review")).first()
    review = wait_for(reviewed, timeout=120, what="the review copy of the media clip", worker=worker)

    export = start_export(client, world["legal"], world["case"]["id"], include_review=True)
    assert (export["status"], export["progress"], export["include_review"]) == ("queued", 0.0, True)
    assert export["requested_by"].startswith("user:legal-") and export["download"] is None
    seen = []

    def finished():
        row = export_row(client, world["legal"], export["id"])
        seen.append((row["status"], row["progress"]))
        return row if row["status"] in ("done", "failed") else None
    done = wait_for(finished, timeout=240, what="the export to finish", worker=worker, interval=0.05)
    assert done["status"] == "done", done["error"]
    running = [progress for status, progress in seen if status == "running"]
    assert any(0 < progress < 1 for progress in running), seen  # progress was visible while it ran
    assert running == sorted(running) and done["progress"] == 1.0
    originals = sum(clip.size for clip in _clips(rt, [*world["evidence"], media]))
    assert done["total_bytes"] == originals + review.size
    assert done["download"] == f"/api/v1/exports/{export['id']}/download"

    answer = client.get(done["download"], headers={**world["legal"], "User-Agent": "court-clerk/1.0"})
    assert answer.status_code == 200 and answer.mimetype == "application/zip"
    disposition = answer.headers["Content-Disposition"]
    assert disposition.startswith("attachment; filename*=UTF-8''") and export["id"] in disposition
    bundle = tmp_path / "downloaded.zip"
    bundle.write_bytes(answer.data)
    assert (len(answer.data), hashlib.sha256(answer.data).hexdigest()) == (done["size"], done["sha256"])
    result = verify(bundle)
    assert result.returncode == 0, result.stdout

    directory = unzip(bundle, tmp_path / "unzipped")
    manifest = json.loads((directory / "manifest.json").read_text())
    [copy] = [entry for entry in manifest["files"] if entry["role"] == "review"]
    assert copy["path"].startswith(f"review/{media}-") and copy["path"].endswith(".mp4")
    assert (copy["sha256"], copy["size"], copy["derivative_id"]) == (review.sha256, review.size, review.id)
    original = next(clip for clip in _clips(rt, [media]))
    assert copy["derivation"] == {"source_sha256": original.sha256, "tool_version": review.tool_version,
                                  "argv": review.argv}
    assert {entry["source_clip_id"] for entry in manifest["files"] if entry["role"] == "original"} == \
        {*world["evidence"], media}

    with rt.session() as session:
        events = session.scalars(select(CustodyEvent).where(CustodyEvent.action.in_(("exported", "bundle_downloaded")))
                                 .order_by(CustodyEvent.seq)).all()
        legal_id = session.scalar(text("SELECT id FROM users WHERE role = 'legal'"))
    exported = [event for event in events if event.action == "exported"]
    downloaded = [event for event in events if event.action == "bundle_downloaded"]
    assert {event.clip_id for event in exported} == {*world["evidence"], media, None}
    assert all(event.actor_type == "worker" and event.details["requested_by"] == export["requested_by"]
               for event in exported)
    assert {event.clip_id for event in downloaded} == {*world["evidence"], media, None}
    assert all((event.actor_type, event.actor_id, event.source_address, event.case_id) ==
               ("user", legal_id, "127.0.0.1", world["case"]["id"]) and event.details["export_id"] == export["id"]
               and event.details["user_agent"] == "court-clerk/1.0" and event.details["sha256"] == done["sha256"]
               for event in downloaded)
    listed = client.get(f"/api/v1/cases/{world['case']['id']}/exports", headers=world["admin"])
    assert listed.status_code == 200 and [row["id"] for row in listed.get_json()] == [export["id"]]


def _clips(rt, ids):
    with rt.session() as session:
        return [session.get(Clip, clip_id) for clip_id in ids]


def test_who_may_export_and_bad_requests(client, rt):
    world = make_evidence(client, rt, sizes=(1000,))
    case_url = f"/api/v1/cases/{world['case']['id']}/exports"
    before = snapshot(rt, EXPORT_TABLES)
    for role in ("inspector", "officer"):
        headers = user_headers(client, rt, role)
        assert client.post(case_url, json={}, headers=headers).status_code == 403
        assert client.get(case_url, headers=headers).status_code == 403
    assert client.post(case_url, json={}, headers=world["station"]).status_code == 403
    assert client.post(case_url, json={}).status_code == 401
    missing = client.post(f"/api/v1/cases/{uuid.uuid4()}/exports?lang=en", json={}, headers=world["legal"])
    assert missing.status_code == 404 and "There is no case" in missing.get_json()["message"]
    assert client.post("/api/v1/cases/not-a-uuid/exports", json={}, headers=world["legal"]).status_code == 404
    bad = client.post(case_url, json={"include_review": "sometimes"}, headers=world["legal"])
    assert bad.status_code == 422 and "include_review" in bad.get_json()["errors"]["json"]
    assert client.post(case_url, json={"format": "rar"}, headers=world["legal"]).status_code == 422
    assert snapshot(rt, EXPORT_TABLES) == before

    queued = start_export(client, world["legal"], world["case"]["id"])  # no worker runs here
    by_admin = start_export(client, world["admin"], world["case"]["id"])
    assert by_admin["requested_by"].startswith("user:admin-")
    url = f"/api/v1/exports/{queued['id']}"
    inspector = user_headers(client, rt, "inspector")
    assert client.get(url, headers=inspector).status_code == 403
    assert client.get(f"{url}/download", headers=inspector).status_code == 403
    early = client.get(f"{url}/download?lang=en", headers=world["legal"])
    assert early.status_code == 409 and "not finished yet (status queued, 0% done)" in early.get_json()["message"]
    assert client.get(f"/api/v1/exports/{uuid.uuid4()}", headers=world["legal"]).status_code == 404
    assert client.get(f"/api/v1/exports/{uuid.uuid4()}/download", headers=world["legal"]).status_code == 404
    with rt.session() as session:
        assert session.scalars(select(CustodyEvent).where(CustodyEvent.action == "bundle_downloaded")).all() == []
    job = Job.fetch(exports.job_id(queued["id"]), connection=Redis.from_url(rt.settings.redis.url),
                    serializer=JSONSerializer)
    assert (job.origin, job.timeout, job.args) == (rt.settings.exports.queue, rt.settings.exports.timeout_seconds,
                                                  [queued["id"]])


def test_the_job_run_again_after_a_crash_does_no_harm(client, rt, tmp_path):
    world = make_evidence(client, rt, sizes=(300_000, 5000))
    export = start_export(client, world["legal"], world["case"]["id"])
    # A first run died after writing its custody events (and checkpoint), before storing the zip.
    with rt.session() as session, session.begin():
        session.execute(update(Export).where(Export.id == export["id"]).values(status="running", attempts=1))
    from storage.signing import load_signer
    build_bundle(rt, export["id"], tmp_path / "lost.zip", signer=load_signer(rt.settings),
                 actor={"actor_type": "worker", "actor_id": "crashed-host", "source_address": None})
    assert exports.run(rt, export["id"]) == "done"
    first = export_row(client, world["legal"], export["id"])
    assert (first["status"], first["attempts"], first["progress"]) == ("done", 2, 1.0)
    exported = _exported(rt)
    assert len(exported) == len(world["evidence"]) + 1  # written once, by the run that crashed
    assert {event.actor_id for event in exported} == {"crashed-host"}

    # A run died after storing the zip, before recording that: the stored bundle is adopted.
    with rt.session() as session, session.begin():
        session.execute(update(Export).where(Export.id == export["id"]).values(status="running", sha256=None))
    assert exports.run(rt, export["id"]) == "done"
    again = export_row(client, world["legal"], export["id"])
    assert (again["sha256"], again["size"]) == (first["sha256"], first["size"])
    assert [event.hash for event in _exported(rt)] == [event.hash for event in exported]
    assert exports.run(rt, export["id"]) == "done"  # a duplicate delivery of a finished job: nothing
    answer = client.get(f"/api/v1/exports/{export['id']}/download", headers=world["legal"])
    bundle = tmp_path / "stored.zip"
    bundle.write_bytes(answer.data)
    assert verify(bundle).returncode == 0


def _exported(rt):
    with rt.session() as session:
        return session.scalars(select(CustodyEvent).where(CustodyEvent.action == "exported")
                               .order_by(CustodyEvent.seq)).all()


def test_a_damaged_original_fails_the_job_with_the_reason(client, rt, settings):
    if settings.object_store.backend != "local":
        pytest.skip("a write-once S3 store (Object Lock) cannot be altered in place")
    world = make_evidence(client, rt, sizes=(20_000,))
    clip = _clips(rt, [world["linked"][0]])[0]
    path = settings.local_store_root / "objects" / clip.original_key
    path.chmod(0o644)
    path.write_bytes(b"\0" + path.read_bytes()[1:])
    export = start_export(client, world["legal"], world["case"]["id"])
    with pytest.raises(BundleIntegrityError):
        exports.run(rt, export["id"])
    failed = export_row(client, world["legal"], export["id"])
    assert failed["status"] == "failed" and clip.id in failed["error"] and clip.sha256 in failed["error"]
    answer = client.get(f"/api/v1/exports/{export['id']}/download?lang=en", headers=world["legal"])
    assert answer.status_code == 409 and "failed" in answer.get_json()["message"]
    alerts = client.get("/api/v1/alerts?lang=en", headers=world["admin"]).get_json()
    assert any(alert["code"] == "export_integrity_failed" and alert["clip_id"] == clip.id for alert in alerts)
    assert _exported(rt) == []
    assert not list((settings.work_dir / "exports").glob("*"))  # no partial bundle left behind


def test_an_export_whose_job_redis_lost_is_handed_out_again(client, rt, settings, tmp_path):
    world = make_evidence(client, rt, sizes=(1000,))
    export = start_export(client, world["legal"], world["case"]["id"])
    redis = Redis.from_url(settings.redis.url)
    redis.flushdb()  # Redis restarted empty
    assert exports.reconcile(rt, redis) == 0  # too recent to call lost
    with rt.session() as session, session.begin():
        session.execute(update(Export).where(Export.id == export["id"]).values(
            created_at=utcnow().replace(year=2025)))
    assert exports.reconcile(rt, redis) == 1
    assert exports.reconcile(rt, redis) == 0  # its job is queued again: alive
    process = WorkerProcess(write_config(settings, tmp_path / "worker.yaml"), tmp_path / "worker.log").start()
    try:
        done = wait_for(lambda: export_row(client, world["legal"], export["id"])["status"] == "done", timeout=120,
                        what="the handed-out export to finish", worker=process)
    finally:
        process.stop()
    assert done
    answer = client.get(f"/api/v1/exports/{export['id']}/download", headers=world["legal"])
    (tmp_path / "x.zip").write_bytes(answer.data)
    assert verify(tmp_path / "x.zip").returncode == 0
