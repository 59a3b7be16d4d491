"""A changed PWA file reaches a phone that has the app installed: the server's /sw.js gets a new
version (server/pwa.py hashes the shell), the new worker installs beside the old one, the page
offers "new version", and only after the tap does the new cache replace the old one.

Its own server, on a copy of pwa/ (BAODAO_PWA_DIR) that the test changes.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from browser_helpers import demo_server, ui_login, wait_until
from playwright.sync_api import expect

ROOT = Path(__file__).resolve().parents[2]
CADRE = "13800000012"  # 幸福社区
CACHES = "caches.keys().then((k) => k.filter((n) => n.startsWith('baodao-shell-')).sort())"


@pytest.fixture(scope="module")
def own_server(tmp_path_factory):
    """(base URL, the PWA folder it serves)."""
    data = tmp_path_factory.mktemp("update-data")
    folder = data / "pwa"
    shutil.copytree(ROOT / "pwa", folder)
    with demo_server(data, BAODAO_PWA_DIR=str(folder)) as base:
        yield base, folder


def test_a_changed_file_is_offered_as_a_new_version_and_replaces_the_old_cache(browser, own_server):
    base, folder = own_server
    context = browser.new_context(base_url=base, viewport={"width": 360, "height": 740},
                                  is_mobile=True, has_touch=True, locale="zh-CN")
    try:
        page = context.new_page()
        ui_login(page, CADRE)
        page.evaluate("navigator.serviceWorker.ready.then(() => true)")
        page.reload()
        page.wait_for_function("navigator.serviceWorker.controller !== null")
        old = page.evaluate(CACHES)
        assert len(old) == 1

        style = folder / "style.css"
        style.write_text(style.read_text() + "\n.update-test-marker { color: red; }\n")
        page.evaluate("navigator.serviceWorker.getRegistration().then((r) => r.update())")
        bar = page.get_by_test_id("update-reload")
        expect(bar).to_be_visible(timeout=20000)
        # Installed beside the old one; the old cache stays while the old worker runs the page.
        both = page.evaluate(CACHES)
        assert len(both) == 2 and old[0] in both
        assert page.evaluate("navigator.serviceWorker.getRegistration().then((r) => !!r.waiting)")

        with page.expect_navigation():
            bar.click()  # the waiting worker takes over, the page reloads once
        expect(page.get_by_test_id("user-name")).to_be_visible()
        wait_until(page, lambda: page.evaluate(CACHES) == [n for n in both if n != old[0]],
                   message="the old cache removed on activate")

        # Offline, the new file comes from the new cache.
        context.set_offline(True)
        page.wait_for_function("() => navigator.onLine === false")
        css = page.evaluate("fetch('/style.css').then((r) => r.text())")
        assert "update-test-marker" in css
    finally:
        context.close()
