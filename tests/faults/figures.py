"""The campaign's counting: what the server holds for each recording, what the station journal
says, the 5xx answers the agent saw, and how long each fault took to recover from; printed as a
Markdown table and written as JSON (test-artifacts/faults.json) for docs/reliability.md."""
from __future__ import annotations

import json
import re
import sqlite3
import statistics
from collections import Counter
from datetime import datetime
from pathlib import Path

import requests
from sqlalchemy import select

from storage.models import Clip
from storage.processing_models import ProcessingStep
from tests.faults.driver import INGEST_KINDS, LABELS, FaultRecord
from tests.faults.recordings import Recording

ARTIFACT = Path(__file__).resolve().parents[2] / "test-artifacts" / "faults.json"

DEFINITIONS = {
    "injected": "the moment kill -9 was sent to the part's process group (for the API: one of the two nodes)",
    "back": "the part answering its health check again: the API's /healthz 200, the worker registered "
            "with RQ, Redis answering PING, SeaweedFS taking an object in an Object Lock bucket",
    "time_to_recover": "from injected until the system made progress again after the part was back: "
                       "for an API node and the object store the next clip received "
                       "(clips.received_at: stored, recorded, receipt given); for a worker and Redis the next "
                       "processing step finished (processing_steps.finished_at of a step done). When nothing "
                       "of that kind was waiting as the part came back (no upload left in the station journal; "
                       "no clip received or verified but not yet processed: the other worker had done it all), "
                       "the system had caught up already and the time to recover is the time until back",
    "in_flight_done": "from injected until everything the fault caught in hand was done: the uploads under way "
                      "right after it (journal rows hashing, ready or uploading: their receipts) for an API node "
                      "and the object store; the steps queued, running or retrying (Redis) or left "
                      "running by the killed worker, finished",
    "schedule": "one fault at a time; the next one's random gap begins once the system made progress after "
                "the previous one, so each time to recover is that fault's own",
    "5xx_during_outage": "a 503 while the object store was down, or a 502 from nginx for a request that was "
                         "in flight on the API node killed under it, from injected until 5 s after back; any "
                         "other 5xx, or one outside those windows, is a bug",
}
OUTAGE_STATUSES = {503: "object_store", 502: "api"}
"""The 5xx answers a dead part may cause, and which part: the API nodes answer every other fault
without a 5xx, and nginx sends new requests to the surviving node."""
OUTAGE_GRACE = 5.0
_LOG_LINE = re.compile(r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}) ")
_HTTP_5XX = re.compile(r"HTTP (5\d\d)\b")


def presence(api: str, headers: dict, recordings: list[Recording]) -> dict[str, list[dict]]:
    """sha256 -> the clips GET /api/v1/clips?sha256= lists."""
    found = {}
    with requests.Session() as http:
        http.headers.update(headers)
        for recording in recordings:
            answer = http.get(f"{api}/api/v1/clips", params={"sha256": recording.sha256}, timeout=60)
            assert answer.status_code == 200, answer.text
            found[recording.sha256] = answer.json()
    return found


def clip_views(api: str, headers: dict, clip_ids: list[str]) -> dict[str, dict]:
    """GET /api/v1/clips/{id} of each: status, processing steps, derivatives."""
    views = {}
    with requests.Session() as http:
        http.headers.update(headers)
        for clip_id in clip_ids:
            answer = http.get(f"{api}/api/v1/clips/{clip_id}", timeout=60)
            assert answer.status_code == 200, answer.text
            views[clip_id] = answer.json()
    return views


def foreign_clips(rt, recordings: list[Recording]) -> list[str]:
    """SHA-256 of clips in the database that are none of the recordings."""
    ours = {recording.sha256 for recording in recordings}
    with rt.session() as session:
        return sorted(set(session.scalars(select(Clip.sha256))) - ours)


def journal(path: Path) -> tuple[dict[str, dict], dict[str, list[dict]]]:
    """The station journal's files by path, and its receipts by path."""
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=10) as db:
        db.row_factory = sqlite3.Row
        files = {row["path"]: dict(row) for row in db.execute("SELECT * FROM files")}
        receipts: dict[str, list[dict]] = {}
        for row in db.execute("SELECT * FROM receipts ORDER BY received"):
            receipts.setdefault(row["path"], []).append(dict(row))
    return files, receipts


