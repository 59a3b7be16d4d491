import io
from datetime import datetime, timedelta

import pytest
from helpers import ID_NUMBERS, SHANGHAI, new_id, shanghai_time


def visit(world, household="hhA1", **extra):
    return {"id": new_id(), "recorded_at": shanghai_time(), "household_id": world[household],
            "outcome": "answered", "result": "normal", **extra}


def audit_objects(db, user_id):
    return {r[0] for r in db.execute(
        "SELECT object FROM audit_log WHERE action = 'read_full' AND user_id = ?", [user_id])}


def test_cadre_lists_own_grid_masked(as_user, world):
    households = as_user("cadre_A").get("/api/households").json["households"]
    assert {h["id"] for h in households} == {world["hhA1"], world["hhA2"]}
    first = next(h for h in households if h["id"] == world["hhA1"])
    assert first["phone"] == "139****5678" and first["masked"] is True
    assert first["address"] == "1号楼1单元101"
    found = as_user("cadre_A").get("/api/households?q=1-102").json["households"]
    assert [h["id"] for h in found] == [world["hhA2"]]


def test_full_values_only_on_own_grid_and_audited(as_user, world, db):
    url = f"/api/households/{world['hhA1']}"
    mine = as_user("cadre_A").get(url).json["household"]
    ids = {r["id"]: r for r in mine["residents"]}
    assert ids[world["resA1"]]["id_number"] == ID_NUMBERS[1]
    assert mine["phone"] == "13912345678"
    assert {f"resident:{world['resA1']}", f"household:{world['hhA1']}"} <= \
        audit_objects(db, world["cadre_A"])
    # cadre_A2 works community A but not this grid; the leader neither: masked, not audited.
    for who in ("cadre_A2", "leader_A"):
        other = as_user(who).get(url).json["household"]
        resident = next(r for r in other["residents"] if r["id"] == world["resA1"])
        assert resident["id_number"] == "440524********0014"
        assert resident["phone"] == "139****5678" and other["masked"] is True
        assert audit_objects(db, world[who]) == set()
    staff = as_user("committee_A").get(url).json["household"]
    assert staff["masked"] is False
    assert f"resident:{world['resA2']}" in audit_objects(db, world["committee_A"])
    assert as_user("cadre_B").get(url).status_code == 403
    assert as_user("committee_B").get(url).status_code == 403
    assert as_user("cadre_A").get(f"/api/households/{new_id()}").status_code == 404


def test_visit_created_duplicate_conflict(as_user, world, db):
    api = as_user("cadre_A")
    body = visit(world, residents=[{"resident_id": world["resA1"], "temperature": 36.6,
                                    "symptoms": [], "health_code": "green"}])
    created = api.post("/api/screening-visits", json=body)
    assert created.status_code == 201
    stored = created.json["visit"]
    assert stored["round_id"] == world["roundA"]
    assert stored["residents"][0]["temperature"] == 36.6
    again = api.post("/api/screening-visits", json=body)
    assert again.status_code == 200 and again.json["status"] == "duplicate"
    changed = api.post("/api/screening-visits", json={**body, "notes": "changed"})
    assert changed.status_code == 409
    assert changed.json["error"]["stored"]["notes"] == ""
    assert db.execute("SELECT count(*) FROM screening_visits").fetchone()[0] == 1


@pytest.mark.parametrize("temperature, status", [(33.9, 422), (34.0, 201), (37.3, 201),
                                                 (43.0, 201), (43.1, 422)])
def test_temperature_range(as_user, world, temperature, status):
    body = visit(world, residents=[{"resident_id": world["resA1"], "temperature": temperature}])
    response = as_user("cadre_A").post("/api/screening-visits", json=body)
    assert response.status_code == status
    if status == 422:
        assert response.json["error"]["fields"][0]["path"] == "/residents/0/temperature"


def test_temperature_rule_in_the_store_function(app, db, world):
    """The store function checks the range itself, for callers that skip the schema."""
    from server.auth import load_user_by_id
    from server.errors import ApiError
    from server.screening import store_screening_visit

    with app.test_request_context():
        user = load_user_by_id(db, world["cadre_A"])
        body = visit(world, residents=[{"resident_id": world["resA1"], "temperature": 44.0}])
        with pytest.raises(ApiError) as error:
            store_screening_visit(db, user, body, None)
    assert error.value.fields[0]["rule"] == "temperature_range"


