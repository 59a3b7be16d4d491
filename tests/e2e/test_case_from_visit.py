"""A case from a visit, on the phone: a screening visit with the result "home isolation" offers
"登记居家隔离" for the resident found with fever, right there; offline too, the case (an
`isolation_case` record through the outbox) is sent after the visit it points at.

Uses a demo cadre of the fifth community (13800000022, first grid), left alone by other tests.
"""

from __future__ import annotations

import re

from browser_helpers import DEMO_PASSWORD, OUTBOX, get, go_offline, offline_copy
from playwright.sync_api import expect

CADRE = "13800000022"


def test_home_isolation_visit_opens_a_case_offline(phone):
    context = phone()
    page = context.new_page()
    errors = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto("/")
    page.get_by_test_id("login-phone").fill(CADRE)
    page.get_by_test_id("login-password").fill(DEMO_PASSWORD)
    page.get_by_test_id("login-submit").click()
    expect(page.get_by_test_id("home-tasks")).to_be_visible()
    me = get(context, "/api/session")["user"]

    # A household none of whose people is isolated yet.
    busy = {c["resident"]["id"] for c in get(context, "/api/isolation/cases")["cases"]
            if c["status"] == "open"}
    household = next(
        h for h in (get(context, f"/api/households/{d['id']}")["household"]
                    for d in get(context, "/api/my/day")["households"])
        if h["residents"] and not {r["id"] for r in h["residents"]} & busy)

    # Online once: the shell, the households and the isolation policies are on the phone.
    page.evaluate("navigator.serviceWorker.ready.then(() => true)")
    page.reload()
    page.wait_for_function("navigator.serviceWorker.controller !== null")
    page.wait_for_function(f"{OUTBOX}.then((m) => m.getOffline('policies')).then((p) => !!p?.items?.length)")
    assert any(h["id"] == household["id"] for h in offline_copy(page, "households")["items"])

    go_offline(page)
    page.goto(f"/#/screen/{household['id']}")
    cards = page.get_by_test_id("screening-resident")
    expect(cards.first).to_be_visible()
    patient = household["residents"][0]
    cards.first.get_by_test_id("screening-temp").fill("38.4")
    page.get_by_test_id("screening-result-home_isolation").click()
    page.get_by_test_id("screening-save").click()
    expect(page.get_by_test_id("saved-offline")).to_be_visible()

    # The offer, then the form: the feverish resident already chosen, from the phone's copy
    # of the policies (still there: nothing offline may drop it).
    assert offline_copy(page, "policies")["items"]
    page.get_by_test_id("screening-open-case").click()
    form = page.get_by_test_id("case-form")
    expect(form).to_be_visible()
    people = form.get_by_test_id("case-resident")
    expect(people).to_have_count(len(household["residents"]))
    chosen = form.locator(f'[data-testid="case-resident"][data-id="{patient["id"]}"]')
    expect(chosen).to_have_attribute("aria-pressed", "true")
    expect(chosen.get_by_test_id("case-resident-fever")).to_be_visible()
    for other in household["residents"][1:]:
        expect(form.locator(f'[data-testid="case-resident"][data-id="{other["id"]}"]')) \
            .to_have_attribute("aria-pressed", "false")
    expect(form.get_by_test_id("case-policy")).to_be_visible()

    # The reason is required: refused on the phone until chosen.
    form.get_by_test_id("case-save").click()
    expect(form.get_by_test_id("field-error").first).to_be_visible()
    form.get_by_test_id("case-reason-close_contact").click()
    page.screenshot(path="/tmp/case-form.png", full_page=True)
    form.get_by_test_id("case-save").click()
    expect(page.get_by_test_id("saved-offline")).to_be_visible()
    expect(page.get_by_test_id("outbox-badge")).to_have_attribute("data-count", "2")
    records = page.evaluate(f"{OUTBOX}.then((m) => m.list())")
    assert [r["type"] for r in records] == ["screening_visit", "isolation_case"]
    visit, case = records
    assert case["data"]["resident_id"] == patient["id"]
    assert case["data"]["source_visit_id"] == visit["id"]
    assert case["data"]["reason"] == "close_contact"

    # Back online: the visit first, then the case that points at it.
    context.set_offline(False)
    expect(page.get_by_test_id("outbox-badge")).to_be_hidden(timeout=20000)
    stored = get(context, f"/api/isolation/cases/{case['id']}")["case"]
    assert stored["resident"]["id"] == patient["id"]
    assert stored["source_visit_id"] == visit["id"]
    assert [c["id"] for c in stored["cadres"]] == [me["id"]]
    assert stored["status"] == "open"
    assert re.fullmatch(r"\d{4}-\d{2}-\d{2}", stored["starts_on"])
    assert errors == []
