"""The completeness audit of a city's year — 150,000 cases, ~1.2 M steps, ~6 M clips
(tests/perf/city_year.py) — on SQLite and on PostgreSQL. Targets from the issue: the full-year
audit on PostgreSQL <= 60 s; the live audit of one case <= 50 ms. SQLite's figures are recorded
without a target. On both, the audit's memory must stay bounded (peak RSS growth < 1.5 GiB).

Baseline, taken in the same run on the same database: streaming every row any audit of the year
must read — each step with its case, its officers, and for steps needing footage each link with
its clip and the clips' obstructed intervals — with plain SELECTs, rows discarded. It is taken
before and after the audit; the ratio uses the faster of the two.

FULLRECORD_BENCH_SCALE=0.01 builds a year 1/100 the size, for a quick run.
"""
from __future__ import annotations

import ctypes
import gc
import os
import random
import resource
import statistics
import threading
import time
from datetime import date
from pathlib import Path
from types import SimpleNamespace

import pytest
from sqlalchemy import func, select

from server.settings import SOURCE_CONFIG, load_settings
from storage.audit_models import AuditFinding
from storage.case_models import Step
from storage.db import make_sessionmaker
from tests.perf.city_year import YearSize, build, stamp
from tests.perf.common import record, timed
from workers.audit.run import audit_case, create_run, execute
from workers.audit.source import Scope

SCALE = float(os.environ.get("FULLRECORD_BENCH_SCALE", "1.0"))
TARGET_SECONDS = 60.0
TARGET_CASE_MS = 50.0
RSS_LIMIT = int(1.5 * 2**30)
CASES_SAMPLED = 200
YEAR = (date(2026, 1, 1), date(2026, 12, 31))

pytestmark = pytest.mark.timeout(3600)  # a full year: ~5 min to build, minutes to audit


def read_everything(engine, settings) -> int:
    """Stream, through the driver alone (no SQLAlchemy rows, a server-side cursor on PostgreSQL), the
    rows an audit of the year must read, and discard them; returns how many there were."""
    postgres = engine.dialect.name == "postgresql"
    at = ((lambda column: f"EXTRACT(epoch FROM {column})::float8") if postgres
          else (lambda column: f"(julianday({column}) - 2440587.5) * 86400.0"))
    mark = "%s" if postgres else "?"
    year = f"s.started_at >= {mark} AND s.started_at < {mark}"
    required = ", ".join(f"'{code}'" for code, kind in settings.step_types.items()
                         if kind.requirement in ("recorded", "continuous"))
    footage = f"{year} AND s.type IN ({required})"
    queries = (
        f"SELECT s.id, s.case_id, c.case_number, c.unit_code, s.type, {at('s.started_at')}, {at('s.ended_at')}, "
        f"{at('s.created_at')} FROM steps s JOIN cases c ON c.id = s.case_id WHERE {year}",
        f"SELECT o.step_id, o.officer_code FROM step_officers o JOIN steps s ON s.id = o.step_id WHERE {year}",
        f"SELECT l.step_id, k.id, {at('k.corrected_start')}, {at('k.corrected_end')}, {at('k.received_at')}, k.status, "
        f"k.media_kind, k.device_serial, k.officer_id, {at('k.recorded_at')}, k.clock_offset_seconds, "
        f"k.deleted_at IS NOT NULL, l.origin, l.state, l.rule, l.reason, l.decided_by FROM clip_links l "
        f"JOIN clips k ON k.id = l.clip_id JOIN steps s ON s.id = l.step_id WHERE {footage}",
        f"SELECT i.clip_id, i.start_seconds, i.end_seconds, i.reason FROM obstructed_intervals i "
        f"JOIN clip_links l ON l.clip_id = i.clip_id JOIN steps s ON s.id = l.step_id WHERE {footage}",
    )
    low, high = Scope(*YEAR, settings.timezone).utc_bounds()
    bounds = (low, high) if postgres else (stamp(low.timestamp()), stamp(high.timestamp()))  # as SQLite stores them
    rows = 0
    connection = engine.raw_connection()
    try:
        if postgres:  # plan the cursors for reading every row, not for the first ones fast
            connection.driver_connection.execute("SET LOCAL cursor_tuple_fraction = 1.0")
        for number, query in enumerate(queries):
            cursor = connection.driver_connection.cursor(f"bench_{number}") if postgres else connection.cursor()
            cursor.execute(query, bounds)
            while batch := cursor.fetchmany(20_000):
                rows += len(batch)
            cursor.close()
        connection.rollback()
    finally:
        connection.close()
    return rows


