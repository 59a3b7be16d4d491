import threading
from datetime import datetime, timedelta

from helpers import SHANGHAI, Api, new_id, shanghai_time

from server.db import connect
from server.timeutil import utc_text


def checkin(api, token, record_id=None, recorded_at=None, **extra):
    body = {"id": record_id or new_id(), "token": token,
            "recorded_at": recorded_at or shanghai_time(), **extra}
    return api.post("/api/checkins", json=body), body


def test_checkin_created_and_listed(as_user, poster_token):
    api = as_user("cadre_A")
    response, body = checkin(api, poster_token("A"), device_id="dev-1",
                             location={"lat": 30.5, "lng": 114.3, "accuracy": 12})
    assert response.status_code == 201
    assert response.json["status"] == "created"
    stored = response.json["checkin"]
    assert stored["id"] == body["id"]
    assert stored["community"]["name"] == "甲社区"
    assert stored["outside_assignment"] is False
    assert stored["is_watch"] is False
    mine = api.get("/api/checkins/mine").json["checkins"]
    assert [c["id"] for c in mine] == [body["id"]]


def test_same_id_same_content_is_duplicate(as_user, poster_token, db):
    api = as_user("cadre_A")
    first, body = checkin(api, poster_token("A"))
    again = api.post("/api/checkins", json=body)
    assert again.status_code == 200 and again.json["status"] == "duplicate"
    assert db.execute("SELECT count(*) FROM checkins").fetchone()[0] == 1


def test_same_id_other_content_is_conflict_and_original_kept(as_user, poster_token, db):
    api = as_user("cadre_A")
    first, body = checkin(api, poster_token("A"))
    changed = {**body, "recorded_at": shanghai_time(datetime.now(SHANGHAI) - timedelta(hours=1))}
    response = api.post("/api/checkins", json=changed)
    assert response.status_code == 409
    assert response.json["error"]["code"] == "conflict"
    assert response.json["error"]["stored"]["recorded_at"] == body["recorded_at"]
    row = db.execute("SELECT recorded_at FROM checkins WHERE id = ?", [body["id"]]).fetchone()
    assert row[0] == body["recorded_at"]


def test_same_id_from_another_user_is_conflict(as_user, poster_token):
    first, body = checkin(as_user("cadre_A"), poster_token("A"))
    response = as_user("cadre_A2").post("/api/checkins", json=body)
    assert response.status_code == 409


def test_second_scan_within_window_is_not_a_second_checkin(as_user, poster_token, db):
    api = as_user("cadre_A")
    token = poster_token("A")
    first, body = checkin(api, token)
    second, _ = checkin(api, token)  # a new UUID: the cadre scanned again
    assert second.status_code == 200
    assert second.json["status"] == "repeat"
    assert second.json["checkin"]["id"] == body["id"]
    assert db.execute("SELECT count(*) FROM checkins").fetchone()[0] == 1


def test_scan_after_window_is_a_new_checkin(as_user, poster_token, app):
    api = as_user("cadre_A")
    token = poster_token("A")
    earlier = datetime.now(SHANGHAI) - timedelta(minutes=app.config["CHECKIN_WINDOW_MINUTES"] + 5)
    checkin(api, token, recorded_at=shanghai_time(earlier))
    later, _ = checkin(api, token)
    assert later.status_code == 201


def test_parallel_posts_of_one_id_make_one_record(app, poster_token, db):
    """N threads post the same UUID at once: 1 created, N-1 duplicate
    (docs/field-lessons.md#parallel-sends-of-one-record)."""
    token = poster_token("A")
    body = {"id": new_id(), "token": token, "recorded_at": shanghai_time()}
    apis = []
    for _ in range(6):
        api = Api(app)
        api.login("13800000001")
        apis.append(api)
    statuses = []
    barrier = threading.Barrier(len(apis))

    def send(api):
        barrier.wait()
        statuses.append(api.post("/api/checkins", json=body).json["status"])

    threads = [threading.Thread(target=send, args=(a,)) for a in apis]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(statuses) == ["created"] + ["duplicate"] * 5
    assert db.execute("SELECT count(*) FROM checkins").fetchone()[0] == 1


