"""POST /api/sync: the contract, idempotency, limits, and one bad record never blocking others."""

import threading
from datetime import datetime, timedelta

from helpers import PHONES, SHANGHAI, Api, new_id, shanghai_time


def checkin_record(token, record_id=None, when=None, **data):
    return {"id": record_id or new_id(), "type": "checkin", "recorded_at": shanghai_time(when),
            "data": {"token": token, **data}}


def sync(api, records, device_id="phone-1"):
    return api.post("/api/sync", json={"device_id": device_id, "records": records})


def count(db, table="checkins"):
    return db.execute(f"SELECT count(*) FROM {table}").fetchone()[0]


def test_mixed_batch_results_in_order(as_user, poster_token, db):
    api = as_user("cadre_A")
    good = checkin_record(poster_token("A"))
    gate = checkin_record(poster_token("A", "gateA"))
    stored = sync(api, [gate]).json["results"][0]
    assert stored["status"] == "created"
    conflicting = {**gate, "recorded_at": shanghai_time(datetime.now(SHANGHAI) - timedelta(hours=3))}
    records = [
        good,
        {"type": "checkin", "recorded_at": shanghai_time(), "data": {"token": "x"}},  # no id
        checkin_record(poster_token("B")[:-4] + "AAAA"),  # forged token
        conflicting,
        gate,  # same id, same content
        {"id": new_id(), "type": "teleport", "recorded_at": shanghai_time(), "data": {}},
        checkin_record(poster_token("A"), extra_field=1),
        {**checkin_record(poster_token("A")), "recorded_at": "yesterday"},
    ]
    response = sync(api, records)
    assert response.status_code == 200
    results = response.json["results"]
    assert [r["status"] for r in results] == [
        "created", "invalid", "invalid", "conflict", "duplicate", "invalid", "invalid", "invalid"]
    assert [r["id"] for r in results] == [r.get("id") for r in records]
    assert results[1]["errors"][0]["path"] == "/id"
    assert results[2]["code"] == "poster_invalid"
    assert results[3]["stored"]["recorded_at"] == gate["recorded_at"]
    assert results[5]["errors"][0]["path"] == "/type"
    assert results[6]["errors"][0]["path"] == "/data/extra_field"
    assert results[7]["errors"][0]["path"] == "/recorded_at"
    assert "server_time" in response.json
    assert count(db) == 2  # gate and good; nothing else


def test_replayed_batch_stores_nothing_new(as_user, poster_token, db):
    api = as_user("cadre_A")
    batch = [checkin_record(poster_token("A")), checkin_record(poster_token("A", "gateA"))]
    assert [r["status"] for r in sync(api, batch).json["results"]] == ["created", "created"]
    for _ in range(3):
        assert [r["status"] for r in sync(api, batch).json["results"]] == ["duplicate"] * 2
    assert count(db) == 2


def test_repeat_scan_is_a_duplicate_of_the_first(as_user, poster_token, db):
    api = as_user("cadre_A")
    first = checkin_record(poster_token("A"))
    second = checkin_record(poster_token("A"))
    results = sync(api, [first, second]).json["results"]
    assert results[1] == {"id": second["id"], "status": "duplicate", "duplicate_of": first["id"]}
    assert count(db) == 1


def test_checkout_through_sync_in_the_same_batch(as_user, poster_token, db):
    api = as_user("cadre_A")
    opened = checkin_record(poster_token("A", "gateA"))
    closed = {"id": new_id(), "type": "checkout",
              "recorded_at": shanghai_time(datetime.now(SHANGHAI) + timedelta(seconds=1)),
              "data": {"checkin_id": opened["id"]}}
    results = sync(api, [opened, closed]).json["results"]
    assert [r["status"] for r in results] == ["created", "created"]
    assert count(db, "checkouts") == 1


def test_device_and_times_are_stored(as_user, poster_token, db):
    api = as_user("cadre_A")
    future = checkin_record(poster_token("A"), when=datetime.now(SHANGHAI) + timedelta(days=2))
    sync(api, [future], device_id="phone-xyz")
    row = db.execute("SELECT device_id, received_at, clock_flag, user_id FROM checkins").fetchone()
    assert row[0] == "phone-xyz" and row[1] and row[2] == 1
    assert row[3] == db.execute("SELECT id FROM users WHERE phone = ?",
                                [PHONES["cadre_A"]]).fetchone()[0]


