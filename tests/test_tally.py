"""Daily tallies (日报): every number checked against records made for the test."""

import csv
import io
import re
from datetime import datetime, timedelta

from helpers import SHANGHAI, new_id, shanghai_time

from server.tallies.counters import day_bounds_utc
from server.tallies.engine import TALLY_FIELDS, daily_tally


def today():
    return datetime.now(SHANGHAI).date().isoformat()


def screen(api, world, household, outcome="answered", when=None, **extra):
    body = {"id": new_id(), "recorded_at": shanghai_time(when), "household_id": world[household],
            "outcome": outcome, **({"result": "normal"} if outcome == "answered" else {}), **extra}
    response = api.post("/api/screening-visits", json=body)
    assert response.status_code == 201, response.json
    return body


def tally(api, place_id, **query):
    response = api.get(f"/api/places/{place_id}/tally", query_string=query)
    assert response.status_code == 200, response.json
    return response.json


def test_screening_numbers(as_user, world):
    cadre = as_user("cadre_A")
    screen(cadre, world, "hhA1", residents=[
        {"resident_id": world["resA1"], "temperature": 38.1},
        {"resident_id": world["resA2"], "temperature": 36.6, "symptoms": ["cough"]}])
    screen(cadre, world, "hhA2", outcome="nobody_home")
    day = tally(as_user("committee_A"), world["A"])
    total = day["totals"][0]
    assert total["households_in_round"] == 2
    assert total["households_answered"] == 1
    assert total["households_nobody_home"] == 1
    assert total["households_refused"] == 0
    assert total["residents_screened"] == 2
    assert total["residents_fever_or_symptoms"] == 2
    assert [f["key"] for f in day["fields"]] == [k for k, _ in TALLY_FIELDS]


def test_local_day_boundary(as_user, world, app, db):
    """A visit at 23:30 and one at 00:30 Shanghai time fall on different days."""
    cadre = as_user("cadre_A")
    late = datetime(2026, 3, 1, 23, 30, tzinfo=SHANGHAI)
    early = datetime(2026, 3, 2, 0, 30, tzinfo=SHANGHAI)
    screen(cadre, world, "hhA1", when=late)
    screen(cadre, world, "hhA2", when=early)
    with app.app_context():
        first = daily_tally(db, world["A"], "2026-03-01", "Asia/Shanghai")
        second = daily_tally(db, world["A"], "2026-03-02", "Asia/Shanghai")
    assert first["households_answered"] == 1 and second["households_answered"] == 1
    lo, hi = day_bounds_utc("2026-03-02", "Asia/Shanghai")
    assert lo.isoformat() == "2026-03-01T16:00:00+00:00" and hi - lo == timedelta(days=1)


def test_cadres_checkins_and_watch_hours(as_user, world, poster_token):
    for who in ("cadre_A", "cadre_B"):  # cadre_B is not assigned to A: flagged
        api = as_user(who)
        assert api.post("/api/checkins", json={"id": new_id(), "token": poster_token("A"),
                                               "recorded_at": shanghai_time()}).status_code == 201
    api = as_user("cadre_A2")
    start = datetime.now(SHANGHAI) - timedelta(hours=2)
    watch = {"id": new_id(), "token": poster_token("A", "gateA"), "recorded_at": shanghai_time(start)}
    assert api.post("/api/checkins", json=watch).status_code == 201
    api.post("/api/checkouts", json={"id": new_id(), "checkin_id": watch["id"],
                                     "recorded_at": shanghai_time(start + timedelta(hours=1))})
    total = tally(as_user("committee_A"), world["A"])["totals"][0]
    assert total["cadres_assigned"] == 3
    assert total["cadres_reported"] == 3
    assert total["cadres_on_watch"] == 1
    assert total["checkins_flagged"] == 1
    if start.date() == datetime.now(SHANGHAI).date():  # not when the test runs just past midnight
        assert total["checkpoint_hours_covered"] == 1.0
    # Two checkpoints, the part of today that has passed, less the hour covered.
    passed = (datetime.now(SHANGHAI) - datetime.now(SHANGHAI).replace(
        hour=0, minute=0, second=0, microsecond=0)).total_seconds() / 3600
    assert abs(total["checkpoint_hours_uncovered"]
               - (2 * passed - total["checkpoint_hours_covered"])) < 0.05


