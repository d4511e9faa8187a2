"""The audit dashboard and the stations page with the Flask test client, on SQLite and PostgreSQL:
compliance by unit, officer and step type matching the run's summary; the findings' filters; an
audit started from the form (who may, and what a bad form does); the CSV and HTML downloads;
each station's contact, backlog, rate, clock offsets and errors; no bad query parameter is a 5xx.

Runs are judged in-process (workers.audit.run.execute) on the world of test_audit_runs."""
from __future__ import annotations

import csv
import io
import re
import uuid
from datetime import date, timedelta
from html import unescape
from html.parser import HTMLParser

from sqlalchemy import func, select

from server.operations.audits import start_run
from storage.audit_models import AuditRun
from storage.db import utcnow
from storage.device_models import ClockReport
from storage.ingest_models import Upload
from storage.models import Clip, Device, Station
from storage.processing_models import Alert
from tests.test_audit_runs import world  # noqa: F401  (fixture)
from tests.web_support import assert_no_server_error, csrf_token, post_form, sign_in
from workers.audit.run import execute

PERIOD = {"from": "2026-10-12", "to": "2026-10-31"}


class Rows(HTMLParser):
    """The text of the cells of every table row of a page."""

    def __init__(self, html: str):
        super().__init__()
        self.rows: list[list[str]] = []
        self.cell: list[str] | None = None
        self.row: list[str] | None = None
        self.feed(html)

    def handle_starttag(self, tag, attrs):
        if tag == "tr":
            self.row = []
        elif tag in ("td", "th") and self.row is not None:
            self.cell = []

    def handle_endtag(self, tag):
        if tag in ("td", "th") and self.cell is not None and self.row is not None:
            self.row.append(" ".join("".join(self.cell).split()))
            self.cell = None
        elif tag == "tr" and self.row is not None:
            self.rows.append(self.row)
            self.row = None

    def handle_data(self, data):
        if self.cell is not None:
            self.cell.append(data)

    def starting(self, text: str) -> list[str]:
        found = [row for row in self.rows if row and row[0].startswith(text)]
        assert found, f"no row starting with {text!r}"
        return found[0]


def page(client, path: str, expect: int = 200, **params) -> str:
    answer = client.get(path, query_string=params)
    assert answer.status_code == expect, (path, answer.status_code, answer.get_data(as_text=True)[-800:])
    return answer.get_data(as_text=True)


def run_audit(rt, **scope) -> str:
    """A run recorded as the API would and judged here."""
    with rt.session() as session, session.begin():
        run = start_run(session, rt.settings, kind="api", requested_by="user:test",
                        period_from=date.fromisoformat(PERIOD["from"]), period_to=date.fromisoformat(PERIOD["to"]),
                        **scope)
        run_id = run.id
    assert execute(rt, run_id).status == "done"
    return run_id


def run_count(rt) -> int:
    with rt.session() as session:
        return session.scalar(select(func.count()).select_from(AuditRun))


def pct(rate) -> str:
    return "—" if rate is None else f"{rate * 100:.1f}%"


def tally(row: dict) -> list[str]:
    return [str(row["required"]), str(row["pass"]), str(row["warning"]), str(row["fail"]), pct(row["compliance_rate"])]


def test_an_audit_run_from_the_form_and_the_dashboard(client, rt, world):
    name = sign_in(client, rt, "inspector")
    answer = post_form(client, "/audits", PERIOD, page="/audits")
    assert answer.status_code == 303, answer.get_data(as_text=True)
    run_path = answer.headers["Location"]
    run_id = run_path.rsplit("/", 1)[1]
    assert re.fullmatch(r"/audits/[0-9a-f-]{36}", run_path)
    waiting = page(client, run_path)
    assert "已开始审计 2026-10-12 至 2026-10-31" in waiting and 'role="progressbar"' in waiting
    assert "audit_refresh.js" in waiting and "data-audit-refresh" in waiting
    with rt.session() as session:
        run = session.get(AuditRun, run_id)
        assert (run.kind, run.requested_by, run.status) == ("api", f"user:{name}", "queued")
    assert execute(rt, run_id).status == "done"
    with rt.session() as session:
        summary = session.get(AuditRun, run_id).summary

    html = page(client, "/audits")
    assert "audit_refresh.js" not in html, "nothing runs: no refresh"
    assert html.count("<svg") == 4
    rows = Rows(unescape(html))
    assert "50.0%" in html and summary["compliance_rate"] == 0.5
    assert rows.starting("查封扣押 / 暂扣物品")[1:] == tally(summary["by_step_type"][0])
    for unit in summary["by_unit"]:
        name = {"C": "市局 (C)", "D": "区大队 (D)", "S": "一中队 (S)", "E": "另一区 (E)"}[unit["unit_code"]]
        row = rows.starting(name)
        assert row[1:6] == tally(unit["with_sub_units"])
        assert row[6:8] == ([str(unit["own"]["required"]), str(unit["own"]["fail"])] if unit["own"] else ["—", "—"])
    for officer in summary["by_officer"]:
        row = rows.starting(officer["officer_code"])
        assert row[1] == f"执法员{officer['officer_code'][1:]}" and row[2:] == tally(officer)
    for week in summary["weekly"]:
        assert rows.starting(week["week"])[1:] == tally(week)
    assert f"/audits/{run_id}?unit=D" in html and f"/audits/{run_id}?step_type=seizure" in html
    assert f"/audits/{run_id}?officer=P9" in html

    english = page(client, "/audits", lang="en")
    assert "Compliance by step type" in english and "Seizure of property" in english


