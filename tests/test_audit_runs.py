"""Audit runs on SQLite and PostgreSQL: started through the API (run by a real worker), by the
installed `fullrecord audit` command in all three formats, and nightly by RQ's scheduler in a
real `fullrecord worker`; scopes (unit with sub-units, officer, case); bad requests refused
with a clear message and nothing written; who may do what.

The world is written straight to the database (clips as already processed): the pipeline that
makes such clips is tested in test_audit_scenarios and the processing tests."""
from __future__ import annotations

import csv
import io
import json
import uuid
from datetime import date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select

from storage.audit_models import AuditFinding, AuditRun
from storage.case_models import Case, Officer, Step, StepOfficer, Unit
from storage.models import Clip
from tests.casework_api import user_headers
from tests.cli import run_cli
from tests.services.workers import WorkerProcess, wait_for, write_config
from workers import linking
from workers.audit import schedule
from workers.queues import queue

DAY = datetime(2026, 10, 12, 2, 0, tzinfo=timezone.utc)  # a Monday, 10:00 in Asia/Shanghai
LOCAL_DAY = "2026-10-12"


@pytest.fixture
def worker(settings, tmp_path):
    started = []

    def start(config=None):
        process = WorkerProcess(config or write_config(settings, tmp_path / "worker.yaml"),
                                tmp_path / f"worker-{len(started)}.log").start()
        started.append(process)
        return process
    yield start
    for process in started:
        process.stop()


def add_clip(session, officer: str, serial: str, start: datetime, seconds: float, status: str = "processed") -> str:
    clip = Clip(id=str(uuid.uuid4()), sha256=uuid.uuid4().hex * 2, sm3="0" * 64, size=1000,
                original_key=f"originals/{uuid.uuid4().hex}", filename=f"{serial}.mp4", device_serial=serial,
                officer_id=officer, recorded_at=start, received_at=start + timedelta(seconds=seconds + 60),
                status=status, media={"kind": "video"}, media_kind="video", duration_seconds=seconds)
    session.add(clip)
    return clip.id


@pytest.fixture
def world(rt):
    """City C → district D → squad S (and a second district E): four seizure steps (continuous,
    2 recorders) on DAY. S1 passes (two officers each cover it), S2 fails (one recorder), E1
    fails in the other district, S3 of officer P3 the next week passes."""
    with rt.session() as session, session.begin():
        session.add_all([Unit(code="C", name="市局"), Unit(code="D", name="区大队", parent_code="C"),
                         Unit(code="S", name="一中队", parent_code="D"), Unit(code="E", name="另一区", parent_code="C")])
        session.flush()
        session.add_all([Officer(code=f"P{n}", name=f"执法员{n}", unit_code="E" if n == 9 else "S")
                         for n in (1, 2, 3, 9)])
        steps = {}
        for name, unit, officers, begin in (("S1", "S", ("P1", "P2"), DAY), ("S2", "S", ("P1", "P2"), DAY + timedelta(hours=2)),
                                            ("E1", "E", ("P9",), DAY + timedelta(hours=1)),
                                            ("S3", "S", ("P3", "P2"), DAY + timedelta(days=7))):
            case = Case(id=str(uuid.uuid4()), case_number=f"罚〔2026〕{name}", agency_code="C", unit_code=unit,
                        version=1, create_digest="0" * 64, created_by="test")
            session.add(case)
            session.flush()
            step = Step(id=str(uuid.uuid4()), case_id=case.id, type="seizure", started_at=begin,
                        ended_at=begin + timedelta(minutes=10), version=1, create_digest="0" * 64, created_by="test")
            session.add(step)
            session.flush()
            session.add_all([StepOfficer(step_id=step.id, officer_code=o) for o in officers])
            steps[name] = {"id": step.id, "case_id": case.id, "case_number": case.case_number}
        for officer in ("P1", "P2"):
            add_clip(session, officer, f"DSJ-{officer}", DAY - timedelta(seconds=30), 11 * 60)
        add_clip(session, "P1", "DSJ-P1", DAY + timedelta(hours=2), 11 * 60)
        add_clip(session, "P9", "DSJ-P9", DAY + timedelta(hours=1), 11 * 60)
        for officer in ("P3", "P2"):
            add_clip(session, officer, f"DSJ-{officer}", DAY + timedelta(days=7, seconds=-30), 11 * 60)
        session.flush()
        linking.take_lock(session)
        linking.relink_all(session, rt.settings, linking.Actor("worker", "test"))
    return steps


