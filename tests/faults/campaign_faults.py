"""`make faults`: N real recordings go from a station agent through nginx, two API nodes and two
workers to the audit while a driver kills -9 one of the API nodes (the failover), a worker, Redis
and the object store (each twice). Afterwards every recording must be on the server exactly once, verified and
processed, the station journal must hold a receipt for each, the custody chain must verify, the
audit of the case the recordings document must pass, and the agent must have seen no 5xx except
from a part that was down. FAULTS_RECORDINGS (default 40) and FAULTS_SEED (printed) repeat a run.

Redis runs without persistence: each kill loses every queued job, which the outbox and the
sweeper's reconcile must make good. The recovery settings are shortened so that this happens
within the run (stack.RECOVERY_SETTINGS; they are printed and stored with the figures)."""
from __future__ import annotations

import os
import random
import threading
import time
from collections import Counter
from datetime import datetime, timedelta

import pytest
from sqlalchemy import select

from storage.models import Clip
from storage.processing_models import ProcessingStep
from tests.cli import run_cli
from tests.faults import casework, figures
from tests.faults.driver import Driver, expected_seconds, plan
from tests.faults.recordings import Feeder, make_recordings
from tests.faults.stack import RECOVERY_SETTINGS, STATION_SETTINGS, Stack

pytestmark = [pytest.mark.slow, pytest.mark.timeout(1800)]

LOGS = figures.ARTIFACT.parent / "faults-logs"
SETTLE_SECONDS = 600
"""After the last fault, everything must be received and processed within this long."""
RESERVE = 4
"""Recordings held back until the last fault is over, so that recordings still arrive after it."""
STEPS_PER_VIDEO = {"verify", "probe", "review", "thumbnails", "obstruction"}
FINAL_BAD = ("integrity_failed", "unplayable")
AUDIT_FIGURES = ("status", "covered_share", "devices_counted")


def test_fault_campaign(tmp_path, make_settings, postgres_url):
    count = int(os.environ.get("FAULTS_RECORDINGS") or 40)
    seed = int(os.environ.get("FAULTS_SEED") or random.SystemRandom().randrange(1, 1_000_000))
    assert count >= 8, "FAULTS_RECORDINGS: at least 8 (two per recorder, so that the case's steps are covered)"
    print(f"\nfault campaign: {count} recordings, seed {seed} (FAULTS_SEED={seed} repeats it)", flush=True)
    print(f"shortened settings: {RECOVERY_SETTINGS}", flush=True)
    origin = time.time()
    rnd = random.Random(seed)
    stop = threading.Event()
    stack = Stack(tmp_path)
    try:
        stack.build(make_settings, postgres_url)
        base = (datetime.now(stack.settings.zone) - timedelta(hours=1)).replace(microsecond=0)
        recordings = make_recordings(tmp_path / "recorders", count, base)
        headers = stack.admin_headers()
        work = casework.register(stack.url, headers, recordings)
        stack.start_agent_and_supervise()
        print(f"stack up and {count} recordings made in {time.time() - origin:.0f} s", flush=True)

        faults = plan(rnd, len(stack.workers), [api.name for api in stack.apis])
        on_call = 2 * len(faults)  # one docks in each outage, one before each fault if the agent is idle
        interval = expected_seconds(faults) / max(1, count - RESERVE - on_call)
        driver = Driver(stack, faults, stop, origin, dock=lambda: feeder.dock_one())
        feeder = Feeder(recordings, stack.watch, rnd, interval, RESERVE, on_call, driver.finished, stop)
        feeder.start()
        driver.start()
        _wait_until_settled(stack, recordings, driver, feeder)
        stack.stop_supervising()
        stack.agent.stop()  # SIGTERM, as systemd stops it

        problems = _check(stack, recordings, work, headers, driver, seed, origin)
    finally:
        stop.set()
        stack.close()
        stack.keep_logs(LOGS)
        print(f"logs kept in {LOGS}", flush=True)
    assert not problems, "the fault campaign found problems:\n- " + "\n- ".join(problems)


def _wait_until_settled(stack: Stack, recordings, driver: Driver, feeder: Feeder) -> None:
    """Until every recording is processed and done in the journal, or something is clearly wrong."""
    wanted = {recording.sha256 for recording in recordings}
    deadline = None
    last_said = 0.0
    while True:
        for thread in (driver, feeder):
            if thread.error is not None:
                raise AssertionError(f"{thread.name} failed: {thread.error!r}") from thread.error
        state = _processing_state(stack, wanted)
        if state["bad"]:
            pytest.fail(f"clips ended badly: {state['bad']}")
        done_in_journal = _journal_done(stack)
        if driver.finished.is_set() and feeder.all_docked and state["processed"] == len(wanted) \
                and done_in_journal == len(wanted):
            return
        if driver.finished.is_set() and deadline is None:
            deadline = time.monotonic() + SETTLE_SECONDS
        if time.monotonic() - last_said >= 10:
            last_said = time.monotonic()
            print(f"[campaign] docked {len(feeder.docked)}/{len(wanted)}, received {state['received']}, "
                  f"processed {state['processed']}, journal done {done_in_journal}, "
                  f"faults {len(driver.records)}/{len(driver.faults)}", flush=True)
        if deadline is not None and time.monotonic() > deadline:
            pytest.fail(f"not settled {SETTLE_SECONDS} s after the last fault: {state}, journal done "
                        f"{done_in_journal}\nagent log:\n{stack.agent.log_tail(40)}")
        time.sleep(2)


