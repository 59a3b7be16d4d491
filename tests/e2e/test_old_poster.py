"""A scan of a poster the committee re-issued since is accepted on the phone's time, and the
committee sees it flagged 旧海报 in today's list (docs/configuration.md)."""

from datetime import UTC, datetime, timedelta

from browser_helpers import api_login, ui_login
from playwright.sync_api import expect

CADRE = "13800000009"      # 吴伟, assigned to 光明社区
COMMITTEE = "13900000102"  # 光明社区居委会


def test_committee_sees_an_old_poster_scan_flagged(phone):
    office = phone()
    me = api_login(office, COMMITTEE)
    community_id = me["user"]["place"]["id"]
    gate = office.request.get(f"/api/places/{community_id}/posters").json()["posters"][1]
    old_token = gate["token"]
    scanned = datetime.now(UTC) - timedelta(minutes=1)  # scanned offline, then...
    reissued = office.request.post(f"/api/posters/{gate['id']}/reissue",
                                   headers={"X-CSRFToken": me["csrf_token"]})
    assert reissued.ok, reissued.text()

    cadre = phone()
    session = api_login(cadre, CADRE)
    sent = cadre.request.post("/api/sync", headers={"X-CSRFToken": session["csrf_token"]}, data={
        "records": [{"id": "6f1c1a52-5b7e-4c55-9a56-0c3f7f0d9e01", "type": "checkin",
                     "recorded_at": scanned.isoformat(), "data": {"token": old_token}}]})
    assert sent.ok and sent.json()["results"][0]["status"] == "created", sent.text()

    page = phone().new_page()
    ui_login(page, COMMITTEE)
    row = page.get_by_test_id("reported-row").filter(has_text="吴伟")
    expect(row.get_by_test_id("badge-old-poster")).to_have_text("旧海报")
    expect(row).to_have_class("row row-flag")
