"""A small evidence world for the pages' browser tests, made through the real stack: units,
officers and a case through the API, real videos uploaded over tus and processed by a real
`fullrecord worker` (review copy, thumbnails, obstruction map), linked by the rules.

The case "world.case" has three steps:
- covered: evidence preservation (continuous), 4 s, wholly recorded by officer A01 → pass;
- gap: evidence preservation, 14 s, officer A02's two clips leave 4 s unrecorded → fail (gap);
- filing: case filing, a paper step → not required.
A fourth clip (recorder DSJ-Z99, no officer, a day earlier) links to nothing: the unlinked queue.

The upload deadline is DEADLINE_SECONDS, so the clips are on time and, once `ready()` returns,
the deadline has passed and the gap is a failure rather than "footage may still arrive"."""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from tests.casework_api import admin_headers, make_case, make_officer, make_step, make_units
from tests.media_samples import make_sample
from tests.obstruction_samples import Segment, make_video
from tests.services.workers import WorkerProcess, upload_file, write_config
from tests.test_processing import wait_final

DEADLINE_SECONDS = 60
WORLD_SETTINGS = {"workers.sweep_seconds": 1, "audit.upload_deadline_hours": DEADLINE_SECONDS / 3600,
                  "audit.max_gap_seconds": 2.0, "audit.device_min_share": 0.5}


@dataclass
class World:
    case: dict
    steps: dict[str, dict]
    clips: dict[str, str]  # name → clip id
    deadline: datetime
    admin: dict
    details: dict = field(default_factory=dict)

    def ready(self) -> "World":
        """Wait until every step's upload deadline has passed (the audit then judges for good)."""
        left = (self.deadline - datetime.now(timezone.utc)).total_seconds()
        if left > 0:
            time.sleep(left + 1)
        return self


@pytest.fixture
def world_settings(make_settings, database_url, redis_url):
    return make_settings(**{"database.url": database_url, "redis.url": redis_url, **WORLD_SETTINGS})


@pytest.fixture
def world_worker(settings, tmp_path):
    process = WorkerProcess(write_config(settings, tmp_path / "worker.yaml"), tmp_path / "worker.log").start()
    yield process
    process.stop()


def build_world(client, rt, live: str, station_token: str, worker, directory: Path) -> World:
    start = datetime.now(timezone.utc).replace(microsecond=0) - timedelta(seconds=30)
    admin = admin_headers(client, rt)
    make_units(client, admin)
    for officer in ("A01", "A02"):
        make_officer(client, admin, officer)
    case = make_case(client, admin, officers=["A01", "A02"], title="占道经营 · 中山路")

    def step(step_type: str, begin: float, seconds: float, officers: list[str]) -> dict:
        return make_step(client, admin, case["id"], type=step_type, officers=officers,
                         started_at=(start + timedelta(seconds=begin)).isoformat(),
                         ended_at=(start + timedelta(seconds=begin + seconds)).isoformat())

    steps = {"covered": step("evidence_preservation", 0, 4, ["A01"]),
             "gap": step("evidence_preservation", 10, 14, ["A02"]),
             "filing": step("case_filing", 26, 1, ["A01"])}
    covered = make_video(directory / "covered.mp4", (Segment("scene", 2.0), Segment("covered", 2.0),
                                                       Segment("scene", 2.0)))
    samples = [make_sample("h264_aac_mp4", directory, seconds=6, size=f"{320 + 2 * n}x240", name=f"six-{n}.mp4")
               for n in range(3)]

    def upload(path: Path, serial: str, officer: str | None, at: datetime) -> str:
        metadata = {"device_id": serial, "recorded_at": at.isoformat()}
        if officer:
            metadata["officer_id"] = officer
        return upload_file(live, station_token, path, **metadata)

    clips = {"covered": upload(covered.path, "DSJ-A01", "A01", start - timedelta(seconds=1)),
             "gap_first": upload(samples[0], "DSJ-A02", "A02", start + timedelta(seconds=9)),
             "gap_second": upload(samples[1], "DSJ-A02", "A02", start + timedelta(seconds=19)),
             "unlinked": upload(samples[2], "DSJ-Z99", None, start - timedelta(days=1))}
    wait_final(live, station_token, list(clips.values()), worker)
    deadline = start + timedelta(seconds=24 + DEADLINE_SECONDS)
    return World(case=case, steps=steps, clips=clips, deadline=deadline, admin=admin)
