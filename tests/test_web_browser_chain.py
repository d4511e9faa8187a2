"""In Debian's Chromium: legal staff find a case with the search form, open its evidence chain and
see the failing step with its reason, open a clip and play its review copy (streamed with HTTP
Range through the page's own route), seek it with the obstruction bar and a thumbnail, and every
request for the review copy is a `streamed` custody event via the web.

The world (tests/web_world.py) is made through the real stack: uploads over tus, processed by a
real worker (review copy, contact sheet, obstruction map)."""
from __future__ import annotations

import pytest
from sqlalchemy import select

from storage.models import CustodyEvent
from tests.casework_api import PASSWORD
from tests.services.browser import browser_sign_in
from tests.test_tus import station  # noqa: F401  (fixture: a station token)
from tests.web_support import make_user
from tests.web_world import WORLD_SETTINGS, build_world, world_worker  # noqa: F401

pytestmark = pytest.mark.slow

RECORD_SEEKS = """() => {
  const v = document.getElementById('player');
  window.seekedAt = [];
  v.addEventListener('seeked', () => window.seekedAt.push(v.currentTime));
}"""
SEEKED_NEAR = """(target) => !document.getElementById('player').seeking &&
  window.seekedAt.some(t => Math.abs(t - target) < 0.35)"""


@pytest.fixture
def settings(make_settings, redis_url, tmp_path):  # browser tests: SQLite only
    return make_settings(**{"database.url": f"sqlite:///{tmp_path / 'db' / 'fullrecord.db'}", "redis.url": redis_url,
                            **WORLD_SETTINGS})


def streamed(rt, clip_id: str) -> list[dict]:
    with rt.session() as session:
        return [e.details for e in session.scalars(select(CustodyEvent).where(
            CustodyEvent.clip_id == clip_id, CustodyEvent.action == "streamed").order_by(CustodyEvent.seq))]


def test_find_a_case_follow_its_chain_and_play_a_clip(client, rt, live_server, station, world_worker, tmp_path,
                                                      browser_page, shot):
    world = build_world(client, rt, live_server, station, world_worker, tmp_path).ready()
    page = browser_page
    browser_sign_in(page, live_server, make_user(rt, "legal"), PASSWORD)

    number = world.case["case_number"]
    page.goto(f"{live_server}/cases")
    page.fill("input[name=case_number]", number[-6:])
    page.click("form.filters button[type=submit]")
    page.wait_for_load_state("networkidle")
    rows = page.locator("table.cases tbody tr")
    assert rows.count() == 1 and number in rows.first.inner_text()
    shot(page, "cases-found")

    page.click(f"a.case-number:has-text('{number}')")
    page.wait_for_load_state("networkidle")
    gap = page.locator(f"#step-{world.steps['gap']['id']}")
    assert gap.locator(".badge.fail").inner_text() == "不合格"
    reason = gap.locator("li.reason.fail[data-code=gap_too_long]")
    assert reason.is_visible() and "录像中断" in reason.inner_text() and "超过允许的 2 秒" in reason.inner_text()
    assert page.locator(f"#step-{world.steps['covered']['id']} .badge.pass").is_visible()
    assert page.locator(f"#step-{world.steps['filing']['id']} .badge.not_required").is_visible()
    assert gap.locator(".piece.gap").count() >= 1 and page.locator(".clipbar .hole").count() >= 1
    page.locator(f"#clip-{world.clips['covered']} > summary").click()
    assert page.locator(f"#clip-{world.clips['covered']} .clip-facts").is_visible()
    shot(page, "evidence-chain")

    page.locator(f"#step-{world.steps['covered']['id']} table.links a[href='/clips/{world.clips['covered']}']").click()
    page.wait_for_load_state("networkidle")
    assert page.locator("video#player").get_attribute("src") == f"/clips/{world.clips['covered']}/review"
    assert page.locator(".filmstrip .tile").count() == 16 and page.locator(".obstruction-bar .hole.covered").count() == 1
    page.evaluate(RECORD_SEEKS)
    page.locator(".filmstrip .tile").first.click()  # a user's click: seeks to 0 and plays
    page.wait_for_function("() => { const v = document.getElementById('player'); return v.currentTime > 0.5 && !v.paused; }")

    bar = page.locator("#obstruction-bar")
    box = bar.bounding_box()
    bar.click(position={"x": box["width"] * 0.6, "y": box["height"] / 2})  # 60 % of a 6 s clip
    page.wait_for_function(SEEKED_NEAR, arg=3.6)
    page.locator(".filmstrip .tile").nth(8).click()  # tile 9 of 16 stands at 8/16 of the clip
    page.wait_for_function(SEEKED_NEAR, arg=3.0)
    page.evaluate("document.getElementById('player').pause()")
    shot(page, "clip-player")
    page.locator(".player-card").screenshot(path=str(shot.directory / "player-close-up.png"))
    assert page.script_errors == []

    events = streamed(rt, world.clips["covered"])
    assert events and all(e["via"] == "web" and e["what"] == "review" for e in events)
    assert any(e["range"] is not None for e in events), "the player asked for byte ranges"
