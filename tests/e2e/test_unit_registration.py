"""Unit registration (单位双报到) in the browser, on a 360 px phone.

The committee of 石桥村 enters the letter of 区交通运输局: first with a bad phone number (the
server's error shows on the field), then correctly; the unit is listed with its contact (a tap
to call), members, services and the cadres it has accounts for; entering it again updates the
same registration. The district admin sees it among the node's units (with the demo's two) and
ends it, after a confirm step, so the demo is as it was for the other tests.

Accounts and places no other browser test uses: the committee of 石桥村 (13900000106); the
district admin 13900000001 only reads and ends this one registration. No unit is registered with
杨庄村 (the call-up test's pool) or 柳树村 (the flour mill's need).
"""

from __future__ import annotations

from browser_helpers import fits, ui_login
from playwright.sync_api import expect

COMMITTEE = "13900000106"  # 石桥村村委会
ADMIN = "13900000001"      # 区组织部 (the district)
UNIT = "区交通运输局"       # on the unit list already (the departments table, 钱志远's unit)
VILLAGE = "石桥村"


def test_committee_registers_a_unit_and_the_admin_sees_and_ends_it(phone, tmp_path):
    page = phone().new_page()
    ui_login(page, COMMITTEE)
    page.get_by_test_id("pool-link").click()
    expect(page.get_by_test_id("pool-view")).to_be_visible()
    part = page.get_by_test_id("unit-regs")
    expect(part).to_contain_text("单位报到")
    expect(page.get_by_test_id("unit-list")).to_contain_text("暂无单位报到")  # the village has none
    expect(page.get_by_test_id("unit-own-community")).to_contain_text(VILLAGE)
    expect(page.get_by_test_id("unit-community")).to_have_count(0)  # a committee: its own only
    page.get_by_test_id("pool-to-units").click()

    # A wrong phone number: the server's message sits under the phone field; nothing is saved.
    page.get_by_test_id("unit-name").fill(UNIT)
    page.get_by_test_id("unit-contact").fill("交通局 党办 周主任")
    page.get_by_test_id("unit-phone").fill("1350000")
    page.get_by_test_id("unit-members-input").fill("6")
    page.get_by_test_id("unit-services-input").fill("车辆运输、物资调配")
    page.get_by_test_id("unit-submit").click()
    phone_field = page.get_by_test_id("unit-phone")
    expect(phone_field).to_have_attribute("aria-invalid", "true")
    error = page.locator('[data-testid="unit-phone"] + [data-testid="field-error"]')
    expect(error).to_be_visible()
    expect(error).to_contain_text("格式")
    expect(page.get_by_test_id("unit-form").get_by_test_id("error-message")).to_be_visible()
    expect(page.get_by_test_id("unit-row")).to_have_count(0)
    expect(page.get_by_test_id("unit-name")).to_have_value(UNIT)  # what was typed stays
    fits(page)
    page.screenshot(path=tmp_path / "1-committee-bad-phone.png", full_page=True)

    # Corrected: registered, listed with a tap-to-call number.
    phone_field.fill("135 0000 0003")  # spaces as people type them
    page.get_by_test_id("unit-submit").click()
    expect(page.get_by_test_id("unit-created")).to_contain_text(f"{UNIT} 到 {VILLAGE}")
    expect(page.get_by_test_id("field-error")).to_have_count(0)
    rows = page.get_by_test_id("unit-row")
    expect(rows).to_have_count(1)
    row = rows.first
    expect(row.get_by_test_id("unit-row-name")).to_have_text(UNIT)
    expect(row.get_by_test_id("unit-row-community")).to_contain_text(VILLAGE)
    expect(row.get_by_test_id("unit-row-contact")).to_contain_text("交通局 党办 周主任")
    expect(row.locator('a[href="tel:13500000003"]')).to_have_text("13500000003")
    expect(row.get_by_test_id("unit-row-members")).to_have_attribute("data-n", "6")
    expect(row.get_by_test_id("unit-row-cadres")).to_have_attribute("data-n", "1")  # 钱志远
    expect(row.get_by_test_id("unit-row-services")).to_contain_text("车辆运输")
    expect(page.get_by_test_id("unit-count")).to_contain_text("1")
    registration_id = row.get_attribute("data-id")
    fits(page)

    # Entered again (the same unit, the same village): the same registration, updated.
    page.get_by_test_id("unit-name").fill(UNIT)
    page.get_by_test_id("unit-contact").fill("交通局 党办 吴科长")
    page.get_by_test_id("unit-phone").fill("13500000004")
    page.get_by_test_id("unit-members-input").fill("9")
    page.get_by_test_id("unit-services-input").fill("车辆运输、物资调配、道路保通")
    page.get_by_test_id("unit-submit").click()
    expect(page.get_by_test_id("unit-updated")).to_contain_text(UNIT)
    expect(rows).to_have_count(1)
    expect(row).to_have_attribute("data-id", registration_id)
    expect(row.get_by_test_id("unit-row-members")).to_have_attribute("data-n", "9")
    expect(row.get_by_test_id("unit-row-contact")).to_contain_text("吴科长")
    expect(row.locator('a[href="tel:13500000004"]')).to_be_visible()
    # 修改 puts the row back in the form, for the next change.
    row.get_by_test_id("unit-edit").click()
    expect(page.get_by_test_id("unit-name")).to_have_value(UNIT)
    expect(page.get_by_test_id("unit-members-input")).to_have_value("9")
    for button in (row.get_by_test_id("unit-edit"), row.get_by_test_id("unit-end"),
                   page.get_by_test_id("unit-submit")):
        box = button.bounding_box()
        assert box["height"] >= 48 and box["x"] >= 0 and box["x"] + box["width"] <= 360
    fits(page)
    page.screenshot(path=tmp_path / "2-committee-registered.png", full_page=True)

    # The district admin: the node's units, the demo's two and this one; admins pick the community.
    admin = phone().new_page()
    ui_login(admin, ADMIN)
    admin.goto("/#/pool")
    mine = admin.locator(f'[data-testid="unit-row"][data-id="{registration_id}"]')
    expect(mine.get_by_test_id("unit-row-name")).to_have_text(UNIT)
    expect(mine.get_by_test_id("unit-row-community")).to_contain_text(VILLAGE)
    expect(mine.get_by_test_id("unit-row-members")).to_have_attribute("data-n", "9")
    names = admin.get_by_test_id("unit-row-name")
    for unit in ("区教育局", "区卫生健康委", UNIT):
        expect(names.filter(has_text=unit)).to_have_count(1)
    expect(admin.get_by_test_id("unit-community")).to_be_visible()
    expect(admin.get_by_test_id("unit-community").locator("option", has_text=VILLAGE)).to_have_count(1)
    fits(admin)
    admin.screenshot(path=tmp_path / "3-admin-units.png", full_page=True)

    # Ending it asks first; cancel keeps it, confirm ends it.
    mine.get_by_test_id("unit-end").click()
    ask = mine.get_by_test_id("unit-end-ask")
    expect(ask).to_contain_text(UNIT)
    expect(ask).to_contain_text(VILLAGE)
    fits(admin)
    mine.get_by_test_id("unit-end-cancel").click()
    expect(ask).to_be_hidden()
    expect(mine).to_have_count(1)
    mine.get_by_test_id("unit-end").click()
    mine.get_by_test_id("unit-end-confirm").click()
    expect(admin.get_by_test_id("unit-ended")).to_contain_text(UNIT)
    expect(mine).to_have_count(0)
    expect(names.filter(has_text="区教育局")).to_have_count(1)  # the demo's stay
    page.reload()
    expect(page.get_by_test_id("unit-list")).to_contain_text("暂无单位报到")