def test_isolation_numbers(as_user, world):
    committee = as_user("committee_A")
    case = {"id": new_id(), "recorded_at": shanghai_time(), "resident_id": world["resA1"],
            "reason": "close_contact", "starts_on": today(), "policy_id": world["policy8"]}
    assert committee.post("/api/isolation/cases", json=case).status_code == 201
    visit = {"id": new_id(), "recorded_at": shanghai_time(), "case_id": case["id"],
             "slot": "morning", "temperature": 36.5, "needs": [{"kind": "medicine", "what": "退烧药"}]}
    response = as_user("cadre_A").post("/api/isolation/visits", json=visit)
    assert response.status_code == 201, response.json
    total = tally(committee, world["A"])["totals"][0]
    assert total["cases_new"] == 1 and total["cases_active"] == 1
    assert total["isolation_visits_due"] == 2  # morning and evening
    assert total["isolation_visits_done"] == 1
    assert total["deliveries_raised"] == 1 and total["deliveries_done"] == 0


def test_rollup_scoping_and_previous_day(as_user, world):
    cadre = as_user("cadre_A")
    screen(cadre, world, "hhA1")
    yesterday = datetime.now(SHANGHAI) - timedelta(days=1)
    screen(cadre, world, "hhA2", when=yesterday)
    district = tally(as_user("admin"), world["district"])
    by_community = {r["community"]["name"]: r for r in district["rows"]}
    assert set(by_community) == {"甲社区", "乙社区", "丙村"}
    assert by_community["甲社区"]["households_answered"] == 1
    assert district["totals"][0]["households_answered"] == 1
    assert district["totals"][0]["households_in_round"] == 3  # A's two and B's one
    assert district["previous_day"]["households_answered"] == 1
    week = tally(as_user("admin"), world["town1"], **{"from": yesterday.date().isoformat(),
                                                      "to": today()})
    assert [t["households_answered"] for t in week["totals"]] == [1, 1]
    assert as_user("committee_B").get(f"/api/places/{world['A']}/tally").status_code == 403
    assert as_user("cadre_A").get(f"/api/places/{world['A']}/tally").status_code == 403
    assert as_user("town2_admin").get(f"/api/places/{world['A']}/tally").status_code == 403
    bad = as_user("admin").get(f"/api/places/{world['A']}/tally", query_string={"from": "x"})
    assert bad.status_code == 422 and bad.json["error"]["fields"][0]["path"] == "/from"
    backwards = as_user("admin").get(f"/api/places/{world['A']}/tally",
                                     query_string={"from": today(), "to": "2020-01-01"})
    assert backwards.status_code == 422


def test_exports_and_printable_report(as_user, world, db):
    committee = as_user("committee_A")
    screen(as_user("cadre_A"), world, "hhA1")
    response = committee.get(f"/api/places/{world['A']}/tally.csv")
    assert response.mimetype == "text/csv"
    text = response.get_data(as_text=True)
    assert text.startswith("\ufeff日期,街道/乡镇,社区/村,本轮应排查户数,已排查户数")
    rows = list(csv.reader(io.StringIO(text.lstrip("\ufeff"))))
    assert rows[1][2] == "甲社区" and rows[1][4] == "1"
    xlsx = committee.get(f"/api/places/{world['A']}/tally.xlsx")
    from openpyxl import load_workbook

    sheet = load_workbook(io.BytesIO(xlsx.data)).active
    assert sheet.cell(1, 5).value == "已排查户数" and sheet.cell(2, 5).value == 1
    exports = db.execute("SELECT count(*) FROM audit_log WHERE action = 'export'").fetchone()[0]
    assert exports == 2
    page = committee.get(f"/reports/{world['A']}/daily").get_data(as_text=True)
    assert "甲社区 疫情防控工作日报" in page and "已排查户数" in page
    assert as_user("committee_B").get(f"/reports/{world['A']}/daily").status_code == 403


