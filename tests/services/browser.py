"""A real browser for the pages' tests: Debian's Chromium driven by Playwright, headless.
Screenshots go to test-artifacts/screenshots/<test>/<name>.png."""
from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--disable-quic", "--no-first-run"]
SCREENSHOTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "screenshots"


@pytest.fixture(scope="session")
def browser():
    from playwright.sync_api import sync_playwright
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


class Shots:
    def __init__(self, request):
        self.directory = SCREENSHOTS / re.sub(r"[^\w.-]+", "_", request.node.name)
        shutil.rmtree(self.directory, ignore_errors=True)  # only this run's pictures
        self.count = 0

    def __call__(self, page, name: str) -> Path:
        self.directory.mkdir(parents=True, exist_ok=True)
        self.count += 1
        path = self.directory / f"{self.count:02d}-{name}.png"
        page.screenshot(path=str(path), full_page=True)
        return path


@pytest.fixture
def shot(request):
    return Shots(request)


@pytest.fixture
def browser_page(browser, shot):
    """A fresh browser context (no cookies) and its page; on failure its last state is saved."""
    context = browser.new_context(viewport={"width": 1400, "height": 900}, locale="zh-CN",
                                  timezone_id="Asia/Shanghai")
    context.set_default_timeout(20_000)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.script_errors = errors
    yield page
    try:
        shot(page, "last")
    finally:
        context.close()


def browser_sign_in(page, live: str, username: str, password: str) -> None:
    page.goto(f"{live}/login")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", password)
    page.click("button[type=submit]")
    page.wait_for_load_state("networkidle")
    assert "/login" not in page.url, page.content()[-1500:]
