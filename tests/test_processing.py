"""Evidence processing end to end: uploads through the real tus API, real `fullrecord worker`
processes, real ffmpeg, on the local store with SQLite and on SeaweedFS with PostgreSQL."""
import hashlib
import uuid

import pytest
import requests
from sqlalchemy import select

from storage.custody import ACCESS_ACTIONS
from storage.models import CustodyEvent, Derivative
from storage.processing_models import Alert, ProcessingStep
from tests.media_samples import make_sample
from tests.services.workers import WorkerProcess, upload_file, wait_for, write_config
from tests.test_tus import live, station  # noqa: F401  (fixtures)
from workers.media.probe import probe

pytestmark = pytest.mark.slow

FINAL_CLIP_STATES = ("processed", "unplayable", "integrity_failed")
FAST_RECOVERY = {"processing.stale_after_seconds": 4, "processing.retries": 1,
                 "processing.retry_backoff_seconds": [1], "workers.sweep_seconds": 1}


@pytest.fixture
def own_redis(tmp_path):
    """A Redis of this test's own, which it may restart empty."""
    from tests.services.redis_server import RestartableRedis
    redis = RestartableRedis(tmp_path / "redis").start()
    yield redis
    redis.stop()


@pytest.fixture(params=["local-sqlite", "s3-postgresql"])
def settings(request, make_settings, tmp_path, redis_url):
    own = request.node.get_closest_marker("own_redis")
    values = {"redis.url": request.getfixturevalue("own_redis").url if own else redis_url, **FAST_RECOVERY}
    if request.param.startswith("s3"):
        seaweedfs = request.getfixturevalue("seaweedfs")
        s3 = seaweedfs.settings(f"proc-{uuid.uuid4().hex[:20]}")
        values.update({"object_store.backend": "s3", "database.url": request.getfixturevalue("postgres_url"),
                       **{f"object_store.s3.{k}": v for k, v in s3.items()}})
    else:
        values["database.url"] = f"sqlite:///{tmp_path / 'db' / 'fullrecord.db'}"
    return make_settings(**values)


@pytest.fixture
def worker_config(settings, tmp_path):
    return write_config(settings, tmp_path / "worker.yaml")


@pytest.fixture
def workers(worker_config, tmp_path):
    started = []

    def start(config=None):
        process = WorkerProcess(config or worker_config, tmp_path / f"worker-{len(started)}.log").start()
        started.append(process)
        return process
    yield start
    for process in started:
        process.stop()


def clip_json(live, token, clip_id):
    response = requests.get(f"{live}/api/v1/clips/{clip_id}", headers={"Authorization": f"Bearer {token}"},
                            timeout=10)
    assert response.status_code == 200, response.text
    return response.json()


def wait_final(live, token, clip_ids, worker, timeout=180):
    def all_final():
        clips = {clip_id: clip_json(live, token, clip_id) for clip_id in clip_ids}
        done = all(clip["processing"]["state"] == "failed"
                   or (clip["status"] in FINAL_CLIP_STATES and clip["processing"]["state"] == "done")
                   for clip in clips.values())
        return clips if done else None
    return wait_for(all_final, timeout=timeout, what=f"{len(clip_ids)} clips to finish processing", worker=worker,
                    interval=0.5)


def actions(rt, clip_id):
    """What happened to the clip (not who looked at it: the tests read clips while they wait)."""
    with rt.session() as session:
        return session.scalars(select(CustodyEvent.action).where(CustodyEvent.clip_id == clip_id,
                                                                 CustodyEvent.action.not_in(ACCESS_ACTIONS))
                               .order_by(CustodyEvent.seq)).all()


def stored_sha256(rt, key):
    digest = hashlib.sha256()
    for chunk in rt.store.get(key):
        digest.update(chunk)
    return digest.hexdigest()