@pytest.fixture
def inspector(client, rt):
    return user_headers(client, rt, "inspector")


def wait_done(client, headers, run_id: str, worker) -> dict:
    def finished():
        run = client.get(f"/api/v1/audits/{run_id}", headers=headers).get_json()
        return run if run["status"] in ("done", "failed") else None
    run = wait_for(finished, timeout=60, what="the audit to finish", worker=worker)
    assert run["status"] == "done", run["error"]
    return run


def table_counts(rt) -> tuple[int, int]:
    with rt.session() as session:
        return (session.scalar(select(func.count()).select_from(AuditRun)),
                session.scalar(select(func.count()).select_from(AuditFinding)))


def test_an_audit_through_the_api_by_scope(client, rt, world, inspector, worker):
    process = worker()
    answer = client.post("/api/v1/audits", headers=inspector, json={"from": LOCAL_DAY, "to": "2026-10-31"})
    assert answer.status_code == 202, answer.get_json()
    assert answer.headers["Location"] == f"/api/v1/audits/{answer.get_json()['id']}"
    run = wait_done(client, inspector, answer.get_json()["id"], process)
    summary = run["summary"]
    assert (summary["steps"], summary["required"], summary["pass"], summary["fail"]) == (4, 4, 2, 2)
    assert run["progress"] == 1.0 and run["steps_done"] == 4 and run["kind"] == "api"
    units = {row["unit_code"]: row for row in summary["by_unit"]}
    assert units["S"]["own"]["required"] == 3 and units["S"]["own"]["fail"] == 1
    assert units["C"]["own"] is None and units["C"]["with_sub_units"]["required"] == 4
    assert units["D"]["with_sub_units"]["compliance_rate"] == pytest.approx(2 / 3, abs=1e-4)
    officers = {row["officer_code"]: row for row in summary["by_officer"]}
    assert (officers["P2"]["required"], officers["P2"]["pass"]) == (3, 2)
    assert [(w["week"], w["required"]) for w in summary["weekly"]] == [("2026-10-12", 3), ("2026-10-19", 1)]
    assert run["rules"]["seizure"]["min_devices"] == 2 and run["custody"]["intact"] is True

    page = client.get(f"/api/v1/audits/{run['id']}/findings?lang=en&limit=1", headers=inspector).get_json()
    assert page["total"] == 2 and len(page["items"]) == 1
    assert page["items"][0]["step"]["id"] == world["E1"]["id"]  # the first in start order
    listed = client.get("/api/v1/audits?kind=api", headers=inspector).get_json()
    assert [r["id"] for r in listed["items"]] == [run["id"]]

    scoped = {}
    for scope in ({"unit": "D"}, {"officer": "P3"}, {"case": world["E1"]["case_number"]}):
        answer = client.post("/api/v1/audits", headers=inspector, json={"from": LOCAL_DAY, "to": "2026-10-31", **scope})
        assert answer.status_code == 202, answer.get_json()
        scoped[next(iter(scope))] = wait_done(client, inspector, answer.get_json()["id"], process)
    assert (scoped["unit"]["summary"]["required"], scoped["unit"]["summary"]["fail"]) == (3, 1)
    assert (scoped["officer"]["summary"]["required"], scoped["officer"]["summary"]["pass"]) == (1, 1)
    assert scoped["case"]["case_id"] == world["E1"]["case_id"] and scoped["case"]["summary"]["fail"] == 1
    assert scoped["unit"]["diff"]["previous_run_id"] is None, "another scope is not compared with"


def test_findings_come_in_start_order(client, rt, world, inspector, worker):
    process = worker()
    run_id = client.post("/api/v1/audits", headers=inspector, json={"from": LOCAL_DAY, "to": LOCAL_DAY}).get_json()["id"]
    wait_done(client, inspector, run_id, process)
    items = client.get(f"/api/v1/audits/{run_id}/findings", headers=inspector).get_json()["items"]
    assert [i["step"]["id"] for i in items] == [world["E1"]["id"], world["S2"]["id"]]
    assert items[0]["reasons"][0]["text"].startswith("须至少 2 台记录仪")  # zh-CN by default


