"""The station agent's status report (PUT /api/v1/stations/me/agent) through the real HTTP API, on
SQLite and PostgreSQL: stored on the station, replaced by the next one, listed for admins and shown
on the stations page; bad bodies and wrong callers are refused and change nothing."""
from __future__ import annotations

import copy
from datetime import datetime, timedelta

import pytest

from server import accounts
from storage.db import utcnow
from storage.models import Station
from tests.test_web_audit import page, station_cells
from tests.web_support import make_user, sign_in
from tests.casework_api import PASSWORD

URL = "/api/v1/stations/me/agent"

REPORT = {
    "agent_version": "0.1.0",
    "hostname": "station-01",
    "watch_dir": "/srv/dock",
    "started_at": "2026-11-21T16:00:00+08:00",
    "files": {"pending": 3, "hashing": 0, "ready": 1, "uploading": 2, "done": 120, "failed": 1},
    "backlog_bytes": 1288490189,  # 1.2 GB
    "oldest_waiting_since": "2026-11-21T08:05:00+00:00",
    "failed": [{"path": "DSJ-001/a.mp4", "reason": "deleted before its upload finished"}],
    "last_error": None,
}


def bearer(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


def report(**changes) -> dict:
    body = copy.deepcopy(REPORT)
    body.update(changes)
    return body


@pytest.fixture
def station(rt) -> dict:
    with rt.session() as session, session.begin():
        row, token_row, token = accounts.create_station(session, "采集站-东", "东区中队")
        return {"id": row.id, "token": token, "token_id": token_row.id}


@pytest.fixture
def admin_token(client, rt) -> str:
    name = make_user(rt, "admin")
    answer = client.post("/api/v1/auth/tokens", json={"username": name, "password": PASSWORD})
    return answer.get_json()["token"]


def stored(rt, station_id: str) -> tuple[dict | None, datetime | None, datetime | None]:
    with rt.session() as session:
        row = session.get(Station, station_id)
        return row.agent_report, row.agent_reported_at, row.last_seen_at


def test_a_report_is_stored_listed_and_shown(client, rt, station, admin_token):
    before = utcnow()
    answer = client.put(URL, json=REPORT, headers=bearer(station["token"]))
    assert answer.status_code == 200, answer.get_json()
    body = answer.get_json()
    assert body["station_id"] == station["id"]
    assert datetime.fromisoformat(body["received_at"]) >= before - timedelta(seconds=1)
    assert body["started_at"] == "2026-11-21T08:00:00+00:00", "answered in UTC"
    assert body["files"] == REPORT["files"] and body["failed"] == REPORT["failed"]
    assert body["backlog_bytes"] == REPORT["backlog_bytes"] and body["last_error"] is None

    saved, reported_at, seen = stored(rt, station["id"])
    assert saved == {key: value for key, value in body.items() if key not in ("station_id", "received_at")}
    assert saved["started_at"] == "2026-11-21T08:00:00+00:00"
    assert reported_at >= before - timedelta(seconds=1) and seen == reported_at, "a report is a contact"

    listed = client.get("/api/v1/stations", headers=bearer(admin_token))
    assert listed.status_code == 200
    [entry] = listed.get_json()
    assert entry["agent_report"] == saved and entry["agent_reported_at"]

    sign_in(client, rt, "inspector")
    zh = station_cells(page(client, "/stations"), station["id"])
    assert "刚刚上报 · 待传 6 个文件（1.2 GB） · 失败 1" in zh, zh
    assert "DSJ-001/a.mp4 — deleted before its upload finished" in zh
    assert "station-01 · 版本 0.1.0" in zh and "最早的待传文件发现于" in zh
    assert "超过 60 分钟未上报" not in zh and "未上报" not in zh
    en = station_cells(page(client, "/stations", lang="en"), station["id"])
    assert "reported just now · 6 files to upload (1.2 GB) · 1 failed" in en, en
    assert "deleted before its upload finished" in en and "station-01 · version 0.1.0" in en


def test_a_second_report_replaces_the_first(client, rt, station):
    assert client.put(URL, json=REPORT, headers=bearer(station["token"])).status_code == 200
    _, first_at, _ = stored(rt, station["id"])
    second = report(files={"pending": 0, "hashing": 0, "ready": 0, "uploading": 0, "done": 127, "failed": 0},
                    backlog_bytes=0, oldest_waiting_since=None, failed=[],
                    last_error="server unreachable: connection refused")
    answer = client.put(URL, json=second, headers=bearer(station["token"]))
    assert answer.status_code == 200, answer.get_json()
    saved, second_at, _ = stored(rt, station["id"])
    assert saved["files"]["done"] == 127 and saved["failed"] == [] and saved["oldest_waiting_since"] is None
    assert saved["last_error"] == "server unreachable: connection refused"
    assert second_at >= first_at

    sign_in(client, rt, "admin")
    cells = station_cells(page(client, "/stations"), station["id"])
    assert "待传 0 个文件（0 B）" in cells and "失败" not in cells.split("最近错误")[0]
    assert "最近错误：server unreachable: connection refused" in cells
    assert "DSJ-001/a.mp4" not in cells


def test_optional_fields_may_be_left_out(client, rt, station):
    body = {key: value for key, value in REPORT.items()
            if key not in ("oldest_waiting_since", "failed", "last_error")}
    answer = client.put(URL, json=body, headers=bearer(station["token"]))
    assert answer.status_code == 200, answer.get_json()
    saved, _, _ = stored(rt, station["id"])
    assert saved["failed"] == [] and saved["oldest_waiting_since"] is None and saved["last_error"] is None


def _without_files():
    body = report()
    del body["files"]
    return body


BAD_BODIES = {
    "files": _without_files(),
    "files.pending": report(files={**REPORT["files"], "pending": -1}),
    "files.extra": report(files={**REPORT["files"], "extra": 1}),
    "files.done": report(files={key: value for key, value in REPORT["files"].items() if key != "done"}),
    "colour": report(colour="blue"),
    "started_at": report(started_at="2026-11-21T08:00:00"),
    "oldest_waiting_since": report(oldest_waiting_since="2026-11-21T08:00:00"),
    "failed": report(failed=[{"path": f"DSJ-001/{n}.mp4", "reason": "x"} for n in range(21)]),
    "failed.0.reason": report(failed=[{"path": "a.mp4", "reason": "r" * 501}]),
    "agent_version": report(agent_version=1),
    "hostname": report(hostname="h" * 256),
    "backlog_bytes": report(backlog_bytes="lots"),
    "last_error": report(last_error=["no"]),
    "files.ready": report(files={**REPORT["files"], "ready": 1.5}),
    "watch_dir": report(watch_dir="/srv/\x00dock"),
}


@pytest.mark.parametrize("field", list(BAD_BODIES))
def test_bad_bodies_are_refused_naming_the_field(client, rt, station, field):
    answer = client.put(URL, json=BAD_BODIES[field], headers=bearer(station["token"]))
    assert answer.status_code == 422, answer.get_json()
    message = answer.get_json()["message"]
    assert field.split(".")[-1 if field != "failed.0.reason" else 0] in message, message
    assert stored(rt, station["id"])[:2] == (None, None), "nothing stored"


def test_no_body_or_not_json_is_a_4xx(client, rt, station):
    headers = bearer(station["token"])
    answers = [client.put(URL, headers=headers),
               client.put(URL, data="{not json", content_type="application/json", headers=headers),
               client.put(URL, data="files=1", content_type="application/x-www-form-urlencoded", headers=headers),
               client.put(URL, json=[REPORT], headers=headers),
               client.put(URL, json=None, headers=headers)]
    for answer in answers:
        assert 400 <= answer.status_code < 500, (answer.status_code, answer.get_data(as_text=True))
        assert answer.get_json()["message"]
    assert stored(rt, station["id"])[:2] == (None, None)


def test_only_a_station_may_report(client, rt, station, admin_token):
    assert client.put(URL, json=REPORT).status_code == 401
    assert client.put(URL, json=REPORT, headers=bearer("fr_not-a-token")).status_code == 401
    refused = client.put(URL, json=REPORT, headers=bearer(admin_token))
    assert refused.status_code == 403 and refused.get_json()["message"]
    assert client.delete(f"/api/v1/auth/tokens/{station['token_id']}", headers=bearer(admin_token)).status_code == 204
    assert client.put(URL, json=REPORT, headers=bearer(station["token"])).status_code == 401
    assert stored(rt, station["id"])[:2] == (None, None)


def test_the_page_shows_never_reported_and_stale_reports(client, rt, station):
    with rt.session() as session, session.begin():
        silent = accounts.create_station(session, "采集站-新", None)[0].id
    headers = bearer(station["token"])
    evil = report(failed=[{"path": "<b>x</b>.mp4", "reason": "<script>alert(1)</script>"},
                          {"path": "b.mp4", "reason": "second"}, {"path": "c.mp4", "reason": "third"},
                          {"path": "d.mp4", "reason": "fourth"}],
                  files={**REPORT["files"], "failed": 5})
    assert client.put(URL, json=evil, headers=headers).status_code == 200
    with rt.session() as session, session.begin():
        session.get(Station, station["id"]).agent_reported_at = utcnow() - timedelta(minutes=90)

    sign_in(client, rt, "inspector")
    html = page(client, "/stations")
    assert "<script>alert(1)</script>" not in html and "&lt;script&gt;" in html, "escaped"
    reported = station_cells(html, station["id"])
    assert "上报于 90 分钟前" in reported and "超过 60 分钟未上报" in reported and "失败 5" in reported
    assert "third" in reported and "fourth" not in reported and "另有 2 个失败" in reported, "three reasons at most"
    never = station_cells(html, silent)
    assert "未上报" in never and "超过 60 分钟未上报" not in never
    assert html.count("agent-stale") == 1
    en = page(client, "/stations", lang="en")
    assert "never reported" in station_cells(en, silent)
    assert "no report for over 60 min" in station_cells(en, station["id"])
