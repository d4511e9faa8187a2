"""The fault schedule and the thread that carries it out.

The plan (seeded): every part killed KILLS_PER_PART times, in random order, each after a random
gap of normal running and followed by a random outage; an API fault is a kill -9 of one of the two
API nodes behind the proxy (the failover: the agent goes on through the other node). One fault
at a time, so that each recovery is measured on its own.

Before each fault the driver waits (at most WORK_WAIT s) until the part has work in hand: an
upload under way for an API node and the object store; a step running in that
worker; steps queued or running for Redis (a recorder docks if nothing is in hand). So each kill
lands mid-work, not in an idle moment; and while the part is down a recorder docks, so that work
is waiting when it comes back. After it, the driver waits until the system made progress again
before the next gap begins, so that each fault's recovery is its own.
"""
from __future__ import annotations

import random
import sqlite3
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Callable

from sqlalchemy import select

from storage.models import Clip
from storage.processing_models import ProcessingStep
from tests.faults.stack import START_FAILURES, START_TIMEOUT, Part, Stack, WorkerPart

KINDS = ("api", "worker", "redis", "object_store")
LABELS = {"api": "one of two API nodes (fullrecord serve behind nginx)", "worker": "worker (fullrecord worker)",
          "redis": "Redis", "object_store": "object store (SeaweedFS)"}
KILLS_PER_PART = 2
FIRST_GAP = 6.0
"""Seconds of undisturbed flow before the first fault."""
GAP_SECONDS = (3.0, 8.0)
OUTAGE_SECONDS = (2.0, 6.0)
WORK_WAIT = 20.0
PROGRESS_WAIT = 60.0
IDLE_BEFORE_DOCKING = 2.0
"""Seconds without work in hand before the driver has a recorder dock a recording."""
RESTART_ALLOWANCE = {"api": 10.0, "worker": 5.0, "redis": 2.0, "object_store": 4.0}
"""Rough seconds a restart and the wait for work in hand take, to pace the recordings over the faults."""
INGEST_KINDS = ("api", "object_store")


@dataclass(frozen=True)
class PlannedFault:
    kind: str
    target: str
    """The part's name (worker-0, worker-1, api-a, api-b, redis, object store)."""
    gap: float
    outage: float


def plan(rnd: random.Random, workers: int, api_nodes=("api-a", "api-b")) -> list[PlannedFault]:
    kinds = [kind for kind in KINDS for _ in range(KILLS_PER_PART)]
    rnd.shuffle(kinds)
    targets = {"redis": "redis", "object_store": "object store"}
    api_targets = rnd.sample(list(api_nodes), len(api_nodes))  # every node killed in turn
    faults = []
    for number, kind in enumerate(kinds):
        if kind == "worker":
            target = f"worker-{rnd.randrange(workers)}"
        elif kind == "api":
            target = api_targets.pop(0)
            api_targets.append(target)
        else:
            target = targets[kind]
        gap = FIRST_GAP if number == 0 else rnd.uniform(*GAP_SECONDS)
        faults.append(PlannedFault(kind, target, round(gap, 2), round(rnd.uniform(*OUTAGE_SECONDS), 2)))
    return faults


def expected_seconds(faults: list[PlannedFault]) -> float:
    return sum(fault.gap + fault.outage + RESTART_ALLOWANCE[fault.kind] for fault in faults)


@dataclass
class FaultRecord:
    kind: str
    target: str
    planned_outage: float
    waited_for_work: float = 0.0
    work_in_hand: bool = False
    injected_at: float = 0.0
    restarted_at: float = 0.0
    """When the outage ended: the restart began (or the filler was removed)."""
    back_at: float = 0.0
    """When the part answered its health check again."""
    waiting_at_back: bool = True
    """Whether work of the part's kind was waiting then (else the system had caught up already)."""
    in_flight_uploads: list[str] = field(default_factory=list)
    """Journal paths hashing, ready or uploading right after the injection."""
    in_flight_steps: list[str] = field(default_factory=list)
    """Processing step ids in hand right after the injection (for a worker: those it left running)."""
    detail: str = ""


