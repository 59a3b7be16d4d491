"""A phone whose clock is hours behind (docs/field-lessons.md#clock-skew). Its check-in counts at
the server's time, is flagged, and the phone tells its user to set the clock."""

from datetime import datetime, timedelta, timezone

from browser_helpers import DEMO_PASSWORD
from playwright.sync_api import expect

CADRE = "13800000008"      # assigned to 光明社区, used by no other browser test
COMMITTEE = "13900000102"  # 光明社区居委会: only its poster is read here
SHANGHAI = timezone(timedelta(hours=8))


def test_a_phone_clock_three_hours_behind_is_corrected_and_reported(phone):
    office = phone()
    response = office.request.post("/api/session", data={"phone": COMMITTEE, "password": DEMO_PASSWORD})
    community_id = response.json()["user"]["place"]["id"]
    poster_url = office.request.get(f"/api/places/{community_id}/posters").json()["posters"][0]["url"]

    cadre = phone()
    behind = timedelta(hours=3)
    cadre.clock.install(time=datetime.now(SHANGHAI) - behind)  # the phone's clock, running
    page = cadre.new_page()
    page.goto(poster_url)
    page.get_by_test_id("login-phone").fill(CADRE)
    page.get_by_test_id("login-password").fill(DEMO_PASSWORD)
    page.get_by_test_id("login-submit").click()
    page.get_by_test_id("checkin-button").click()
    expect(page.get_by_test_id("checkin-success")).to_be_visible()

    page.goto("/#/outbox")
    expect(page.get_by_test_id("outbox-count")).to_contain_text("所有记录都已发送", timeout=15_000)
    warning = page.get_by_test_id("clock-off")
    expect(warning).to_contain_text("慢约 3 小时")

    mine = cadre.request.get("/api/checkins/mine").json()["checkins"]
    assert len(mine) == 1
    checkin = mine[0]
    assert checkin["clock_flag"] is True
    phone_time = datetime.fromisoformat(checkin["recorded_at"])
    assert abs((datetime.now(SHANGHAI) - phone_time) - behind) < timedelta(minutes=5)  # kept as sent
    assert checkin["local_day"] == datetime.now(SHANGHAI).date().isoformat() or \
        datetime.now(SHANGHAI).hour == 0  # counted on the server's day (a minute past midnight aside)