@pytest.mark.parametrize("body, field", [
    ({"from": "2026-10-31", "to": "2026-10-01"}, "from"),
    ({"from": "2026-10-01", "to": "2036-10-31"}, "to"),
    ({"from": "2026-10-01"}, "to"),
    ({"from": "yesterday", "to": "2026-10-31"}, "from"),
    ({"from": "2026-10-01", "to": "2026-10-31", "unit": "NOPE"}, "unit"),
    ({"from": "2026-10-01", "to": "2026-10-31", "officer": "NOPE"}, "officer"),
    ({"from": "2026-10-01", "to": "2026-10-31", "case": "NOPE"}, "case"),
    ({"from": "2026-10-01", "to": "2026-10-31", "extra": 1}, "extra"),
])
def test_bad_audit_requests_are_refused_and_change_nothing(client, rt, world, inspector, body, field):
    before = table_counts(rt)
    answer = client.post("/api/v1/audits", headers=inspector, json=body)
    assert answer.status_code == 422, answer.get_json()
    assert field in json.dumps(answer.get_json()["errors"])
    assert table_counts(rt) == before


def test_who_may_start_and_read_audits(client, rt, world, inspector):
    body = {"from": LOCAL_DAY, "to": LOCAL_DAY}
    legal = user_headers(client, rt, "legal")
    officer = user_headers(client, rt, "officer")
    assert client.post("/api/v1/audits", headers=legal, json=body).status_code == 403
    assert client.post("/api/v1/audits", headers=officer, json=body).status_code == 403
    assert client.post("/api/v1/audits", json=body).status_code == 401
    run_id = client.post("/api/v1/audits", headers=inspector, json=body).get_json()["id"]
    assert client.get(f"/api/v1/audits/{run_id}", headers=legal).status_code == 200
    assert client.get(f"/api/v1/audits/{run_id}", headers=officer).status_code == 403
    assert client.get(f"/api/v1/cases/{world['S1']['case_id']}/audit", headers=officer).status_code == 403
    not_done = client.get(f"/api/v1/audits/{run_id}/report?format=csv&lang=en", headers=legal)
    assert not_done.status_code == 409 and "not finished" in not_done.get_json()["message"]
    assert client.get(f"/api/v1/audits/{uuid.uuid4()}", headers=legal).status_code == 404
    assert client.get(f"/api/v1/audits/{run_id}/findings?status=nope", headers=legal).status_code == 422
    assert client.get(f"/api/v1/audits/{run_id}/report?format=pdf", headers=legal).status_code == 422


def test_the_live_audit_of_a_case(client, rt, world, inspector):
    answer = client.get(f"/api/v1/cases/{world['S2']['case_id']}/audit?lang=en", headers=inspector)
    assert answer.status_code == 200, answer.get_json()
    [step] = answer.get_json()["steps"]
    assert step["status"] == "fail" and step["devices_counted"] == 1
    assert step["reasons"][0]["text"].startswith("At least 2 recorders must each cover 80%")
    assert step["clips"][0]["text"].startswith("Counted:")
    assert client.get(f"/api/v1/cases/{uuid.uuid4()}/audit", headers=inspector).status_code == 404


def cli(settings, tmp_path, *args):
    config = write_config(settings, tmp_path / "cli-config.yaml")
    return run_cli("--config", str(config), *args)


def test_the_cli_writes_all_three_formats(rt, world, tmp_path):
    outputs = {}
    for fmt in ("json", "csv", "html"):
        out = tmp_path / f"audit.{fmt}"
        result = cli(rt.settings, tmp_path, "--lang", "en", "audit", "--from", LOCAL_DAY, "--to", "2026-10-31",
                     "--unit", "S", "--format", fmt, "--out", str(out))
        assert result.returncode == 0, result.stderr
        assert "Auditing steps" in result.stderr  # the progress bar
        assert "3 steps needing footage, 2 pass, 0 warnings, 1 fail" in result.stdout
        outputs[fmt] = out.read_bytes()
    document = json.loads(outputs["json"])
    assert document["summary"]["required"] == 3 and [f["step"]["id"] for f in document["findings"]] == [world["S2"]["id"]]
    assert document["findings"][0]["reasons"][0]["text"].startswith("At least 2 recorders")
    rows = list(csv.reader(io.StringIO(outputs["csv"].decode("utf-8-sig"))))
    assert len(rows) == 2 and world["S2"]["case_number"] in rows[1]
    page = outputs["html"].decode()
    assert "<svg" in page and world["S2"]["case_number"] in page and "https://" not in page
    with rt.session() as session:
        kinds = session.scalars(select(AuditRun.kind)).all()
        diffs = [run.diff for run in session.scalars(select(AuditRun).order_by(AuditRun.created_at))]
    assert kinds == ["cli"] * 3
    assert diffs[2]["still_failing"] == 1, "each run is compared with the one before of the same scope"


