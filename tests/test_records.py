"""The record protocol (server/records.py): one path for every record type, live and synced.

- An id taken by another account's record is refused (`id_taken`) without any field of that
  record, for every record type, live and through /api/sync.
- A record that breaks a database constraint is refused alone: the rest of its batch is stored.
- Only records.py compares content hashes.
"""

from __future__ import annotations

import json
import re
import sqlite3
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from helpers import SHANGHAI, new_id, shanghai_time

from server import records
from server.db import connect
from server.records import Earlier, Incoming

ROOT = Path(__file__).resolve().parents[1]


def today() -> str:
    return datetime.now(SHANGHAI).date().isoformat()


def as_sync(record_type: str, body: dict) -> dict:
    return {"id": body["id"], "type": record_type, "recorded_at": body["recorded_at"],
            "data": {k: v for k, v in body.items() if k not in ("id", "recorded_at")}}


def sync(api, *records_):
    return api.post("/api/sync", json={"device_id": "phone-x", "records": list(records_)})


def stored_by_a(as_user, world, poster_token) -> dict:
    """One record of each type stored for community A, each carrying a secret only A may see.

    Returns type → (live URL, the body as stored, secrets that must never reach community B)."""
    cadre_a, committee_a = as_user("cadre_A"), as_user("committee_A")
    made: dict = {}

    def keep(record_type, api, url, body, secrets):
        result = sync(api, as_sync(record_type, body)).json["results"][0]
        assert result["status"] == "created", (record_type, result)
        made[record_type] = (url, body, secrets)
        return result

    stamp = shanghai_time
    checkin = {"id": new_id(), "recorded_at": stamp(), "token": poster_token("A")}
    keep("checkin", cadre_a, "/api/checkins", checkin, ["王建国", "甲社区"])
    keep("checkout", cadre_a, "/api/checkouts",
         {"id": new_id(), "recorded_at": stamp(), "checkin_id": checkin["id"]},
         ["王建国", "甲社区"])
    keep("household", cadre_a, "/api/households",
         {"id": new_id(), "recorded_at": stamp(), "household_id": new_id(), "base_version": 0,
          "grid_id": world["gridA"], "building": "9", "unit": "9", "door": "909",
          "head_name": "甲秘户主", "notes": "甲秘户备注"}, ["甲秘户主", "甲秘户备注", "909"])
    keep("resident", cadre_a, "/api/residents",
         {"id": new_id(), "recorded_at": stamp(), "resident_id": new_id(),
          "household_id": world["hhA1"], "base_version": 0, "name": "甲秘居民",
          "notes": "甲秘居民备注"}, ["甲秘居民", "甲秘居民备注"])
    keep("screening_visit", cadre_a, "/api/screening-visits",
         {"id": new_id(), "recorded_at": stamp(), "household_id": world["hhA1"],
          "outcome": "answered", "result": "normal", "notes": "甲秘走访"},
         ["甲秘走访", "赵大伟", "101"])
    case = {"id": new_id(), "recorded_at": stamp(), "resident_id": world["resA1"],
            "reason": "close_contact", "starts_on": today(), "policy_id": world["policy8"],
            "notes": "甲秘隔离"}
    keep("isolation_case", committee_a, "/api/isolation/cases", case,
         ["甲秘隔离", "赵大伟", "101"])
    keep("isolation_visit", committee_a, "/api/isolation/visits",
         {"id": new_id(), "recorded_at": stamp(), "case_id": case["id"], "slot": "morning",
          "temperature": 36.6, "notes": "甲秘访视"}, ["甲秘访视", "36.6"])
    keep("delivery", cadre_a, "/api/deliveries",
         {"id": new_id(), "recorded_at": stamp(), "action": "raise",
          "household_id": world["hhA2"], "kind": "other", "what": "甲秘物资"},
         ["甲秘物资", "钱小红", "102"])
    ticket = {"id": new_id(), "recorded_at": stamp(), "enterprise_id": world["mill"],
              "category": "materials", "description": "甲秘问题"}
    keep("problem_ticket", committee_a, "/api/tickets", ticket, ["甲秘问题", "甲面粉厂"])
    keep("ticket_update", committee_a, f"/api/tickets/{ticket['id']}/updates",
         {"id": new_id(), "recorded_at": stamp(), "ticket_id": ticket["id"],
          "note": "甲秘进展"}, ["甲秘问题", "甲秘进展", "甲面粉厂"])
    keep("volunteer", cadre_a, "/api/volunteers",
         {"id": new_id(), "recorded_at": stamp(), "note": "甲秘请战"}, ["甲秘请战"])
    return made


