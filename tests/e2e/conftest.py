"""Browser tests: the real server (python run.py --demo, gunicorn) and Debian's Chromium.

Playwright's own browser download cannot work here, so it drives /usr/bin/chromium. Without
Chromium the tests are skipped on a developer's machine and fail under CI (CI=true).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from browser_helpers import demo_server

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
LAUNCH_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
               "--disable-background-networking", "--disable-component-update", "--disable-sync"]


@pytest.fixture(scope="session")
def chromium_path() -> str:
    if not os.path.exists(CHROMIUM):
        if os.environ.get("CI"):
            pytest.fail("Chromium is missing: .ci/run installs Debian's chromium package")
        pytest.skip("Debian's chromium is not installed (apt-get install chromium)")
    return CHROMIUM


@pytest.fixture(scope="session")
def live_server(tmp_path_factory):
    """`python run.py --demo` on a free port with its own data folder; yields the base URL."""
    with demo_server(tmp_path_factory.mktemp("live-data")) as base:
        yield base


@pytest.fixture(scope="session")
def browser(chromium_path):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium_path, args=LAUNCH_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def phone(browser, live_server):
    """A new phone-sized browser context (360 × 740, touch), as a cadre's phone."""
    contexts = []

    def make(**options):
        context = browser.new_context(
            base_url=live_server, viewport={"width": 360, "height": 740}, is_mobile=True,
            has_touch=True, locale="zh-CN", **options)
        contexts.append(context)
        return context

    yield make
    for context in contexts:
        context.close()