def test_a_phone_clock_days_behind_is_corrected_by_the_batchs_sent_at(as_user, poster_token, db):
    """The phone says when it sent the batch; the server corrects and flags
    (docs/field-lessons.md#clock-skew)."""
    api = as_user("cadre_A")
    behind = timedelta(days=2, hours=3)
    phone_now = datetime.now(SHANGHAI) - behind
    record = checkin_record(poster_token("A"), when=phone_now - timedelta(minutes=5))
    response = api.post("/api/sync", json={"device_id": "phone-1", "sent_at": shanghai_time(phone_now),
                                           "records": [record]})
    assert response.json["results"][0]["status"] == "created"
    assert abs(response.json["clock_offset_seconds"] - behind.total_seconds()) < 60
    row = db.execute("SELECT recorded_at, recorded_utc, local_day, clock_flag FROM checkins").fetchone()
    assert row[0] == record["recorded_at"]  # the phone's claim is kept as sent
    today = datetime.now(SHANGHAI)
    assert row[2] == (today - timedelta(minutes=5)).date().isoformat()  # counted on the real day
    assert row[3] == 1
    # A batch from a phone whose clock is right is taken as it is.
    good = checkin_record(poster_token("A", "gateA"), when=today - timedelta(hours=1))
    response = api.post("/api/sync", json={"sent_at": shanghai_time(), "records": [good]})
    assert "clock_offset_seconds" not in response.json
    assert db.execute("SELECT local_day, clock_flag FROM checkins WHERE id = ?",
                      [good["id"]]).fetchone() == ((today - timedelta(hours=1)).date().isoformat(), 0)
    bad = api.post("/api/sync", json={"sent_at": "yesterday", "records": []})
    assert bad.status_code == 422 and bad.json["error"]["fields"][0]["path"] == "/sent_at"


def test_needs_login_and_csrf(app, anon, poster_token, db):
    response = sync(anon, [checkin_record(poster_token("A"))])
    assert response.status_code == 401
    assert response.json["error"]["code"] == "login_required"
    api = Api(app)
    api.login(PHONES["cadre_A"])
    no_token = api.client.post("/api/sync", json={"records": []})
    assert no_token.status_code == 400
    assert count(db) == 0


def test_limits(app, as_user, poster_token, db):
    api = as_user("cadre_A")
    app.config["SYNC_MAX_RECORDS"] = 3
    response = sync(api, [checkin_record(poster_token("A")) for _ in range(4)])
    assert response.status_code == 413
    assert response.json["error"]["limits"]["max_records"] == 3
    big = checkin_record(poster_token("A"))
    big["data"]["token"] = "x" * (1024 * 1024)
    too_big = sync(api, [big])
    assert too_big.status_code == 413
    assert too_big.json["error"]["limits"]["max_content_length"] == 1024 * 1024
    assert count(db) == 0


def test_envelope_errors(as_user):
    api = as_user("cadre_A")
    response = api.post("/api/sync", json={"records": "all of them"})
    assert response.status_code == 422
    assert response.json["error"]["fields"][0]["path"] == "/records"
    listed = api.post("/api/sync", json={"records": [42]}).json["results"]
    assert listed[0]["status"] == "invalid"


def test_concurrent_syncs_of_the_same_records(app, poster_token, db):
    """Two phones (or a retry racing the original) send one batch
    (docs/field-lessons.md#parallel-sends-of-one-record)."""
    batch = [checkin_record(poster_token("A")), checkin_record(poster_token("A", "gateA")),
             checkin_record(poster_token("A", "gateA2"))]
    apis = [Api(app), Api(app), Api(app)]
    for api in apis:
        api.login(PHONES["cadre_A"])
    answers = []
    barrier = threading.Barrier(len(apis))

    def send(api):
        barrier.wait()
        answers.append([r["status"] for r in sync(api, batch).json["results"]])

    threads = [threading.Thread(target=send, args=(api,)) for api in apis]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(answers) == [["created"] * 3, ["duplicate"] * 3, ["duplicate"] * 3]
    assert count(db) == 3


def test_storage_failure_keeps_nothing_half_done(app, as_user, poster_token, db, monkeypatch):
    """A failure mid-batch (here: the disk refuses writes) answers 503 and stores nothing."""
    import sqlite3

    from server import checkins

    api = as_user("cadre_A")
    real = checkins.record_checkin
    calls = []

    def failing(db_, user_id, record, device_id=None):
        calls.append(record["id"])
        if len(calls) == 2:
            raise sqlite3.OperationalError("database or disk is full")
        return real(db_, user_id, record, device_id)

    monkeypatch.setattr(checkins, "record_checkin", failing)
    response = sync(api, [checkin_record(poster_token("A")), checkin_record(poster_token("A", "gateA"))])
    assert response.status_code == 503
    assert response.headers["Retry-After"]
    assert count(db) == 0  # the first record was rolled back too: the phone resends both


def the_apps_connection(app):
    """The connection the app's request threads use (the test client runs in this thread)."""
    from server.db import get_db

    with app.app_context():
        return get_db()