# A read mark is kept per (notice, reader), not by an id of its own: its answer is the
# reader's own inbox copy, so there is no one else's record an id could name.
ID_KEYED_TYPES = ["checkin", "checkout", "household", "resident", "screening_visit",
                  "isolation_case", "isolation_visit", "delivery", "problem_ticket",
                  "ticket_update", "volunteer"]


def test_every_id_keyed_type_is_covered():
    from server.sync import RECORD_TYPES

    assert set(RECORD_TYPES) - set(ID_KEYED_TYPES) == {"notice_read"}


@pytest.mark.parametrize("who", ["cadre_B", "committee_B"])
def test_an_id_of_community_a_tells_community_b_nothing(as_user, world, poster_token, db, who):
    made = stored_by_a(as_user, world, poster_token)
    attacker = as_user(who)
    for record_type, (url, body, secrets) in made.items():
        if record_type == "volunteer" and who == "committee_B":
            continue  # only cadres and leaders volunteer: refused by role before any lookup
        synced = sync(attacker, as_sync(record_type, body))
        assert synced.status_code == 200
        result = synced.json["results"][0]
        assert (result["status"], result.get("code")) == ("invalid", "id_taken"), \
            (record_type, result)
        assert "stored" not in result
        assert result["errors"][0]["path"] == "/id"
        live = attacker.post(url, json=body)
        assert live.status_code in (403, 409), (record_type, live.status_code, live.json)
        assert "stored" not in live.json["error"], record_type
        for answer in (synced, live):
            text = json.dumps(answer.json, ensure_ascii=False)  # the raw body escapes 汉字
            leaked = [s for s in secrets if s in text]
            assert not leaked, (record_type, leaked)
    # Nothing of B's attempts was stored.
    assert db.execute("SELECT count(*) FROM checkins").fetchone()[0] == 1
    assert db.execute("SELECT count(*) FROM screening_visits").fetchone()[0] == 1


def test_the_owner_still_gets_duplicate_and_conflict_with_the_stored_copy(as_user, world,
                                                                          poster_token):
    made = stored_by_a(as_user, world, poster_token)
    url, body, _ = made["screening_visit"]
    owner = as_user("cadre_A")
    again = owner.post(url, json=body)
    assert again.status_code == 200 and again.json["status"] == "duplicate"
    changed = owner.post(url, json={**body, "notes": "改过"})
    assert changed.status_code == 409
    assert changed.json["error"]["stored"]["notes"] == "甲秘走访"
    synced = sync(owner, as_sync("screening_visit", {**body, "notes": "改过"})).json["results"][0]
    assert synced["status"] == "conflict" and synced["stored"]["notes"] == "甲秘走访"


def test_an_id_taken_is_said_in_the_users_language(as_user, world, poster_token):
    made = stored_by_a(as_user, world, poster_token)
    url, body, _ = made["screening_visit"]
    zh = as_user("cadre_B").post(url, json=body).json["error"]
    en = as_user("cadre_B", lang="en").post(url, json=body).json["error"]
    assert zh["code"] == en["code"] == "id_taken"
    assert "编号" in zh["fields"][0]["message"]
    assert "someone else" in en["fields"][0]["message"]


def test_two_new_residents_with_one_id_are_refused_alone(as_user, world, poster_token, db):
    """The batch that raised an IntegrityError (a 500, resent forever) now stores the rest."""
    api = as_user("cadre_A")
    twin = new_id()
    visit = {"id": new_id(), "recorded_at": shanghai_time(), "household_id": world["hhA2"],
             "outcome": "answered", "result": "normal",
             "new_residents": [{"id": twin, "name": "双胞一"}, {"id": twin, "name": "双胞二"}]}
    good = {"id": new_id(), "recorded_at": shanghai_time(), "household_id": world["hhA1"],
            "outcome": "answered", "result": "normal"}
    checkin = {"id": new_id(), "recorded_at": shanghai_time(), "token": poster_token("A")}
    answer = sync(api, as_sync("screening_visit", good), as_sync("screening_visit", visit),
                  as_sync("checkin", checkin))
    assert answer.status_code == 200
    results = answer.json["results"]
    assert [r["status"] for r in results] == ["created", "invalid", "created"]
    assert results[1]["code"] == "record_rejected"
    assert results[1]["errors"][0]["rule"] == "unique"
    assert db.execute("SELECT count(*) FROM residents WHERE id = ?", [twin]).fetchone()[0] == 0
    assert db.execute("SELECT count(*) FROM screening_visits WHERE id = ?",
                      [visit["id"]]).fetchone()[0] == 0
    assert db.execute("SELECT count(*) FROM screening_visits WHERE id = ?",
                      [good["id"]]).fetchone()[0] == 1
    live = api.post("/api/screening-visits", json={**visit, "id": new_id()})
    assert live.status_code == 422 and live.json["error"]["code"] == "record_rejected"