def test_outside_assignment_is_recorded_and_flagged(as_user, poster_token):
    response, _ = checkin(as_user("cadre_B"), poster_token("A"))
    assert response.status_code == 201
    assert response.json["checkin"]["outside_assignment"] is True


def test_far_future_device_clock_is_flagged(as_user, poster_token, db):
    future = datetime.now(SHANGHAI) + timedelta(days=3)
    response, body = checkin(as_user("cadre_A"), poster_token("A"),
                             recorded_at=shanghai_time(future))
    assert response.status_code == 201
    assert response.json["checkin"]["clock_flag"] is True
    # The day counted is the server's, not the phone's wrong one.
    assert response.json["checkin"]["local_day"] == datetime.now(SHANGHAI).date().isoformat()


def test_local_day_boundary(as_user, poster_token, app):
    api = as_user("cadre_A")
    late = datetime(2026, 3, 1, 23, 30, tzinfo=SHANGHAI)
    early = datetime(2026, 3, 2, 0, 30, tzinfo=SHANGHAI)
    first, _ = checkin(api, poster_token("A"), recorded_at=late.isoformat())
    # Same moment written in UTC: still Shanghai's day.
    second, _ = checkin(api, poster_token("A", "gateA"),
                        recorded_at=early.astimezone(tz=None).isoformat())
    assert first.json["checkin"]["local_day"] == "2026-03-01"
    assert second.json["checkin"]["local_day"] == "2026-03-02"


def test_watch_shift_opened_and_closed(as_user, poster_token):
    api = as_user("cadre_A")
    opened, body = checkin(api, poster_token("A", "gateA"))
    assert opened.json["checkin"]["is_watch"] is True
    resolve = api.get("/api/posters/resolve", query_string={"token": poster_token("A", "gateA")})
    assert resolve.json["open_checkin"]["id"] == body["id"]
    out = {"id": new_id(), "checkin_id": body["id"], "recorded_at": shanghai_time()}
    closed = api.post("/api/checkouts", json=out)
    assert closed.status_code == 201
    assert closed.json["checkin"]["checkout"]["id"] == out["id"]
    assert api.post("/api/checkouts", json=out).json["status"] == "duplicate"
    again = api.post("/api/checkouts", json={**out, "id": new_id()})
    assert again.status_code == 409
    assert again.json["error"]["code"] == "already_checked_out"
    resolve = api.get("/api/posters/resolve", query_string={"token": poster_token("A", "gateA")})
    assert resolve.json["open_checkin"] is None


def test_checkout_rules(as_user, poster_token):
    api = as_user("cadre_A")
    opened, body = checkin(api, poster_token("A", "gateA"))
    other = as_user("cadre_A2").post("/api/checkouts", json={
        "id": new_id(), "checkin_id": body["id"], "recorded_at": shanghai_time()})
    assert other.status_code == 403
    before = api.post("/api/checkouts", json={
        "id": new_id(), "checkin_id": body["id"],
        "recorded_at": shanghai_time(datetime.now(SHANGHAI) - timedelta(hours=2))})
    assert before.status_code == 422
    assert before.json["error"]["fields"][0]["path"] == "/recorded_at"
    unknown = api.post("/api/checkouts", json={
        "id": new_id(), "checkin_id": new_id(), "recorded_at": shanghai_time()})
    assert unknown.status_code == 404
    assert unknown.json["error"]["fields"][0]["path"] == "/checkin_id"