def test_future_device_clock_flagged_not_trusted_and_future_dates_refused(as_user, world, db):
    api = as_user("cadre_A")
    later = datetime.now(SHANGHAI) + timedelta(days=2)
    body = visit(world, recorded_at=later.isoformat())
    response = api.post("/api/screening-visits", json=body)
    assert response.status_code == 201  # kept, not stuck in the phone's outbox
    row = db.execute("SELECT recorded_at, recorded_utc, received_at, local_day FROM "
                     "screening_visits WHERE id = ?", [body["id"]]).fetchone()
    assert row[0] == body["recorded_at"]  # the phone's claim is kept as sent...
    assert row[1] <= row[2]  # ...but counted at the server's time
    assert row[3] == datetime.now(SHANGHAI).date().isoformat()
    skew = datetime.now(SHANGHAI) + timedelta(minutes=5)  # a phone clock a little ahead: fine
    assert api.post("/api/screening-visits",
                    json=visit(world, recorded_at=skew.isoformat())).status_code == 201
    tomorrow = (datetime.now(SHANGHAI) + timedelta(days=1)).date().isoformat()
    response = api.post("/api/screening-visits", json=visit(world, residents=[
        {"resident_id": world["resA1"], "nat_date": tomorrow, "nat_result": "negative"}]))
    assert response.json["error"]["fields"][0]["path"] == "/residents/0/nat_date"


def test_visit_outside_jurisdiction_is_403(as_user, world, db):
    response = as_user("cadre_B").post("/api/screening-visits", json=visit(world))
    assert response.status_code == 403 and response.json["error"]["code"] == "forbidden"
    response = as_user("cadre_A").post("/api/screening-visits", json=visit(world, "hhB1"))
    assert response.status_code == 403
    unknown = as_user("cadre_A").post("/api/screening-visits",
                                      json={**visit(world), "household_id": new_id()})
    assert unknown.status_code == 404
    assert db.execute("SELECT count(*) FROM screening_visits").fetchone()[0] == 0


def test_resident_of_another_household_refused(as_user, world):
    response = as_user("cadre_A").post("/api/screening-visits", json=visit(world, residents=[
        {"resident_id": world["resA3"], "temperature": 36.5}]))
    assert response.status_code == 422
    assert response.json["error"]["fields"][0]["path"] == "/residents/0/resident_id"


def test_new_resident_found_at_the_door(as_user, world, db):
    api = as_user("cadre_A")
    bad = {"id": new_id(), "name": "赵小明", "id_number": "110105194912310021"}
    response = api.post("/api/screening-visits", json=visit(world, new_residents=[bad]))
    assert response.status_code == 422
    assert response.json["error"]["fields"][0] == {
        "path": "/new_residents/0/id_number", "message": "身份证号码校验不通过",
        "rule": "id_checksum"}
    good = {**bad, "id_number": ID_NUMBERS[0]}
    body = visit(world, new_residents=[good], residents=[
        {"resident_id": good["id"], "temperature": 38.2, "symptoms": ["fever", "cough"]}],
        result="home_isolation")
    assert api.post("/api/screening-visits", json=body).status_code == 201
    row = db.execute("SELECT birth_date, sex, id_type FROM residents WHERE id = ?",
                     [good["id"]]).fetchone()
    assert row == ("1949-12-31", "female", "id_card")


def test_nobody_home_stays_on_the_list(as_user, world):
    api = as_user("cadre_A")

    def todo():
        return {h["id"]: h for h in api.get("/api/my/day").json["households"]}

    assert set(todo()) == {world["hhA1"], world["hhA2"]}
    api.post("/api/screening-visits", json=visit(world, outcome="nobody_home", result=None)
             | {"result": "normal"})
    assert todo()[world["hhA1"]]["last_outcome"] == "nobody_home"
    api.post("/api/screening-visits", json=visit(world))
    assert set(todo()) == {world["hhA2"]}


def test_new_round_puts_households_back(as_user, world):
    api = as_user("cadre_A")
    api.post("/api/screening-visits", json=visit(world))
    today = datetime.now(SHANGHAI).date().isoformat()
    created = as_user("committee_A").post("/api/rounds", json={
        "community_id": world["A"], "name": "第二轮", "starts_on": today, "ends_on": today})
    assert created.status_code == 201
    assert world["hhA1"] in {h["id"] for h in api.get("/api/my/day").json["households"]}
    bad = as_user("committee_A").post("/api/rounds", json={
        "community_id": world["A"], "name": "第三轮", "starts_on": today, "ends_on": "2020-01-01"})
    assert bad.status_code == 422


