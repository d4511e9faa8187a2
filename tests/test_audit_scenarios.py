"""The completeness audit on hand-built scenarios with known answers, through the whole stack:
real videos uploaded over tus, processed by a real `fullrecord worker` (ffmpeg, obstruction
map), linked, then audited through the HTTP API, on SQLite and PostgreSQL.

The upload deadline is set to DEADLINE_SECONDS so that "late" and "the deadline has passed" can
both happen within the test, in real time: steps end shortly before the clips are uploaded (on
time), and the audit runs once every step's deadline is over."""
from __future__ import annotations

import json
import time
from datetime import datetime, timedelta, timezone

import pytest

from storage.models import Clip
from tests.casework_api import admin_headers, make_case, make_officer, make_step, make_units, user_headers
from tests.media_samples import make_sample
from tests.obstruction_samples import Segment, make_video
from tests.services.workers import WorkerProcess, upload_file, write_config
from tests.test_audit_runs import wait_done
from tests.test_processing import wait_final
from tests.test_tus import live, station  # noqa: F401  (fixtures)

pytestmark = pytest.mark.slow

DEADLINE_SECONDS = 90
MAX_GAP = 2.0
MIN_SHARE = 0.5


@pytest.fixture
def settings(make_settings, database_url, redis_url):
    return make_settings(**{"database.url": database_url, "redis.url": redis_url, "workers.sweep_seconds": 1,
                            "audit.upload_deadline_hours": DEADLINE_SECONDS / 3600,
                            "audit.max_gap_seconds": MAX_GAP, "audit.device_min_share": MIN_SHARE})


@pytest.fixture
def worker(settings, tmp_path):
    process = WorkerProcess(write_config(settings, tmp_path / "worker.yaml"), tmp_path / "worker.log")
    yield process
    process.stop()


def iso(moment: datetime) -> str:
    return moment.isoformat()


class City:
    """Cases with one step each, every scenario with officers and recorders of its own."""

    def __init__(self, client, rt, start: datetime):
        self.client, self.rt, self.start = client, rt, start
        self.admin = admin_headers(client, rt)
        make_units(client, self.admin)
        self.steps: dict[str, dict] = {}

    def step(self, name: str, step_type: str, seconds: float, officers: list[str], offset: float = 0.0) -> dict:
        for officer in officers:
            make_officer(self.client, self.admin, officer)
        case = make_case(self.client, self.admin, officers=officers)
        begin = self.start + timedelta(seconds=offset)
        step = make_step(self.client, self.admin, case["id"], type=step_type, officers=officers,
                         started_at=iso(begin), ended_at=iso(begin + timedelta(seconds=seconds)))
        self.steps[name] = {**step, "case": case}
        return self.steps[name]


def finding_of(findings: list[dict], step: dict) -> dict:
    [found] = [f for f in findings if f["step"]["id"] == step["id"]]
    return found


def codes(result: dict, severity: str | None = None) -> set[str]:
    return {r["code"] for r in result["reasons"] if severity in (None, r["severity"])}


def run_audit(client, headers, day_from: str, day_to: str, worker) -> dict:
    answer = client.post("/api/v1/audits", headers=headers, json={"from": day_from, "to": day_to})
    assert answer.status_code == 202, answer.get_json()
    return wait_done(client, headers, answer.get_json()["id"], worker)


def all_findings(client, headers, run_id: str, lang: str = "en") -> list[dict]:
    answer = client.get(f"/api/v1/audits/{run_id}/findings?limit=1000&lang={lang}", headers=headers)
    assert answer.status_code == 200, answer.get_json()
    return answer.get_json()["items"]


