"""Mobilisation in the browser: the flour mill's story with the demo data, and routine mode.

The enterprise contact of 金穗面粉厂 (柳树村) asks for the grain bureau's help to release wheat;
the district admin sees a grain-bureau cadre proposed first, with the reason, and assigns them
(a second pick, already assigned elsewhere, is refused as a conflict); the cadre is notified,
opens the enterprise from the notice, records the problem and marks it solved (and records a
second one offline, sent when the network is back); the contact confirms the solved one; the
district tally counts one more problem solved.

Accounts no other browser test uses: the mill's contact 13700000001, the district admin
13900000001, the registered-pool cadre 孙立平 13800000101 (区粮食和物资储备局, registered in
柳树村), 冯建军 13800000104 (registered with 杨庄村) for the call-up, and for routine mode the
cadre 13800000023 and the committee of 杨庄村 (13900000105).
"""

from __future__ import annotations

import re

from browser_helpers import fits, go_offline, ui_login, wait_until
from playwright.sync_api import expect

CONTACT = "13700000001"     # 面粉厂 李厂长, 金穗面粉厂
ADMIN = "13900000001"       # 区组织部 (the root of the tree: switches the mode)
GRAIN_CADRE = "13800000101"  # 孙立平, 区粮食和物资储备局
POOL_CADRE = "13800000104"  # 冯建军, registered with 杨庄村
ROUTINE_CADRE = "13800000023"  # 杨庄村, first grid
ROUTINE_COMMITTEE = "13900000105"  # 杨庄村村委会
GRAIN = "区粮食和物资储备局"
TITLE = "need grain bureau help to release wheat"


def problems_solved(context, district_id):
    response = context.request.get(f"/api/places/{district_id}/tally")
    assert response.ok, response.text()
    return response.json()["totals"][0]["problems_solved"]