def test_the_findings_and_their_filters(client, rt, world):
    sign_in(client, rt, "legal")
    first = run_audit(rt)
    run_id = run_audit(rt)
    cases = {name: (item["case_number"], item["case_id"]) for name, item in world.items()}

    def listed(**filters) -> list[str]:
        html = page(client, f"/audits/{run_id}", **filters)
        return [name for name, (number, _) in cases.items() if f">{number}</a>" in html]

    assert sorted(listed()) == ["E1", "S2"]
    html = page(client, f"/audits/{run_id}")
    assert html.index(cases["E1"][0]) < html.index(cases["S2"][0]), "in start order"
    assert f'href="/cases/{cases["E1"][1]}#step-{world["E1"]["id"]}"' in html
    assert "须至少 2 台记录仪" in html and "仍不合格" in html
    assert "At least 2 recorders must each cover 80%" in page(client, f"/audits/{run_id}", lang="en")
    page(client, "/audits", lang="zh-CN")  # ?lang= stays for the session
    assert listed(unit="D") == ["S2"]
    assert listed(unit="D", own="1") == []
    assert listed(unit="S", own="1") == ["S2"]
    assert listed(unit="E") == ["E1"]
    assert listed(officer="P9") == ["E1"]
    assert sorted(listed(step_type="seizure")) == ["E1", "S2"]
    assert listed(status="warning") == []
    assert sorted(listed(change="still_failing")) == ["E1", "S2"] and listed(change="new") == []
    assert listed(case=cases["E1"][0]) == ["E1"]
    assert "没有符合筛选条件的环节" in page(client, f"/audits/{run_id}", status="pass")
    assert listed(status="", unit="", change="") == listed()

    dashboard = page(client, "/audits")
    assert f"/audits?run={first}" in dashboard, "the previous run is linked"
    assert f"/audits/{run_id}?change=still_failing" in dashboard
    chosen = page(client, "/audits", run=first)
    assert "所选审计" in chosen and "同一范围此前没有完成的审计" in chosen
    assert 'name="from"' not in dashboard, "legal staff cannot start audits"


def test_who_may_start_an_audit_and_a_bad_form(client, rt, world):
    sign_in(client, rt, "legal")
    assert post_form(client, "/audits", PERIOD, page="/audits").status_code == 403
    assert run_count(rt) == 0

    client.post("/logout", data={"csrf_token": csrf_token(client, "/audits")})
    sign_in(client, rt, "inspector")
    for form, message in (({"from": "2026-13-45", "to": "2026-10-31"}, "起始日期“2026-13-45”无效"),
                          ({"from": "", "to": "2026-10-31"}, "请填写起始日期"),
                          ({"from": "2026-10-31", "to": "2026-10-01"}, "起始日期 2026-10-31 晚于截止日期 2026-10-01"),
                          ({**PERIOD, "unit": "NOPE"}, "找不到单位“NOPE”"),
                          ({**PERIOD, "officer": "NOPE"}, "找不到执法人员“NOPE”"),
                          ({**PERIOD, "case": "NOPE"}, "找不到案件“NOPE”")):
        answer = post_form(client, "/audits", form, page="/audits")
        assert answer.status_code == 303 and answer.headers["Location"] == "/audits", form
        html = page(client, "/audits")
        assert message in unescape(html), (form, html[:3000])
        assert 'class="flash error"' in html
        assert f'name="to" value="{form["to"]}"' in html, "the form keeps what was typed"
        assert run_count(rt) == 0
    assert client.post("/audits", data=PERIOD).status_code == 400, "no CSRF token"
    assert run_count(rt) == 0
    scoped = post_form(client, "/audits", {**PERIOD, "unit": "D", "officer": "", "case": ""}, page="/audits")
    assert scoped.status_code == 303 and run_count(rt) == 1
    with rt.session() as session:
        assert session.scalar(select(AuditRun.unit_code)) == "D"


