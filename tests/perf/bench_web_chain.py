"""The evidence-chain page of a large case — 40 steps, 200 processed clips each with 4 derivatives,
5 processing steps and ~11 custody events — rendered server-side through the Flask test client
(signed in as legal staff), on SQLite and PostgreSQL. Target from the issue: ≤ 300 ms (median).

Baseline, in the same run on the same database: the JSON API's reads of the same case,
GET /api/v1/cases/<id> (steps and links) + GET /api/v1/cases/<id>/audit (the live audit).

The database also holds 1,000 unrelated clips with their custody events, and a signed custody
checkpoint is made after seeding, as `custody.checkpoint_every_events` does in service; the
page's live audit then walks only the events since. A second series appends 999 events after the
checkpoint first (the most the default settings leave unsigned) to show that worst case."""
from __future__ import annotations

import hashlib
import random
import statistics
import uuid
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import func, insert, select

from storage.case_models import Case, CaseOfficer, Officer, Step, StepOfficer, Unit
from storage.checkpoints import create_checkpoint
from storage.custody import append_events
from storage.device_models import ClockReport
from storage.link_models import ClipLink
from storage.models import Clip, CustodyEvent, Derivative, Device
from storage.processing_models import ObstructedInterval, ProcessingStep
from storage.signing import load_signer
from tests.casework_api import user_headers
from tests.perf.common import record, timed
from tests.web_support import sign_in
from workers import linking

STEPS, CLIPS_PER_STEP, BACKGROUND_CLIPS = 40, 5, 1000
ROUNDS = 20
TARGET_MS = 300.0
DAY = datetime(2026, 9, 1, 1, 0, tzinfo=timezone.utc)
TYPES = ("evidence_preservation", "site_inspection", "seizure", "document_service", "case_filing")
OFFICERS = ("P1", "P2", "P3", "P4")
TOOL = "ffmpeg version 5.1.6-0+deb12u1 Copyright (c) 2000-2024 the FFmpeg developers"

pytestmark = pytest.mark.timeout(1200)


def _argv(kind: str, seconds: float) -> list[str]:
    head = ["ffmpeg", "-nostdin", "-hide_banner", "-loglevel", "error", "-y", "-i", "original.mp4"]
    tails = {"review": ["-map", "0:v:0", "-map", "0:a:0?", "-c", "copy", "-movflags", "+faststart", "-f", "mp4",
                        "-progress", "pipe:1", "-nostats", "review.mp4"],
             "poster": ["-ss", f"{seconds * 0.1:.3f}", "-map", "0:v:0", "-vf", "scale=640:-2", "-frames:v", "1",
                        "poster.jpg"],
             "contact_sheet": ["-map", "0:v:0", "-vf", f"fps=16/{seconds:.3f},scale=320:-2,tile=4x4", "-frames:v",
                               "1", "contact_sheet.jpg"],
             "obstruction_map": ["-map", "0:v:0", "-vf", "fps=2:eof_action=pass,scale=160:90:flags=area,format=gray",
                                 "-f", "rawvideo", "pipe:1"]}
    return head + tails[kind]


def _clip(rng: random.Random, n: int, officer: str, device: dict, true_start: datetime, seconds: float) -> dict:
    digest = hashlib.sha256(f"bench-chain-{n}".encode()).hexdigest()
    return {"id": str(uuid.UUID(int=rng.getrandbits(128), version=4)), "sha256": digest,
            "sm3": hashlib.sha256(digest.encode()).hexdigest(), "size": rng.randrange(50, 900) << 20,
            "original_key": f"originals/{digest[:2]}/{digest[2:4]}/{digest}", "filename": f"{device['serial']}_{n:05d}.MP4",
            "device_id": device["id"], "device_serial": device["serial"], "officer_id": officer, "flags": {},
            "station_id": None, "recorded_at": true_start + timedelta(seconds=device["offset"]),
            "received_at": true_start + timedelta(hours=2), "status": "processed",
            "media": {"kind": "video", "width": 1920, "height": 1080, "duration": seconds}, "media_kind": "video",
            "duration_seconds": seconds}


