"""Retention: personal fields go when their purpose is met; every tally stays the same."""

from datetime import date, datetime, timedelta
from pathlib import Path

import pytest
from helpers import SHANGHAI, Api, new_id, shanghai_time

import run
import server.db as server_db
from server.retention import ANONYMISED_NAME, anonymise
from server.tallies.engine import daily_tally
from server.tallies.progress import work_records


def _screen(api, world, household):
    body = {"id": new_id(), "recorded_at": shanghai_time(), "household_id": world[household],
            "outcome": "answered", "result": "normal",
            "residents": [{"resident_id": world["resB1"], "temperature": 38.0}]
            if household == "hhB1" else []}
    assert api.post("/api/screening-visits", json=body).status_code == 201


def _numbers(app, db, world):
    day = datetime.now(SHANGHAI).date().isoformat()
    with app.app_context():
        tallies = [daily_tally(db, world[c], day, "Asia/Shanghai") for c in ("A", "B")]
    for numbers in tallies:
        numbers.pop("checkpoint_hours_uncovered")  # grows with the clock, not with the data
        district = db.execute("SELECT * FROM places WHERE id = ?", [world["district"]]).fetchone()
        records = work_records(db, {"path": db.execute("SELECT path FROM places WHERE id = ?",
                                                       [world["district"]]).fetchone()[0]},
                               day, day, "Asia/Shanghai")
    assert district
    return tallies, records


def test_households_past_their_purpose_are_anonymised_tallies_unchanged(app, db, world, as_user):
    cadre_b = Api(app)
    cadre_b.login("13800000003")
    db.execute("INSERT INTO grid_assignments (grid_id, user_id, created_at) VALUES (?, ?, ?)",
               [world["gridB"], world["cadre_B"], "2026-01-01"])
    _screen(cadre_b, world, "hhB1")
    _screen(as_user("cadre_A"), world, "hhA1")
    # B's round ended 40 days ago; A's is still open.
    ended = (datetime.now(SHANGHAI).date() - timedelta(days=40)).isoformat()
    db.execute("UPDATE screening_rounds SET ends_on = ? WHERE id = ?", [ended, world["roundB"]])
    before = _numbers(app, db, world)
    today = datetime.now(SHANGHAI).date()
    with app.app_context():
        assert anonymise(db, today, 60)["households"] == 0  # not yet
        done = anonymise(db, today, 30)
    assert (done["households"], done["residents"], done["file_rebuilt"]) == (1, 1, True)
    b1 = db.execute("SELECT name, id_number, phone FROM residents WHERE id = ?",
                    [world["resB1"]]).fetchone()
    assert b1 == (ANONYMISED_NAME, "", "")
    assert db.execute("SELECT head_name, phone FROM households WHERE id = ?",
                      [world["hhB1"]]).fetchone() == ("", "")
    a1 = db.execute("SELECT name FROM residents WHERE id = ?", [world["resA1"]]).fetchone()[0]
    assert a1 == "赵大伟"  # A's round is open: still needed
    assert _numbers(app, db, world) == before
    # Twice is harmless, and the run is in the audit log.
    with app.app_context():
        assert anonymise(db, today, 30) == {"households": 0, "residents": 0, "copies": {},
                                            "file_rebuilt": False}
    assert db.execute("SELECT count(*) FROM audit_log WHERE object = 'retention'").fetchone()[0] == 1


def test_an_open_or_recent_case_keeps_the_household(app, db, world, as_user):
    committee = as_user("committee_B")
    case = {"id": new_id(), "recorded_at": shanghai_time(), "resident_id": world["resB1"],
            "reason": "close_contact", "starts_on": datetime.now(SHANGHAI).date().isoformat(),
            "policy_id": world["policy9"]}
    assert committee.post("/api/isolation/cases", json=case).status_code == 201
    db.execute("UPDATE screening_rounds SET ends_on = '2026-01-02' WHERE id = ?", [world["roundB"]])
    with app.app_context():
        assert anonymise(db, date.today(), 30)["households"] == 0


def test_retention_command(app, monkeypatch, capsys):
    monkeypatch.setenv("BAODAO_DATA", app.config["DATA_DIR"])
    monkeypatch.setenv("BAODAO_SECRET_KEY", "cli-test-secret")
    assert run.main(["retention"]) == 2  # no days given, none configured
    assert run.main(["retention", "--days", "30"]) == 0
    assert "anonymised 0 households" in capsys.readouterr().out
    with pytest.raises(ValueError):
        anonymise(None, date.today(), 0)


