"""A cadre scans a poster, logs in there, reports, and sees it; the committee sees it too."""

from browser_helpers import DEMO_PASSWORD, api_login
from playwright.sync_api import expect

CADRE = "13800000002"          # 张丽华, assigned to 和平社区
COMMITTEE = "13900000101"      # 和平社区居委会
OTHER_COMMITTEE = "13900000102"  # 光明社区居委会


def test_scan_login_report_and_committee_sees_it(phone):
    # The committee prints the poster: its URL is what the phone's camera opens.
    office = phone()
    me = api_login(office, COMMITTEE)
    community_id = me["user"]["place"]["id"]
    posters = office.request.get(f"/api/places/{community_id}/posters").json()["posters"]
    poster_url = posters[0]["url"]

    cadre = phone()
    page = cadre.new_page()
    page.goto(poster_url)
    # Not logged in: the login comes first, on the poster's own URL.
    page.get_by_test_id("login-phone").fill(CADRE)
    page.get_by_test_id("login-password").fill(DEMO_PASSWORD)
    page.get_by_test_id("login-submit").click()
    expect(page.get_by_test_id("place-name")).to_contain_text("和平社区")
    button = page.get_by_test_id("checkin-button")
    box = button.bounding_box()
    assert box["width"] >= 120 and box["height"] >= 120  # a thumb-sized target
    assert box["x"] >= 0 and box["x"] + box["width"] <= 360  # fits a 360-px screen
    button.click()
    expect(page.get_by_test_id("checkin-success")).to_be_visible()

    # Scanning again shows the open check-in rather than making a second one.
    page.goto(poster_url)
    expect(page.get_by_test_id("open-checkin")).to_be_visible()

    page.goto("/#/")
    rows = page.get_by_test_id("checkin-row")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("和平社区")

    # The committee of 和平社区 sees the cadre in today's list.
    staff = phone().new_page()
    staff.goto("/")
    staff.get_by_test_id("login-phone").fill(COMMITTEE)
    staff.get_by_test_id("login-password").fill(DEMO_PASSWORD)
    staff.get_by_test_id("login-submit").click()
    expect(staff.get_by_test_id("dashboard-reported")).to_contain_text("张丽华")

    # The committee of another community does not.
    other = phone()
    api_login(other, OTHER_COMMITTEE)
    assert other.request.get(f"/api/places/{community_id}/today").status == 403


def test_manual_code_and_english(phone, live_server):
    office = phone()
    me = api_login(office, COMMITTEE)
    posters = office.request.get(f"/api/places/{me['user']['place']['id']}/posters").json()
    gate = posters["posters"][1]  # a checkpoint: the check-in opens a watch shift

    cadre = phone()
    page = cadre.new_page()
    page.goto("/")
    page.get_by_test_id("lang-switch").click()
    page.get_by_test_id("login-phone").fill("13800000003")
    page.get_by_test_id("login-password").fill(DEMO_PASSWORD)
    page.get_by_test_id("login-submit").click()
    code = gate["manual_code"]
    page.get_by_test_id("manual-code").fill(f"{code[:4]} {code[4:]}")
    page.get_by_test_id("manual-code-submit").click()
    expect(page.get_by_test_id("checkpoint-name")).to_contain_text(gate["checkpoint"]["name"])
    page.get_by_test_id("checkin-button").click()
    expect(page.get_by_test_id("checkin-success")).to_be_visible()
    page.goto("/#/")
    expect(page.get_by_test_id("checkin-row").first).to_contain_text(gate["checkpoint"]["name"])
    # This row only: test_offline.py leaves the same cadre checked in at another gate.
    row = page.get_by_test_id("checkin-row").filter(has_text=gate["checkpoint"]["name"]).first
    row.get_by_test_id("checkout-button").click()
    expect(row.get_by_test_id("checkout-button")).to_have_count(0)


def test_bad_poster_url_gives_a_clear_page(phone, live_server):
    page = phone().new_page()
    response = page.goto("/c/forged-token")
    assert response.status == 404
    expect(page.locator("h1")).to_contain_text("二维码无效")


def test_wechat_browser_works_online_and_says_how_to_go_offline(phone):
    """No service worker in WeChat's browser; the app works online and explains
    (docs/field-lessons.md#wechat-browser)."""
    office = phone()
    me = api_login(office, "13900000106")  # 石桥村
    poster = office.request.get(f"/api/places/{me['user']['place']['id']}/posters").json()
    wechat = phone(user_agent="Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) "
                              "AppleWebKit/605.1.15 Mobile/15E148 MicroMessenger/8.0.44")
    page = wechat.new_page()
    page.goto(poster["posters"][0]["url"])
    expect(page.get_by_test_id("wechat-hint")).to_contain_text("在浏览器打开")
    page.get_by_test_id("login-phone").fill("13800000027")
    page.get_by_test_id("login-password").fill(DEMO_PASSWORD)
    page.get_by_test_id("login-submit").click()
    page.get_by_test_id("checkin-button").click()
    expect(page.get_by_test_id("checkin-success")).to_be_visible()
    assert page.evaluate("navigator.serviceWorker.getRegistrations().then(r => r.length)") == 0
