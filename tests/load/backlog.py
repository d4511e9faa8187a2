"""The server side of the load run, sampled every few seconds: RQ's queues (straight from Redis),
the processing steps and the clips not yet fully processed (straight from the database), and the
memory of the API and worker processes (from /proc, to see leaks)."""
from __future__ import annotations

import logging
import threading
from dataclasses import asdict, dataclass
from pathlib import Path

from redis import Redis
from rq.registry import StartedJobRegistry
from sqlalchemy import exists, func, or_, select

from storage.models import Clip
from storage.processing_models import FINAL_STATUSES, ProcessingStep
from tests.load.stats import RequestLog
from tests.services.workers import descendants
from workers.queues import queue

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Sample:
    t: float
    """Seconds since the run started."""
    queued_jobs: int
    """Jobs waiting in RQ's queues."""
    queued_by_queue: dict
    """The same by queue (short: verify, probe, remux, thumbnails; long: obstruction, transcodes)."""
    running_jobs: int
    """Jobs a worker has started and not finished."""
    unprocessed_clips: int
    """Clips with a processing step not yet done, skipped or failed (or no steps yet)."""
    clips: int
    failed_steps: int
    uploads: int
    """Uploads the stations had completed (receipt read back)."""
    api_rss_mb: float
    workers_rss_mb: float

    @property
    def drained(self) -> bool:
        return self.queued_jobs == 0 and self.running_jobs == 0 and self.unprocessed_clips == 0


def rss_mb(pids: list[int]) -> float:
    """Resident memory of these processes together (a process that just ended counts 0)."""
    total_kb = 0
    for pid in pids:
        try:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total_kb += int(line.split()[1])
        except (OSError, ValueError):
            continue  # gone while we looked
    return round(total_kb / 1024, 1)


def tree(pid: int) -> list[int]:
    return [pid, *descendants(pid)]


class BacklogSampler(threading.Thread):
    def __init__(self, engine, redis: Redis, queue_names: list[str], requests: RequestLog, api_pid: int,
                 worker_pids: list[int], every: float = 10.0):
        super().__init__(name="backlog-sampler", daemon=True)
        self.engine, self.redis, self.queue_names = engine, redis, queue_names
        self.requests, self.api_pid, self.worker_pids, self.every = requests, api_pid, worker_pids, every
        self.samples: list[Sample] = []
        self.finished = threading.Event()

    def run(self) -> None:
        while not self.finished.is_set():
            try:
                self.samples.append(self.sample())
            except Exception:  # a missed sample must not end the run; the gap shows in the series
                log.exception("backlog sample failed")
            self.finished.wait(self.every)

    def stop(self) -> None:
        self.finished.set()
        self.join(30)

    def sample(self) -> Sample:
        queued = {name: queue(name, self.redis).count for name in self.queue_names}
        running = sum(StartedJobRegistry(name, connection=self.redis).count for name in self.queue_names)
        step = ProcessingStep
        unfinished = exists().where(step.clip_id == Clip.id, step.status.not_in(FINAL_STATUSES))
        no_steps = ~exists().where(step.clip_id == Clip.id)
        with self.engine.connect() as connection:
            clips = connection.scalar(select(func.count()).select_from(Clip))
            unprocessed = connection.scalar(select(func.count()).select_from(Clip).where(or_(unfinished, no_steps)))
            failed = connection.scalar(select(func.count()).select_from(step).where(step.status == "failed"))
        return Sample(t=round(self.requests.now(), 1), queued_jobs=sum(queued.values()), queued_by_queue=queued,
                      running_jobs=running,
                      unprocessed_clips=unprocessed, clips=clips, failed_steps=failed,
                      uploads=self.requests.uploads, api_rss_mb=rss_mb(tree(self.api_pid)),
                      workers_rss_mb=rss_mb([pid for worker in self.worker_pids for pid in tree(worker)]))

    def series(self) -> list[dict]:
        return [asdict(sample) for sample in self.samples]
