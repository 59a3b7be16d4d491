"""Reports in the browser: the daily tally (日报) of the demo data, on a phone and on a desktop.

Cadres of 石桥村 report and screen households (through the API, as their phones would send
them); the committee opens its dashboard and report on a 360 × 740 phone and on a 1280 × 800
desktop window, sees every number of the day as the tally API counts it, with the change from
the day before, follows a number to the records behind it, and checks the round's progress;
the town admin of 西山镇 sees the roll-up with 石桥村's row, a date range, the charts, and the
cadres' work records (一线考察), sorted. Screenshots go to the test's tmp_path.

Accounts no other browser test uses: the cadres 13800000029 and 13800000030 (石桥村, second
grid), the town admin of 西山镇 13900000003; the committee of 石桥村 13900000106 (the check-in
test only reads its posters).
"""

from __future__ import annotations

import re
import uuid
from datetime import datetime, timedelta, timezone

import pytest
from browser_helpers import api_login, fits, get, ui_login
from playwright.sync_api import expect

COMMITTEE = "13900000106"  # 石桥村村委会
TOWN_ADMIN = "13900000003"  # 西山镇 管理员
SCREENER = "13800000029"  # 石桥村, second grid: screens its households and reports
WATCHER = "13800000030"  # 石桥村, second grid: keeps watch at the checkpoint
SHANGHAI = timezone(timedelta(hours=8))
HOURS = {"checkpoint_hours_covered", "checkpoint_hours_uncovered"}  # grow with the clock
ROUTINE_HIDDEN = {"cases_new", "cases_active", "cases_released", "cases_transferred",
                  "isolation_visits_due", "isolation_visits_done", "isolation_visits_overdue",
                  "cadres_on_watch", *HOURS}
DESKTOP = {"width": 1280, "height": 800}


@pytest.fixture
def desktop(browser, live_server):
    """A new desktop browser window (1280 × 800), as a committee's or admin's office PC."""
    contexts = []

    def make():
        context = browser.new_context(base_url=live_server, viewport=DESKTOP, locale="zh-CN")
        contexts.append(context)
        return context

    yield make
    for context in contexts:
        context.close()


def post(context, csrf, url, data):
    response = context.request.post(url, headers={"X-CSRFToken": csrf}, data=data)
    assert response.status in (200, 201), response.text()
    return response.json()


def now():
    return datetime.now(SHANGHAI).isoformat(timespec="seconds")


def shown(scope):
    """{metric: (number shown, change shown or None)} of the numbers inside `scope`."""
    cells = scope.locator("[data-key]").evaluate_all(
        """els => els.map(e => [e.dataset.key,
             e.querySelector('[data-testid=stat-value]').textContent,
             e.querySelector('[data-testid=stat-delta]')?.dataset.delta ?? null])""")
    return {key: (float(value), None if change is None else float(change))
            for key, value, change in cells}


def same(key, a, b):
    """Equal, but hours of watch grow with the clock between the page's read and ours."""
    return abs(a - b) <= 0.1 if key in HOURS else a == b


def check_numbers(numbers, tally, expected, before, mode):
    """The numbers shown are the tally's fields (all of them; routine mode hides isolation and
    checkpoints), each as `expected` counts it, with the change from `before`."""
    keys = {field["key"] for field in tally["fields"]}
    wanted = keys - ROUTINE_HIDDEN if mode == "routine" else keys
    assert set(numbers) == wanted, set(numbers) ^ wanted  # every number of the tally, no more
    for key, (value, change) in numbers.items():
        assert same(key, value, expected[key]), (key, value, expected[key])
        if before is not None:
            assert change is not None, key
            assert same(key, change, round(expected[key] - before[key], 2)), (key, change)