def test_printable_report_of_a_range_has_a_page_per_day(as_user, world):
    screen(as_user("cadre_A"), world, "hhA1")
    yesterday = (datetime.fromisoformat(today()) - timedelta(days=1)).date().isoformat()
    page = as_user("admin").get(f"/reports/{world['district']}/daily",
                                query_string={"from": yesterday, "to": today()})
    html = page.get_data(as_text=True)
    days = re.findall(r'<main class="report" data-day="([0-9-]+)">', html)
    assert days == [yesterday, today()]
    first, second = html.split('<main class="report"')[1:]
    answered = re.compile(r"<td>已排查户数</td>\s*<td>(\d+)</td>\s*<td>(\d+)</td>\s*<td>([+-]\d+)</td>")
    assert answered.search(first).groups() == ("0", "0", "+0")
    assert answered.search(second).groups() == ("1", "0", "+1")  # beside the day before it
    assert "甲社区" in second and "按北京时间计日" in second


def test_round_progress(as_user, world):
    cadre = as_user("cadre_A")
    screen(cadre, world, "hhA1")
    screen(cadre, world, "hhA2", outcome="nobody_home")  # stays to do
    progress = as_user("committee_A").get(f"/api/places/{world['A']}/round-progress").json
    assert progress["round"]["name"] == "第一轮"
    assert progress["grids"] == [{"grid": {"id": world["gridA"], "name": "甲一网格"},
                                  "households": 2, "screened": 1}]
    assert progress["cadres"] == [{"user": {"id": world["cadre_A"], "name": "王建国"},
                                   "households": 2, "screened": 1}]
    assert [h["address"] for h in progress["remaining"]] == ["1号楼1单元102"]
    assert as_user("committee_B").get(
        f"/api/places/{world['A']}/round-progress").status_code == 403
    assert as_user("admin").get(
        f"/api/places/{world['town1']}/round-progress").status_code == 404


def test_work_records_sorted_and_exported(as_user, world, poster_token):
    cadre = as_user("cadre_A")
    first_visit = screen(cadre, world, "hhA1")
    screen(cadre, world, "hhA2")
    screen(cadre, world, "hhA1", corrects_id=first_visit["id"])  # replaces it: not a third
    start = datetime.now(SHANGHAI) - timedelta(hours=3)
    watch = {"id": new_id(), "token": poster_token("A", "gateA"), "recorded_at": shanghai_time(start)}
    other = as_user("cadre_A2")
    assert other.post("/api/checkins", json=watch).status_code == 201
    other.post("/api/checkouts", json={"id": new_id(), "checkin_id": watch["id"],
                                       "recorded_at": shanghai_time(start + timedelta(hours=2))})
    admin = as_user("admin")
    data = admin.get(f"/api/places/{world['district']}/work-records",
                     query_string={"sort": "households_screened"}).json
    first = data["records"][0]
    assert first["user"]["name"] == "王建国" and first["households_screened"] == 2
    assert first["user"]["phone"] == "138****0001"
    by_watch = admin.get(f"/api/places/{world['district']}/work-records",
                         query_string={"sort": "watch_hours"}).json["records"]
    if start.date() == datetime.now(SHANGHAI).date():
        assert by_watch[0]["user"]["name"] == "李丽华" and by_watch[0]["watch_hours"] == 2.0
        assert by_watch[0]["days_reported"] == 1
    assert {r["user"]["name"] for r in by_watch} == {"王建国", "李丽华", "张志强", "刘队长"}
    scoped = as_user("committee_B").get(f"/api/places/{world['B']}/work-records").json
    assert [r["user"]["name"] for r in scoped["records"]] == ["张志强"]
    bad = admin.get(f"/api/places/{world['district']}/work-records", query_string={"sort": "x"})
    assert bad.status_code == 422 and bad.json["error"]["fields"][0]["path"] == "/sort"
    text = admin.get(f"/api/places/{world['district']}/work-records.csv",
                     query_string={"sort": "households_screened"}).get_data(as_text=True)
    assert text.startswith("\ufeff姓名,工作单位,下沉社区,报到天数")
    assert text.splitlines()[1].startswith("王建国,区粮食局,甲社区,")
    xlsx = admin.get(f"/api/places/{world['district']}/work-records.xlsx")
    assert xlsx.data[:2] == b"PK"


