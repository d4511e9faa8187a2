"""What the campaign's recordings document, made through the API before they arrive: the
recorders, a unit with the recorders' officers, and one case with two steps the recordings cover
(a "recorded" site inspection by one officer, a "continuous" seizure by two officers with their
two recorders). At the end `fullrecord audit` must find both steps passing."""
from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import requests

from tests.cli import run_cli
from tests.faults.recordings import CLIP_SECONDS, RECORDERS, Recording

UNIT = "329901"


@dataclass
class Casework:
    case_id: str
    case_number: str
    steps: dict[str, dict]
    """"inspection" and "seizure" -> the step as the API answered it."""
    day: str
    """The local date the steps started on (the audit's period)."""


def _ok(answer: requests.Response, *statuses: int) -> dict:
    assert answer.status_code in statuses, f"{answer.request.method} {answer.url}: {answer.status_code} {answer.text}"
    return answer.json()


def register(api: str, headers: dict, recordings: list[Recording]) -> Casework:
    """Recorders, unit, officers, the case and its two steps; the steps end where the recordings
    of both of their recorders still run."""
    with requests.Session() as http:
        http.headers.update(headers)
        unit = {"name": "故障演练中队", "parent": None}
        _ok(http.put(f"{api}/api/v1/units/{UNIT}", json=unit, timeout=30), 200, 201)
        for serial, officer in RECORDERS:
            _ok(http.put(f"{api}/api/v1/officers/{officer}", json={"name": f"执法员{officer}", "unit": UNIT},
                         timeout=30), 200, 201)
            device = {"model": "DSJ-V8", "unit": UNIT}
            _ok(http.put(f"{api}/api/v1/devices/{serial}", json=device, timeout=30), 200, 201)
        first, second = RECORDERS[0][1], RECORDERS[1][1]
        base = min(recording.start for recording in recordings)
        covered = min(sum(1 for r in recordings if r.officer == officer) for officer in (first, second))
        number = f"演练罚〔2026〕{uuid.uuid4().hex[:6]}号"
        case = _ok(http.post(f"{api}/api/v1/cases", json={
            "id": str(uuid.uuid4()), "case_number": number, "unit": UNIT, "title": "故障演练：占道经营",
            "officers": [first, second]}, timeout=30), 201)
        steps = {
            "inspection": _step(http, api, case["id"], "site_inspection", [first], base + timedelta(seconds=1),
                                base + timedelta(seconds=CLIP_SECONDS + 2)),
            "seizure": _step(http, api, case["id"], "seizure", [first, second], base,
                             base + timedelta(seconds=covered * CLIP_SECONDS - 1)),
        }
    return Casework(case["id"], number, steps, base.date().isoformat())


def _step(http, api: str, case_id: str, kind: str, officers: list[str], start: datetime, end: datetime) -> dict:
    return _ok(http.post(f"{api}/api/v1/steps", json={
        "id": str(uuid.uuid4()), "case_id": case_id, "type": kind, "started_at": start.isoformat(),
        "ended_at": end.isoformat(), "place": "演练路 1 号", "officers": officers, "devices": []}, timeout=30), 201)


def run_audit(env: dict, casework: Casework, out: Path) -> dict:
    """`fullrecord audit` of the case over the steps' day, as JSON; returns the report."""
    done = run_cli("audit", "--from", casework.day, "--to", casework.day, "--case", casework.case_id,
                   "--format", "json", "--out", str(out), env=env, timeout=300)
    assert done.returncode == 0, f"fullrecord audit failed:\n{done.stdout}\n{done.stderr}"
    return json.loads(out.read_text(encoding="utf-8"))


def judged_now(api: str, headers: dict, casework: Casework) -> dict[str, dict]:
    """GET /cases/{id}/audit: each step judged now, by step id."""
    answer = _ok(requests.get(f"{api}/api/v1/cases/{casework.case_id}/audit", params={"lang": "en"},
                              headers=headers, timeout=60), 200)
    return {item["step"]["id"]: item for item in answer["steps"]}