def test_the_reports_download(client, rt, world):
    sign_in(client, rt, "inspector")
    run_id = run_audit(rt)
    answer = client.get(f"/audits/{run_id}/report", query_string={"format": "csv"})
    assert answer.status_code == 200 and answer.mimetype == "text/csv"
    assert answer.headers["Content-Disposition"].startswith("attachment;")
    assert f"audit-2026-10-12_2026-10-31-{run_id[:8]}.csv" in answer.headers["Content-Disposition"]
    rows = list(csv.reader(io.StringIO(answer.get_data().decode("utf-8-sig"))))
    assert rows[0][0] == "案号" and len(rows) == 3
    assert [row[0] for row in rows[1:]] == [world["E1"]["case_number"], world["S2"]["case_number"]]
    english = client.get(f"/audits/{run_id}/report", query_string={"format": "csv", "lang": "en"})
    assert english.get_data().decode("utf-8-sig").startswith("Case number")

    report = client.get(f"/audits/{run_id}/report", query_string={"format": "html"})
    assert report.status_code == 200 and report.mimetype == "text/html"
    assert report.headers["Content-Disposition"].startswith("attachment;")
    text = report.get_data(as_text=True)
    assert text.startswith("<!DOCTYPE html>") and "<svg" in text and world["S2"]["case_number"] in text
    assert "/static/" not in text and "<script" not in text, "a standalone file"

    with rt.session() as session, session.begin():
        queued = start_run(session, rt.settings, kind="api", requested_by="user:test",
                           period_from=date(2026, 10, 12), period_to=date(2026, 10, 12)).id
    waiting = client.get(f"/audits/{queued}/report", query_string={"format": "csv"})
    assert waiting.status_code == 409 and "is not finished" in waiting.get_data(as_text=True), "still in English"
    dashboard = page(client, "/audits")
    assert "audit_refresh.js" in dashboard and 'role="progressbar"' in dashboard, "a run waits: progress, refresh"
    assert f"/audits/{queued}" in dashboard


def seed_stations(rt) -> dict:
    """Station A (busy, seen 5 minutes ago), B (silent for 3 hours), C (never seen)."""
    now = utcnow()
    with rt.session() as session, session.begin():
        a = Station(name="采集站-东", location="东区中队值班室", last_seen_at=now - timedelta(minutes=5))
        b = Station(name="采集站-西", location=None, last_seen_at=now - timedelta(hours=3))
        c = Station(name="采集站-新", location="仓库")
        session.add_all([a, b, c])
        devices = {serial: Device(id=str(uuid.uuid4()), serial=serial) for serial in ("DSJ-1", "DSJ-2")}
        session.add_all(devices.values())
        session.flush()

        def upload(station, status, offset, at, name="f.mp4", error=None):
            session.add(Upload(station_id=station.id, length=1000, upload_offset=offset, status=status, filename=name,
                               device_serial="DSJ-1", recorded_at=at, declared_sha256="0" * 64, created_at=at,
                               updated_at=at, expires_at=at + timedelta(days=1), error=error))
        upload(a, "receiving", 400, now - timedelta(minutes=30))
        upload(a, "receiving", 400, now - timedelta(minutes=50))
        upload(a, "rejected", 1000, now - timedelta(hours=2), "坏文件.mp4", "declared SHA-256 ... received bytes hash to ...")
        upload(a, "rejected", 1000, now - timedelta(days=2), "旧的.mp4")
        upload(b, "completed", 1000, now - timedelta(minutes=10))

        def clip(station, status, received, size=1 << 20):
            row = Clip(sha256=uuid.uuid4().hex * 2, sm3="0" * 64, size=size, original_key=f"o/{uuid.uuid4().hex}",
                       filename=f"{uuid.uuid4().hex[:6]}.mp4", device_serial="DSJ-1", station_id=station.id,
                       recorded_at=received - timedelta(hours=1), received_at=received, status=status)
            session.add(row)
            return row
        for _ in range(3):
            clip(a, "processed", now - timedelta(minutes=20))
        clip(a, "received", now - timedelta(minutes=10))
        clip(a, "verified", now - timedelta(hours=5))
        broken = clip(a, "integrity_failed", now - timedelta(hours=6))
        clip(a, "processed", now - timedelta(days=3))
        clip(b, "processed", now - timedelta(hours=4), size=3 << 30)
        session.flush()
        session.add(Alert(severity="critical", code="integrity_failed", clip_id=broken.id,
                          details={"reason": "SHA-256 不符"}, created_at=now - timedelta(hours=1)))

        def clock(station, serial, offset, at):
            session.add(ClockReport(id=str(uuid.uuid4()), device_id=devices[serial].id, device_time=at + timedelta(seconds=offset),
                                    station_time=at, offset_seconds=offset, station_id=station.id, recorded_by="test"))
        clock(a, "DSJ-1", 100.0, now - timedelta(days=2))
        clock(a, "DSJ-1", 2.5, now - timedelta(hours=1))
        clock(a, "DSJ-2", -45.0, now - timedelta(hours=2))
        clock(b, "DSJ-1", 80.0, now - timedelta(hours=3))
    return {"a": a.id, "b": b.id, "c": c.id}


