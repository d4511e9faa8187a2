"""The audit dashboard and the stations page in a real browser, on a world made through the real
stack (tests/web_world.py): an inspector runs an audit of today from the form, a real worker runs
it while the page shows its progress, then the charts, the failing step with its reason and the
way to its case, the CSV download, and the stations page."""
from __future__ import annotations

import csv
import io
import re
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from tests.casework_api import PASSWORD
from tests.services.browser import browser_sign_in
from tests.test_tus import station  # noqa: F401  (fixture: a station token)
from tests.web_support import make_user
from tests.web_world import WORLD_SETTINGS, build_world, world_worker  # noqa: F401

pytestmark = pytest.mark.slow

RUN_SECONDS = 90_000
"""Milliseconds to wait for the worker to finish the audit (the page reloads itself meanwhile)."""


@pytest.fixture
def settings(make_settings, redis_url, tmp_path):
    return make_settings(**{"database.url": f"sqlite:///{tmp_path / 'db' / 'fullrecord.db'}", "redis.url": redis_url,
                            **WORLD_SETTINGS})


def test_an_inspector_audits_today_and_follows_a_failure(client, rt, live_server, station, world_worker, tmp_path,
                                                         browser_page, shot):
    world = build_world(client, rt, live_server, station, world_worker, tmp_path).ready()
    page = browser_page
    browser_sign_in(page, live_server, make_user(rt, "inspector"), PASSWORD)

    page.goto(f"{live_server}/audits")
    assert "还没有完成的审计" in page.inner_text(".audit-current")
    shot(page, "dashboard-before")

    today = datetime.now(ZoneInfo("Asia/Shanghai")).date()
    # from yesterday: the world's steps started half a minute before it was built, perhaps before midnight
    page.fill("input[name=from]", (today - timedelta(days=1)).isoformat())
    page.fill("input[name=to]", today.isoformat())
    page.click("form.audit-start-form button[type=submit]")
    page.wait_for_load_state("domcontentloaded")
    assert re.fullmatch(rf"{live_server}/audits/[0-9a-f-]{{36}}", page.url), page.url
    run_url = page.url
    assert "已开始审计" in page.inner_text(".flash.ok")
    running = page.locator("[role=progressbar]").count() > 0
    shot(page, "run-started")

    page.wait_for_selector("ol.findings", timeout=RUN_SECONDS)  # the page reloads until the run is done
    if running:
        assert page.locator("[role=progressbar]").count() == 0
    headline = page.inner_text(".audit-headline")
    assert "已完成" in headline and "50.0%" in headline, headline  # covered passes, gap fails; filing needs none
    finding = page.locator("li.finding.fail")
    assert finding.count() == 1
    text = finding.inner_text()
    assert world.case["case_number"] in text and "证据先行登记保存" in text
    assert "录像中断" in text and "超过允许的 2 秒" in text, text
    page.click("li.finding.fail summary")
    assert page.locator("li.finding.fail table.clips tbody tr").count() == 2
    shot(page, "findings")

    page.goto(f"{live_server}/audits")
    assert page.locator("figure.chart svg").count() == 4
    assert "证据先行登记保存" in page.inner_text("figure.chart >> nth=0")
    types = page.locator("table.audit-table >> nth=0").inner_text()
    assert re.search(r"证据先行登记保存\s+evidence_preservation\s+2\s+1\s+0\s+1\s+50.0%", types), types
    assert page.locator("script[src$='audit_refresh.js']").count() == 0, "nothing runs any more"
    assert page.script_errors == []
    shot(page, "dashboard")

    page.click("table.audit-table >> nth=0 >> a:has-text('证据先行登记保存')")
    page.wait_for_load_state("domcontentloaded")
    assert "step_type=evidence_preservation" in page.url and page.url.startswith(run_url)
    assert page.locator("li.finding").count() == 1
    with page.expect_download() as caught:
        page.click("a:has-text('下载 CSV')")
    download = caught.value
    assert re.fullmatch(r"audit-\d{4}-\d\d-\d\d_\d{4}-\d\d-\d\d-[0-9a-f]{8}\.csv", download.suggested_filename)
    rows = list(csv.reader(io.StringIO(open(download.path(), encoding="utf-8-sig").read())))
    assert rows[0][0] == "案号" and len(rows) == 2
    assert rows[1][0] == world.case["case_number"] and rows[1][1] == world.steps["gap"]["id"]
    assert "录像中断" in rows[1][-1]

    page.click(f"li.finding a.case-link:has-text('{world.case['case_number']}')")
    page.wait_for_load_state("domcontentloaded")
    assert page.url.startswith(f"{live_server}/cases/{world.case['id']}")
    shot(page, "case")

    now = datetime.now(timezone.utc)
    for serial, offset in (("DSJ-A01", 1.5), ("DSJ-A02", -42.0)):
        assert client.put(f"/api/v1/devices/{serial}", headers=world.admin, json={}).status_code in (200, 201)
        reported = client.post(f"/api/v1/devices/{serial}/clock-reports", headers={"Authorization": f"Bearer {station}"},
                               json={"device_time": (now + timedelta(seconds=offset)).isoformat(),
                                     "station_time": now.isoformat()})
        assert reported.status_code == 201, reported.get_json()
    page.goto(f"{live_server}/stations")
    row = page.inner_text("table.stations tbody tr >> nth=0")
    assert "采集站-1" in row and ("刚刚" in row or "分钟前" in row), row
    assert "近 24 小时：4 个" in row and "待校验片段 0 个" in row and "未完成上传 0 个" in row, row
    assert "2 台记录仪 · 1 台偏差过大" in row and re.search(r"DSJ-A02\s+-42.0 s\s+偏差大", row), row
    assert page.script_errors == []
    shot(page, "stations")