def test_schema_errors_name_the_fields(as_user, poster_token, db):
    api = as_user("cadre_A")
    response = api.post("/api/checkins", json={
        "id": "not-a-uuid", "recorded_at": "2026-11-26 08:00", "colour": "red",
        "location": {"lat": 200}})
    assert response.status_code == 422
    fields = {f["path"]: f for f in response.json["error"]["fields"]}
    assert set(fields) == {"/id", "/token", "/recorded_at", "/colour", "/location/lat",
                           "/location/lng"}
    assert fields["/token"]["message"] == "必填"
    assert fields["/recorded_at"]["rule"] == "format"
    assert "时区" in fields["/recorded_at"]["message"]
    assert fields["/location/lat"]["rule"] == "maximum"
    assert db.execute("SELECT count(*) FROM checkins").fetchone()[0] == 0


def test_schema_errors_in_english(app, poster_token):
    api = Api(app, lang="en")
    api.login("13800000001")
    response = api.post("/api/checkins", json={"id": new_id(), "token": poster_token("A")})
    assert response.json["error"]["fields"] == [
        {"path": "/recorded_at", "message": "is required", "rule": "required"}]


def test_cadre_sees_only_own_checkins(as_user, poster_token):
    checkin(as_user("cadre_A"), poster_token("A"))
    assert as_user("cadre_A2").get("/api/checkins/mine").json["checkins"] == []


def test_bad_tokens_are_refused_and_nothing_stored(as_user, poster_token, db):
    api = as_user("cadre_A")
    forged, _ = checkin(api, poster_token("A")[:-3] + "abc")
    assert forged.status_code == 404 and forged.json["error"]["code"] == "poster_invalid"
    assert forged.json["error"]["message"] == "二维码无效：不是本系统签发的海报"
    assert db.execute("SELECT count(*) FROM checkins").fetchone()[0] == 0
    # The check-in is stored by the group-commit writer, outside the request: its refusal
    # still speaks the user's language.
    english = as_user("cadre_A", lang="en")
    forged, _ = checkin(english, poster_token("A")[:-3] + "abc")
    assert forged.json["error"]["message"].startswith("Invalid QR code")


def test_offline_scan_before_reissue_still_counts(app, as_user, poster_token, db):
    """A phone scanned offline, then the committee re-issued the poster: the scan counts."""
    token = poster_token("A")
    scanned_at = shanghai_time(datetime.now(SHANGHAI) - timedelta(minutes=5))
    committee = as_user("committee_A")
    poster_id = db.execute("SELECT id FROM posters WHERE revoked_at IS NULL "
                           "AND checkpoint_id IS NULL AND community_id = ?",
                           [committee.get("/api/session").json["user"]["place"]["id"]]).fetchone()[0]
    assert committee.post(f"/api/posters/{poster_id}/reissue").status_code == 200
    api = as_user("cadre_A")
    late, _ = checkin(api, token, recorded_at=scanned_at)
    assert late.status_code == 201
    assert late.json["checkin"]["old_poster"] is True  # the committee is told
    now, _ = checkin(api, token)
    assert now.status_code == 410 and now.json["error"]["code"] == "poster_revoked"
    # The committee's today shows the flag on the cadre's check-in.
    today = committee.get(f"/api/places/{late.json['checkin']['community']['id']}/today").json
    flags = {r["checkin"]["id"]: r["checkin"]["old_poster"] for r in today["reported"]}
    assert flags == {late.json["checkin"]["id"]: True}
    # A scan of the live poster is not flagged.
    fresh, _ = checkin(as_user("cadre_A2"), poster_token("A"))
    assert fresh.status_code == 201 and fresh.json["checkin"]["old_poster"] is False


def _reissue_at(db, world, at: datetime) -> None:
    """Re-issue community A's poster, as if the committee had done it at `at`."""
    db.execute("UPDATE posters SET revoked_at = ? WHERE community_id = ? AND checkpoint_id IS NULL "
               "AND revoked_at IS NULL", [utc_text(at), world["A"]])