def station_cells(html: str, station_id: str) -> str:
    start = html.index(f'id="station-{station_id}"')
    return " ".join(unescape(re.sub(r"<[^>]+>", " ", html[start:html.index("</tr>", start)])).split())


def test_the_stations_page(client, rt):
    ids = seed_stations(rt)
    sign_in(client, rt, "inspector")
    html = page(client, "/stations")
    a, b, c = (station_cells(html, ids[key]) for key in "abc")
    assert "采集站-东 东区中队值班室 5 分钟前" in a
    assert "未完成上传 2 个 · 尚缺 1.2 KB" in a
    assert "待校验片段 1 个" in a and "待处理片段 1 个" in a
    assert "近 1 小时：4 个，4 MB" in a and "近 24 小时：6 个，6 MB" in a and "平均每小时 0.2 个" in a
    assert "2 台记录仪 · 1 台偏差过大" in a
    assert a.index("DSJ-2 -45.0 s 偏差大") < a.index("DSJ-1 +2.5 s"), "the largest offset first, the latest report"
    assert "+100.0" not in a
    assert "拒收 1" in a and "告警 1" in a and "原始文件完整性校验失败：SHA-256 不符" in a
    assert "累计 1 个片段校验失败或无法播放" in a
    assert "3 小时前" in b and "近 24 小时：1 个，3 GB" in b and "DSJ-1 +80.0 s 偏差大" in b and "未填写位置" in b
    assert "从未联系" in c and "无时钟记录" in c
    assert html.count('class="stale"') == 2, "B and C are highlighted"
    english = page(client, "/stations", lang="en")
    assert "Last 24 h: 6 clips, 6 MB" in station_cells(english, ids["a"])
    assert "Rejected upload" not in a


def test_the_latest_problem_is_the_newest(client, rt):
    ids = seed_stations(rt)
    with rt.session() as session, session.begin():
        session.execute(Alert.__table__.delete())
    sign_in(client, rt, "admin")
    a = station_cells(page(client, "/stations"), ids["a"])
    assert "拒收上传 坏文件.mp4" in a and "告警" not in a


def test_no_bad_query_parameter_is_a_server_error(client, rt, world):
    seed_stations(rt)
    sign_in(client, rt, "inspector")
    run_id = run_audit(rt)
    assert_no_server_error(client, "/audits", ["run", "offset"])
    assert_no_server_error(client, f"/audits/{run_id}",
                           ["status", "change", "unit", "own", "step_type", "officer", "case", "offset"])
    assert_no_server_error(client, f"/audits/{run_id}/report", ["format"])
    assert_no_server_error(client, "/stations", ["offset"])
    for path in ("/audits/not-a-uuid", f"/audits/{uuid.uuid4()}", f"/audits/{uuid.uuid4()}/report",
                 "/audits/1/report"):
        assert client.get(path).status_code == 404, path
    assert client.get("/audits", query_string={"run": str(uuid.uuid4())}).status_code == 404
    assert client.get("/audits", query_string={"run": "x"}).status_code == 400
    assert client.get(f"/audits/{run_id}/report", query_string={"format": "pdf"}).status_code == 400


def test_signed_out_readers_are_sent_to_sign_in(client, rt):
    answer = client.get("/audits")
    assert answer.status_code == 302 and "/login" in answer.headers["Location"]
    assert client.get("/stations").status_code == 302
