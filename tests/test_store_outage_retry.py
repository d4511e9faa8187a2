"""An object store that is down while a step runs does not use up the step's attempts: the step
waits and finishes once the store is back. (Found by the fault campaign: with the default three
retries, an outage of a few minutes left steps failed for good and their clips unprocessed.)"""
import pytest
from sqlalchemy import select

from storage.processing_models import ProcessingStep
from tests.media_samples import make_sample
from tests.services.seaweed import RestartableSeaweedFS
from tests.services.workers import upload_file
from tests.test_tus import live, station  # noqa: F401  (fixtures)
from workers import context, jobs

pytestmark = pytest.mark.slow


@pytest.fixture
def store_host(tmp_path):
    host = RestartableSeaweedFS(tmp_path / "weed").start()
    yield host
    host.stop()


@pytest.fixture
def settings(make_settings, tmp_path, redis_url, store_host):
    s3 = store_host.server.settings("outage")
    return make_settings(**{"redis.url": redis_url, "processing.retries": 0,
                            "database.url": f"sqlite:///{tmp_path / 'db' / 'fullrecord.db'}",
                            "object_store.backend": "s3", **{f"object_store.s3.{k}": v for k, v in s3.items()}})


def verify_step(rt, clip_id) -> ProcessingStep:
    with rt.session() as session:
        return session.scalar(select(ProcessingStep).where(ProcessingStep.clip_id == clip_id,
                                                           ProcessingStep.step == "verify"))


def test_a_step_waits_for_the_store_without_using_up_its_attempts(live, station, rt, store_host, tmp_path):
    clip_id = upload_file(live, station, make_sample("h264_aac_mp4", tmp_path))
    context.set_runtime(rt)
    jobs.process_clip(clip_id)
    step = verify_step(rt, clip_id)
    store_host.kill()
    for _ in range(2):  # no retries are configured, yet neither run is the step's last
        with pytest.raises(Exception):  # RQ's retry (and then the sweeper) runs it again
            jobs.run_step(step.id)
        row = verify_step(rt, clip_id)
        assert row.status == "retrying" and row.attempts == 0, (row.status, row.attempts, row.error)
        assert "cannot be reached" in row.error, row.error
    store_host.start()
    assert jobs.run_step(step.id) == "done"
    row = verify_step(rt, clip_id)
    assert row.status == "done" and row.attempts == 1