def agent_5xx(log_text: str, records: list[FaultRecord]) -> dict:
    """Every 5xx in the agent's log, each during an outage that explains it or not."""
    during, outside = Counter(), []
    for line in log_text.splitlines():
        status, stamp = _HTTP_5XX.search(line), _LOG_LINE.match(line)
        if not status or not stamp:
            continue
        code = int(status.group(1))
        at = datetime.strptime(stamp.group(1), "%Y-%m-%d %H:%M:%S,%f").timestamp()  # the agent logs local time
        kind = OUTAGE_STATUSES.get(code)
        if any(record.kind == kind and record.injected_at - 1 <= at <= record.back_at + OUTAGE_GRACE
               for record in records):
            during[code] += 1
        else:
            outside.append(line[:300])
    return {"during_outages": sum(during.values()), "during_outages_by_status": dict(sorted(during.items())),
            "outside_outages": len(outside), "outside_lines": outside[:20]}


def recovery(rt, receipts: dict[str, list[dict]], records: list[FaultRecord], origin: float) -> list[dict]:
    """Each fault with its times (seconds after the campaign's start or after its injection)."""
    with rt.session() as session:
        received = sorted(moment.timestamp() for moment in session.scalars(select(Clip.received_at)))
        finished = {row.id: row.finished_at.timestamp() for row in session.execute(
            select(ProcessingStep.id, ProcessingStep.finished_at).where(ProcessingStep.status == "done"))}
    step_times = sorted(finished.values())
    receipt_times = {path: rows[-1]["received"] for path, rows in receipts.items()}
    rows = []
    for record in records:
        progress = received if record.kind in INGEST_KINDS else step_times
        after_back = [moment for moment in progress if moment >= record.back_at]
        if not record.waiting_at_back:  # nothing was left for the part: recovered when back
            after_back = [record.back_at]
        if record.kind in INGEST_KINDS:
            pending = [receipt_times.get(path) for path in record.in_flight_uploads]
        else:
            pending = [finished.get(step) for step in record.in_flight_steps]
        in_flight_done = None if not pending or None in pending else max(pending) - record.injected_at
        rows.append({
            "kind": record.kind, "target": record.target, "mid_work": record.work_in_hand,
            "waited_for_work_s": record.waited_for_work,
            "injected_at_s": round(record.injected_at - origin, 2),
            "outage_s": round(record.restarted_at - record.injected_at, 2),
            "back_after_s": round(record.back_at - record.injected_at, 2),
            "work_waiting_at_back": record.waiting_at_back,
            "time_to_recover_s": round(after_back[0] - record.injected_at, 2) if after_back else None,
            "in_flight": len(record.in_flight_uploads) + len(record.in_flight_steps),
            "in_flight_done_after_s": round(in_flight_done, 2) if in_flight_done is not None else None,
            "detail": record.detail})
    return rows


def spread(values: list[float]) -> dict:
    present = [value for value in values if value is not None]
    return {"each": values, "median": round(statistics.median(present), 2) if present else None,
            "max": round(max(present), 2) if present else None}


def summarise(*, seed: int, recordings: list[Recording], faults: list[dict], found: dict[str, list[dict]],
              foreign: list[str], not_processed: list[str], journal_problems: list[str], agent: dict,
              crashes: list, custody: dict, audit: dict, settings: dict, total_seconds: float) -> dict:
    counts = Counter(len(clips) for clips in found.values())
    by_kind = Counter(fault["kind"] for fault in faults)
    ttr = {kind: spread([fault["time_to_recover_s"] for fault in faults if fault["kind"] == kind]) for kind in by_kind}
    return {
        "seed": seed, "recordings": len(recordings), "total_run_seconds": round(total_seconds, 1),
        "faults_injected": {"total": len(faults), "by_kind": dict(by_kind)},
        "lost": counts.get(0, 0), "duplicates": sum(len(clips) - 1 for clips in found.values() if len(clips) > 1),
        "foreign_clips": len(foreign), "not_processed": len(not_processed), "journal_problems": len(journal_problems),
        "time_to_recover_s": {**spread([fault["time_to_recover_s"] for fault in faults]), "by_kind": ttr},
        "agent_5xx": agent, "crashes": len(crashes), "custody_verify": custody, "audit": audit,
        "faults": faults, "definitions": DEFINITIONS, "shortened_settings": settings,
        "details": {"not_processed": not_processed[:20], "journal_problems": journal_problems[:20],
                    "foreign_sha256": foreign[:20],
                    "crashes": [{"part": crash.part, "returncode": crash.returncode, "log_tail": crash.log_tail[-2000:]}
                                for crash in crashes]}}


