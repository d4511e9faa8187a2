"""Linking through the whole pipeline: a clip is linked at receipt as the instant it started,
and again when a real worker has probed its duration — here a clip that starts just before a
step's widened interval links only once its duration is known."""
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import select

from storage.case_models import Case, Officer, Step, StepOfficer, Unit
from storage.link_models import ClipLink
from storage.models import Clip, CustodyEvent
from tests.media_samples import make_sample
from tests.services.workers import upload_file
from tests.test_processing import settings, wait_final, worker_config, workers  # noqa: F401  (fixtures)
from tests.test_tus import live, station  # noqa: F401  (fixtures)

pytestmark = pytest.mark.slow

STEP_START = datetime(2026, 11, 20, 2, 0, tzinfo=timezone.utc)


def seed_step(rt) -> str:
    with rt.session() as session, session.begin():
        session.add(Unit(code="U1", name="一中队"))
        session.flush()
        session.add(Officer(code="P100", name="张三", unit_code="U1"))
        session.add(Case(id="c0000000-0000-4000-8000-000000000001", case_number="2026-001", agency_code="U1",
                         unit_code="U1", version=1, create_digest="0" * 64, created_by="user:test"))
        session.flush()
        step = Step(id="50000000-0000-4000-8000-000000000001", case_id="c0000000-0000-4000-8000-000000000001",
                    type="site_inspection", started_at=STEP_START, ended_at=STEP_START + timedelta(minutes=10),
                    version=1, create_digest="0" * 64, created_by="user:test")
        session.add(step)
        session.flush()
        session.add(StepOfficer(step_id=step.id, officer_code="P100"))
        return step.id


def test_a_clip_links_once_its_duration_is_known(live, station, rt, workers, tmp_path):
    step_id = seed_step(rt)
    window_start = STEP_START - timedelta(minutes=5)
    sample = make_sample("h264_aac_mp4", tmp_path, seconds=6)
    clip_id = upload_file(live, station, sample, officer_id="P100",
                          recorded_at=(window_start - timedelta(seconds=2)).isoformat())
    with rt.session() as session:
        clip = session.get(Clip, clip_id)
        assert clip.corrected_start == clip.corrected_end == window_start - timedelta(seconds=2)
        assert session.scalars(select(ClipLink).where(ClipLink.clip_id == clip_id)).all() == []

    wait_final(live, station, [clip_id], workers())
    with rt.session() as session:
        clip = session.get(Clip, clip_id)
        assert clip.corrected_end - clip.corrected_start == timedelta(seconds=clip.duration_seconds)
        link = session.scalars(select(ClipLink).where(ClipLink.clip_id == clip_id)).one()
        assert (link.step_id, link.origin, link.state, link.rule) == (step_id, "auto", "linked", "officer")
        assert link.overlap_seconds == pytest.approx(clip.duration_seconds - 2, abs=0.01)
        assert link.details["officers"] == {"P100": "metadata"}
        event = session.scalars(select(CustodyEvent).where(CustodyEvent.clip_id == clip_id,
                                                           CustodyEvent.action == "linked")).one()
        assert event.actor_type == "worker" and event.details["step_id"] == step_id
