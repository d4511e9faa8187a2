"""The linking engine against a real database (SQLite and PostgreSQL): re-runs change nothing,
a step change touches only the clips it can reach, concurrent writers are serialised, and
`fullrecord link rebuild` rebuilds links after an upgrade."""
import threading
from datetime import timedelta

from sqlalchemy import func, select

from workers.transaction import run
from storage.case_models import Step
from storage.link_models import ClipLink
from storage.models import Clip, CustodyEvent
from tests.cli import run_cli
from tests.perf.city import CitySize, build
from workers import linking

ACTOR = linking.Actor("worker", "test")
SMALL = CitySize(clips=300, steps=120, officers=60, districts=2, squads_per_district=2)


def count(session, model, *where):
    return session.scalar(select(func.count()).select_from(model).where(*where))


def link_all(rt):
    return run(rt, lambda session: linking.relink_all(session, rt.settings, ACTOR))


def test_linking_twice_changes_nothing_the_second_time(rt):
    with rt.session() as session, session.begin():
        build(session, SMALL)
    first = link_all(rt)
    with rt.session() as session:
        links, events = count(session, ClipLink), count(session, CustodyEvent)
        linked_events = count(session, CustodyEvent, CustodyEvent.action == "linked")
        unlinked_clips = count(session, Clip, Clip.corrected_start.is_(None))
    assert first.added == links > 0 and linked_events == links
    assert events > links  # each linked clip became evidence: its retention was applied too
    assert unlinked_clips == 0  # every clip has corrected times
    second = link_all(rt)
    assert (second.added, second.removed, second.updated) == (0, 0, 0)
    with rt.session() as session:
        assert count(session, CustodyEvent) == events


def test_corrected_times_use_the_report_in_force(rt):
    with rt.session() as session, session.begin():
        build(session, SMALL)
    link_all(rt)
    with rt.session() as session:
        for clip in session.scalars(select(Clip).limit(20)):
            report = session.get(linking.engine.ClockReport, clip.clock_report_id)
            assert clip.clock_offset_seconds == report.offset_seconds
            assert clip.corrected_start == clip.recorded_at - timedelta(seconds=report.offset_seconds)
            assert clip.corrected_end == clip.corrected_start + timedelta(seconds=clip.duration_seconds)


def test_a_step_change_relinks_only_the_clips_it_can_reach(rt):
    with rt.session() as session, session.begin():
        build(session, SMALL)
    link_all(rt)
    with rt.session() as session:
        step = session.scalars(select(Step).order_by(Step.id).limit(1)).one()
        linked_before = set(session.scalars(select(ClipLink.clip_id).where(ClipLink.step_id == step.id)))

    def move(session):
        row = session.get(Step, step.id)
        row.started_at += timedelta(days=1)
        row.ended_at += timedelta(days=1)
        session.flush()
        return linking.on_step_changed(session, rt.settings, step.id, ACTOR)
    stats = run(rt, move)
    assert stats.clips == len(linked_before) and stats.removed == len(linked_before) > 0
    with rt.session() as session:
        assert count(session, ClipLink, ClipLink.step_id == step.id) == 0
        removed = session.scalars(select(CustodyEvent).where(CustodyEvent.action == "unlinked")).all()
        assert {event.clip_id for event in removed} == linked_before
        assert all(event.details["step_id"] == step.id for event in removed)


def test_concurrent_step_changes_are_applied_one_after_the_other(rt):
    """Two writers moving different steps at once both land, and the links match a rebuild."""
    with rt.session() as session, session.begin():
        build(session, SMALL)
    link_all(rt)
    with rt.session() as session:
        step_ids = list(session.scalars(select(Step.id).order_by(Step.id).limit(2)))
    errors = []

    def shift(step_id):
        def work(session):
            row = session.get(Step, step_id)
            row.ended_at += timedelta(minutes=45)
            session.flush()
            return linking.on_step_changed(session, rt.settings, step_id, ACTOR)
        try:
            run(rt, work)
        except Exception as exc:  # reported below: the test fails with it
            errors.append(exc)
    threads = [threading.Thread(target=shift, args=(step_id,)) for step_id in step_ids]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert errors == []
    again = link_all(rt)
    assert (again.added, again.removed, again.updated) == (0, 0, 0)


def test_cli_rebuild_links_clips_that_predate_linking(rt, settings):
    """More clips than one page of the rebuild, so that paging is exercised."""
    with rt.session() as session, session.begin():
        build(session, CitySize(clips=linking.engine.CHUNK + 200, steps=120, officers=60, districts=2,
                                squads_per_district=2))
    env = {"FULLRECORD_DATA_DIR": str(settings.data_dir), "FULLRECORD_DATABASE_URL": settings.database_url,
           "FULLRECORD_REDIS_URL": settings.redis.url}
    result = run_cli("link", "rebuild", env=env)
    assert result.returncode == 0, result.stderr
    with rt.session() as session:
        links = count(session, ClipLink)
    assert links > 0 and f"clips {linking.engine.CHUNK + 200}: links added {links}," in result.stdout
    again = run_cli("link", "rebuild", env=env)
    assert again.returncode == 0 and "links added 0, removed 0, updated 0" in again.stdout