def test_flour_mill_gets_a_grain_bureau_cadre_and_its_problem_solved(phone, tmp_path):
    shots = tmp_path

    # The admin's district and its tally before the story.
    office = phone()
    admin = office.new_page()
    ui_login(admin, ADMIN)
    district_id = office.request.get("/api/session").json()["user"]["place"]["id"]
    solved_before = problems_solved(office, district_id)

    # 1. The enterprise contact raises the need, on the phone.
    contact = phone().new_page()
    ui_login(contact, CONTACT)
    expect(contact.get_by_test_id("enterprise-name")).to_have_text("金穗面粉厂")
    expect(contact.get_by_test_id("enterprise-where")).to_contain_text("柳树村")
    expect(contact.get_by_test_id("home-tasks")).to_have_count(0)  # nothing of the cadre world
    contact.get_by_test_id("raise-need").click()
    contact.get_by_test_id("help-title").fill(TITLE)
    contact.get_by_test_id("help-category-materials").click()
    # The departments that handle raw materials are offered; one tap names the grain bureau.
    contact.get_by_test_id("help-department-choice").filter(has_text=GRAIN).click()
    expect(contact.get_by_test_id("help-department")).to_have_value(GRAIN)
    contact.get_by_test_id("help-urgency-urgent").click()
    contact.get_by_test_id("help-description").fill("小麦库存仅够两天")
    fits(contact)
    contact.screenshot(path=shots / "1-contact-help-form.png", full_page=True)
    contact.get_by_test_id("help-submit").click()
    expect(contact.get_by_test_id("need-sent")).to_contain_text(TITLE)
    contact.get_by_test_id("home-link").click()
    mine = contact.get_by_test_id("need-row").filter(has_text=TITLE)
    expect(mine).to_have_attribute("data-status", "open")

    # 2. The admin sees the need, and a grain-bureau cadre proposed first, with the reason.
    admin.goto("/#/")
    admin.get_by_test_id("needs-link").click()
    row = admin.get_by_test_id("need-row").filter(has_text=TITLE)
    expect(row).to_have_attribute("data-status", "open")
    expect(row).to_contain_text("金穗面粉厂")
    row.click()
    expect(admin.get_by_test_id("need-title")).to_have_text(TITLE)
    expect(admin.get_by_test_id("need-department")).to_have_text(GRAIN)
    proposals = admin.get_by_test_id("proposal-row")
    expect(proposals.first).to_be_visible()
    first = proposals.first
    expect(first.get_by_test_id("proposal-name")).to_have_text("孙立平")
    expect(first).to_contain_text(GRAIN)
    why = first.get_by_test_id("proposal-why")
    expect(why).to_contain_text(f"工作单位即企业点名的部门：{GRAIN}")
    expect(why).to_contain_text("登记社区与需求同社区")
    cadre_id = int(first.get_attribute("data-user-id"))
    # The runner-up is already assigned to a community of their own: the screen warns before,
    # and the bulk assignment refuses them as a conflict after.
    second = proposals.nth(1)
    expect(second.get_by_test_id("proposal-load")).to_be_visible()
    other_id = int(second.get_attribute("data-user-id"))
    other_name = second.get_by_test_id("proposal-name").inner_text()
    first.get_by_test_id("proposal-select").click()
    second.get_by_test_id("proposal-select").click()
    expect(admin.get_by_test_id("assign-count")).to_have_text("2")
    fits(admin)
    admin.screenshot(path=shots / "2-admin-proposals.png", full_page=True)
    admin.get_by_test_id("assign-selected").click()
    results = admin.get_by_test_id("assign-result")
    expect(results).to_have_count(2)
    assigned = admin.locator(f'[data-testid="assign-result"][data-user-id="{cadre_id}"]')
    expect(assigned).to_have_attribute("data-status", "assigned")
    refused = admin.locator(f'[data-testid="assign-result"][data-user-id="{other_id}"]')
    expect(refused).to_have_attribute("data-status", "conflict")
    expect(refused).to_contain_text(other_name)
    expect(refused.get_by_test_id("assign-conflict")).to_be_visible()  # where, since when
    expect(admin.get_by_test_id("assign-summary")).to_contain_text("1")
    expect(admin.get_by_test_id("need-assigned-row")).to_have_count(1)
    expect(admin.get_by_test_id("need-assigned-row")).to_contain_text("孙立平")
    expect(admin.get_by_test_id("need-status").first).to_have_text("已满足")
    admin.screenshot(path=shots / "3-admin-assigned.png", full_page=True)

    # 3. The cadre is notified, and sees the enterprise in the app.
    cadre = phone().new_page()
    ui_login(cadre, GRAIN_CADRE)
    card = cadre.get_by_test_id("assignment-enterprise")
    expect(card).to_contain_text("金穗面粉厂")
    expect(card).to_contain_text("驻企特派员")
    cadre.screenshot(path=shots / "4-cadre-home.png", full_page=True)
    cadre.goto("/#/inbox")
    notice = cadre.get_by_test_id("inbox-row").filter(has_text="金穗面粉厂")
    expect(notice).to_have_attribute("data-read", "false")
    notice.get_by_test_id("inbox-open").click()  # the notice opens the enterprise
    expect(cadre).to_have_url(re.compile(r"/#/enterprise/\d+$"))
    expect(cadre.get_by_test_id("enterprise-name")).to_have_text("金穗面粉厂")
    expect(cadre.get_by_test_id("enterprise-contacts")).to_contain_text(CONTACT)  # to call them

    # 4. The cadre records the problem as a ticket, then marks it solved.
    cadre.get_by_test_id("ticket-new").click()
    # The category comes from the need; the departments of that category are a tap away.
    expect(cadre.get_by_test_id("ticket-category-materials")).to_have_attribute("aria-pressed", "true")
    cadre.get_by_test_id("ticket-description-input").fill("需协调储备粮小麦2000吨")
    cadre.get_by_test_id("ticket-department-choice").filter(has_text=GRAIN).click()
    expect(cadre.get_by_test_id("ticket-departments")).to_have_value(GRAIN)
    fits(cadre)
    cadre.screenshot(path=shots / "5-cadre-ticket-form.png", full_page=True)
    cadre.get_by_test_id("ticket-save").click()
    expect(cadre.get_by_test_id("ticket-sent")).to_be_visible()
    ticket = cadre.get_by_test_id("ticket-row").filter(has_text="需协调储备粮小麦2000吨")
    expect(ticket).to_have_attribute("data-status", "open")
    ticket.get_by_test_id("ticket-note").fill("储备粮已投放")
    ticket.get_by_test_id("ticket-set-solved").click()
    expect(ticket).to_have_attribute("data-status", "solved")
    expect(ticket.get_by_test_id("ticket-status")).to_contain_text("待企业确认")
    fits(cadre)
    cadre.screenshot(path=shots / "6-cadre-ticket-solved.png", full_page=True)

    # A second problem, recorded in a dead spot of the mill: kept on the phone, sent later.
    go_offline(cadre)
    cadre.get_by_test_id("ticket-new").click()
    cadre.get_by_test_id("ticket-category-logistics").click()
    cadre.get_by_test_id("ticket-description-input").fill("成品面粉运输车辆不足")
    cadre.get_by_test_id("ticket-save").click()
    expect(cadre.get_by_test_id("saved-offline")).to_be_visible()
    offline_row = cadre.get_by_test_id("ticket-row").filter(has_text="成品面粉运输车辆不足")
    expect(offline_row.get_by_test_id("ticket-local")).to_be_visible()
    cadre.context.set_offline(False)  # the `online` event sends the outbox
    wait_until(cadre, lambda: any(t["description"] == "成品面粉运输车辆不足" for t in
                                  cadre.context.request.get("/api/tickets").json()["tickets"]),
               message="the offline ticket on the server")
    expect(cadre.get_by_test_id("outbox-badge")).to_be_hidden()
    cadre.reload()
    offline_row = cadre.get_by_test_id("ticket-row").filter(has_text="成品面粉运输车辆不足")
    expect(offline_row).to_have_attribute("data-status", "open")
    expect(offline_row.get_by_test_id("ticket-local")).to_have_count(0)

    # Not counted until the enterprise confirms it.
    assert problems_solved(office, district_id) == solved_before

    # 5. The contact confirms it solved.
    contact.goto("/#/")
    expect(contact.get_by_test_id("enterprise-stationed")).to_contain_text("孙立平")
    mine = contact.get_by_test_id("ticket-row").filter(has_text="需协调储备粮小麦2000吨")
    expect(mine).to_have_attribute("data-status", "solved")
    expect(mine).to_have_attribute("data-confirmed", "false")
    expect(mine.get_by_test_id("ticket-latest-note")).to_contain_text("储备粮已投放")  # the cadre's note
    fits(contact)
    contact.screenshot(path=shots / "7-contact-confirm.png", full_page=True)
    button = mine.get_by_test_id("ticket-confirm")
    box = button.bounding_box()
    assert box["height"] >= 48 and box["x"] + box["width"] <= 360  # a thumb-sized target
    button.click()
    expect(mine.get_by_test_id("ticket-confirmed")).to_be_visible()
    expect(mine).to_have_attribute("data-confirmed", "true")
    expect(mine.get_by_test_id("ticket-status")).to_have_text("企业已确认解决")
    # The problem still open asks nothing of the contact yet.
    still_open = contact.get_by_test_id("ticket-row").filter(has_text="成品面粉运输车辆不足")
    expect(still_open).to_have_attribute("data-status", "open")
    expect(still_open.get_by_test_id("ticket-confirm")).to_have_count(0)

    # 6. The district tally counts one problem solved; the admin's needs page says so too.
    assert problems_solved(office, district_id) == solved_before + 1
    admin.goto("/#/needs")
    expect(admin.get_by_test_id("problems-totals")).to_contain_text("企业确认解决")