def test_every_kind_of_evidence_is_processed(live, station, rt, workers, tmp_path):
    kinds = ["h264_aac_mp4", "h264_aac_mov", "hevc_mp4", "mjpeg_avi", "mpegts", "jpeg", "wav", "amr", "aac_adts",
             "zero_bytes", "random_mp4", "truncated_mp4"]
    samples = tmp_path / "samples"
    samples.mkdir()
    clip_ids = {kind: upload_file(live, station, make_sample(kind, samples)) for kind in kinds}
    worker = workers()
    clips = wait_final(live, station, clip_ids.values(), worker)
    by_kind = {kind: clips[clip_id] for kind, clip_id in clip_ids.items()}

    for kind in ("h264_aac_mp4", "h264_aac_mov", "hevc_mp4", "mjpeg_avi", "mpegts"):
        clip = by_kind[kind]
        assert clip["status"] == "processed", (kind, clip["processing"])
        assert clip["media"]["kind"] == "video" and clip["duration_seconds"] == pytest.approx(3, abs=0.3)
        made = {d["kind"]: d for d in clip["derivatives"]}
        assert set(made) == {"review", "poster", "contact_sheet", "obstruction_map"}, kind
        review = made["review"]
        expected_plan = "remux" if kind in ("h264_aac_mp4", "h264_aac_mov") else "transcode"
        assert review["checks"]["plan"] == expected_plan, kind
        assert review["checks"]["ok"] is True
        assert ("copy" in review["argv"]) == (expected_plan == "remux")
        assert review["content_type"] == "video/mp4"
        assert clip["obstructions"] == [], (kind, clip["obstructions"])
        assert actions(rt, clip["id"]) == ["received", "verified", "probed"] + ["derived"] * 4
        assert {s["step"] for s in clip["processing"]["steps"]} == {
            "verify", "probe", "review", "thumbnails", "obstruction"}
        for step in clip["processing"]["steps"]:
            assert step["status"] == "done" and step["attempts"] == 1 and step["seconds"] is not None
        review_step = next(s for s in clip["processing"]["steps"] if s["step"] == "review")
        assert review_step["command"] == [review["argv"]] and review_step["profile"] == "review"
        copy = tmp_path / f"{kind}-review.mp4"
        copy.write_bytes(rt.store.read_all(review["object_key"]))
        played = probe(copy, timeout=30)
        assert (played.container, played.video_codec, played.audio_codec) == ("mp4", "h264", "aac"), kind
        assert played.height <= 720

    for kind in ("wav", "amr", "aac_adts"):
        clip = by_kind[kind]
        assert clip["status"] == "processed" and clip["media"]["kind"] == "audio"
        assert [d["kind"] for d in clip["derivatives"]] == ["review"]
        assert clip["derivatives"][0]["content_type"] == "audio/mp4"
        assert clip["derivatives"][0]["checks"]["plan"] == "transcode"

    photo = by_kind["jpeg"]
    assert photo["status"] == "processed" and photo["media"]["kind"] == "image"
    assert [d["kind"] for d in photo["derivatives"]] == ["poster"]
    assert {s["step"] for s in photo["processing"]["steps"]} == {"verify", "probe", "thumbnails"}

    for kind in ("zero_bytes", "random_mp4", "truncated_mp4"):
        clip = by_kind[kind]
        assert clip["status"] == "unplayable", kind
        assert clip["media"]["error"] and clip["flags"]["unplayable"] == clip["media"]["error"]
        assert clip["derivatives"] == []
        assert actions(rt, clip["id"]) == ["received", "verified", "marked_unplayable"]
        assert stored_sha256(rt, clip["original_key"]) == clip["sha256"], "the original is kept"
    assert "moov" in by_kind["truncated_mp4"]["media"]["error"]

    with rt.session() as session:
        derivatives = session.scalars(select(Derivative)).all()
        alerts = session.scalars(select(Alert)).all()
    for derivative in derivatives:
        assert stored_sha256(rt, derivative.object_key) == derivative.sha256
        assert derivative.tool_version.startswith("ffmpeg version")
    stored = {info.key for info in rt.store.list("derivatives/")}
    assert stored == {d.object_key for d in derivatives}, "no unrecorded objects left behind"
    assert sorted(a.code for a in alerts) == ["unplayable"] * 3
    assert not any(rt.settings.work_dir.iterdir()), "workspaces are removed"