# A person who appears in every kind of record, with strings found nowhere else.
NAME, OLD_PHONE, PHONE = "欧阳翠花", "13698765432", "13524681357"
ID_NUMBER = "110105196803154426"  # a valid GB 11643 checksum (tests/helpers.py: ID_NUMBERS)
LANDLORD, LANDLORD_PHONE = "司马德胜", "13366668888"


def _person_everywhere(app, db, world, as_user) -> dict:
    """Household B1 and a resident of it named in a registry edit, a visit's notes, a fever
    alert, an isolation case and its visits, a delivery and its step, a manual notice."""
    db.execute("INSERT INTO grid_assignments (grid_id, user_id, created_at) VALUES (?, ?, ?)",
               [world["gridB"], world["cadre_B"], "2026-01-01"])
    cadre = Api(app)
    cadre.login("13800000003")
    committee = as_user("committee_B")
    now = shanghai_time()
    resident = new_id()
    added = committee.post("/api/residents", json={
        "id": new_id(), "recorded_at": now, "resident_id": resident, "base_version": 0,
        "household_id": world["hhB1"], "name": NAME, "id_type": "id_card",
        "id_number": ID_NUMBER, "phone": OLD_PHONE, "notes": f"{NAME}的女儿在外地"})
    assert added.status_code == 201, added.json
    edited = committee.post(f"/api/residents/{resident}", json={
        "id": new_id(), "recorded_at": now, "resident_id": resident, "base_version": 1,
        "phone": PHONE, "companions": f"{NAME}之夫", "notes": "慢性病，每周复诊。" * 30})
    assert edited.json["status"] == "created", edited.json
    household = committee.post(f"/api/households/{world['hhB1']}", json={
        "id": new_id(), "recorded_at": now, "household_id": world["hhB1"], "base_version": 1,
        "is_rental": True, "landlord": LANDLORD, "landlord_phone": LANDLORD_PHONE,
        "tenants": f"{NAME} {PHONE}"})
    assert household.json["status"] == "created", household.json
    visit = cadre.post("/api/screening-visits", json={
        "id": new_id(), "recorded_at": now, "household_id": world["hhB1"],
        "round_id": world["roundB"], "outcome": "answered", "result": "home_isolation",
        "notes": f"{NAME}发烧，电话{PHONE}，身份证{ID_NUMBER}",
        "residents": [{"resident_id": resident, "temperature": 38.6},
                      {"resident_id": world["resB1"], "temperature": 36.5}]})
    assert visit.status_code == 201, visit.json
    case = {"id": new_id(), "recorded_at": now, "resident_id": resident,
            "reason": "close_contact", "starts_on": datetime.now(SHANGHAI).date().isoformat(),
            "policy_id": world["policy9"], "cadre_ids": [world["cadre_B"]],
            "notes": f"{NAME}，联系{PHONE}"}
    assert committee.post("/api/isolation/cases", json=case).status_code == 201
    iso = cadre.post("/api/isolation/visits", json={
        "id": new_id(), "recorded_at": now, "case_id": case["id"], "slot": "evening",
        "temperature": 38.9, "notes": f"打{PHONE}无人接，{NAME}在家",
        "needs": [{"kind": "medicine", "what": f"给{NAME}买退烧药"}]})
    assert iso.status_code == 201, iso.json
    delivery = cadre.get("/api/my/day").json["deliveries"][0]
    assert delivery["for_whom"] == NAME
    taken = cadre.post("/api/deliveries", json={
        "id": new_id(), "recorded_at": shanghai_time(), "action": "take",
        "delivery_id": delivery["id"], "note": f"已电话{PHONE}联系{NAME}"})
    assert taken.json["status"] == "created", taken.json
    sent = committee.post("/api/notices", json={
        "title": f"请关注{NAME}", "body": f"{NAME}（{PHONE}）需要帮助", "target": {}})
    assert sent.status_code == 201, sent.json
    ended = committee.post(f"/api/isolation/cases/{case['id']}/end", json={
        "base_version": 1, "outcome": "transferred",
        "ended_on": datetime.now(SHANGHAI).date().isoformat(),
        "reason": f"{NAME}转院", "transferred_to": f"市医院（{NAME}，{PHONE}）"})
    assert ended.status_code == 200, ended.json
    alerts = [r[0] for r in db.execute("SELECT body FROM notices WHERE kind = 'health_alert'")]
    assert len(alerts) == 2 and all(NAME in body for body in alerts)
    return {"resident": resident, "case": case["id"]}