def markdown(figures: dict) -> str:
    ttr = figures["time_to_recover_s"]
    kinds = ", ".join(f"{LABELS[kind]} {count}" for kind, count in figures["faults_injected"]["by_kind"].items())
    agent, custody = figures["agent_5xx"], figures["custody_verify"]
    lines = [
        "| figure | value |", "| --- | --- |",
        f"| faults injected | {figures['faults_injected']['total']} ({kinds}) |",
        f"| recordings | {figures['recordings']} |",
        f"| recordings lost | {figures['lost']} |",
        f"| duplicates | {figures['duplicates']} |",
        f"| clips that are no recording | {figures['foreign_clips']} |",
        f"| not verified and processed | {figures['not_processed']} |",
        f"| time to recover, each (s) | {', '.join(_s(value) for value in ttr['each'])} |",
        f"| time to recover, median / max (s) | {_s(ttr['median'])} / {_s(ttr['max'])} |",
        *(f"| time to recover, {LABELS[kind]}: median / max (s) | {_s(item['median'])} / {_s(item['max'])} |"
          for kind, item in ttr["by_kind"].items()),
        f"| 5xx seen by the agent during outages / outside them | {agent['during_outages']} ("
        f"{', '.join(f'HTTP {code}: {n}' for code, n in agent['during_outages_by_status'].items())}) / "
        f"{agent['outside_outages']} |",
        f"| processes that crashed on their own | {figures['crashes']} |",
        f"| `fullrecord custody verify` | exit {custody['exit']}: {custody.get('events_checked')} events, "
        f"{custody.get('checkpoints_checked')} signed checkpoints checked |",
        f"| audit of the case (pass / required) | {figures['audit'].get('pass')} / "
        f"{figures['audit'].get('required')} |",
        f"| total run time (s) | {figures['total_run_seconds']} |",
        f"| seed | {figures['seed']} |",
        "",
        "| # | fault | target | injected at (s) | mid-work | outage (s) | back after (s) | time to recover (s) "
        "| in flight | in-flight work done after (s) |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
        *(f"| {number} | {LABELS[fault['kind']]} | {fault['target']} | {fault['injected_at_s']} | "
          f"{'yes' if fault['mid_work'] else 'no'} | {fault['outage_s']} | {fault['back_after_s']} | "
          f"{_s(fault['time_to_recover_s'])}{'' if fault['work_waiting_at_back'] else ' (caught up)'} | "
          f"{fault['in_flight']} | {_s(fault['in_flight_done_after_s'])} |"
          for number, fault in enumerate(figures["faults"], start=1)),
        "",
        *(f"- {name.replace('_', ' ')}: {text}" for name, text in figures["definitions"].items()),
    ]
    return "\n".join(lines)


def _s(value) -> str:
    return "—" if value is None else f"{value:.1f}"


def write(figures: dict, path: Path = ARTIFACT) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(figures, ensure_ascii=False, indent=2, default=str) + "\n", encoding="utf-8")
    return path


def custody_figures(completed) -> dict:
    """`fullrecord custody verify --json`: its exit status and what it checked."""
    try:
        report = json.loads(completed.stdout)
    except ValueError:  # not JSON: the output goes with the failure
        report = {"output": (completed.stdout + completed.stderr)[-2000:]}
    keep = ("ok", "events_checked", "checkpoints_checked", "first_bad_seq", "reason", "output")
    return {"exit": completed.returncode, **{key: report[key] for key in keep if key in report}}