def step_row(rt, clip_id, name):
    with rt.session() as session:
        return session.scalar(select(ProcessingStep).where(ProcessingStep.clip_id == clip_id,
                                                           ProcessingStep.step == name))


def test_a_worker_killed_mid_transcode_is_replaced_and_the_clip_is_processed_once(
        live, station, rt, workers, worker_config, tmp_path):
    source = make_sample("mjpeg_avi", tmp_path, seconds=20, size="1280x720")
    clip_id = upload_file(live, station, source)
    slow = write_config(rt.settings, tmp_path / "slow.yaml", **{"processing.review_profiles": {
        "review": {"preset": "medium", "max_height": 720}}})
    first = workers(slow)
    wait_for(lambda: (row := step_row(rt, clip_id, "review")) and row.status == "running" and row.progress > 0.05,
             timeout=120, what="the transcode to be under way", worker=first)
    first.kill()
    killed_workspaces = list(rt.settings.work_dir.iterdir())
    assert killed_workspaces, "the killed job left its workspace"
    second = workers(slow)
    clip = wait_final(live, station, [clip_id], second)[clip_id]
    assert clip["status"] == "processed"
    review = step_row(rt, clip_id, "review")
    assert review.status == "done" and review.attempts == 2
    reviews = [d for d in clip["derivatives"] if d["kind"] == "review"]
    assert len(reviews) == 1 and reviews[0]["checks"]["ok"]
    assert actions(rt, clip_id).count("derived") == 4
    stored = {info.key for info in rt.store.list(f"derivatives/{clip_id}/")}
    assert stored == {d["object_key"] for d in clip["derivatives"]}
    wait_for(lambda: not any(rt.settings.work_dir.iterdir()), timeout=30,
             what="the dead job's workspace to be removed", worker=second)


@pytest.mark.own_redis
def test_jobs_survive_a_redis_restart(live, station, rt, own_redis, tmp_path, workers):
    samples = tmp_path / "samples"
    samples.mkdir()
    clip_ids = [upload_file(live, station, make_sample("h264_aac_mp4", samples, name=f"clip-{i}.mp4",
                                                       seconds=2 + i)) for i in range(3)]
    worker = workers()
    wait_for(lambda: any((row := step_row(rt, c, "verify")) and row.status == "done" for c in clip_ids),
             timeout=60, what="the first step to finish", worker=worker)
    own_redis.restart()  # an empty Redis: every queued job is gone
    clips = wait_final(live, station, clip_ids, worker)
    assert all(clip["status"] == "processed" for clip in clips.values())
    for clip_id in clip_ids:
        assert actions(rt, clip_id).count("verified") == 1
        assert actions(rt, clip_id).count("derived") == 4


def test_a_probe_that_hangs_ends_unplayable_with_the_reason(live, station, rt, workers, tmp_path):
    """A real ffprobe given far less time than it needs stands in for one that hangs."""
    clip_id = upload_file(live, station, make_sample("h264_aac_mp4", tmp_path))
    hang = write_config(rt.settings, tmp_path / "hang.yaml", **{"processing.probe_timeout_seconds": 0.001})
    clip = wait_final(live, station, [clip_id], workers(hang))[clip_id]
    assert clip["status"] == "unplayable"
    assert "did not finish within the 0.001 s timeout" in clip["media"]["error"]
    probe_step = step_row(rt, clip_id, "probe")
    assert probe_step.attempts == rt.settings.processing.retries + 1
    assert stored_sha256(rt, clip["original_key"]) == clip["sha256"]