def test_hand_built_scenarios_have_their_known_answers(client, rt, live, station, worker, tmp_path):
    # Steps 40 s ago; the clips were recorded during them and are uploaded now, on time.
    start = datetime.now(timezone.utc).replace(microsecond=0) - timedelta(seconds=40)
    city = City(client, rt, start)
    legal = user_headers(client, rt, "legal")
    inspector = user_headers(client, rt, "inspector")
    made = []

    def upload(serial: str, officer: str | None, at: datetime, path=None) -> str:
        if path is None:  # a recording of its own (the store keeps one object per content)
            made.append(make_sample("h264_aac_mp4", tmp_path, seconds=6, size=f"{320 + 2 * len(made)}x240",
                                    name=f"six-{len(made)}.mp4"))
            path = made[-1]
        metadata = {"device_id": serial, "recorded_at": iso(at)}
        if officer:
            metadata["officer_id"] = officer
        return upload_file(live, station, path, **metadata)

    # evidence_preservation: continuous, 1 recorder covering 80 %; seizure: continuous, 2 recorders.
    covered = city.step("covered", "evidence_preservation", 4, ["A01"])
    upload("DSJ-A01", "A01", start - timedelta(seconds=1))

    gap = city.step("gap", "evidence_preservation", 14, ["A02"])
    upload("DSJ-A02", "A02", start - timedelta(seconds=1))                  # -1 .. 5
    upload("DSJ-A02", "A02", start + timedelta(seconds=9))                  # 9 .. 15: 4 s missing

    one_device = city.step("one_device", "seizure", 4, ["A03", "A04"])
    upload("DSJ-A03", "A03", start - timedelta(seconds=1))                  # A04's recorder sent nothing

    drifted = city.step("drifted", "evidence_preservation", 4, ["A05"])
    client.put("/api/v1/devices/DSJ-A05", json={"model": "DSJ-V9"}, headers=city.admin)
    upload("DSJ-A05", "A05", start - timedelta(seconds=121))                # its clock is 120 s slow

    lens = city.step("lens", "evidence_preservation", 9, ["A06"])
    lens_video = make_video(tmp_path / "lens.mp4", (Segment("scene", 3.0), Segment("covered", 3.0),
                                                    Segment("scene", 3.0)))
    upload("DSJ-A06", "A06", start, path=lens_video.path)

    late = city.step("late", "site_inspection", 4, ["A07"], offset=-600)    # ten minutes before the others
    upload("DSJ-A07", "A07", start - timedelta(seconds=601))

    broken = city.step("broken", "evidence_collection", 4, ["A08"])
    broken_clip = upload("DSJ-A08", "A08", start - timedelta(seconds=1))

    manual = city.step("manual", "site_inspection", 4, ["A09"])
    manual_clip = upload("DSJ-UNKNOWN", None, start - timedelta(seconds=1))  # says nothing of its officer

    empty = city.step("empty", "hearing", 4, ["A10"])
    paper = city.step("paper", "case_filing", 4, ["A11"])

    # Before its deadline a step without footage is a warning: the footage may still arrive.
    early = client.get(f"/api/v1/cases/{empty['case']['id']}/audit?lang=en", headers=inspector).get_json()
    [early_step] = early["steps"]
    assert early_step["status"] == "warning"
    assert codes(early_step) == {"no_footage", "awaiting_upload"}

    # What a failing disk would do to one original before its hashes are checked.
    with rt.session() as session:
        key = session.get(Clip, broken_clip).original_key
    path = rt.settings.local_store_root / "objects" / key
    damaged = bytearray(path.read_bytes())
    damaged[len(damaged) // 2] ^= 0xFF
    path.chmod(0o644)
    path.write_bytes(bytes(damaged))

    worker.start()
    with rt.session() as session:
        clip_ids = [c.id for c in session.query(Clip).all()]
    wait_final(live, station, clip_ids, worker)
    time.sleep(max(0.0, (start + timedelta(seconds=14 + DEADLINE_SECONDS + 1)
                         - datetime.now(timezone.utc)).total_seconds()))

    day = start.astimezone(timezone(timedelta(hours=8))).date()
    days = ((day - timedelta(days=1)).isoformat(), (day + timedelta(days=1)).isoformat())
    first = run_audit(client, inspector, *days, worker)
    findings = all_findings(client, inspector, first["id"])
    assert covered["id"] not in {f["step"]["id"] for f in findings}, json.dumps([f for f in findings if f["step"]["id"] == covered["id"]])
    assert paper["id"] not in {f["step"]["id"] for f in findings}

    result = finding_of(findings, gap)
    assert result["status"] == "fail" and codes(result, "fail") == {"gap_too_long"}
    [reason] = [r for r in result["reasons"] if r["code"] == "gap_too_long"]
    assert reason["params"]["seconds"] == pytest.approx(4.0, abs=0.3)
    assert reason["params"]["from_at"].startswith(iso(start + timedelta(seconds=5))[:18])
    assert "Recording is missing for" in reason["text"]
    assert [c["why"] for c in result["clips"]] == ["counted", "counted"]

    result = finding_of(findings, one_device)
    assert result["status"] == "fail" and codes(result, "fail") == {"too_few_devices"}
    assert result["devices_counted"] == 1 and result["rule"]["min_devices"] == 2

    result = finding_of(findings, drifted)
    assert result["status"] == "fail" and codes(result, "fail") == {"no_usable_footage"}
    [clip] = result["clips"]
    assert clip["why"] == "outside_step" and clip["clock_offset_seconds"] is None
    assert "uncorrected_clock" not in codes(result)  # it did not count, so its clock did not matter

    result = finding_of(findings, lens)
    assert result["status"] == "fail" and "gap_too_long" in codes(result)
    [reason] = [r for r in result["reasons"] if r["code"] == "gap_too_long"]
    assert reason["params"]["seconds"] == pytest.approx(3.0, abs=1.0)
    [clip] = result["clips"]
    assert clip["why"] == "counted" and clip["obstructions"][0]["reason"] == "covered"
    assert clip["obstructed_seconds"] == pytest.approx(3.0, abs=1.0)

    result = finding_of(findings, late)
    assert result["status"] == "warning" and codes(result, "warning") == {"late_upload"}
    assert result["clips"][0]["counted"] and result["clips"][0]["late_hours"] > DEADLINE_SECONDS / 3600

    result = finding_of(findings, broken)
    assert result["status"] == "fail" and codes(result, "fail") == {"no_usable_footage"}
    assert [c["why"] for c in result["clips"]] == ["integrity_failed"]
    assert "integrity check failed" in result["clips"][0]["text"]

    result = finding_of(findings, manual)
    assert result["status"] == "fail" and codes(result, "fail") == {"no_footage"}

    result = finding_of(findings, empty)
    assert result["status"] == "fail" and codes(result) == {"no_footage"}
    assert result["change"] == "new" and first["diff"]["previous_run_id"] is None

    # Legal staff link the clip that named no officer; the station reports the slow clock.
    decided = client.post("/api/v1/links", headers=legal, json={
        "clip_id": manual_clip, "step_id": manual["id"], "action": "link", "reason": "记录仪登记表显示由A09使用"})
    assert decided.status_code in (200, 201), decided.get_json()
    now = datetime.now(timezone.utc)
    reported = client.post("/api/v1/devices/DSJ-A05/clock-reports", headers={"Authorization": f"Bearer {station}"},
                           json={"device_time": iso(now - timedelta(seconds=120)), "station_time": iso(now)})
    assert reported.status_code == 201, reported.get_json()

    case_view = client.get(f"/api/v1/cases/{manual['case']['id']}/audit", headers=legal).get_json()
    [manual_result] = case_view["steps"]
    assert manual_result["status"] == "pass" and "manual_links" in codes(manual_result, "info")
    assert manual_result["clips"][0]["link"]["origin"] == "manual"
    assert "人工关联" in manual_result["reasons"][0]["text"]
    drift_view = client.get(f"/api/v1/cases/{drifted['case']['id']}/audit", headers=legal).get_json()
    assert drift_view["steps"][0]["status"] == "pass"
    assert drift_view["steps"][0]["clips"][0]["clock_offset_seconds"] == -120.0

    second = run_audit(client, inspector, *days, worker)
    assert second["diff"]["previous_run_id"] == first["id"]
    assert (second["diff"]["fixed"], second["diff"]["still_failing"], second["diff"]["newly_failing"]) == (2, 5, 0)
    fixed = all_findings(client, inspector, second["id"])
    assert {f["step"]["id"] for f in fixed if f["change"] == "fixed"} == {manual["id"], drifted["id"]}
    assert {f["status"] for f in fixed if f["change"] == "fixed"} == {"pass"}

    summary = second["summary"]
    assert (summary["required"], summary["pass"], summary["warning"], summary["fail"]) == (9, 3, 1, 5)
    assert summary["not_required"] == 1
    [seizures] = [row for row in summary["by_step_type"] if row["step_type"] == "seizure"]
    assert (seizures["required"], seizures["fail"], seizures["compliance_rate"]) == (1, 1, 0.0)

    for fmt, marker in (("csv", gap["case"]["case_number"]), ("html", "<svg"), ("json", '"findings"')):
        report = client.get(f"/api/v1/audits/{second['id']}/report?format={fmt}&lang=en", headers=inspector)
        assert report.status_code == 200, report.get_data(as_text=True)[:500]
        assert "attachment" in report.headers["Content-Disposition"]
        assert marker in report.get_data(as_text=True)