def _file_bytes(app, db) -> bytes:
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchall()
    path = Path(app.config["DATABASE"])
    files = [path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-journal")]
    return b"".join(f.read_bytes() for f in files if f.exists())


def test_anonymising_removes_the_person_from_every_copy(app, db, world, as_user, monkeypatch):
    """Retention leaves none of a person's name, ID number or phones anywhere in the file:
    not in notices, deliveries, visit notes, case texts, edit history, nor in free space."""
    # SQLite as most builds ship it (Debian's turns secure_delete on): an edit leaves the old
    # row in its page's free space, for retention to clear.
    connect = server_db.connect

    def connect_default(path):
        handle = connect(path)
        handle.execute("PRAGMA secure_delete = OFF")
        return handle

    monkeypatch.setattr(server_db, "connect", connect_default)
    db.execute("PRAGMA secure_delete = OFF")
    ids = _person_everywhere(app, db, world, as_user)
    secrets = [NAME, ID_NUMBER, OLD_PHONE, PHONE, LANDLORD, LANDLORD_PHONE,
               "孙立", "13711112222", "110101199003074477"]  # household B1's head, as built
    data = _file_bytes(app, db)
    assert all(s.encode() in data for s in secrets)  # the test would see them
    db.execute("UPDATE screening_rounds SET ends_on = ? WHERE id = ?",
               [datetime.now(SHANGHAI).date().isoformat(), world["roundB"]])
    before = _numbers(app, db, world)
    later = datetime.now(SHANGHAI).date() + timedelta(days=40)
    with app.app_context():
        done = anonymise(db, later, 30)
    assert done["households"] == 1 and done["residents"] == 2
    assert _numbers(app, db, world) == before  # no tally moves
    data = _file_bytes(app, db)
    assert [s for s in secrets if s.encode() in data] == []
    # What stays: the records, their ids and numbers; notices that named the person read neutral.
    assert db.execute("SELECT name, id_number, phone FROM residents WHERE id = ?",
                      [ids["resident"]]).fetchone() == (ANONYMISED_NAME, "", "")
    assert db.execute("SELECT status, end_outcome, notes, transferred_to FROM isolation_cases "
                      "WHERE id = ?", [ids["case"]]).fetchone() == ("ended", "transferred", "", "")
    assert db.execute("SELECT count(*) FROM deliveries").fetchone()[0] == 1
    assert db.execute("SELECT count(*) FROM isolation_visits").fetchone()[0] == 1
    assert db.execute("SELECT count(*) FROM notices WHERE kind = 'health_alert'").fetchone()[0] == 2
    title, body = db.execute("SELECT title, body FROM notices WHERE kind = 'manual'").fetchone()
    assert ANONYMISED_NAME in title and ANONYMISED_NAME in body
    detail = db.execute("SELECT detail FROM audit_log WHERE object = 'retention'").fetchone()[0]
    assert "2 residents" in detail and "notices" in detail
    # Idempotent: a second run finds nothing due and writes nothing.
    with app.app_context():
        assert anonymise(db, later, 30)["households"] == 0
    assert db.execute("SELECT count(*) FROM audit_log WHERE object = 'retention'").fetchone()[0] == 1


def test_text_an_earlier_edit_left_in_free_space_is_gone(app, db, world):
    """An edit that grew a row moved it and left the old copy in its page's free space, beside
    rows that stay: only rebuilding the file (VACUUM) removes it; secure_delete cannot."""
    db.execute("PRAGMA secure_delete = OFF")  # as most SQLite builds (Debian's turns it on)
    stamp, name = "2026-01-01T00:00:00.000000Z", "上官婉清"

    def resident(household, who, notes=""):
        db.execute("""INSERT INTO residents (id, household_id, name, notes, created_at,
                          updated_at) VALUES (?,?,?,?,?,?)""",
                   [new_id(), world[household], who, notes, stamp, stamp])

    resident("hhB1", name, "短")
    for i in range(5):
        resident("hhA1", f"甲{i}", "x" * 50)
    db.execute("UPDATE residents SET notes = ? WHERE name = ?", ["长" * 80, name])
    for i in range(5):
        resident("hhA1", f"乙{i}", "y" * 50)
    assert _file_bytes(app, db).count(name.encode()) == 2  # the row and its old copy
    db.execute("UPDATE screening_rounds SET ends_on = '2026-01-02' WHERE id = ?", [world["roundB"]])
    with app.app_context():
        done = anonymise(db, date.today(), 30)
    assert done["households"] == 1 and done["file_rebuilt"] is True
    assert name.encode() not in _file_bytes(app, db)
