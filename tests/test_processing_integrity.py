"""An original that no longer matches its hashes is never repaired: the clip is marked, the
custody log and an alert say why, nothing is derived. And a step run twice does no harm."""
import pytest
from sqlalchemy import func, select, update

from storage.db import utcnow
from storage.models import Clip, CustodyEvent, Derivative
from storage.processing_models import Alert, ProcessingStep
from tests.media_samples import make_sample
from tests.services.workers import WorkerProcess, upload_file, write_config
from tests.test_processing import FAST_RECOVERY, actions, clip_json, wait_final
from tests.test_tus import live, station  # noqa: F401  (fixtures)
from workers import context, jobs

pytestmark = pytest.mark.slow


@pytest.fixture
def settings(make_settings, tmp_path, redis_url):
    return make_settings(**{"redis.url": redis_url, **FAST_RECOVERY,
                            "database.url": f"sqlite:///{tmp_path / 'db' / 'fullrecord.db'}"})


@pytest.fixture
def worker(settings, tmp_path):
    process = WorkerProcess(write_config(settings, tmp_path / "worker.yaml"), tmp_path / "worker.log")
    yield process
    process.stop()


def test_a_tampered_original_fails_verification_and_nothing_is_derived(live, station, rt, worker, tmp_path):
    clip_id = upload_file(live, station, make_sample("h264_aac_mp4", tmp_path))
    with rt.session() as session:
        key = session.get(Clip, clip_id).original_key
    path = rt.settings.local_store_root / "objects" / key
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF  # what a failing disk or an intruder would do
    path.chmod(0o644)
    path.write_bytes(bytes(data))
    worker.start()
    clip = wait_final(live, station, [clip_id], worker)[clip_id]
    assert clip["status"] == "integrity_failed"
    assert "sha256" in clip["flags"]["integrity_failed"]
    assert clip["derivatives"] == []
    steps = {s["step"]: s for s in clip["processing"]["steps"]}
    assert steps["verify"]["status"] == "failed" and steps["probe"]["status"] == "skipped"
    assert actions(rt, clip_id) == ["received", "integrity_failed"]
    with rt.session() as session:
        event = session.scalar(select(CustodyEvent).where(CustodyEvent.action == "integrity_failed"))
        alert = session.scalar(select(Alert).where(Alert.clip_id == clip_id))
    assert event.details["expected"]["sha256"] == clip["sha256"] != event.details["actual"]["sha256"]
    assert alert.severity == "critical" and alert.code == "integrity_failed"
    assert path.read_bytes() == bytes(data), "nothing is repaired"


def test_alerts_are_listed_in_the_readers_language_and_acknowledged_once(live, station, rt, worker, tmp_path,
                                                                          client):
    from server import accounts
    empty = tmp_path / "empty.mp4"
    empty.write_bytes(b"")
    clip_id = upload_file(live, station, empty)
    worker.start()
    wait_final(live, station, [clip_id], worker)
    with rt.session() as session, session.begin():
        accounts.create_user(session, rt.password_hasher(), "admin1", "admin", "correct horse battery")
    token = client.post("/api/v1/auth/tokens", json={"username": "admin1", "password": "correct horse battery"}).json["token"]
    headers = {"Authorization": f"Bearer {token}"}
    listed = client.get("/api/v1/alerts?lang=en", headers=headers).json
    assert [a["code"] for a in listed] == ["unplayable"] and listed[0]["clip_id"] == clip_id
    assert listed[0]["message"].startswith("The file cannot be read as media")
    assert client.get("/api/v1/alerts", headers=headers).json[0]["message"].startswith("文件无法作为音视频读取")
    first = client.post(f"/api/v1/alerts/{listed[0]['id']}/acknowledge", headers=headers)
    assert first.status_code == 200 and first.json["acknowledged_by"] == "admin1"
    assert client.post(f"/api/v1/alerts/{listed[0]['id']}/acknowledge", headers=headers).status_code == 409
    assert client.get("/api/v1/alerts", headers=headers).json == []
    assert len(client.get("/api/v1/alerts?open=false", headers=headers).json) == 1
    assert client.get("/api/v1/alerts", headers={"Authorization": f"Bearer {station}"}).status_code == 403


def counts(rt):
    with rt.session() as session:
        return (session.scalar(select(func.count()).select_from(Derivative)),
                session.scalar(select(func.count()).select_from(CustodyEvent)))


def test_running_a_step_again_does_no_harm(live, station, rt, worker, tmp_path):
    clip_id = upload_file(live, station, make_sample("h264_aac_mp4", tmp_path))
    worker.start()
    wait_final(live, station, [clip_id], worker)
    worker.stop()
    context.set_runtime(rt)
    before = counts(rt)
    with rt.session() as session:
        steps = session.scalars(select(ProcessingStep).where(ProcessingStep.clip_id == clip_id)).all()
    for row in steps:  # a duplicate delivery of every finished job
        assert jobs.run_step(row.id).startswith("skipped")
    review = next(row for row in steps if row.step == "review")
    with rt.session() as session, session.begin():  # another worker is busy with it right now
        session.execute(update(ProcessingStep).where(ProcessingStep.id == review.id)
                        .values(status="running", heartbeat_at=utcnow(), worker="elsewhere:1:x"))
    assert jobs.run_step(review.id).startswith("skipped")
    assert counts(rt) == before
    assert clip_json(live, station, clip_id)["status"] == "processed"