def _status_kib(pid, field: str) -> int:
    """A /proc/<pid>/status value in KiB; 0 once the process is gone."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except OSError:
        return 0
    return 0


def _descendants(root: int, prune: set[int] = frozenset()) -> set[int]:
    """Every process below root, leaving out the subtrees of the pids in prune."""
    by_parent: dict[int, list[int]] = {}
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            try:
                parent = int(Path(entry.path, "stat").read_text().rsplit(")", 1)[1].split()[1])
            except OSError:
                continue  # it exited while we looked
            by_parent.setdefault(parent, []).append(int(entry.name))
    found, todo = set(), [root]
    while todo:
        for child in by_parent.get(todo.pop(), ()):
            if child not in prune:
                found.add(child)
                todo.append(child)
    return found


class PeakMemory:
    """Peak memory of the call: this process's peak RSS (VmHWM, reset at the start) plus the peak RSS
    of every process it starts meanwhile (the audit may judge in several), read every 0.2 s — a sum of
    peaks, never below the true simultaneous peak. Processes that were already there (the PostgreSQL
    server the fixture started) are not counted. Memory freed earlier (building the year) is handed
    back to the system first, else the call could reuse it unseen."""

    def __enter__(self):
        gc.collect()
        ctypes.CDLL(None).malloc_trim(0)
        self.before = _status_kib("self", "VmRSS")
        Path("/proc/self/clear_refs").write_text("5")
        self.existing = _descendants(os.getpid())
        self.children: dict[int, int] = {}
        self.stop = threading.Event()
        self.watcher = threading.Thread(target=self._watch, daemon=True)
        self.watcher.start()
        return self

    def _watch(self) -> None:
        while not self.stop.wait(0.2):
            self._sample()

    def _sample(self) -> None:
        for pid in _descendants(os.getpid(), self.existing):
            self.children[pid] = max(self.children.get(pid, 0), _status_kib(pid, "VmHWM"))

    def __exit__(self, *exc) -> None:
        self.stop.set()
        self.watcher.join()
        self._sample()
        self.peak = _status_kib("self", "VmHWM") + sum(self.children.values())
        self.growth = (self.peak - self.before) * 1024


def cpu_seconds() -> float:
    """CPU time of this process and of its children that have ended."""
    return sum(usage.ru_utime + usage.ru_stime for usage in
               (resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)))


def percentile(values, share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(share * (len(ordered) - 1))))]


def test_a_city_year_audits_within_the_target(database):
    name, engine = database
    settings = load_settings(SOURCE_CONFIG, env={},  # processes the audit starts open the same database
                             overrides={"database.url": engine.url.render_as_string(hide_password=False)})
    factory = make_sessionmaker(engine)
    try:
        size = YearSize().scaled(SCALE)
        started = time.perf_counter()
        counts = build(engine, size)
        generation = time.perf_counter() - started

        def base():
            base.rows = read_everything(engine, settings)
        first_base = timed(base)

        with factory() as session, session.begin():
            run_id = create_run(session, settings, kind="cli", requested_by="bench", period_from=YEAR[0],
                                period_to=YEAR[1]).id
        rt = SimpleNamespace(settings=settings, session=factory)
        started, cpu = time.perf_counter(), cpu_seconds()
        with PeakMemory() as memory:
            run = execute(rt, run_id)
        seconds, cpu = time.perf_counter() - started, cpu_seconds() - cpu
        second_base = timed(base)
        baseline = min(first_base, second_base)
        with factory() as session:
            findings = session.scalar(select(func.count()).select_from(AuditFinding)
                                      .where(AuditFinding.run_id == run_id))
            eight = session.scalars(select(Step.case_id).group_by(Step.case_id)
                                    .having(func.count() == 8).order_by(Step.case_id)).all()
        sample = random.Random(7).sample(eight, min(CASES_SAMPLED, len(eight)))
        case_ms = []
        for case_id in sample:
            begin = time.perf_counter()
            with factory() as session:
                results = audit_case(session, settings, case_id)
            case_ms.append((time.perf_counter() - begin) * 1000)
            assert len(results) == 8
        target = name == "postgresql"
        result = {
            "database": name, "scale": SCALE, **counts, "generation_seconds": round(generation, 1),
            "baseline_seconds": [round(first_base, 3), round(second_base, 3)], "baseline_rows": base.rows,
            "audit_seconds": round(seconds, 3), "target_seconds": TARGET_SECONDS if target else None,
            "audit_vs_baseline": round(seconds / baseline, 2), "steps_audited": run.steps_done,
            "steps_per_second": round(run.steps_done / seconds), "findings": findings,
            "audit_cpu_seconds": round(cpu, 1), "processes_started": len(memory.children),
            "rss_before_mib": round(memory.before / 1024, 1), "rss_growth_mib": round(memory.growth / 2**20, 1),
            "rss_limit_mib": RSS_LIMIT // 2**20,
            "statuses": {key: run.summary.get(key) for key in ("not_required", "required", "pass", "warning", "fail",
                                                               "compliance_rate")},
            "case_audits": len(case_ms), "case_ms_median": round(statistics.median(case_ms), 2),
            "case_ms_p95": round(percentile(case_ms, 0.95), 2), "case_target_ms": TARGET_CASE_MS if target else None}
        record(f"audit-{name}", result)
        assert run.status == "done" and run.steps_done == counts["steps"]
        assert memory.growth < RSS_LIMIT
        if target:
            assert seconds <= TARGET_SECONDS
            assert percentile(case_ms, 0.95) <= TARGET_CASE_MS
    finally:
        if name == "sqlite":  # a full year is ~8 GB; pytest keeps the last runs' temp dirs
            for path in Path(engine.url.database).parent.glob(Path(engine.url.database).name + "*"):
                path.unlink()