def test_registry_edit_and_stale_edit_kept_as_conflict(as_user, world, db):
    url = f"/api/households/{world['hhA1']}"
    first = as_user("cadre_A").post(url, json={"id": new_id(), "recorded_at": shanghai_time(),
                                               "base_version": 1, "residents_count": 3})
    assert first.status_code == 201 and first.json["household"]["version"] == 2
    stale = {"id": new_id(), "recorded_at": shanghai_time(), "base_version": 1,
             "residents_count": 5, "notes": "另一干部的修改"}
    response = as_user("committee_A").post(url, json=stale)
    assert response.status_code == 409
    assert response.json["error"]["stored"]["residents_count"] == 3
    assert db.execute("SELECT residents_count, version FROM households WHERE id = ?",
                      [world["hhA1"]]).fetchone() == (3, 2)
    history = as_user("committee_A").get(url + "/history").json["household"]
    assert [(h["status"], h["base_version"], h["new_version"]) for h in history] == [
        ("applied", 1, 2), ("conflict", 1, None)]
    assert history[1]["fields"]["notes"] == "另一干部的修改"
    # the same stale edit sent again is answered the same way and stored once
    assert as_user("committee_A").post(url, json=stale).status_code == 409
    assert db.execute("SELECT count(*) FROM registry_history WHERE id = ?",
                      [stale["id"]]).fetchone()[0] == 1


def test_resident_id_checksum_and_defaults(as_user, world):
    api = as_user("cadre_A")
    body = {"resident_id": new_id(), "household_id": world["hhA2"], "name": "钱多多",
            "id_number": "440524188001010015"}
    bad = api.post("/api/residents", json=body)
    assert bad.status_code == 422
    assert bad.json["error"]["fields"][0]["path"] == "/id_number"
    good = api.post("/api/residents", json={**body, "id_number": "440524188001010014"})
    assert good.status_code == 201
    assert good.json["resident"]["sex"] == "male"
    assert good.json["resident"]["birth_date"] == "1880-01-01"
    passport = api.post("/api/residents", json={**body, "resident_id": new_id(),
                                                "id_type": "passport", "id_number": "E1234567"})
    assert passport.status_code == 201  # other documents are kept as typed
    missing = api.post("/api/residents", json={"resident_id": new_id(), "name": "无户"})
    assert missing.json["error"]["fields"][0]["path"] == "/household_id"


CSV = """网格,楼栋,单元,门牌,户主,联系电话,出租房屋,姓名,性别,证件号码,来源地,独居老人
甲一网格,2,1,201,周强,13811112222,否,周强,男,11010519491231002X,武汉,否
甲一网格,2,1,201,周强,13811112222,否,周芳,女,,本地,否
甲一网格,2,1,202,吴敏,13811113333,是,吴敏,女,110105194912310021,本地,否
无此网格,2,1,203,郑一,13811114444,否,郑一,男,,本地,否
甲一网格,2,1,,王二,13811115555,否,王二,男,,本地,否
甲一网格,2,1,205,冯三,13811116666,也许,冯三,男,,本地,否
"""


def upload(api, community_id, name, data):
    return api.client.post(f"/api/places/{community_id}/households/import",
                           data={"file": (io.BytesIO(data), name)},
                           headers={"X-CSRFToken": api.csrf},
                           content_type="multipart/form-data")


def test_csv_import_with_bad_rows_and_repeat(as_user, world, db):
    api = as_user("committee_A")
    report = upload(api, world["A"], "households.csv", CSV.encode("gb18030")).json
    assert report["households_created"] == 1 and report["residents_created"] == 2
    errors = {e["line"]: e["message"] for e in report["errors"]}
    assert set(errors) == {4, 5, 6, 7}
    assert "身份证" in errors[4] and "网格" in errors[5] and "门牌" in errors[6]
    assert "是 或 否" in errors[7]
    counts = db.execute("SELECT (SELECT count(*) FROM households), (SELECT count(*) FROM "
                        "residents), (SELECT count(*) FROM registry_history)").fetchone()
    again = upload(api, world["A"], "households.csv", CSV.encode("utf-8-sig")).json
    assert again["households_created"] == again["residents_created"] == again["updated"] == 0
    assert again["unchanged"] == [2, 3]
    assert db.execute("SELECT (SELECT count(*) FROM households), (SELECT count(*) FROM "
                      "residents), (SELECT count(*) FROM registry_history)").fetchone() == counts
    assert upload(as_user("committee_B"), world["A"], "h.csv", b"x").status_code == 403


