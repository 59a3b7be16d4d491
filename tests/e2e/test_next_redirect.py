"""After a login, `?next=` leads only to a page of this site: each way of writing another site
(the browser drops tab and newline, reads '\\' as '/') lands on the site instead.

Uses the demo cadre 13800000025, which no other browser test uses.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

import pytest
from browser_helpers import DEMO_PASSWORD
from playwright.sync_api import expect

CADRE = "13800000025"

VARIANTS = ["/%09/evil.example/phish", "/%0a/evil.example", "/%0d%0a/evil.example",
            "/\\evil.example", "/%5Cevil.example", "//evil.example", "https://evil.example",
            "javascript:alert(1)", "%09//evil.example", "/%09%09/evil.example"]


@pytest.mark.parametrize("where", ["query", "hash"])
@pytest.mark.parametrize("variant", VARIANTS)
def test_next_stays_on_the_site(phone, live_server, variant, where):
    context = phone()
    elsewhere = []

    def only_here(route):
        if urlsplit(route.request.url).netloc != urlsplit(live_server).netloc:
            elsewhere.append(route.request.url)
            route.abort()
        else:
            route.continue_()

    context.route("**/*", only_here)
    page = context.new_page()
    dialogs = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    page.goto(f"/?next={variant}" if where == "query" else f"/#/login?next={variant}")
    page.get_by_test_id("login-phone").fill(CADRE)
    page.get_by_test_id("login-password").fill(DEMO_PASSWORD)
    page.get_by_test_id("login-submit").click()
    expect(page.get_by_test_id("user-name")).to_be_visible()
    page.wait_for_load_state()
    assert elsewhere == [] and dialogs == []
    assert urlsplit(page.url).netloc == urlsplit(live_server).netloc


def test_next_within_the_site_is_followed(phone):
    page = phone().new_page()
    page.goto("/?next=/%23/outbox")
    page.get_by_test_id("login-phone").fill(CADRE)
    page.get_by_test_id("login-password").fill(DEMO_PASSWORD)
    page.get_by_test_id("login-submit").click()
    expect(page).to_have_url(re.compile(r"/#/outbox$"))