def test_a_full_disk_answers_503_and_the_resend_is_stored(app, as_user, poster_token, db):
    """SQLite's own "database or disk is full" (max_page_count stops the file growing), no mock."""
    api = as_user("cadre_A")
    conn = the_apps_connection(app)
    pages = conn.execute("PRAGMA page_count").fetchone()[0]
    conn.execute(f"PRAGMA max_page_count = {pages}")
    batch = [checkin_record(poster_token("A")) for _ in range(2)]
    batch = [{**r, "recorded_at": shanghai_time(datetime.now(SHANGHAI) - timedelta(hours=i))}
             for i, r in enumerate(batch)]
    before = count(db)
    for n in range(200):  # until the fixed-size file has no page left
        filler = checkin_record(poster_token("A", "gateA"),
                                when=datetime.now(SHANGHAI) - timedelta(days=1, hours=n))
        response = sync(api, [filler])
        if response.status_code == 503:
            break
    assert response.status_code == 503, "the disk never filled"
    assert response.json["error"]["code"] == "storage_unavailable"
    assert response.headers["Retry-After"]
    stored_while_full = count(db)
    assert sync(api, batch).status_code == 503
    assert count(db) == stored_while_full >= before  # the refused batch left nothing behind
    conn.execute("PRAGMA max_page_count = 1073741823")  # space again: the phone resends
    assert [r["status"] for r in sync(api, batch).json["results"]] == ["created", "created"]
    assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"


def test_a_read_only_database_answers_503_and_keeps_everything(app, as_user, poster_token, db):
    api = as_user("cadre_A")
    assert sync(api, [checkin_record(poster_token("A"))]).status_code == 200
    conn = the_apps_connection(app)
    conn.execute("PRAGMA query_only = ON")  # SQLite refuses every write, as on a read-only mount
    try:
        response = sync(api, [checkin_record(poster_token("A", "gateA"))])
        assert response.status_code == 503 and response.headers["Retry-After"]
        assert api.get("/api/checkins/mine").status_code == 200  # reading still works
    finally:
        conn.execute("PRAGMA query_only = OFF")
    assert count(db) == 1


def test_changes_give_the_posters_for_offline_checkin(as_user, poster_token, world):
    api = as_user("cadre_A")
    sync(api, [checkin_record(poster_token("A"))])
    changes = api.get("/api/sync/changes").json
    names = sorted(p["name"] for p in changes["posters"]["items"])
    assert names == ["甲社区", "甲社区 · 北门卡口", "甲社区 · 南门卡口"]
    assert len(changes["checkins"]["items"]) == 1 and changes["cursor"]
    # A cadre of B does not get A's posters.
    other = as_user("cadre_B").get("/api/sync/changes").json
    assert {p["community"]["name"] for p in other["posters"]["items"]} == {"乙社区"}
    assert as_user("cadre_B").get("/api/sync/changes").status_code == 200


def test_changes_carry_the_cadres_offline_work(as_user, world):
    changes = as_user("cadre_A").get("/api/sync/changes").json
    households = changes["households"]["items"]
    assert households and all(h["masked"] for h in households)
    assert {h["community_id"] for h in households} == {world["A"]}
    residents = [r for h in households for r in h["residents"]]
    assert residents and all("*" in (r.get("id_number") or "*") for r in residents)
    assert changes["day"]["items"][0]["day"]
    assert "items" in changes["cases"]
    # cadre_B's grid holds none of A's households.
    other = as_user("cadre_B").get("/api/sync/changes").json["households"]["items"]
    assert all(h["community_id"] != world["A"] for h in other)


def test_checkout_of_a_repeat_scan_closes_the_first_checkin(as_user, poster_token, db):
    """The phone captured 报到 twice offline and then 签退 against the second one."""
    api = as_user("cadre_A")
    first = checkin_record(poster_token("A", "gateA"))
    repeat = checkin_record(poster_token("A", "gateA"))
    closed = {"id": new_id(), "type": "checkout",
              "recorded_at": shanghai_time(datetime.now(SHANGHAI) + timedelta(seconds=2)),
              "data": {"checkin_id": repeat["id"]}}
    results = sync(api, [first, repeat, closed]).json["results"]
    assert [r["status"] for r in results] == ["created", "duplicate", "created"]
    assert db.execute("SELECT checkin_id FROM checkouts").fetchone()[0] == first["id"]
    # Resending the repeat stays a duplicate; the same id with other content is a conflict.
    again = sync(api, [repeat]).json["results"][0]
    assert again["status"] == "duplicate" and again["duplicate_of"] == first["id"]
    changed = {**repeat, "data": {"token": poster_token("A")}}
    assert sync(api, [changed]).json["results"][0]["status"] == "conflict"
    assert count(db) == 1


def test_created_results_carry_the_server_copy(as_user, poster_token):
    result = sync(as_user("cadre_B"), [checkin_record(poster_token("A"))]).json["results"][0]
    assert result["status"] == "created"
    assert result["stored"]["outside_assignment"] is True
    assert result["stored"]["community"]["name"] == "甲社区"
