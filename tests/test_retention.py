"""Retention: personal fields go when their purpose is met; every tally stays the same."""

from datetime import date, datetime, timedelta

import pytest
from helpers import SHANGHAI, new_id, shanghai_time

import run
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
    from helpers import Api

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
        assert anonymise(db, today, 60) == {"households": 0, "residents": 0}  # not yet
        done = anonymise(db, today, 30)
    assert done == {"households": 1, "residents": 1}
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
        assert anonymise(db, today, 30) == {"households": 0, "residents": 0}
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
