"""A `fullrecord worker` outlives Redis going away in the middle of a job, however long Redis
stays away, and takes jobs again once it is back. (Found by the fault campaign, `make faults`:
the RQ worker made to replace the one Redis took down talked to Redis at once, and while Redis
was still down that raised and the whole process exited.)"""
import os
import signal

import pytest
from redis import Redis
from rq.job import Job

from server.runtime import Runtime
from storage.migrate import upgrade
from tests.services.redis_server import RestartableRedis
from tests.services.workers import WorkerProcess, wait_for, write_config
from workers.queues import JSONSerializer, queue

pytestmark = pytest.mark.slow

STILL_DOWN = "Redis still unreachable"


@pytest.fixture
def own_redis(tmp_path):
    redis = RestartableRedis(tmp_path / "redis").start()
    yield redis
    redis.stop()


@pytest.fixture
def worker(make_settings, own_redis, tmp_path):
    settings = make_settings(**{"database.url": f"sqlite:///{tmp_path / 'db.sqlite'}", "redis.url": own_redis.url})
    rt = Runtime(settings)
    upgrade(rt.engine)
    rt.close()
    process = WorkerProcess(write_config(settings, tmp_path / "worker.yaml"), tmp_path / "worker.log").start()
    yield process
    process.stop()


def _status(url: str, job_id: str) -> str | None:
    connection = Redis.from_url(url)
    try:
        return Job.fetch(job_id, connection=connection, serializer=JSONSerializer).get_status()
    finally:
        connection.close()


def _lose_redis_mid_job(worker, own_redis) -> None:
    """Redis goes away while a job runs, and stays away until the worker has tried to go on."""
    connection = Redis.from_url(own_redis.url)
    job = queue("short", connection).enqueue("time.sleep", 2, job_id="mid-job")
    connection.close()
    wait_for(lambda: _status(own_redis.url, job.id) == "started", timeout=60, what="the job to start",
             worker=worker)
    own_redis.stop()
    wait_for(lambda: STILL_DOWN in worker.log.read_text(errors="replace") or worker.process.poll() is not None,
             timeout=60, what="the worker to notice", worker=worker)
    assert worker.process.poll() is None, f"the worker exited:\n{worker.log_tail()}"


def test_a_worker_outlives_redis_down_mid_job_and_works_again_after(worker, own_redis):
    _lose_redis_mid_job(worker, own_redis)
    own_redis.start()  # empty: the queue starts again
    connection = Redis.from_url(own_redis.url)
    after = queue("short", connection).enqueue("time.sleep", 0, job_id="after")
    connection.close()
    wait_for(lambda: _status(own_redis.url, after.id) == "finished", timeout=60, what="a job after Redis came back",
             worker=worker)
    assert worker.process.poll() is None


def test_a_worker_asked_to_stop_while_redis_is_away_stops_cleanly(worker, own_redis):
    _lose_redis_mid_job(worker, own_redis)
    os.killpg(worker.process.pid, signal.SIGTERM)
    assert worker.process.wait(30) == 0, worker.log_tail()
