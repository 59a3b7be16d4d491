"""Offline on the phone: a check-in, two screening visits and an isolation visit recorded
with no network through the real forms, then sent once, exactly once, when the network returns.

Uses a demo cadre of 幸福社区 (not used by the other browser tests).
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta, timezone

from browser_helpers import DEMO_PASSWORD, api_login, get, offline_copy, outbox_records, wait_until
from playwright.sync_api import expect

CADRE = "13800000012"      # 幸福社区, first grid
COMMITTEE = "13900000103"  # 幸福社区居委会
HERE = {"latitude": 39.9087, "longitude": 116.3975}
SHANGHAI = timezone(timedelta(hours=8))


def test_offline_checkin_screenings_and_isolation_visit_sync_once(phone):
    office = phone()
    me = api_login(office, COMMITTEE)
    posters = get(office, f"/api/places/{me['user']['place']['id']}/posters")["posters"]
    poster = next(p for p in posters if p["checkpoint"] is None)

    context = phone(permissions=["geolocation"], geolocation=HERE)
    page = context.new_page()
    page.goto("/")
    page.get_by_test_id("login-phone").fill(CADRE)
    page.get_by_test_id("login-password").fill(DEMO_PASSWORD)
    page.get_by_test_id("login-submit").click()
    expect(page.get_by_test_id("home-tasks")).to_be_visible()

    # A resident of the cadre's grid is in home isolation (opened online, before the day starts).
    session = get(context, "/api/session")
    fever = get(context, "/api/rules")["fever"]
    day = get(context, "/api/my/day")
    households = [h["id"] for h in day["households"]]
    assert len(households) >= 3
    isolated = get(context, f"/api/households/{households[2]}")["household"]["residents"][0]
    policy = next(p for p in get(context, "/api/isolation/policies")["policies"]
                  if p["name"].startswith("第八版"))
    case_id = str(uuid.uuid4())
    now = datetime.now(SHANGHAI)
    opened = context.request.post(
        "/api/isolation/cases", headers={"X-CSRFToken": session["csrf_token"]}, data={
            "id": case_id, "recorded_at": now.isoformat(timespec="seconds"),
            "resident_id": isolated["id"], "reason": "risk_area_arrival",
            "starts_on": now.date().isoformat(), "policy_id": policy["id"]})
    assert opened.status == 201, opened.text()

    # Load once online: the service worker takes the page, the offline copy is on the phone.
    page.evaluate("navigator.serviceWorker.ready.then(() => true)")
    page.reload()
    page.wait_for_function("navigator.serviceWorker.controller !== null")
    wait_until(page, lambda: any(
        v["case"]["id"] == case_id
        for v in ((offline_copy(page, "day") or {}).get("items") or [{}])[0].get("isolation_visits", [])),
        message="today's tasks with the new case on the phone")
    assert len(offline_copy(page, "households")["items"]) >= 3
    assert len(offline_copy(page, "posters")["items"]) >= 1

    context.set_offline(True)
    page.reload()
    expect(page.get_by_test_id("user-name")).to_be_visible()  # the app opens, logged in
    assert page.evaluate("fetch('/poster.css').then(() => 'online', () => 'offline')") == "offline"

    # 1. The check-in, from the poster's URL through the cached shell.
    page.goto(poster["url"])
    expect(page.get_by_test_id("place-name")).to_contain_text("幸福社区")
    page.get_by_test_id("checkin-button").click()
    expect(page.get_by_test_id("saved-offline")).to_be_visible()

    # 2. A screening visit: everyone at home, one temperature.
    page.get_by_test_id("home-link").click()
    page.get_by_test_id("home-tasks").click()
    first = page.locator(f'[data-testid="task-household"][data-id="{households[0]}"]')
    first.click()
    expect(page.get_by_test_id("screening-view")).to_be_visible()
    # The fever note works offline: the phone's copy of GET /api/rules, kept since the login.
    resident = page.get_by_test_id("screening-resident").first
    resident.get_by_test_id("screening-temp").fill(f"{fever:.1f}")
    expect(resident.locator(".temp-note")).to_have_text(f"发热 {fever:.1f} °C")
    expect(page.get_by_test_id("screening-warning")).to_be_visible()
    resident.get_by_test_id("screening-temp").fill("366")
    expect(resident.locator(".temp-note")).to_have_text("36.6 °C")
    expect(page.get_by_test_id("screening-warning")).to_be_hidden()
    page.get_by_test_id("screening-save").click()
    expect(page.get_by_test_id("saved-offline")).to_be_visible()
    page.get_by_test_id("tasks-link").click()
    expect(first).to_have_count(0)  # answered: off the list at once, offline

    # 3. A screening visit with nobody home: the household stays on the list.
    second = page.locator(f'[data-testid="task-household"][data-id="{households[1]}"]')
    second.click()
    page.get_by_test_id("screening-outcome-nobody_home").click()
    expect(page.get_by_test_id("screening-resident").first).to_be_hidden()
    page.get_by_test_id("screening-save").click()
    expect(page.get_by_test_id("saved-offline")).to_be_visible()
    page.get_by_test_id("tasks-link").click()
    expect(second).to_be_visible()
    expect(second.get_by_test_id("task-last-outcome")).to_be_visible()

    # 4. The isolation visit, from today's tasks.
    page.locator(f'[data-testid="task-isolation"][data-case-id="{case_id}"]').first.click()
    expect(page.get_by_test_id("isolation-resident")).to_contain_text(isolated["name"])
    page.get_by_test_id("isolation-temp").fill(f"{fever:.1f}")
    expect(page.get_by_test_id("isolation-warning")).to_be_visible()
    expect(page.get_by_test_id("isolation-warning")).to_contain_text(f"{fever:.1f}°C")
    page.get_by_test_id("isolation-temp").fill("36.5")
    expect(page.get_by_test_id("isolation-warning")).to_be_hidden()
    page.get_by_test_id("isolation-save").click()
    expect(page.get_by_test_id("saved-offline")).to_be_visible()

    # The outbox: four waiting.
    badge = page.get_by_test_id("outbox-badge")
    expect(badge).to_have_attribute("data-count", "4")
    badge.click()
    rows = page.get_by_test_id("outbox-row")
    expect(rows).to_have_count(4)
    for i in range(4):
        expect(rows.nth(i)).to_have_attribute("data-state", "waiting")
    waiting = {}
    for record in outbox_records(page):
        waiting.setdefault(record["type"], []).append(record)
    assert {k: len(v) for k, v in waiting.items()} \
        == {"checkin": 1, "screening_visit": 2, "isolation_visit": 1}

    context.set_offline(False)  # the `online` event sends
    expect(badge).to_be_hidden(timeout=20000)
    expect(rows).to_have_count(0)
    assert outbox_records(page) == []

    # The server holds exactly those four records.
    assert [c["id"] for c in get(context, "/api/checkins/mine")["checkins"]] == [waiting["checkin"][0]["id"]]
    visits = {}
    for household in households:
        for visit in get(office, f"/api/households/{household}")["household"]["visits"]:
            visits[visit["id"]] = (household, visit)
    assert set(visits) == {r["id"] for r in waiting["screening_visit"]}
    by_household = {household: visit for household, visit in visits.values()}
    assert by_household[households[0]]["outcome"] == "answered"
    assert by_household[households[0]]["residents"][0]["temperature"] == 36.6
    assert by_household[households[1]]["outcome"] == "nobody_home"
    case = get(office, f"/api/isolation/cases/{case_id}")["case"]
    assert [v["id"] for v in case["visits"]] == [waiting["isolation_visit"][0]["id"]]
    assert case["visits"][0]["temperature"] == 36.5 and case["attention"] is False

    # Sending again changes nothing.
    page.get_by_test_id("outbox-send-now").click()
    expect(page.get_by_test_id("outbox-count")).to_contain_text("所有记录都已发送")
    assert len(get(context, "/api/checkins/mine")["checkins"]) == 1
    assert len(get(office, f"/api/isolation/cases/{case_id}")["case"]["visits"]) == 1


def test_the_fever_threshold_is_known_offline_without_the_phones_copy(phone):
    """A new version's first start may be offline, before the app ever kept the rules: the
    service worker answers GET /api/rules from the shell's cache (server/pwa.py)."""
    context = phone()
    page = context.new_page()
    page.goto("/")
    page.get_by_test_id("login-phone").fill("13800000014")  # 幸福社区, second grid
    page.get_by_test_id("login-password").fill(DEMO_PASSWORD)
    page.get_by_test_id("login-submit").click()
    expect(page.get_by_test_id("home-tasks")).to_be_visible()
    fever = get(context, "/api/rules")["fever"]
    page.evaluate("navigator.serviceWorker.ready.then(() => true)")
    page.reload()
    page.wait_for_function("navigator.serviceWorker.controller !== null")
    households = [h["id"] for h in get(context, "/api/my/day")["households"]]
    wait_until(page, lambda: len((offline_copy(page, "households") or {}).get("items", [])) > 0,
               message="the grid's households on the phone")

    page.evaluate("localStorage.removeItem('baodao.rules')")  # as an app that never kept them
    context.set_offline(True)
    page.wait_for_function("navigator.onLine === false")
    page.reload()
    expect(page.get_by_test_id("user-name")).to_be_visible()
    assert page.evaluate("localStorage.getItem('baodao.rules')") is not None  # from the cache
    page.get_by_test_id("home-tasks").click()
    page.locator(f'[data-testid="task-household"][data-id="{households[0]}"]').click()
    resident = page.get_by_test_id("screening-resident").first
    resident.get_by_test_id("screening-temp").fill(f"{fever:.1f}")
    expect(resident.locator(".temp-note")).to_have_text(f"发热 {fever:.1f} °C")