def test_a_constraint_inside_the_savepoint_rolls_back_that_record_only(app, db):
    """records.store on the real file: a trigger's ABORT inside one record's savepoint."""
    db.execute("CREATE TABLE t (id TEXT PRIMARY KEY, v TEXT)")
    db.execute("""CREATE TRIGGER t_no_boom BEFORE INSERT ON t WHEN NEW.v = 'boom'
                  BEGIN SELECT RAISE(ABORT, 'no boom'); END""")
    with app.test_request_context():
        def attempt(value: str):
            record = {"id": new_id(), "recorded_at": shanghai_time()}
            incoming = Incoming.of(1, record)

            def create():
                db.execute("INSERT INTO t VALUES (?, 'before')", [new_id()])
                db.execute("INSERT INTO t VALUES (?, ?)", [incoming.id, value])
                return "created", {}
            return records.store(db, incoming, None, create)

        db.conn.execute("BEGIN IMMEDIATE")
        assert attempt("fine")[0] == "created"
        with pytest.raises(records.ApiError) as refused:
            attempt("boom")
        assert refused.value.code == "record_rejected"
        db.conn.execute("COMMIT")
    other = connect(app.config["DATABASE"])
    try:
        assert other.execute("SELECT v FROM t ORDER BY v").fetchall() == [("before",), ("fine",)]
    finally:
        other.close()


def test_answer_earlier():
    incoming = Incoming(record={"id": "x"}, user_id=7, device_id=None, digest="h",
                        trusted=datetime.now(SHANGHAI), received=datetime.now(SHANGHAI))
    shown = {"secret": 1}
    assert records.answer_earlier(Earlier(7, "h", lambda: shown), incoming) == ("duplicate", shown)
    assert records.answer_earlier(Earlier(7, "other", lambda: shown), incoming) == \
        ("conflict", shown)
    assert records.answer_earlier(Earlier(7, "h", lambda: shown, same="repeat"), incoming)[0] == \
        "repeat"
    with pytest.raises(records.ApiError) as taken:
        records.answer_earlier(Earlier(8, "h", lambda: shown), incoming)
    assert taken.value.code == "id_taken" and "stored" not in taken.value.extra


def test_the_hash_leaves_out_only_how_a_record_travelled():
    record = {"id": "a", "device_id": "p1", "recorded_at": "t", "notes": "x"}
    same = records.content_hash(1, record)
    assert records.content_hash(1, {**record, "id": "b", "device_id": "p2"}) == same
    assert records.content_hash(1, {**record, "notes": "y"}) != same
    assert records.content_hash(2, record) != same  # the author is part of the content


def test_trusted_time_replaces_a_clock_far_ahead(app):
    with app.test_request_context():
        ahead = (datetime.now(SHANGHAI) + timedelta(hours=3)).isoformat()
        near = (datetime.now(SHANGHAI) + timedelta(minutes=2)).isoformat()
        assert Incoming.of(1, {"id": "a", "recorded_at": ahead}).clock_flag
        assert not Incoming.of(1, {"id": "a", "recorded_at": near}).clock_flag


def test_only_records_py_compares_content_hashes():
    """The protocol is typed once: no store function compares payload hashes by hand."""
    pattern = re.compile(r"payload_hash\"?\]?\s*[!=]=|==\s*\w*\.?digest\b|digest\s*[!=]=")
    found = [f"{path.relative_to(ROOT)}:{number}"
             for path in sorted((ROOT / "server").rglob("*.py"))
             for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
             if pattern.search(line)]
    assert len(found) == 1 and found[0].startswith("server/records.py:"), found


def test_sqlite_integrity_error_is_what_a_constraint_raises(tmp_path):
    """rejected() relies on the stdlib's mapping of SQLITE_CONSTRAINT to IntegrityError."""
    conn = sqlite3.connect(tmp_path / "x.db")
    conn.execute("CREATE TABLE t (id TEXT PRIMARY KEY)")
    conn.execute("INSERT INTO t VALUES ('a')")
    with pytest.raises(sqlite3.IntegrityError) as error:
        conn.execute("INSERT INTO t VALUES ('a')")
    assert records.rejected(error.value).fields[0]["rule"] == "unique"
    conn.close()
