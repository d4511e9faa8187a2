"""Linking a large city's day — 5,000 clips, 2,000 steps, 1,500 officers — on SQLite and on
PostgreSQL. Targets from the issue: the whole day links in <= 10 s; changing one step re-links
only the clips it touches.

Baseline, taken in the same run on the same database: reading every input row of linking and
writing as many rows as linking writes (links + custody events) with plain bulk SQL — the database
work any implementation must at least do. The figures are reported as ratios to it.
"""
from __future__ import annotations

import json
from datetime import timedelta

from sqlalchemy import Column, MetaData, String, Table, Text, func, insert, select

from server.settings import SOURCE_CONFIG, load_settings
from storage.case_models import Step, StepDevice, StepOfficer
from storage.db import make_sessionmaker
from storage.device_models import ClockReport, DeviceAssignment
from storage.link_models import ClipLink
from storage.models import Clip, CustodyEvent
from tests.perf.city import CitySize, build
from tests.perf.common import record, timed
from workers import linking

TARGET_SECONDS = 10.0
ACTOR = linking.Actor("worker", "bench")


def baseline(engine, rows_written: int) -> float:
    scratch = Table("bench_scratch", MetaData(), Column("id", String(36), primary_key=True), Column("body", Text))
    scratch.create(engine)
    body = json.dumps({"step_id": "0" * 36, "rule": "officer", "overlap_seconds": 1.0, "details": {"x": 1}})

    def work():
        with engine.begin() as connection:
            for model in (Clip, Step, StepOfficer, StepDevice, DeviceAssignment, ClockReport):
                connection.execute(select(model)).all()
            connection.execute(insert(scratch), [{"id": f"{n:036d}", "body": body} for n in range(rows_written)])
    seconds = timed(work)
    scratch.drop(engine)
    return seconds


def test_a_city_day_links_within_the_target(database):
    name, engine = database
    settings = load_settings(SOURCE_CONFIG, env={})
    factory = make_sessionmaker(engine)
    with factory() as session, session.begin():
        counts = build(session, CitySize())

    def link_all():
        with factory() as session, session.begin():
            linking.take_lock(session)
            link_all.stats = linking.relink_all(session, settings, ACTOR)
    full = timed(link_all)
    first = link_all.stats
    with factory() as session:
        links = session.scalar(select(func.count()).select_from(ClipLink))
        events = session.scalar(select(func.count()).select_from(CustodyEvent))
        step = session.scalars(select(Step).order_by(Step.id).limit(1)).one()
        step_id = step.id
    base = baseline(engine, links + events)

    def change_one_step():
        with factory() as session, session.begin():
            linking.take_lock(session)
            row = session.get(Step, step_id)
            row.started_at += timedelta(minutes=20)
            row.ended_at += timedelta(minutes=20)
            session.flush()
            change_one_step.stats = linking.on_step_changed(session, settings, step_id, ACTOR)
    one = timed(change_one_step)
    again = timed(link_all)  # nothing changed since: a re-run writes nothing

    result = {"database": name, **counts, "links": links, "custody_events": events,
              "full_link_seconds": round(full, 3), "target_seconds": TARGET_SECONDS,
              "baseline_seconds": round(base, 3), "full_vs_baseline": round(full / base, 2),
              "full_stats": first.as_dict(),
              "one_step_seconds": round(one, 4), "one_step_vs_full": round(one / full, 4), "one_step_clips_relinked": change_one_step.stats.clips,
              "one_step_changes": change_one_step.stats.as_dict(),
              "one_step_share_of_clips": round(change_one_step.stats.clips / counts["clips"], 4),
              "rerun_seconds": round(again, 3), "rerun_changes": link_all.stats.as_dict()}
    record(f"linking-{name}", result)
    assert first.added == links > counts["clips"] // 2, "the synthetic day should mostly link"
    assert full <= TARGET_SECONDS
    assert change_one_step.stats.clips <= counts["clips"] * 0.05
    assert link_all.stats.added == link_all.stats.removed == link_all.stats.updated == 0
