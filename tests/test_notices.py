"""Notices: recipients and their scoping, the inbox, read marks (live and synced), expiry, the
sender's report, and the automatic notices (health alerts, overdue visits, assignments)."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from helpers import SHANGHAI, new_id, shanghai_time

from server import cadres, notices, push


def send(api, **body):
    return api.post("/api/notices", json={"title": "通知", **body})


def recipients(db, notice_id):
    return {r[0] for r in db.execute(
        "SELECT user_id FROM notice_recipients WHERE notice_id = ?", [notice_id])}


def manual(api):
    return [n for n in api.get("/api/inbox").json["notices"] if n["kind"] == "manual"]


# --- who receives what --------------------------------------------------------------------------

def test_committee_reaches_its_community_only(as_user, world, db):
    committee = as_user("committee_A")
    response = send(committee)  # no target: the committee's own community
    assert response.status_code == 201
    notice = response.json["notice"]
    assert recipients(db, notice["id"]) == {world["cadre_A"], world["cadre_A2"], world["leader_A"]}
    assert notice["summary"]["recipients"] == 3
    assert notice["sender"]["id"] == world["committee_A"]
    for target in ({"place_id": world["B"]}, {"place_id": world["town1"]},
                   {"user_ids": [world["cadre_B"]]}):
        assert send(committee, target=target).status_code == 403
    response = send(committee, target={"user_ids": [world["cadre_A2"], world["cadre_B"]]})
    assert response.json["error"]["fields"][0]["path"] == "/target/user_ids/1"
    assert send(committee, target={"place_id": 99999}).status_code == 404
    assert send(as_user("cadre_A")).status_code == 403


def test_admin_targets(as_user, world, db):
    admin = as_user("admin")

    def to(target):
        response = send(admin, target=target)
        assert response.status_code == 201, response.json
        return recipients(db, response.json["notice"]["id"])

    cadres_of_A = {world["cadre_A"], world["cadre_A2"], world["leader_A"]}
    assert to({"place_id": world["town1"]}) == cadres_of_A | {world["cadre_B"]}
    assert to({}) == cadres_of_A | {world["cadre_B"]}  # the admin's own district
    team = db.execute("SELECT id FROM teams").fetchone()[0]
    assert to({"team_id": team}) == cadres_of_A - {world["cadre_A"], world["cadre_A2"]}
    assert to({"role": "committee"}) == {world["committee_A"], world["committee_B"]}
    assert to({"role": "leader", "place_id": world["A"]}) == {world["leader_A"]}
    assert to({"user_ids": [world["cadre_B"], world["committee_A"]]}) == \
        {world["cadre_B"], world["committee_A"]}
    town2 = as_user("town2_admin")
    assert send(town2, target={"place_id": world["A"]}).status_code == 403
    assert send(town2, target={"team_id": team}).status_code == 403
    response = send(town2)  # town 2 has no cadres
    assert response.status_code == 422 and response.json["error"]["code"] == "no_recipients"


@pytest.mark.parametrize("link", ["//evil.example.com", "/\\evil.example.com", "https://x.cn/",
                                  "javascript:alert(1)", "/#/a b", "/#/a\n", "#/x"])
def test_link_must_stay_in_the_app(as_user, link):
    response = send(as_user("committee_A"), link=link)
    assert response.status_code == 422
    assert response.json["error"]["fields"][0]["path"] == "/link"


def test_expiry_and_retried_send(as_user, world, db):
    committee = as_user("committee_A")
    past = (datetime.now(SHANGHAI) - timedelta(minutes=1)).isoformat()
    far = (datetime.now(SHANGHAI) + timedelta(days=31)).isoformat()
    assert send(committee, expires_at=past).status_code == 422
    assert send(committee, expires_at=far).status_code == 422
    notice_id = new_id()
    assert send(committee, id=notice_id, link="/#/").status_code == 201
    again = send(committee, id=notice_id, link="/#/")
    assert again.status_code == 200 and again.json["status"] == "duplicate"
    assert db.execute("SELECT count(*) FROM notices WHERE id = ?", [notice_id]).fetchone()[0] == 1
    assert send(as_user("admin"), id=notice_id).status_code == 409


def test_sending_only_queues(as_user, world, db):
    """The send is two INSERT ... SELECTs: one queue row per subscription, nothing sent."""
    for who, device in (("cadre_A", "p1"), ("cadre_A", "p2"), ("cadre_A2", "p3")):
        from test_push import browser_subscription

        body = browser_subscription(f"https://fcm.googleapis.com/fcm/send/{device}", device)[0]
        assert as_user(who).post("/api/push/subscriptions", json=body).status_code == 201
    notice = send(as_user("committee_A")).json["notice"]
    queued = list(db.query("SELECT user_id, state, attempts FROM push_deliveries "
                           "WHERE notice_id = ? ORDER BY id", [notice["id"]]))
    assert [(q["user_id"], q["state"]) for q in queued] == [
        (world["cadre_A"], "queued"), (world["cadre_A"], "queued"), (world["cadre_A2"], "queued")]
    assert db.execute("SELECT count(*) FROM push_attempts").fetchone()[0] == 0


# --- inbox and read marks -----------------------------------------------------------------------

def test_inbox_unread_first_read_marks_and_report(as_user, world, db):
    committee = as_user("committee_A")
    first = send(committee, title="第一条").json["notice"]["id"]
    second = send(committee, title="第二条", urgency="high").json["notice"]["id"]
    cadre = as_user("cadre_A")
    assert [n["title"] for n in manual(cadre)] == ["第二条", "第一条"]  # newest first
    response = cadre.post(f"/api/inbox/{second}/read")
    assert response.status_code == 200 and response.json["status"] == "created"
    assert cadre.post(f"/api/inbox/{second}/read").json["status"] == "duplicate"
    inbox = cadre.get("/api/inbox").json
    titles = [n["title"] for n in inbox["notices"] if n["kind"] == "manual"]
    assert titles == ["第一条", "第二条"]  # unread first
    assert inbox["notices"][-1]["read_at"] and inbox["unread"] >= 1
    # Someone else's notice, or none at all: not found.
    assert as_user("cadre_B").post(f"/api/inbox/{first}/read").status_code == 404
    report = committee.get(f"/api/notices/{second}").json["notice"]
    mine = next(r for r in report["recipients"] if r["user"]["id"] == world["cadre_A"])
    assert mine["read_at"] and mine["via"] == ["inbox"] and mine["state"] == "sent"
    other = next(r for r in report["recipients"] if r["user"]["id"] == world["cadre_A2"])
    assert other["read_at"] is None and other["via"] == [] and other["state"] == "queued"
    assert report["summary"]["read"] == 1 and report["summary"]["not_arrived"] == 2
    listed = committee.get("/api/notices").json["notices"]
    assert {n["id"]: n["read"] for n in listed}[second] == 1
    assert as_user("committee_B").get(f"/api/notices/{second}").status_code == 403
    assert as_user("admin").get(f"/api/notices/{second}").status_code == 200


def test_read_mark_made_offline_syncs(as_user, world, db):
    notice_id = send(as_user("committee_A")).json["notice"]["id"]
    cadre = as_user("cadre_A")
    changes = cadre.get("/api/sync/changes").json
    assert notice_id in {n["id"] for n in changes["notices"]["items"]}
    read_at = (datetime.now(SHANGHAI) - timedelta(minutes=20)).isoformat()
    record = {"id": new_id(), "type": "notice_read", "recorded_at": read_at,
              "data": {"notice_id": notice_id}}
    body = {"device_id": "phone-1", "records": [record, {**record, "id": new_id()},
                                                {**record, "id": new_id(),
                                                 "data": {"notice_id": "nope"}}]}
    results = cadre.post("/api/sync", json=body).json["results"]
    assert [r["status"] for r in results] == ["created", "duplicate", "invalid"]
    assert results[2]["errors"][0]["path"] == "/data/notice_id"
    row = db.execute("SELECT read_at, read_device_id FROM notice_recipients WHERE notice_id = ? "
                     "AND user_id = ?", [notice_id, world["cadre_A"]]).fetchone()
    assert row[1] == "phone-1"
    assert abs(datetime.fromisoformat(row[0].replace("Z", "+00:00"))
               - datetime.fromisoformat(read_at)) < timedelta(seconds=1)  # the phone's time


def test_expired_notices_leave_the_inbox(as_user, world, db):
    soon = (datetime.now(SHANGHAI) + timedelta(minutes=5)).isoformat()
    notice_id = send(as_user("committee_A"), expires_at=soon).json["notice"]["id"]
    cadre = as_user("cadre_A")
    assert notice_id in {n["id"] for n in cadre.get("/api/inbox").json["notices"]}
    db.execute("UPDATE notices SET expires_at = '2020-01-01T00:00:00.000000Z' WHERE id = ?",
               [notice_id])
    db.conn.commit()
    assert notice_id not in {n["id"] for n in cadre.get("/api/inbox").json["notices"]}
    assert notice_id not in {n["id"] for n in
                             cadre.get("/api/sync/changes").json["notices"]["items"]}


# --- automatic notices --------------------------------------------------------------------------

def _open_case(api, world):
    body = {"id": new_id(), "recorded_at": shanghai_time(), "resident_id": world["resA1"],
            "reason": "close_contact", "starts_on": datetime.now(SHANGHAI).date().isoformat(),
            "policy_id": world["policy8"]}
    assert api.post("/api/isolation/cases", json=body).status_code == 201
    return body["id"]


def alerts(api):
    return [n for n in api.get("/api/inbox").json["notices"] if n["kind"] == "health_alert"]


def test_fever_in_isolation_visit_alerts_the_committee(as_user, world):
    cadre = as_user("cadre_A")
    case_id = _open_case(cadre, world)
    normal = {"id": new_id(), "recorded_at": shanghai_time(), "case_id": case_id,
              "slot": "morning", "temperature": 36.8}
    assert cadre.post("/api/isolation/visits", json=normal).status_code == 201
    committee = as_user("committee_A")
    assert alerts(committee) == []
    fever = {**normal, "id": new_id(), "slot": "evening", "temperature": 37.3}
    assert cadre.post("/api/isolation/visits", json=fever).status_code == 201
    assert cadre.post("/api/isolation/visits", json=fever).status_code == 200  # a retry
    [alert] = alerts(committee)
    assert alert["urgency"] == "high" and "赵大伟" in alert["title"] and "37.3" in alert["body"]
    assert alert["link"] == f"/#/dashboard/{world['A']}" and alert["sender"] is None
    assert alerts(as_user("committee_B")) == []
    # The committee sees its delivery report like any notice.
    assert committee.get(f"/api/notices/{alert['id']}").status_code == 200
    cough = {**normal, "id": new_id(), "temperature": 36.6, "symptoms": ["cough"]}
    cadre.post("/api/isolation/visits", json=cough)
    assert len(alerts(committee)) == 2


def test_screening_visit_with_fever_alerts_the_committee(as_user, world):
    cadre = as_user("cadre_A")
    visit = {"id": new_id(), "recorded_at": shanghai_time(), "household_id": world["hhA1"],
             "outcome": "answered", "result": "normal",
             "residents": [{"resident_id": world["resA1"], "temperature": 36.5},
                           {"resident_id": world["resA2"], "temperature": 38.1}]}
    assert cadre.post("/api/screening-visits", json=visit).status_code == 201
    [alert] = alerts(as_user("committee_A"))
    assert "赵丽" in alert["body"] and "38.1" in alert["body"] and "赵大伟" not in alert["body"]
    healthy = {**visit, "id": new_id(), "residents": [{"resident_id": world["resA1"],
                                                       "temperature": 36.5}]}
    assert cadre.post("/api/screening-visits", json=healthy).status_code == 201
    assert len(alerts(as_user("committee_A"))) == 1


def test_overdue_visit_reminds_its_cadre_once_per_slot(app, as_user, world, db):
    cadre = as_user("cadre_A")
    case_id = _open_case(cadre, world)
    day = datetime.now(SHANGHAI).date()
    noon = datetime(day.year, day.month, day.day, 12, 0, tzinfo=SHANGHAI)

    def remind(at):
        with app.app_context():
            return notices.remind_overdue(db, at)

    assert remind(noon + timedelta(minutes=30)) == 0    # overdue, but within the grace time
    assert remind(noon + timedelta(minutes=61)) == 1    # the morning slot
    assert remind(noon + timedelta(minutes=90)) == 0    # one reminder per slot
    reminders = [n for n in cadre.get("/api/inbox").json["notices"]
                 if n["kind"] == "overdue_visit"]
    assert len(reminders) == 1 and "上午" in reminders[0]["body"]
    assert db.execute("SELECT dedupe_key FROM notices WHERE kind = 'overdue_visit'").fetchone()[0] \
        == f"overdue:{case_id}:{day.isoformat()}:morning"
    # The evening slot turns overdue at midnight; a visit in time means no reminder.
    visit = {"id": new_id(), "recorded_at": shanghai_time(), "case_id": case_id,
             "slot": "evening", "temperature": 36.5}
    assert cadre.post("/api/isolation/visits", json=visit).status_code == 201
    assert remind(noon + timedelta(hours=14)) == 0
    # The worker runs the same check on its timer.
    worker = push.DeliveryWorker(app)
    try:
        worker.periodic(force=True)
    finally:
        worker.close()
    assert db.execute("SELECT count(*) FROM notices WHERE kind = 'overdue_visit'").fetchone()[0] \
        >= 1


def test_assignment_tells_the_cadre(app, as_user, world, db):
    # The test world's assignments were made by cadres.assign: each cadre was told.
    [told] = [n for n in as_user("cadre_B").get("/api/inbox").json["notices"]
              if n["kind"] == "assignment"]
    assert "乙社区" in told["title"]
    with app.app_context():
        assignment_id = cadres.assign(db, world["cadre_B"], world["A"], "2026-02-01")
    [new] = [n for n in as_user("cadre_B").get("/api/inbox").json["notices"]
             if n["kind"] == "assignment" and "甲社区" in n["title"]]
    assert "2026-02-01" in new["body"]
    assert db.execute("SELECT dedupe_key FROM notices WHERE id = ?", [new["id"]]).fetchone()[0] \
        == f"assignment:{assignment_id}"