def test_the_cli_refuses_bad_input_clearly(rt, world, tmp_path):
    out = tmp_path / "audit.csv"
    reversed_ = cli(rt.settings, tmp_path, "--lang", "en", "audit", "--from", "2026-10-31", "--to", "2026-10-01",
                    "--format", "csv", "--out", str(out))
    assert reversed_.returncode == 1 and "The start date 2026-10-31 is after the end date 2026-10-01" in reversed_.stderr
    unknown = cli(rt.settings, tmp_path, "--lang", "en", "audit", "--from", LOCAL_DAY, "--to", LOCAL_DAY,
                  "--officer", "NOPE", "--format", "csv", "--out", str(out))
    assert unknown.returncode == 1 and "No officer 'NOPE'" in unknown.stderr
    bad_date = cli(rt.settings, tmp_path, "audit", "--from", "12/10/2026", "--to", LOCAL_DAY, "--out", str(out))
    assert bad_date.returncode == 2 and "YYYY-MM-DD" in bad_date.stderr
    assert not out.exists() and table_counts(rt) == (0, 0)


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)  # waits for a whole minute: one database
def test_the_nightly_audit_runs_on_rqs_scheduler_once_a_night(client, rt, world, inspector, settings, worker, tmp_path):
    zone = ZoneInfo(settings.timezone)
    soon = (datetime.now(zone) + timedelta(seconds=60)).replace(second=0, microsecond=0)
    config = write_config(settings, tmp_path / "nightly.yaml", **{
        "audit.nightly.enabled": True, "audit.nightly.at": soon.strftime("%H:%M"), "audit.nightly.lookback_days": 400})
    # Yesterday's run was missed (no worker was up): it is caught up at once; tonight's waits for its time.
    process = worker(config)

    def nightly_runs():
        runs = client.get("/api/v1/audits?kind=nightly", headers=inspector).get_json()["items"]
        return runs if len(runs) == 2 and all(r["status"] == "done" for r in runs) else None
    runs = wait_for(nightly_runs, timeout=150, what="two nightly audits", worker=process, interval=1)
    tonight, missed = runs
    assert date.fromisoformat(tonight["to"]) == soon.date() - timedelta(days=1)
    assert date.fromisoformat(missed["to"]) == soon.date() - timedelta(days=2)
    assert datetime.fromisoformat(tonight["started_at"]) >= soon.astimezone(timezone.utc)
    tonight = client.get(f"/api/v1/audits/{tonight['id']}", headers=inspector).get_json()
    assert tonight["diff"]["previous_run_id"] == missed["id"] and tonight["summary"]["required"] == 4
    findings = client.get(f"/api/v1/audits/{tonight['id']}/findings", headers=inspector).get_json()
    assert findings["total"] == 2 and {f["change"] for f in findings["items"]} == {"still_failing"}

    # Another sweep (any worker's) neither runs a night twice nor loses the next one.
    nightly_settings = settings.model_copy(update={"audit": settings.audit.model_copy(update={
        "nightly": settings.audit.nightly.model_copy(update={"enabled": True, "at": soon.strftime("%H:%M")})})})

    class Runtime:
        settings = nightly_settings
        session = rt.session
    connection = rt.redis()
    enqueued = schedule.ensure_nightly(Runtime(), connection)
    assert enqueued == [] or enqueued == [schedule.nightly_job_id(soon.date() + timedelta(days=1))]
    assert schedule.ensure_nightly(Runtime(), connection) == []
    registry = queue(settings.audit.queue, connection).scheduled_job_registry
    assert schedule.nightly_job_id(soon.date() + timedelta(days=1)) in registry.get_job_ids()
    with rt.session() as session:
        assert session.scalar(select(func.count()).select_from(AuditRun).where(AuditRun.kind == "nightly")) == 2
