"""Signing in and out in a real browser (Chromium through Playwright): the redirect to the
login form, a wrong password, the language switch and signing out."""
from __future__ import annotations

import pytest

from tests.casework_api import PASSWORD
from tests.services.browser import browser_sign_in
from tests.web_support import make_user

pytestmark = pytest.mark.slow


@pytest.fixture
def settings(make_settings, redis_url, tmp_path):
    return make_settings(**{"database.url": f"sqlite:///{tmp_path / 'db' / 'fullrecord.db'}", "redis.url": redis_url})


def test_sign_in_switch_language_and_sign_out(rt, live_server, browser_page, shot):
    page = browser_page
    name = make_user(rt, "inspector")

    page.goto(f"{live_server}/cases")
    assert page.url.startswith(f"{live_server}/login?next=/cases")
    shot(page, "login")

    page.fill("input[name=username]", name)
    page.fill("input[name=password]", "not the password")
    page.click("button[type=submit]")
    assert "用户名或密码错误" in page.inner_text("[role=alert]")
    shot(page, "wrong-password")

    browser_sign_in(page, live_server, name, PASSWORD)
    assert page.url == f"{live_server}/cases"
    assert name in page.inner_text("header")
    assert page.get_attribute("html", "lang") == "zh-CN"

    page.click("header a.lang")
    page.wait_for_load_state("networkidle")
    assert page.get_attribute("html", "lang") == "en"
    assert "Sign out" in page.inner_text("header")
    shot(page, "english")
    page.goto(f"{live_server}/unlinked")
    assert page.get_attribute("html", "lang") == "en"  # the choice holds for the session

    page.click("header button:has-text('Sign out')")
    page.wait_for_load_state("networkidle")
    assert "/login" in page.url
    page.goto(f"{live_server}/cases")
    assert "/login" in page.url
    assert page.script_errors == []