def test_charts(as_user, world):
    screen(as_user("cadre_A"), world, "hhA1")
    admin = as_user("admin")
    trend = admin.get(f"/api/places/{world['district']}/trend.svg")
    assert trend.mimetype == "image/svg+xml"
    svg = trend.get_data(as_text=True)
    assert svg.startswith("<svg") and "近14日" in svg and "已排查户 1" in svg
    assert svg.count("<polyline") == 4
    bars = admin.get(f"/api/places/{world['district']}/progress.svg").get_data(as_text=True)
    assert "甲社区" in bars and "1/2" in bars and "0/1" in bars
    assert as_user("committee_B").get(f"/api/places/{world['A']}/trend.svg").status_code == 403
    # ?to= ends the chart on an earlier day: today's visit is not in it
    yesterday = (datetime.fromisoformat(today()) - timedelta(days=1)).date().isoformat()
    earlier = admin.get(f"/api/places/{world['district']}/trend.svg",
                        query_string={"to": yesterday, "days": 3}).get_data(as_text=True)
    assert f"至 {yesterday}" in earlier and "已排查户 0" in earlier and "已排查户 1" not in earlier
    bad = admin.get(f"/api/places/{world['district']}/trend.svg", query_string={"to": "x"})
    assert bad.status_code == 422 and bad.json["error"]["fields"][0]["path"] == "/to"


def test_chart_labels_are_escaped():
    from server.charts import bar_chart, line_chart

    assert "<script" not in bar_chart("t", [("<script>", 0.5, "1/2")])
    assert "&lt;b&gt;" in line_chart("<b>", ["2026-01-01", "2026-01-02"], [("x", [1, 2])])


def test_record_lists_and_round_progress_export_with_chinese_headers(as_user, world, db):
    screen(as_user("cadre_A"), world, "hhA1", residents=[
        {"resident_id": world["resA1"], "temperature": 38.4, "symptoms": ["cough", "fever"]}])
    committee = as_user("committee_A")
    fever = committee.get(f"/api/places/{world['A']}/tally/records.csv",
                          query_string={"metric": "residents_fever_or_symptoms"})
    assert fever.status_code == 200 and fever.mimetype == "text/csv"
    rows = list(csv.reader(io.StringIO(fever.get_data(as_text=True).lstrip("\ufeff"))))
    header, (row,) = rows[0], rows[1:]
    cells = dict(zip(header, row, strict=True))
    assert cells["体温"] == "38.4" and cells["症状"] == "cough、fever"
    assert cells["居民姓名"] == "赵大伟" and cells["住户地址"] == "1号楼1单元101"
    assert cells["居民身份证号"].count("*") >= 8  # masked, as on screen
    assert cells["居民电话"] == "139****5678"
    from openpyxl import load_workbook

    xlsx = committee.get(f"/api/places/{world['A']}/tally/records.xlsx",
                         query_string={"metric": "households_answered"})
    sheet = load_workbook(io.BytesIO(xlsx.data)).active
    header = [c.value for c in next(sheet.iter_rows(max_row=1))]
    assert "住户地址" in header and "干部姓名" in header and sheet.max_row == 2
    bad = committee.get(f"/api/places/{world['A']}/tally/records.csv",
                        query_string={"metric": "x"})
    assert bad.status_code == 422 and bad.json["error"]["fields"][0]["path"] == "/query/metric"
    progress = committee.get(f"/api/places/{world['A']}/round-progress.csv")
    rows = list(csv.reader(io.StringIO(progress.get_data(as_text=True).lstrip("\ufeff"))))
    assert rows[0] == ["类别", "名称/地址", "网格", "应排查户数", "已排查户数"]
    assert ["网格", "甲一网格", "", "2", "1"] in rows
    assert ["待排查户", "1号楼1单元102", "甲一网格", "", ""] in rows
    exports = db.execute("SELECT count(*) FROM audit_log WHERE action = 'export'").fetchone()[0]
    assert exports == 3
    assert as_user("committee_B").get(
        f"/api/places/{world['A']}/round-progress.csv").status_code == 403
