"""A synthetic city's working day for the linking benchmark: units, officers with one recorder
each, assignments, clock reports, cases with enforcement steps, and clips — most recorded during
the steps of their officers, the rest on patrol. Written with bulk inserts, deterministic."""
from __future__ import annotations

import hashlib
import random
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from sqlalchemy import insert

from storage.case_models import Case, CaseOfficer, Officer, Step, StepDevice, StepOfficer, Unit
from storage.device_models import ClockReport, DeviceAssignment
from storage.models import Clip, Device

DAY = datetime(2026, 6, 1, 0, 0, tzinfo=timezone.utc)  # 08:00 in Asia/Shanghai
STEP_TYPES = ("seizure", "site_inspection", "evidence_collection", "document_service", "coercive_measure",
              "case_filing")


@dataclass(frozen=True)
class CitySize:
    clips: int = 5000
    steps: int = 2000
    officers: int = 1500
    districts: int = 8
    squads_per_district: int = 5


def _uuid(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def build(session, size: CitySize = CitySize(), seed: int = 20260601) -> dict:
    """Insert the day; returns counts."""
    rng = random.Random(seed)
    now = DAY + timedelta(days=1)
    units = [{"code": "3206", "name": "City", "parent_code": None, "created_at": now}]
    squads = []
    for d in range(size.districts):
        district = f"3206{d:02d}"
        units.append({"code": district, "name": f"District {d}", "parent_code": "3206", "created_at": now})
        for s in range(size.squads_per_district):
            squads.append(f"{district}{s:02d}")
            units.append({"code": squads[-1], "name": f"Squad {d}-{s}", "parent_code": district, "created_at": now})
    officers = [{"code": f"P{n:05d}", "name": f"Officer {n}", "unit_code": squads[n % len(squads)], "active": True,
                 "created_at": now} for n in range(size.officers)]
    devices = [{"id": _uuid(rng), "serial": f"DSJ{n:06d}", "model": "DSJ-V1", "unit_code": officers[n]["unit_code"],
                "created_at": now} for n in range(size.officers)]
    offsets = [rng.uniform(-20, 20) for _ in devices]
    assignments = [{"id": _uuid(rng), "device_id": device["id"], "officer_code": officer["code"],
                    "started_at": DAY - timedelta(minutes=30), "ended_at": DAY + timedelta(hours=11),
                    "recorded_by": "station:bench", "created_at": now, "updated_at": now}
                   for device, officer in zip(devices, officers)]
    reports = [{"id": _uuid(rng), "device_id": device["id"],
                "device_time": DAY + timedelta(hours=11, seconds=offset), "station_time": DAY + timedelta(hours=11),
                "offset_seconds": offset, "station_id": None, "recorded_by": "station:bench", "created_at": now}
               for device, offset in zip(devices, offsets)]
    by_squad: dict[str, list[int]] = {}
    for index, officer in enumerate(officers):
        by_squad.setdefault(officer["unit_code"], []).append(index)

    cases, case_officers, steps, step_officers, step_devices, step_plans = [], [], [], [], [], []
    for n in range(size.steps // 2):
        squad = squads[n % len(squads)]
        team = rng.sample(by_squad[squad], 2)
        case_id = _uuid(rng)
        cases.append({"id": case_id, "case_number": f"BENCH-2026-{n:06d}", "agency_code": "3206", "unit_code": squad,
                      "title": None, "status": "open", "opened_at": DAY, "closed_at": None, "version": 1,
                      "create_digest": "0" * 64, "update_digests": {}, "created_by": "user:bench",
                      "created_at": now, "updated_at": now})
        case_officers.extend({"case_id": case_id, "officer_code": officers[i]["code"]} for i in team)
        for _ in range(2):
            start = DAY + timedelta(minutes=rng.uniform(0, 600))
            end = start + timedelta(minutes=rng.uniform(10, 90))
            step_id = _uuid(rng)
            steps.append({"id": step_id, "case_id": case_id, "type": rng.choice(STEP_TYPES), "started_at": start,
                          "ended_at": end, "place": None, "notes": None, "version": 1, "create_digest": "0" * 64,
                          "update_digests": {}, "created_by": "user:bench", "created_at": now,
                          "updated_at": now})
            present = team if rng.random() < 0.7 else team[:1]
            step_officers.extend({"step_id": step_id, "officer_code": officers[i]["code"]} for i in present)
            if rng.random() < 0.3:
                step_devices.extend({"step_id": step_id, "device_serial": devices[i]["serial"]} for i in present)
            step_plans.append((start, end, present))

    clips = []
    for n in range(size.clips):
        if rng.random() < 0.7:
            start, end, present = rng.choice(step_plans)
            who = rng.choice(present)
            true_start = start + timedelta(minutes=rng.uniform(-4, (end - start).total_seconds() / 60))
            seconds = rng.uniform(60, 1800)
        else:
            who = rng.randrange(size.officers)
            true_start = DAY + timedelta(minutes=rng.uniform(0, 640))
            seconds = rng.uniform(30, 900)
        digest = hashlib.sha256(f"{seed}-{n}".encode()).hexdigest()
        clips.append({"id": _uuid(rng), "sha256": digest, "sm3": digest, "size": 1 << 20,
                      "original_key": f"originals/{digest[:2]}/{digest[2:4]}/{digest}",
                      "filename": f"{devices[who]['serial']}_{n:05d}.MP4", "device_id": devices[who]["id"],
                      "device_serial": devices[who]["serial"],
                      "officer_id": officers[who]["code"] if rng.random() < 0.6 else None, "flags": {},
                      "station_id": None, "recorded_at": true_start + timedelta(seconds=offsets[who]),
                      "received_at": now, "status": "processed", "media": {}, "duration_seconds": seconds})
    for model, rows in ((Unit, units), (Officer, officers), (Device, devices), (DeviceAssignment, assignments),
                        (ClockReport, reports), (Case, cases), (CaseOfficer, case_officers), (Step, steps),
                        (StepOfficer, step_officers), (StepDevice, step_devices), (Clip, clips)):
        for start in range(0, len(rows), 5000):
            session.execute(insert(model), rows[start:start + 5000])
    return {"units": len(units), "officers": len(officers), "devices": len(devices), "cases": len(cases),
            "steps": len(steps), "clips": len(clips)}
