"""The screening demo story on a 360-px phone, through the real forms.

A demo cadre of 光明社区 (not used by the other browser tests) screens a household and records
a fever with the result "home isolation"; the committee opens a home isolation case from that
visit; the cadre records an isolation visit raising a medicine need, then takes the delivery
and marks it delivered. The committee, through its API, sees each step.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta, timezone

from browser_helpers import DEMO_PASSWORD, api_login, get
from playwright.sync_api import expect

CADRE = "13800000007"      # 光明社区, first grid
COMMITTEE = "13900000102"  # 光明社区居委会
SHANGHAI = timezone(timedelta(hours=8))


def test_screen_fever_isolate_visit_and_deliver(phone):
    office = phone()
    me = api_login(office, COMMITTEE)
    community = me["user"]["place"]["id"]
    csrf = me["csrf_token"]

    cadre = phone()
    page = cadre.new_page()
    errors = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto("/")
    page.get_by_test_id("login-phone").fill(CADRE)
    page.get_by_test_id("login-password").fill(DEMO_PASSWORD)
    page.get_by_test_id("login-submit").click()

    # The cadre home: a big "今日任务" button, thumb-sized and inside the screen.
    tasks = page.get_by_test_id("home-tasks")
    expect(tasks).to_be_visible()
    cadre_id = get(cadre, "/api/session")["user"]["id"]
    box = tasks.bounding_box()
    assert box["height"] >= 56 and box["x"] >= 0 and box["x"] + box["width"] <= 360
    tasks.click()
    rows = page.get_by_test_id("task-household")
    expect(rows.first).to_be_visible()
    count_before = rows.count()
    household_id = rows.first.get_attribute("data-id")
    rows.first.click()

    # --- the screening form -------------------------------------------------------------------
    expect(page.get_by_test_id("screening-view")).to_be_visible()
    expect(page.get_by_test_id("screening-outcome-answered")).to_have_attribute("aria-pressed", "true")
    expect(page.get_by_test_id("screening-result-normal")).to_have_attribute("aria-pressed", "true")
    cards = page.get_by_test_id("screening-resident")
    expect(cards.first).to_be_visible()
    patient = cards.first
    resident_id = patient.get_attribute("data-id")
    temp = patient.get_by_test_id("screening-temp")
    assert temp.get_attribute("inputmode") == "decimal"  # the numeric keypad

    # Out of the schema's range (34.0-43.0): refused on the phone, nothing saved.
    temp.fill("45")
    page.get_by_test_id("screening-save").click()
    expect(page.get_by_test_id("field-error").first).to_be_visible()
    expect(page.get_by_test_id("outbox-badge")).to_be_hidden()
    assert page.evaluate("import('/outbox.js').then((m) => m.list())") == []

    temp.fill("38.2")
    patient.get_by_test_id("screening-symptom-fever").click()
    patient.get_by_test_id("screening-symptom-cough").click()
    patient.get_by_test_id("screening-code-yellow").click()
    expect(page.get_by_test_id("screening-warning")).to_be_visible()
    page.get_by_test_id("screening-result-home_isolation").click()
    save = page.get_by_test_id("screening-save")
    box = save.bounding_box()
    assert box["height"] >= 56 and box["x"] + box["width"] <= 360
    save.click()
    expect(page.get_by_test_id("record-sent")).to_be_visible()

    # The committee sees the visit, with the temperature and the result.
    household = get(office, f"/api/households/{household_id}")["household"]
    visit = household["visits"][0]
    assert visit["outcome"] == "answered" and visit["result"] == "home_isolation"
    screened = {r["resident_id"]: r for r in visit["residents"]}
    assert screened[resident_id]["temperature"] == 38.2
    assert screened[resident_id]["symptoms"] == ["fever", "cough"]
    assert screened[resident_id]["health_code"] == "yellow"
    assert all(r["present"] for r in visit["residents"])  # everyone at home by default

    # The household left the cadre's list at once.
    page.get_by_test_id("tasks-link").click()
    expect(page.get_by_test_id("task-household")).to_have_count(count_before - 1)
    expect(page.locator(f'[data-testid="task-household"][data-id="{household_id}"]')).to_have_count(0)

    # --- the committee opens a home isolation case from the visit -----------------------------
    policy = next(p for p in get(office, "/api/isolation/policies")["policies"]
                  if p["name"].startswith("第八版"))
    case_id = str(uuid.uuid4())
    now = datetime.now(SHANGHAI)
    opened = office.request.post("/api/isolation/cases", headers={"X-CSRFToken": csrf}, data={
        "id": case_id, "recorded_at": now.isoformat(timespec="seconds"),
        "resident_id": resident_id, "reason": "close_contact",
        "starts_on": now.date().isoformat(), "policy_id": policy["id"],
        "cadre_ids": [cadre_id], "source_visit_id": visit["id"]})
    assert opened.status == 201, opened.text()

    # --- the cadre's isolation visit, through the form -----------------------------------------
    page.goto("/#/")
    page.get_by_test_id("home-tasks").click()  # the task list refreshes the phone's copy online
    visit_row = page.locator(f'[data-testid="task-isolation"][data-case-id="{case_id}"]')
    expect(visit_row.first).to_be_visible(timeout=15000)
    visit_row.first.click()
    expect(page.get_by_test_id("isolation-view")).to_be_visible()
    iso_temp = page.get_by_test_id("isolation-temp")
    assert iso_temp.get_attribute("inputmode") == "decimal"
    warning = page.get_by_test_id("isolation-warning")
    iso_temp.fill("36.8")
    expect(warning).to_be_hidden()
    iso_temp.fill("37.9")
    expect(warning).to_be_visible()  # the committee will be alerted
    page.get_by_test_id("isolation-sample-taken").click()
    page.get_by_test_id("isolation-sample-pending").click()
    page.get_by_test_id("isolation-mental-anxious").click()
    page.get_by_test_id("isolation-need-medicine").click()
    page.get_by_test_id("isolation-need-medicine-what").fill("退烧药 布洛芬")
    page.get_by_test_id("isolation-save").click()
    expect(page.get_by_test_id("record-sent")).to_be_visible()
    expect(page.get_by_test_id("isolation-alerted")).to_be_visible()

    # The committee: the case first in its list, marked for attention, the visit stored.
    cases = get(office, f"/api/isolation/cases?place_id={community}")["cases"]
    assert cases[0]["id"] == case_id and cases[0]["attention"] is True
    detail = get(office, f"/api/isolation/cases/{case_id}")["case"]
    assert detail["source_visit_id"] == visit["id"]
    assert [v["temperature"] for v in detail["visits"]] == [37.9]
    stored = detail["visits"][0]
    assert stored["sample_taken"] is True and stored["mental_state"] == "anxious"
    assert stored["needs"] == [{"kind": "medicine", "what": "退烧药 布洛芬"}]
    deliveries = [d for d in get(office, f"/api/deliveries?place_id={community}")["deliveries"]
                  if d["case_id"] == case_id]
    assert [(d["what"], d["status"]) for d in deliveries] == [("退烧药 布洛芬", "open")]
    delivery_id = deliveries[0]["id"]

    # --- the delivery: taken, then delivered, from the task list ------------------------------
    page.get_by_test_id("tasks-link").click()
    row = page.locator(f'[data-testid="task-delivery"][data-id="{delivery_id}"]')
    expect(row).to_be_visible(timeout=15000)
    row.get_by_test_id("delivery-take").click()
    expect(page.get_by_test_id("delivery-sent")).to_be_visible()
    expect(row.get_by_test_id("delivery-status")).to_contain_text("已认领")
    taken = get(office, f"/api/deliveries?place_id={community}&status=all")["deliveries"]
    assert {d["id"]: d["status"] for d in taken}[delivery_id] == "taken"
    row.get_by_test_id("delivery-deliver").click()
    expect(row).to_have_count(0)  # off the list at once, before the server answers
    expect(page.get_by_test_id("delivery-sent")).to_contain_text("已送达")  # and sent
    done = {d["id"]: d for d in get(office, f"/api/deliveries?place_id={community}&status=all")["deliveries"]}
    assert done[delivery_id]["status"] == "delivered"
    assert done[delivery_id]["delivered_by"]["id"] == cadre_id
    still_open = get(office, f"/api/deliveries?place_id={community}")["deliveries"]
    assert delivery_id not in {d["id"] for d in still_open}

    # The committee's dashboard leads to the community's cases, attention first.
    staff = office.new_page()
    staff.goto(f"/#/dashboard/{community}")
    staff.get_by_test_id("dashboard-cases").click()
    first = staff.get_by_test_id("case-row").first
    expect(first).to_have_attribute("data-id", case_id)
    expect(first.get_by_test_id("case-attention")).to_be_visible()

    expect(page.get_by_test_id("outbox-badge")).to_be_hidden()
    assert errors == []