def test_an_old_token_reaches_back_only_as_far_as_the_grace(app, as_user, poster_token, db,
                                                             world):
    """A phone that lies about its time cannot use a torn-down poster for ever: a scan dated
    before the re-issue counts only if it arrives within POSTER_OFFLINE_GRACE_HOURS of it."""
    token = poster_token("A")
    now = datetime.now(SHANGHAI)
    _reissue_at(db, world, now - timedelta(hours=30))
    api = as_user("cadre_A")
    claimed = shanghai_time(now - timedelta(hours=30, minutes=1))  # "just before the re-issue"
    late, body = checkin(api, token, recorded_at=claimed)
    assert late.status_code == 410
    error = late.json["error"]
    assert error["code"] == "poster_revoked_too_old" and "24" in error["message"]
    assert [f["path"] for f in error["fields"]] == ["/token"]
    assert db.execute("SELECT count(*) FROM checkins").fetchone()[0] == 0
    # Within the grace (here 36 hours) the same scan counts, flagged.
    app.config["POSTER_OFFLINE_GRACE_HOURS"] = 36
    again = api.post("/api/checkins", json=body)
    assert again.status_code == 201 and again.json["checkin"]["old_poster"] is True
    # Dated after the re-issue: refused as today.
    after, _ = checkin(api, token, recorded_at=shanghai_time(now - timedelta(hours=29)))
    assert after.status_code == 410 and after.json["error"]["code"] == "poster_revoked"


def test_an_old_scan_through_sync_is_refused_in_the_users_language(app, poster_token, db, world,
                                                                   as_user):
    token = poster_token("A")
    now = datetime.now(SHANGHAI)
    _reissue_at(db, world, now - timedelta(hours=25))
    record = {"id": new_id(), "type": "checkin", "data": {"token": token},
              "recorded_at": shanghai_time(now - timedelta(hours=26))}
    english = as_user("cadre_A", lang="en")
    result = english.post("/api/sync", json={"records": [record]}).json["results"][0]
    assert result["status"] == "invalid" and result["code"] == "poster_revoked_too_old"
    assert result["errors"][0]["path"] == "/data/token"
    assert result["errors"][0]["message"].startswith("This poster was revoked")


def test_storage_failure_answers_503(app, as_user, poster_token, tmp_path):
    api = as_user("cadre_A")
    token = poster_token("A")
    db = connect(app.config["DATABASE"])
    db.conn.execute("BEGIN EXCLUSIVE")  # another writer holds the file
    import server.db as server_db

    old = server_db.BUSY_TIMEOUT_MS
    server_db.BUSY_TIMEOUT_MS = 50
    try:
        response, _ = checkin(api, token)
    finally:
        server_db.BUSY_TIMEOUT_MS = old
        db.conn.execute("ROLLBACK")
    assert response.status_code == 503
    assert response.json["error"]["code"] == "storage_unavailable"
    assert response.headers["Retry-After"]


def test_an_old_scan_refused_live_is_told_in_the_users_language_field_by_field(
        app, poster_token, db, world, as_user):
    """Live check-ins are stored in the group-commit writer, outside the request: its refusals,
    the fields' messages included, still speak the user's language."""
    token = poster_token("A")
    now = datetime.now(SHANGHAI)
    _reissue_at(db, world, now - timedelta(hours=25))
    english = as_user("cadre_A", lang="en")
    response, _ = checkin(english, token, recorded_at=shanghai_time(now - timedelta(hours=26)))
    error = response.json["error"]
    assert response.status_code == 410 and error["code"] == "poster_revoked_too_old"
    assert error["message"].startswith("This poster was revoked")
    assert error["fields"][0]["path"] == "/token"
    assert error["fields"][0]["message"].startswith("This poster was revoked")
    chinese, _ = checkin(as_user("cadre_A2"), token,
                         recorded_at=shanghai_time(now - timedelta(hours=26)))
    assert not chinese.json["error"]["fields"][0]["message"].startswith("This poster")