def test_call_up_and_one_tap_volunteering(phone, tmp_path):
    # The admin calls up the registered pool of 杨庄村 (one party member: 冯建军).
    admin = phone().new_page()
    ui_login(admin, ADMIN)
    admin.goto("/#/call-ups")
    admin.get_by_test_id("callup-title").fill("紧急动员：杨庄村需数据录入人员")
    admin.get_by_test_id("callup-body").fill("明早8点到村委会报到")
    admin.get_by_test_id("callup-target-pool").click()
    admin.get_by_test_id("callup-place").select_option(label="杨庄村")
    admin.once("dialog", lambda dialog: dialog.accept())
    admin.get_by_test_id("callup-send").click()
    expect(admin.get_by_test_id("callup-sent-ok")).to_contain_text("1 人收到")
    sent = admin.get_by_test_id("callup-row").filter(has_text="杨庄村需数据录入人员")
    expect(sent).to_contain_text("1 人收到 · 0 人请战")
    call_up_id = sent.get_attribute("data-id")

    # The cadre gets the notice and volunteers from it with one tap.
    cadre = phone().new_page()
    ui_login(cadre, POOL_CADRE)
    cadre.goto("/#/inbox")
    notice = cadre.get_by_test_id("inbox-row").filter(has_text="杨庄村需数据录入人员")
    expect(notice).to_have_attribute("data-urgency", "high")
    notice.get_by_test_id("inbox-open").click()
    card = cadre.locator(f'[data-testid="callup-card"][data-id="{call_up_id}"]')
    expect(card).to_contain_text("明早8点到村委会报到")
    expect(card.get_by_test_id("callup-dates")).to_contain_text("起")  # free from today
    button = card.get_by_test_id("volunteer-button")
    box = button.bounding_box()
    assert box["height"] >= 56 and box["y"] + box["height"] <= 740  # on the first screen
    fits(cadre)
    cadre.screenshot(path=tmp_path / "callup-cadre.png")
    button.click()
    expect(card.get_by_test_id("volunteered")).to_be_visible()
    mine = cadre.context.request.get("/api/call-ups").json()["call_ups"]
    assert [c["volunteered"] for c in mine if str(c["id"]) == call_up_id] == [True]
    # Opened again, it says so instead of offering the button.
    cadre.reload()
    expect(card.get_by_test_id("volunteered")).to_be_visible()
    expect(card.get_by_test_id("volunteer-button")).to_have_count(0)
    admin.reload()
    expect(admin.get_by_test_id("callup-row").filter(has_text="杨庄村需数据录入人员")).to_contain_text(
        "1 人请战")


