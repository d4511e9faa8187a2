"""In Debian's Chromium: legal staff export the world case's evidence bundle from its page, watch
the progress bar reach the end and download the zip whose SHA-256 is the one shown; they link
the unlinked clip to a step by case number, unlink a clip from the case page and hold a clip.
An inspector sees no link or hold controls and a forced POST is refused; a legal user cannot
open the users page; an administrator creates a user there.

The world (tests/web_world.py) is made through the real stack; the bundle is built by the real
worker that processed its clips."""
from __future__ import annotations

import hashlib

import pytest
from sqlalchemy import func, select

from storage.link_models import ClipLink
from storage.models import User
from storage.retention_models import LegalHold
from tests.casework_api import PASSWORD, snapshot
from tests.services.browser import browser_sign_in
from tests.test_tus import station  # noqa: F401  (fixture: a station token)
from tests.web_support import make_user
from tests.web_world import WORLD_SETTINGS, build_world, world_worker  # noqa: F401

pytestmark = pytest.mark.slow

EXPORT_SECONDS = 180


@pytest.fixture
def settings(make_settings, redis_url, tmp_path):  # browser tests: SQLite only
    return make_settings(**{"database.url": f"sqlite:///{tmp_path / 'db' / 'fullrecord.db'}", "redis.url": redis_url,
                            **WORLD_SETTINGS})


def sign_out(page) -> None:
    page.click("form[action='/logout'] button")
    page.wait_for_url("**/login")


def flash(page) -> str:
    return page.locator("p.flash").first.inner_text()