def seed(rt) -> str:
    """The case and its world; returns the case's id."""
    rng = random.Random(20260901)
    case_id = str(uuid.UUID(int=rng.getrandbits(128), version=4))
    with rt.session() as session, session.begin():
        session.add_all([Unit(code="B", name="市局"), Unit(code="BS", name="一中队", parent_code="B")])
        session.flush()
        session.add_all([Officer(code=code, name=f"执法员{code}", unit_code="BS") for code in (*OFFICERS, "PX")])
        session.add(Case(id=case_id, case_number="BENCH-CHAIN-0001", agency_code="B", unit_code="BS", title="性能测试案件",
                         version=1, create_digest="0" * 64, update_digests={}, created_by="bench", opened_at=DAY,
                         officers=[CaseOfficer(officer_code=code) for code in OFFICERS]))
        devices = [{"id": str(uuid.uuid4()), "serial": f"DSJ-{code}", "offset": rng.uniform(-20, 20)}
                   for code in (*OFFICERS, "PX")]
        session.execute(insert(Device), [{"id": d["id"], "serial": d["serial"], "unit_code": "BS"} for d in devices])
        session.execute(insert(ClockReport), [
            {"id": str(uuid.uuid4()), "device_id": d["id"], "device_time": DAY + timedelta(days=30, seconds=d["offset"]),
             "station_time": DAY + timedelta(days=30), "offset_seconds": d["offset"], "recorded_by": "bench"}
            for d in devices])
        steps, step_officers, clips = [], [], []
        for i in range(STEPS):
            start = DAY + timedelta(hours=3 * i)
            team = (OFFICERS[i % 4], OFFICERS[(i + 1) % 4])
            steps.append({"id": str(uuid.uuid4()), "case_id": case_id, "type": TYPES[i % len(TYPES)], "started_at": start,
                          "ended_at": start + timedelta(minutes=20), "place": f"中山路 {i} 号", "notes": None,
                          "version": 1, "create_digest": "0" * 64, "update_digests": {}, "created_by": "bench"})
            step_officers += [{"step_id": steps[-1]["id"], "officer_code": code} for code in team]
            for k in range(CLIPS_PER_STEP):
                officer = team[k % 2]
                begin = start - timedelta(minutes=1) + timedelta(minutes=4.5 * k + rng.uniform(-0.5, 0.5))
                clips.append(_clip(rng, len(clips), officer, devices[OFFICERS.index(officer)], begin, 330.0))
        for n in range(BACKGROUND_CLIPS):  # patrol footage of another officer, linked to nothing
            clips.append(_clip(rng, len(clips), "PX", devices[-1], DAY - timedelta(days=40, minutes=7 * n), 300.0))
        session.execute(insert(Step), steps)
        session.execute(insert(StepOfficer), step_officers)
        session.execute(insert(Clip), clips)
        _processing(session, rng, clips)
        linking.take_lock(session)
        linking.relink_all(session, rt.settings, linking.Actor("worker", "bench"))
    with rt.session() as session, session.begin():
        create_checkpoint(session, rt.store, load_signer(rt.settings))
    return case_id


