from datetime import datetime, timedelta

from helpers import SHANGHAI, new_id, shanghai_time


def report(api, token, when=None):
    body = {"id": new_id(), "token": token, "recorded_at": shanghai_time(when)}
    assert api.post("/api/checkins", json=body).status_code == 201
    return body["id"]


def test_committee_sees_today_of_own_community(as_user, poster_token, world):
    report(as_user("cadre_A"), poster_token("A"))
    watch = report(as_user("cadre_A2"), poster_token("A", "gateA"))
    report(as_user("cadre_B"), poster_token("A"))  # not assigned to A: flagged
    today = as_user("committee_A").get(f"/api/places/{world['A']}/today")
    assert today.status_code == 200
    data = today.json
    assert data["day"] == datetime.now(SHANGHAI).date().isoformat()
    assert [r["user"]["name"] for r in data["reported"]] == ["王建国", "李丽华", "张志强"]
    assert data["reported"][0]["user"]["phone"] == "138****0001"  # masked
    assert [u["name"] for u in data["not_reported"]] == ["刘队长"]
    gate = next(w for w in data["on_watch"] if w["checkpoint"]["name"] == "南门卡口")
    assert [c["name"] for c in gate["cadres"]] == ["李丽华"]
    assert data["totals"] == {"assigned": 3, "reported": 3, "on_watch": 1, "flagged": 1,
                              "not_reported": 1}
    # Check-out ends the watch.
    as_user("cadre_A2").post("/api/checkouts", json={
        "id": new_id(), "checkin_id": watch, "recorded_at": shanghai_time()})
    data = as_user("committee_A").get(f"/api/places/{world['A']}/today").json
    assert data["totals"]["on_watch"] == 0


def test_yesterday_is_not_today(as_user, poster_token, world):
    yesterday = datetime.now(SHANGHAI) - timedelta(days=1)
    report(as_user("cadre_A"), poster_token("A"), yesterday)
    data = as_user("committee_A").get(f"/api/places/{world['A']}/today").json
    assert data["totals"]["reported"] == 0
    older = as_user("committee_A").get(f"/api/places/{world['A']}/today",
                                       query_string={"day": yesterday.date().isoformat()})
    assert older.json["totals"]["reported"] == 1


def test_bad_day_is_a_field_error(as_user, world):
    response = as_user("committee_A").get(f"/api/places/{world['A']}/today",
                                          query_string={"day": "yesterday"})
    assert response.status_code == 422
    assert response.json["error"]["fields"][0]["path"] == "/day"


def test_scoping(as_user, world):
    assert as_user("committee_B").get(f"/api/places/{world['A']}/today").status_code == 403
    assert as_user("cadre_A").get(f"/api/places/{world['A']}/today").status_code == 403
    assert as_user("town2_admin").get(f"/api/places/{world['A']}/today").status_code == 403
    assert as_user("town2_admin").get(f"/api/places/{world['C']}/today").status_code == 200
    assert as_user("leader_A").get(f"/api/places/{world['A']}/today").status_code == 200
    assert as_user("leader_A").get(f"/api/places/{world['B']}/today").status_code == 403
    visible = {p["name"] for p in as_user("committee_B").get("/api/places").json["places"]}
    assert visible == {"乙社区"}
    visible = {p["name"] for p in as_user("town2_admin").get("/api/places").json["places"]}
    assert visible == {"二号镇", "丙村"}


def test_admin_rollup(as_user, poster_token, world):
    report(as_user("cadre_A"), poster_token("A"))
    report(as_user("cadre_A2"), poster_token("A", "gateA"))
    report(as_user("cadre_B"), poster_token("B"))
    district = as_user("admin").get(f"/api/places/{world['district']}/today").json
    rows = {r["community"]["name"]: r for r in district["rows"]}
    assert set(rows) == {"甲社区", "乙社区", "丙村"}
    assert rows["甲社区"]["reported"] == 2 and rows["甲社区"]["not_reported"] == 1
    assert rows["甲社区"]["on_watch"] == 1 and rows["甲社区"]["town"]["name"] == "一号街道"
    assert rows["乙社区"]["reported"] == 1 and rows["乙社区"]["not_reported"] == 0
    assert district["totals"] == {"assigned": 4, "reported": 3, "on_watch": 1, "flagged": 0,
                                  "not_reported": 1}
    town = as_user("admin").get(f"/api/places/{world['town2']}/today").json
    assert [r["community"]["name"] for r in town["rows"]] == ["丙村"]
    # The roll-up agrees with each community's own view.
    community = as_user("admin").get(f"/api/places/{world['A']}/today").json
    assert community["totals"] == {k: rows["甲社区"][k] for k in community["totals"]}