@pytest.mark.timeout(600)
def test_legal_staff_export_link_and_hold_and_the_roles_are_kept(client, rt, live_server, station, world_worker,
                                                                  tmp_path, browser_page, shot):
    world = build_world(client, rt, live_server, station, world_worker, tmp_path)
    page, live, case_id = browser_page, live_server, world.case["id"]
    legal = make_user(rt, "legal")
    browser_sign_in(page, live, legal, PASSWORD)

    # Export the case's bundle from its page and follow the progress to the download.
    page.goto(f"{live}/cases/{case_id}")
    actions = page.locator("#legal-actions")
    assert actions.locator("form[action$='/legal-hold']").count() == 1
    shot(page, "case-legal-actions")
    actions.locator("input[name=include_review]").check()
    actions.locator(f"form[action='/cases/{case_id}/exports'] button").click()
    page.wait_for_url("**/exports/*")
    assert "已开始导出" in flash(page)
    shot(page, "export-started")
    done = page.locator("[data-show-when=done]")
    done.wait_for(state="visible", timeout=EXPORT_SECONDS * 1000)
    assert page.locator(".legal-bar[aria-valuenow='100']").count() == 1 and "已完成" in page.inner_text("main")
    shown_sha256 = page.locator(".legal-download [data-field=sha256]").inner_text().strip()
    shot(page, "export-done")
    with page.expect_download() as event:
        page.click(".legal-download a[data-field=download]")
    download = event.value
    data = open(download.path(), "rb").read()
    assert hashlib.sha256(data).hexdigest() == shown_sha256 and data[:2] == b"PK"
    assert download.suggested_filename.endswith(".zip")
    page.goto(f"{live}/cases/{case_id}#legal-export")
    assert page.locator(".legal-exports tbody tr").count() == 1 and shown_sha256 in page.inner_text(".legal-exports")

    # Unlink the gap step's second clip on the case page, with a reason.
    gap_second = world.clips["gap_second"]
    control = page.locator(f"#step-{world.steps['gap']['id']} details.legal-inline:has(input[value='{gap_second}'])")
    control.locator("summary").click()
    control.locator("textarea[name=reason]").fill("画面为路人拍摄，非本环节")
    shot(page, "case-unlink-form")
    control.locator("button[type=submit]").click()
    page.wait_for_load_state("networkidle")
    assert "已解除" in flash(page)
    with rt.session() as session:
        link = session.scalar(select(ClipLink).where(ClipLink.clip_id == gap_second,
                                                     ClipLink.step_id == world.steps["gap"]["id"]))
    assert (link.origin, link.state, link.reason) == ("manual", "excluded", "画面为路人拍摄，非本环节")

    # The unlinked clip: from the queue, find the case's steps by its number, link it to the filing step.
    unlinked = world.clips["unlinked"]
    page.goto(f"{live}/unlinked")
    row = page.locator(f"tr:has(a[href='/clips/{unlinked}'])")
    assert row.count() == 1 and "DSJ-Z99" in row.inner_text()
    row.locator("summary").click()
    row.locator("input[name=case_number]").fill(world.case["case_number"])
    shot(page, "unlinked-legal")
    row.locator("form[method=get] button").click()
    page.wait_for_url("**/links/new?*")
    page.check(f"input[name=step_id][value='{world.steps['filing']['id']}']")
    page.locator("form.legal-choice textarea[name=reason]").first.fill("立案时现场补拍，记录仪未登记")
    shot(page, "link-choose-step")
    page.locator("form.legal-choice button[type=submit]").first.click()
    page.wait_for_url(f"**/clips/{unlinked}")
    assert "已将片段关联到环节" in flash(page)
    assert page.locator("#legal-decisions").inner_text().count("立案时现场补拍") == 1

    # Hold that clip.
    page.fill("#legal-hold textarea[name=reason]", "当事人申请复议，暂停删除")
    page.click("#legal-hold form[action$='/legal-hold'] button")
    page.wait_for_load_state("networkidle")
    assert "已设置法律保全" in flash(page)
    shot(page, "clip-held")
    with rt.session() as session:
        assert session.scalar(select(LegalHold.reason).where(LegalHold.clip_id == unlinked)) == "当事人申请复议，暂停删除"

    # A legal user cannot change users.
    page.goto(f"{live}/users")
    assert "403" in page.inner_text("main") and page.locator("form[action='/users']").count() == 0
    shot(page, "users-refused-for-legal")

    # An inspector sees no link, unlink or hold controls, and a forced POST is refused.
    sign_out(page)
    browser_sign_in(page, live, make_user(rt, "inspector"), PASSWORD)
    page.goto(f"{live}/unlinked?waiting=all")
    assert page.locator("form[action='/links']").count() == 0 and page.locator("details.legal-inline").count() == 0
    shot(page, "unlinked-inspector")
    page.goto(f"{live}/cases/{case_id}")
    assert page.locator("form[action='/links'], form[action*='/withdraw'], form[action$='/legal-hold']").count() == 0
    assert "仅供查看" in page.inner_text("#legal-actions")
    page.goto(f"{live}/clips/{gap_second}")
    assert page.locator("form[action='/links'], form[action*='/withdraw'], form[action*='/legal-hold']").count() == 0
    shot(page, "clip-inspector")
    token = page.locator("input[name=csrf_token]").first.get_attribute("value")
    before = snapshot(rt, ("clip_links", "legal_holds", "custody_events"))  # opening the clip was an event
    forced = page.request.post(f"{live}/links", form={
        "csrf_token": token, "clip_id": gap_second, "step_id": world.steps["gap"]["id"], "action": "link",
        "reason": "督察人员试图关联"})
    assert forced.status == 403
    withdraw = page.request.post(f"{live}/links/{link.id}/withdraw", form={"csrf_token": token, "reason": "x"})
    assert withdraw.status == 403
    assert snapshot(rt, ("clip_links", "legal_holds", "custody_events")) == before

    # An administrator creates a user on the users page.
    sign_out(page)
    browser_sign_in(page, live, make_user(rt, "admin"), PASSWORD)
    page.goto(f"{live}/users")
    page.fill("form[action='/users'] input[name=username]", "zhang.fazhi")
    page.fill("form[action='/users'] input[name=display_name]", "张法制")
    page.select_option("form[action='/users'] select[name=role]", "legal")
    page.fill("form[action='/users'] input[name=password]", "a long enough password")
    page.click("form[action='/users'] button[type=submit]")
    page.wait_for_load_state("networkidle")
    assert "已创建用户“zhang.fazhi”" in flash(page)
    assert page.locator("tr:has-text('zhang.fazhi')").count() == 1
    shot(page, "users-created")
    with rt.session() as session:
        assert session.scalar(select(func.count()).select_from(User).where(User.username == "zhang.fazhi",
                                                                           User.role == "legal")) == 1
    assert not page.script_errors, page.script_errors