class Driver(threading.Thread):
    def __init__(self, stack: Stack, faults: list[PlannedFault], stop: threading.Event, origin: float,
                 dock: Callable[[], bool]):
        """`dock()` makes a recorder dock a recording (False when none is left): before a fault
        when the part has no work in hand, and once a part is down, so that work waits for it."""
        super().__init__(name="fault-campaign-driver", daemon=True)
        self.stack, self.faults, self.stopping, self.origin = stack, faults, stop, origin
        self.dock = dock
        self.records: list[FaultRecord] = []
        self.error: BaseException | None = None
        self.finished = threading.Event()

    def run(self) -> None:
        try:
            for planned in self.faults:
                if self.stopping.wait(planned.gap):
                    return
                record = self._one(planned)
                self.records.append(record)
                self._wait_for_progress(record)
        except BaseException as exc:  # reported by the campaign
            self.error = exc
        finally:
            self.finished.set()

    def _say(self, text: str) -> None:
        print(f"[driver {time.time() - self.origin:6.1f} s] {text}", flush=True)

    def _one(self, planned: PlannedFault) -> FaultRecord:
        record = FaultRecord(planned.kind, planned.target, planned.outage)
        began = time.monotonic()
        record.work_in_hand = self._wait_for_work(planned)
        record.waited_for_work = round(time.monotonic() - began, 2)
        part = self.stack.part(planned.target)
        part.lock.acquire()  # the supervisor leaves it down
        try:
            owners = part.pids() if isinstance(part, WorkerPart) else set()
            record.injected_at = time.time()
            part.kill()
            # what the fault caught in hand, looked at once it has struck (the killed worker's steps
            # are those it left running)
            record.in_flight_uploads = [row["path"] for row in self._journal_in_flight()]
            record.in_flight_steps = self._steps_in_hand(planned, owners)
            self._say(f"{LABELS[planned.kind]}: kill -9 {planned.target} "
                      f"({'mid-work' if record.work_in_hand else 'no work in hand'}; "
                      f"{len(record.in_flight_uploads)} uploads, {len(record.in_flight_steps)} steps in flight); "
                      f"down for {planned.outage} s")
            self.dock()
            self.stopping.wait(max(0.0, record.injected_at + planned.outage - time.time()))
            record.restarted_at = time.time()
            self._restart(part)
            record.back_at = time.time()
            record.waiting_at_back = self._work_waiting(planned.kind)
            self._say(f"{planned.target} back after {record.back_at - record.injected_at:.1f} s"
                      f"{'' if record.waiting_at_back else ' (nothing waiting for it: caught up)'}")
        finally:
            part.lock.release()
        return record

    def _wait_for_progress(self, record: FaultRecord) -> None:
        """Until the system made progress again (figures.py's time to recover), so that the next
        fault does not strike before this one is over; at most PROGRESS_WAIT s."""
        deadline = time.monotonic() + PROGRESS_WAIT
        while record.waiting_at_back and time.monotonic() < deadline and not self.stopping.is_set():
            if self._progress_since(record):
                return
            time.sleep(0.2)
        self._say(f"no progress within {PROGRESS_WAIT:.0f} s after {record.target} came back")

    def _progress_since(self, record: FaultRecord) -> bool:
        since = datetime.fromtimestamp(record.back_at, timezone.utc)
        with self.stack.rt.session() as session:
            if record.kind in INGEST_KINDS:
                query = select(Clip.id).where(Clip.received_at >= since)
            else:
                query = select(ProcessingStep.id).where(ProcessingStep.status == "done",
                                                        ProcessingStep.finished_at >= since)
            return session.execute(query.limit(1)).first() is not None

    @staticmethod
    def _restart(part: Part) -> None:
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            try:
                part.start()
                return
            except START_FAILURES:
                if part.alive():
                    part.kill()
                if time.monotonic() > deadline:
                    raise
                time.sleep(1)

    # -- what is in hand ----------------------------------------------------------------------

    def _wait_for_work(self, planned: PlannedFault) -> bool:
        started = time.monotonic()
        docked = False
        while time.monotonic() < started + WORK_WAIT and not self.stopping.is_set():
            if self._has_work(planned):
                return True
            if not docked and time.monotonic() > started + IDLE_BEFORE_DOCKING:
                docked = self.dock()  # nothing under way: a recorder docks (an upload, then its steps)
            time.sleep(0.1)
        return False

    def _has_work(self, planned: PlannedFault) -> bool:
        if planned.kind in INGEST_KINDS:  # an upload with at least half of it still to send
            return any(row["state"] == "uploading" and row["upload_offset"] * 2 < row["size"]
                       for row in self._journal_in_flight())
        return bool(self._steps_in_hand(planned))

    def _work_waiting(self, kind: str) -> bool:
        """Uploads the journal has not done (ingest kinds), or clips not yet processed (others)."""
        if kind in INGEST_KINDS:
            return bool(self._journal_in_flight(("pending", "hashing", "ready", "uploading")))
        with self.stack.rt.session() as session:
            return session.execute(select(Clip.id).where(Clip.status.in_(("received", "verified"))).limit(1)).first() \
                is not None

    def _journal_in_flight(self, states=("hashing", "ready", "uploading")) -> list[dict]:
        journal = self.stack.agent.journal
        if not journal.exists():
            return []
        with sqlite3.connect(f"file:{journal}?mode=ro", uri=True, timeout=10) as db:
            db.row_factory = sqlite3.Row
            marks = ", ".join("?" for _ in states)
            return [dict(row) for row in db.execute(
                f"SELECT path, state, upload_offset, size FROM files WHERE state IN ({marks})", states)]

    def _steps_in_hand(self, planned: PlannedFault, owners: set[int] | None = None) -> list[str]:
        """Steps queued, running or retrying (Redis); those running in `owners` or, without them,
        in the target worker's processes now (a worker)."""
        if planned.kind in INGEST_KINDS:
            return []
        with self.stack.rt.session() as session:
            rows = session.execute(select(ProcessingStep.id, ProcessingStep.status, ProcessingStep.worker).where(
                ProcessingStep.status.in_(("queued", "running", "retrying")))).all()
        if planned.kind == "redis":
            return [row.id for row in rows]
        pids = owners or self.stack.part(planned.target).pids()
        return [row.id for row in rows if row.status == "running" and _owner_pid(row.worker) in pids]


def _owner_pid(owner: str | None) -> int | None:
    """storage/owners.py writes host:pid:tag."""
    parts = (owner or "").split(":")
    return int(parts[1]) if len(parts) >= 2 and parts[1].isdigit() else None