def make_records(browser_context):
    """Today in 石桥村: one household answered (one resident with fever), one nobody home, one
    refused; two cadres report, one of them at the checkpoint (on watch)."""
    office = browser_context()
    me = api_login(office, COMMITTEE)
    community = me["user"]["place"]
    posters = get(office, f"/api/places/{community['id']}/posters")["posters"]
    gate = next(p for p in posters if p["checkpoint"] is not None)
    square = next(p for p in posters if p["checkpoint"] is None)

    screener = browser_context()
    csrf = api_login(screener, SCREENER)["csrf_token"]
    households = get(screener, "/api/my/day")["households"]
    assert len(households) == 3
    first = get(screener, f"/api/households/{households[0]['id']}")["household"]
    feverish, well = first["residents"][:2]
    visits = {}
    for household, outcome in zip(households, ("answered", "nobody_home", "refused"), strict=True):
        data = {"id": str(uuid.uuid4()), "recorded_at": now(), "household_id": household["id"],
                "outcome": outcome}
        if outcome == "answered":
            data |= {"result": "normal", "residents": [
                {"resident_id": feverish["id"], "temperature": 38.4, "symptoms": ["fever", "cough"]},
                {"resident_id": well["id"], "temperature": 36.5}]}
        visits[outcome] = post(screener, csrf, "/api/screening-visits", data)["visit"]
    post(screener, csrf, "/api/checkins",
         {"id": str(uuid.uuid4()), "recorded_at": now(), "token": square["token"]})

    watcher = browser_context()
    csrf = api_login(watcher, WATCHER)["csrf_token"]
    post(watcher, csrf, "/api/checkins",
         {"id": str(uuid.uuid4()), "recorded_at": now(), "token": gate["token"]})
    return community, households, visits, feverish