def test_routine_mode_hides_checkpoints_and_isolation(phone, tmp_path):
    office = phone()
    admin = office.new_page()
    ui_login(admin, ADMIN)
    csrf = office.request.get("/api/session").json()["csrf_token"]
    cadre = phone().new_page()
    ui_login(cadre, ROUTINE_CADRE)
    cadre.goto("/#/tasks")
    expect(cadre.get_by_test_id("tasks-visits")).to_be_visible()  # emergency: all there
    try:
        # The root admin switches the deployment to routine mode.
        admin.goto("/#/needs")
        admin.get_by_test_id("mode-routine").click()
        expect(admin.get_by_test_id("mode-note")).to_contain_text("常态化")
        assert office.request.get("/api/mode").json()["mode"] == "routine"

        # The cadre's app (next start): no isolation visits; screening and deliveries stay.
        cadre.goto("/#/tasks")
        cadre.reload()
        expect(cadre.get_by_test_id("tasks-households")).to_be_visible()
        expect(cadre.get_by_test_id("tasks-deliveries")).to_be_visible()
        expect(cadre.get_by_test_id("tasks-visits")).to_have_count(0)
        cadre.goto("/#/visit/any-case")
        expect(cadre.get_by_test_id("routine-hidden")).to_be_visible()
        # Needs and registrations stay.
        cadre.goto("/#/")
        expect(cadre.get_by_test_id("register-link")).to_be_visible()
        cadre.get_by_test_id("callups-link").click()
        expect(cadre.get_by_test_id("callups-view")).to_be_visible()
        cadre.screenshot(path=tmp_path / "routine-cadre.png", full_page=True)

        # The committee: no on-watch tally, no checkpoint posters; needs and the pool stay.
        committee = phone().new_page()
        ui_login(committee, ROUTINE_COMMITTEE)
        expect(committee.get_by_test_id("routine-banner")).to_be_visible()
        expect(committee.get_by_test_id("total-reported")).to_be_visible()
        expect(committee.get_by_test_id("total-on-watch")).to_have_count(0)
        expect(committee.get_by_test_id("dashboard-on-watch")).to_have_count(0)
        expect(committee.get_by_test_id("poster-card").first).to_be_visible()
        expect(committee.get_by_test_id("poster-card")).to_have_count(1)  # the village's own
        committee.get_by_test_id("pool-link").click()
        expect(committee.get_by_test_id("pool-view")).to_be_visible()
        committee.screenshot(path=tmp_path / "routine-committee-pool.png", full_page=True)
    finally:
        response = office.request.post("/api/mode", headers={"X-CSRFToken": csrf},
                                       data={"mode": "emergency"})
        assert response.ok, response.text()