def _processing(session, rng: random.Random, clips: list[dict]) -> None:
    derivatives, steps, holes, events = [], [], [], []
    for clip in clips:
        actor = {"actor_type": "worker", "actor_id": "bench-worker", "clip_id": clip["id"]}
        events += [{"actor_type": "station", "actor_id": "bench-station", "action": "received", "clip_id": clip["id"],
                    "details": {"sha256": clip["sha256"], "sm3": clip["sm3"], "size": clip["size"],
                                "filename": clip["filename"]}},
                   {**actor, "action": "verified", "details": {"sha256": clip["sha256"], "sm3": clip["sm3"]}},
                   {**actor, "action": "probed", "details": clip["media"]}]
        for kind in ("review", "poster", "contact_sheet", "obstruction_map"):
            digest = hashlib.sha256(f"{clip['id']}-{kind}".encode()).hexdigest()
            row = {"id": str(uuid.uuid4()), "clip_id": clip["id"], "kind": kind, "profile": "review" if kind == "review" else "",
                   "object_key": f"derivatives/{clip['id']}/{kind}", "sha256": digest, "sm3": digest,
                   "size": rng.randrange(1 << 16, 1 << 26), "source_sha256": clip["sha256"], "tool_version": TOOL,
                   "content_type": "video/mp4" if kind == "review" else "image/jpeg",
                   "argv": _argv(kind, clip["duration_seconds"]), "checks": {"ok": True, "duration": 330.0}}
            derivatives.append(row)
            events.append({**actor, "action": "derived", "details": {k: row[k] for k in (
                "kind", "profile", "object_key", "sha256", "sm3", "size", "source_sha256", "tool_version", "argv", "checks")}})
        for step in ("verify", "probe", "review", "thumbnails", "obstruction"):
            steps.append({"id": str(uuid.uuid4()), "clip_id": clip["id"], "step": step, "status": "done", "attempts": 1,
                          "profile": "review" if step == "review" else "", "progress": 1.0, "seconds": 1.5,
                          "command": [], "result": {}})
        if rng.random() < 0.2:
            at = rng.uniform(0, 300)
            holes.append({"id": str(uuid.uuid4()), "clip_id": clip["id"], "start_seconds": at,
                          "end_seconds": at + rng.uniform(2, 30), "reason": "covered", "detail": {}})
        events += [{"actor_type": "user", "actor_id": "bench-user", "action": action, "clip_id": clip["id"],
                    "details": {"what": "review", "via": "web", "range": [0, 1 << 20], "bytes": 1 << 20}}
                   for action in ("viewed", "streamed")]
    session.execute(insert(Derivative), derivatives)
    session.execute(insert(ProcessingStep), steps)
    if holes:
        session.execute(insert(ObstructedInterval), holes)
    append_events(session, events)


def _ok(answer) -> None:
    assert answer.status_code == 200, answer.get_data(as_text=True)[-500:]


def _series(call) -> dict:
    call()  # warm: templates compiled, connections open
    times = sorted(timed(call) * 1000 for _ in range(ROUNDS))
    return {"median_ms": round(statistics.median(times), 1), "p95_ms": round(times[int(0.95 * (len(times) - 1))], 1),
            "min_ms": round(times[0], 1), "rounds": ROUNDS}


def test_evidence_chain_page(client, rt, settings):
    database = "postgresql" if settings.database_url.startswith("postgresql") else "sqlite"
    case_id = seed(rt)
    with rt.session() as session:
        counts = {"steps": session.scalar(select(func.count()).select_from(Step).where(Step.case_id == case_id)),
                  "clips": session.scalar(select(func.count(ClipLink.clip_id.distinct())).where(ClipLink.case_id == case_id)),
                  "links": session.scalar(select(func.count()).select_from(ClipLink).where(ClipLink.case_id == case_id)),
                  "custody_events": session.scalar(select(func.count()).select_from(CustodyEvent))}
    assert counts["steps"] == STEPS and counts["clips"] == STEPS * CLIPS_PER_STEP, counts

    sign_in(client, rt, "legal")
    html = client.get(f"/cases/{case_id}").get_data(as_text=True)
    assert html.count('class="card step status-') == STEPS and html.count('<details class="clip"') == counts["clips"]
    page = _series(lambda: _ok(client.get(f"/cases/{case_id}")))
    headers = user_headers(client, rt, "legal")
    api = _series(lambda: (_ok(client.get(f"/api/v1/cases/{case_id}", headers=headers)),
                           _ok(client.get(f"/api/v1/cases/{case_id}/audit", headers=headers))))

    with rt.session() as session, session.begin():  # the most the default checkpoint cadence leaves unsigned
        append_events(session, [{"actor_type": "worker", "actor_id": "bench", "action": "probed", "details": {"n": n}}
                                for n in range(999)])
    unsigned = _series(lambda: _ok(client.get(f"/cases/{case_id}")))

    result = {"database": database, **counts, "page_bytes": len(html.encode()), "page": page,
              "api_case_plus_audit": api, "page_999_unsigned_events": unsigned, "target_median_ms": TARGET_MS}
    record(f"web_chain_{database}", result)
    assert page["median_ms"] <= TARGET_MS, result