def test_xlsx_import(as_user, world, db):
    from openpyxl import Workbook

    book = Workbook()
    sheet = book.active
    sheet.append(["网格", "楼栋", "单元", "门牌", "户主", "姓名", "证件号码", "出生日期", "返回日期"])
    sheet.append(["甲一网格", 3, 1, 301, "陈静", "陈静", "440524188001010014", None,
                  datetime(2026, 1, 20)])
    sheet.append(["甲一网格", 3, 1, 302, "林海", "林海", "", "1980-02-30", None])
    data = io.BytesIO()
    book.save(data)
    report = upload(as_user("committee_A"), world["A"], "h.xlsx", data.getvalue()).json
    assert report["households_created"] == 1 and report["residents_created"] == 1
    assert [e["line"] for e in report["errors"]] == [3]
    row = db.execute("SELECT h.building, h.door, r.return_date FROM households h JOIN residents r "
                     "ON r.household_id = h.id WHERE r.name = '陈静'").fetchone()
    assert row == ("3", "301", "2026-01-20")
    corrupt = upload(as_user("committee_A"), world["A"], "h.xlsx", b"not a workbook")
    assert corrupt.status_code == 422


def test_same_records_through_sync(as_user, world, db):
    api = as_user("cadre_A")
    good = visit(world)
    hot = visit(world, residents=[{"resident_id": world["resA1"], "temperature": 45}])
    outside = visit(world, "hhB1")
    stale = {"id": new_id(), "household_id": world["hhA1"], "base_version": 7, "notes": "x"}

    def record(kind, body):
        data = {k: v for k, v in body.items() if k not in ("id", "recorded_at")}
        return {"id": body["id"], "type": kind, "recorded_at": shanghai_time(), "data": data}

    batch = {"device_id": "phone-1", "records": [
        record("screening_visit", good), record("screening_visit", hot),
        record("screening_visit", outside), record("household", stale)]}
    batch["records"][0]["recorded_at"] = good["recorded_at"]
    results = api.post("/api/sync", json=batch).json["results"]
    assert [r["status"] for r in results] == ["created", "invalid", "invalid", "conflict"]
    assert results[1]["errors"][0]["path"] == "/data/residents/0/temperature"
    assert results[2]["code"] == "forbidden"
    assert results[3]["stored"]["version"] == 1
    again = api.post("/api/sync", json=batch).json["results"]
    assert again[0]["status"] == "duplicate"
    assert db.execute("SELECT device_id FROM screening_visits").fetchall() == [("phone-1",)]
    assert db.execute("SELECT status FROM registry_history").fetchall() == [("conflict",)]



def test_demo_households(tmp_path):
    from server.db import connect, init_db
    from server.demo import seed
    from server.idcard import is_valid_id_card

    init_db(tmp_path / "demo.db")
    db = connect(tmp_path / "demo.db")
    with db.atomic():
        seed(db, "2026-11-26")
    per_grid = db.execute("SELECT min(n), max(n) FROM (SELECT count(h.id) AS n FROM places p "
                          "LEFT JOIN households h ON h.grid_id = p.id WHERE p.kind = 'grid' "
                          "GROUP BY p.id)").fetchone()
    assert per_grid == (3, 3)
    assert all(is_valid_id_card(n) for (n,) in db.execute("SELECT id_number FROM residents"))
    assert db.execute("SELECT count(DISTINCT grid_id) FROM grid_assignments").fetchone()[0] == 12
    assert db.execute("SELECT count(DISTINCT community_id) FROM screening_rounds "
                      "WHERE starts_on <= '2026-11-26' AND ends_on >= '2026-11-26'").fetchone()[0] == 6
    assert db.execute("SELECT count(*) FROM isolation_cases WHERE status = 'open'").fetchone()[0] == 1
    db.close()