def test_committee_and_town_reports_on_phone_and_desktop(phone, desktop, tmp_path):
    shots = tmp_path
    office = phone()
    community = api_login(office, COMMITTEE)["user"]["place"]
    baseline = get(office, f"/api/places/{community['id']}/tally")["totals"][0]
    community, households, visits, feverish = make_records(phone)
    mode = get(office, "/api/mode")["mode"]

    # The tally counts what the cadres just sent.
    tally = get(office, f"/api/places/{community['id']}/tally")
    day, totals = tally["from"], tally["totals"][0]
    for key, more in (("households_answered", 1), ("households_nobody_home", 1),
                      ("households_refused", 1), ("residents_screened", 2),
                      ("residents_fever_or_symptoms", 1), ("cadres_reported", 2),
                      ("cadres_on_watch", 1)):
        assert totals[key] == baseline[key] + more, key

    # 1. The committee on a phone: the dashboard, then the report of the day.
    page = phone().new_page()
    ui_login(page, COMMITTEE)
    expect(page.get_by_test_id("dashboard-place")).to_have_text("石桥村")
    expect(page.get_by_test_id("total-reported").locator(".tile-num")).to_have_text(
        str(totals["cadres_reported"]))
    fits(page)
    page.screenshot(path=shots / "1-phone-dashboard.png", full_page=True)
    page.get_by_test_id("report-link").click()
    block = page.get_by_test_id("report-totals")
    expect(block).to_have_attribute("data-day", day)
    expect(page.get_by_test_id("report-title")).to_contain_text("石桥村")
    tally = get(office, f"/api/places/{community['id']}/tally?from={day}&to={day}")
    check_numbers(shown(block), tally, tally["totals"][0], tally["previous_day"], mode)
    answered = block.get_by_test_id("tally-households_answered")
    expect(answered.get_by_test_id("stat-value")).to_have_text(str(totals["households_answered"]))
    expect(page.get_by_test_id("report-communities")).to_have_count(0)  # a community: itself
    for chart in ("report-trend", "report-progress-chart"):  # server-drawn SVG, allowed by CSP
        image = page.get_by_test_id(chart)
        image.scroll_into_view_if_needed()
        expect(image).to_be_visible()
        page.wait_for_function("img => img.complete && img.naturalWidth > 0", arg=image.element_handle())
    fits(page)
    page.screenshot(path=shots / "2-phone-report.png", full_page=True)

    # The downloads and the printable 日报 are there, for the same day.
    csv = office.request.get(page.get_by_test_id("report-csv").get_attribute("href"))
    assert csv.ok and csv.text().startswith("\ufeff日期")
    printable = office.request.get(page.get_by_test_id("report-print").get_attribute("href"))
    assert printable.ok and "石桥村" in printable.text() and day in printable.text()

    # 2. One number's link: the records behind "households screened".
    answered.click()
    expect(page).to_have_url(re.compile(
        rf"#/reports/{community['id']}/records\?day={day}&metric=households_answered$"))
    records = get(office, f"/api/places/{community['id']}/tally/records?day={day}"
                          "&metric=households_answered")
    expect(page.get_by_test_id("records-value")).to_have_text(str(totals["households_answered"]))
    rows = page.get_by_test_id("record-row")
    expect(rows).to_have_count(records["total"])
    mine = page.locator(f'[data-testid="record-row"][data-id="{visits["answered"]["id"]}"]')
    expect(mine).to_contain_text(households[0]["address"])
    expect(mine).to_contain_text("已入户")
    fits(page)
    page.screenshot(path=shots / "3-phone-records.png", full_page=True)

    # ... and behind "fever or symptoms": the resident, with the temperature.
    page.get_by_test_id("records-back").click()
    page.get_by_test_id("tally-residents_fever_or_symptoms").click()
    expect(page.get_by_test_id("records-view")).to_have_attribute(
        "data-metric", "residents_fever_or_symptoms")
    expect(page.get_by_test_id("record-row")).to_have_count(totals["residents_fever_or_symptoms"])
    expect(page.get_by_test_id("record-row").filter(has_text=feverish["name"])).to_contain_text("38.4 °C")
    fits(page)
    # The same list as a spreadsheet, from the button on the screen.
    listed = office.request.get(page.get_by_test_id("records-csv").get_attribute("href"))
    assert listed.ok and feverish["name"] in listed.text() and "体温" in listed.text()

    # 3. The round's progress: per grid and per cadre, and the households that remain.
    page.get_by_test_id("records-back").click()
    page.get_by_test_id("progress-link").click()
    progress = get(office, f"/api/places/{community['id']}/round-progress")
    for grid in progress["grids"]:
        row = page.locator(f'[data-testid="progress-grid"][data-id="{grid["grid"]["id"]}"]')
        expect(row).to_have_attribute("data-done", str(grid["screened"]))
        expect(row).to_have_attribute("data-total", str(grid["households"]))
    screener = next(c for c in progress["cadres"] if c["screened"] >= 1)
    cadre_row = page.locator(f'[data-testid="progress-cadre"][data-id="{screener["user"]["id"]}"]')
    expect(cadre_row).to_contain_text(f"{screener['screened']}/{screener['households']}")
    expect(page.get_by_test_id("remaining-row")).to_have_count(len(progress["remaining"]))
    expect(page.locator(f'[data-testid="remaining-row"][data-id="{households[0]["id"]}"]')).to_have_count(0)
    expect(page.locator(f'[data-testid="remaining-row"][data-id="{households[1]["id"]}"]')).to_have_count(1)
    fits(page)
    to_print = office.request.get(page.get_by_test_id("progress-csv").get_attribute("href"))
    assert to_print.ok and households[1]["address"] in to_print.text()  # still to screen
    page.screenshot(path=shots / "4-phone-progress.png", full_page=True)

    # 4. The same committee on a desktop window.
    desk = desktop()
    page = desk.new_page()
    ui_login(page, COMMITTEE)
    expect(page.get_by_test_id("dashboard-place")).to_have_text("石桥村")
    page.screenshot(path=shots / "5-desktop-dashboard.png", full_page=True)
    page.get_by_test_id("report-link").click()
    block = page.get_by_test_id("report-totals")
    expect(block).to_have_attribute("data-day", day)
    tally = get(desk, f"/api/places/{community['id']}/tally?from={day}&to={day}")
    check_numbers(shown(block), tally, tally["totals"][0], tally["previous_day"], mode)
    fits(page, DESKTOP["width"])
    page.screenshot(path=shots / "6-desktop-report.png", full_page=True)

    # 5. The town admin on a desktop: the roll-up and 石桥村's row in it, a range, the charts.
    town = desktop()
    page = town.new_page()
    ui_login(page, TOWN_ADMIN)
    town_place = get(town, "/api/session")["user"]["place"]
    page.goto(f"/#/reports/{town_place['id']}?day={day}")
    block = page.get_by_test_id("report-totals")
    expect(block).to_have_attribute("data-day", day)
    tally = get(town, f"/api/places/{town_place['id']}/tally?from={day}&to={day}")
    check_numbers(shown(block), tally, tally["totals"][0], tally["previous_day"], mode)
    row = next(r for r in tally["rows"] if r["community"]["id"] == community["id"])
    card = page.locator(f'[data-testid="report-community"][data-community-id="{community["id"]}"]')
    expect(page.get_by_test_id("report-community")).to_have_count(
        len({r["community"]["id"] for r in tally["rows"]}))
    card.locator("summary").click()
    check_numbers(shown(card), tally, row, None, mode)
    # The community's numbers link to their records; the town's are sums, not lists.
    href = card.get_by_test_id("tally-households_answered").get_attribute("href")
    assert href == f"/#/reports/{community['id']}/records?day={day}&metric=households_answered"
    expect(block.locator("a[data-key]")).to_have_count(0)
    fits(page, DESKTOP["width"])
    page.screenshot(path=shots / "7-desktop-town-report.png", full_page=True)

    page.get_by_test_id("report-mode-range").click()
    expect(page.get_by_test_id("range-row")).to_have_count(7)
    first_row = page.get_by_test_id("range-row").first
    expect(first_row).to_have_attribute("data-day", day)
    fits(page, DESKTOP["width"])
    page.screenshot(path=shots / "8-desktop-town-range.png", full_page=True)
    # The printable 日报 of the range: a page for each of the seven days, the last one today.
    printable = town.request.get(page.get_by_test_id("report-print").get_attribute("href"))
    printed_days = re.findall(r'<main class="report" data-day="([0-9-]+)">', printable.text())
    assert len(printed_days) == 7 and printed_days[-1] == day

    # 6. The organisation department's work records: per cadre, sorted by a column.
    page.goto(f"/#/work-records/{town_place['id']}")
    work = get(town, f"/api/places/{town_place['id']}/work-records")
    expect(page.get_by_test_id("work-row")).to_have_count(len(work["records"]))
    page.get_by_test_id("work-sort-households_screened").click()
    column = page.locator('[data-testid="work-row"] [data-key="households_screened"]')
    values = [float(v) for v in column.all_text_contents()]
    assert values == sorted(values, reverse=True) and values[0] >= 1
    masked = f"{SCREENER[:3]}****{SCREENER[-4:]}"  # the records show phones masked
    me = next(r for r in work["records"] if r["user"]["phone"] == masked)
    mine = page.locator(f'[data-testid="work-row"][data-user-id="{me["user"]["id"]}"]')
    expect(mine.locator('[data-key="households_screened"]')).to_have_text(str(me["households_screened"]))
    expect(mine.locator('[data-key="days_reported"]')).to_have_text(str(me["days_reported"]))
    assert me["households_screened"] == 1 and me["days_reported"] >= 1
    page.get_by_test_id("work-sort-households_screened").click()  # again: smallest first
    values = [float(v) for v in column.all_text_contents()]
    assert values == sorted(values)
    page.screenshot(path=shots / "9-desktop-work-records.png", full_page=True)

    # ... and on a phone: one card per cadre, nothing wider than the screen.
    small = phone()
    page = small.new_page()
    ui_login(page, TOWN_ADMIN)
    page.get_by_test_id("work-records-link").click()
    expect(page.get_by_test_id("work-row")).to_have_count(len(work["records"]))
    fits(page)
    page.screenshot(path=shots / "10-phone-work-records.png", full_page=True)
    page.get_by_test_id("lang-switch").click()  # and in English
    page.goto(f"/#/reports/{town_place['id']}?day={day}")
    expect(page.get_by_test_id("report-totals")).to_contain_text("Households screened")
    fits(page)
    page.screenshot(path=shots / "11-phone-town-report-en.png", full_page=True)

