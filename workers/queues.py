"""RQ queues and the worker loop. Jobs are plain functions taking ids; they are
serialized as JSON so that any worker host can run them."""
from __future__ import annotations

from redis import Redis
from rq import Queue, Worker
from rq.serializers import JSONSerializer

from server.settings import Settings


def redis_connection(settings: Settings) -> Redis:
    return Redis.from_url(settings.redis.url, socket_connect_timeout=settings.redis.connect_timeout)


def queue(name: str, connection: Redis) -> Queue:
    return Queue(name, connection=connection, serializer=JSONSerializer)


def run_worker(settings: Settings, *, burst: bool = False, name: str | None = None) -> bool:
    """Work the configured queues until stopped (or, with burst, until they are empty), sweeping
    expired uploads and the outbox beside it."""
    from server.runtime import Runtime
    from workers.context import set_runtime
    from workers.sweeper import Sweeper, sweep

    connection = redis_connection(settings)
    rt = Runtime(settings)
    set_runtime(rt)
    queues = [queue(name_, connection) for name_ in settings.workers.queues]
    worker = Worker(queues, connection=connection, serializer=JSONSerializer, name=name)
    if burst:
        sweep(rt, connection)
        return worker.work(burst=True)
    sweeper = Sweeper(rt, connection, settings.workers.sweep_seconds)
    sweeper.start()
    try:
        return worker.work(with_scheduler=True)
    finally:
        sweeper.stop()