def _processing_state(stack: Stack, wanted: set[str]) -> dict:
    with stack.rt.session() as session:
        clips = session.execute(select(Clip.id, Clip.sha256, Clip.status)).all()
        failed = session.execute(select(ProcessingStep.clip_id, ProcessingStep.step, ProcessingStep.error)
                                 .where(ProcessingStep.status == "failed")).all()
        open_steps = set(session.scalars(select(ProcessingStep.clip_id).where(ProcessingStep.status != "done")))
    ours = [clip for clip in clips if clip.sha256 in wanted]
    bad = [f"clip {clip.id}: {clip.status}" for clip in ours if clip.status in FINAL_BAD]
    bad += [f"clip {row.clip_id}: step {row.step} failed: {(row.error or '').splitlines()[-1:]}" for row in failed]
    processed = sum(1 for clip in ours if clip.status == "processed" and clip.id not in open_steps)
    return {"received": len(ours), "processed": processed, "bad": bad}


def _journal_done(stack: Stack) -> int:
    if not stack.agent.journal.exists():
        return 0
    files, _receipts = figures.journal(stack.agent.journal)
    return sum(1 for row in files.values() if row["state"] == "done")


def _check(stack: Stack, recordings, work, headers, driver: Driver, seed: int, origin: float) -> list[str]:
    """Every check of the issue; the figures are written whatever the outcome. The problems found."""
    problems = []
    found = figures.presence(stack.url, headers, recordings)
    foreign = figures.foreign_clips(stack.rt, recordings)
    views = figures.clip_views(stack.url, headers, [clip["id"] for clips in found.values() for clip in clips])
    not_processed = []
    for recording in recordings:
        for clip in (views[listed["id"]] for listed in found[recording.sha256]):
            steps = {step["step"]: step["status"] for step in clip["processing"]["steps"]}
            if clip["status"] != "processed" or clip["processing"]["state"] != "done" \
                    or set(steps) != STEPS_PER_VIDEO or set(steps.values()) != {"done"}:
                not_processed.append(f"{recording.relative}: clip {clip['id']} {clip['status']}, steps {steps}")

    files, receipts = figures.journal(stack.agent.journal)
    journal_problems = []
    for recording in recordings:
        row, given = files.get(recording.relative), receipts.get(recording.relative, [])
        clip_ids = [clip["id"] for clip in found[recording.sha256]]
        if row is None or row["state"] != "done" or row["clip_id"] not in clip_ids:
            journal_problems.append(f"{recording.relative}: journal row {row and (row['state'], row['clip_id'])}, "
                                    f"server clips {clip_ids}")
        if [receipt["sha256"] for receipt in given] != [recording.sha256] or given[0]["deleted"] is None:
            journal_problems.append(f"{recording.relative}: receipts {given}")
        if (stack.watch / recording.relative).exists():
            journal_problems.append(f"{recording.relative}: still in the watch folder after its receipt")

    custody = run_cli("custody", "verify", "--json", env=stack.env, timeout=300)
    audit_report = casework.run_audit(stack.env, work, stack.tmp / "audit.json")
    summary = audit_report["summary"]
    judged = casework.judged_now(stack.url, headers, work)
    audit = {key: summary.get(key) for key in ("required", "pass", "warning", "fail")}
    audit["steps_now"] = {name: {key: judged[step["id"]].get(key) for key in AUDIT_FIGURES}
                          for name, step in work.steps.items()}

    agent = figures.agent_5xx(stack.agent.log.read_text(encoding="utf-8", errors="replace"), driver.records)
    faults = figures.recovery(stack.rt, receipts, driver.records, origin)
    crashes = stack.supervisor.crashes if stack.supervisor else []
    result = figures.summarise(
        seed=seed, recordings=recordings, faults=faults, found=found, foreign=foreign, not_processed=not_processed,
        journal_problems=journal_problems, agent=agent, crashes=crashes, custody=figures.custody_figures(custody),
        audit=audit,
        settings={**RECOVERY_SETTINGS, **STATION_SETTINGS}, total_seconds=time.time() - origin)
    print("\n" + figures.markdown(result) + "\n", flush=True)
    print(f"figures written to {figures.write(result)}", flush=True)

    if result["lost"] or result["duplicates"] or foreign:
        problems.append(f"lost {result['lost']}, duplicates {result['duplicates']}, foreign clips {foreign}")
    problems += not_processed + journal_problems
    if custody.returncode != 0:
        problems.append(f"fullrecord custody verify exited {custody.returncode}: {custody.stdout[-2000:]} "
                        f"{custody.stderr[-2000:]}")
    judged_statuses = {step["status"] for step in audit["steps_now"].values()}
    if audit["required"] != 2 or audit["pass"] != 2 or judged_statuses != {"pass"}:
        problems.append(f"the audit of case {work.case_number} did not pass: {audit}; findings "
                        f"{audit_report['findings'][:2]}")
    if agent["outside_outages"]:
        problems.append(f"{agent['outside_outages']} 5xx answers not explained by a dead part: "
                        f"{agent['outside_lines']}")
    problems += [f"{crash.part} exited on its own (code {crash.returncode}):\n{crash.log_tail}" for crash in crashes]
    planned = dict(Counter(fault.kind for fault in driver.faults))
    if result["faults_injected"]["by_kind"] != planned:
        problems.append(f"faults injected {result['faults_injected']['by_kind']}, planned {planned}")
    if any(fault["time_to_recover_s"] is None for fault in faults):
        problems.append("a fault with no progress after it (no time to recover)")
    return problems
