import json
from datetime import datetime, timedelta

import pytest
from helpers import SHANGHAI, new_id, shanghai_time

from server.schedule import schedule


def today(days=0):
    return (datetime.now(SHANGHAI) + timedelta(days=days)).date().isoformat()


def open_case(api, world, starts_on=None, policy="policy8", resident="resA1"):
    body = {"id": new_id(), "recorded_at": shanghai_time(), "resident_id": world[resident],
            "reason": "close_contact", "starts_on": starts_on or today(),
            "policy_id": world[policy]}
    response = api.post("/api/isolation/cases", json=body)
    return response, body


def iso_visit(case_id, **extra):
    return {"id": new_id(), "recorded_at": shanghai_time(), "case_id": case_id,
            "slot": "morning", "temperature": 36.5, **extra}


def test_presets_shipped(as_user):
    listed = as_user("cadre_A").get("/api/isolation/policies").json["policies"]
    policies = {p["name"]: p for p in listed}
    eighth = policies["第八版 密切接触者"]
    assert [(p["kind"], p["days"], p["test_days"]) for p in eighth["rules"]["phases"]] == [
        ("home_isolation", 14, [1, 4, 7, 14]), ("home_monitoring", 7, [])]
    assert eighth["days"] == 21
    assert policies["第九版 密接的密接 居家隔离"]["days"] == 7
    monitoring = policies["第九版 集中隔离期满后 居家健康监测"]["rules"]["phases"]
    assert monitoring == [{"kind": "home_monitoring", "days": 3, "test_days": [3]}]


def test_case_keeps_its_policy_when_the_policy_changes(as_user, world):
    response, body = open_case(as_user("cadre_A"), world, policy="policy9")
    case = response.json["case"]
    assert response.status_code == 201
    assert case["planned_end"] == today(6) and case["kind"] == "home_isolation"
    assert [c["name"] for c in case["cadres"]] == ["王建国"]
    changed = as_user("admin").post(f"/api/isolation/policies/{world['policy9']}", json={
        "name": "第九版 密接的密接 居家隔离", "rules": {"slots": ["morning"], "phases": [
            {"kind": "home_isolation", "days": 10, "test_days": [1, 10]}]}})
    assert changed.status_code == 200 and changed.json["policy"]["version"] == 2
    detail = as_user("cadre_A").get(f"/api/isolation/cases/{body['id']}").json["case"]
    assert detail["planned_end"] == today(6)
    assert detail["policy"]["phases"][0]["days"] == 7 and detail["policy"]["version"] == 1
    assert len(detail["schedule"]) == 14  # 7 days x morning and evening
    assert [e["day"] for e in detail["schedule"] if e["test"]][::2] == [today(), today(3), today(6)]
    # a town's admin may not rewrite the national presets
    preset = {"name": "x", "rules": changed.json["policy"]["rules"]}
    assert as_user("town2_admin").post(f"/api/isolation/policies/{world['policy9']}",
                                       json=preset).status_code == 403

def test_case_rules(as_user, world):
    api = as_user("cadre_A")
    future, _ = open_case(api, world, starts_on=today(2))
    assert future.status_code == 422
    assert future.json["error"]["fields"][0]["path"] == "/starts_on"
    outside, _ = open_case(as_user("cadre_B"), world)
    assert outside.status_code == 403
    first, body = open_case(api, world)
    assert first.status_code == 201
    assert api.post("/api/isolation/cases", json=body).json["status"] == "duplicate"
    second, _ = open_case(api, world)
    assert second.status_code == 409 and second.json["error"]["code"] == "case_open"


def _case(starts_on, visits=()):
    rules = {"slots": ["morning", "evening"],
             "phases": [{"kind": "home_isolation", "days": 3, "test_days": [1, 3]}]}
    return ({"starts_on": starts_on, "planned_end": "2026-03-03", "ended_on": None,
             "policy_snapshot": json.dumps(rules)},
            [{"due_day": d, "slot": s} for d, s in visits])


def test_schedule_across_the_local_day_boundary():
    case, visits = _case("2026-03-01", [("2026-03-01", "morning")])
    late = datetime(2026, 3, 1, 23, 30, tzinfo=SHANGHAI)
    after_midnight = datetime(2026, 3, 2, 0, 30, tzinfo=SHANGHAI)  # still 1 March in UTC
    assert after_midnight.astimezone(tz=None).utctimetuple().tm_mday == 1

    def status(now):
        return {(e["day"], e["slot"]): e["status"]
                for e in schedule(case, visits, now, "Asia/Shanghai")}

    before = status(late)
    assert before[("2026-03-01", "morning")] == "done"
    assert before[("2026-03-01", "evening")] == "due"
    assert before[("2026-03-02", "morning")] == "upcoming"
    after = status(after_midnight)
    assert after[("2026-03-01", "evening")] == "overdue"
    assert after[("2026-03-02", "morning")] == "due"
    noon = status(datetime(2026, 3, 2, 12, 30, tzinfo=SHANGHAI))
    assert noon[("2026-03-02", "morning")] == "overdue" and noon[("2026-03-02", "evening")] == "due"
    # Under UTC days the same moment would still be 1 March: the zone matters.
    assert status(after_midnight.astimezone(tz=None)) == after
    utc = {(e["day"], e["slot"]): e["status"]
           for e in schedule(case, visits, after_midnight, "UTC")}
    assert utc[("2026-03-01", "evening")] == "due"
    tests = [e["day"] for e in schedule(case, visits, late, "Asia/Shanghai") if e["test"]]
    assert sorted(set(tests)) == ["2026-03-01", "2026-03-03"]


def test_visit_recorded_at_0030_counts_for_the_local_day(as_user, world, db):
    api = as_user("cadre_A")
    response, case = open_case(api, world, starts_on=today(-1))
    midnight = datetime.now(SHANGHAI).replace(hour=0, minute=30, second=0, microsecond=0)
    body = iso_visit(case["id"], recorded_at=midnight.astimezone(tz=None).isoformat())
    stored = api.post("/api/isolation/visits", json=body).json["visit"]
    assert stored["due_day"] == stored["local_day"] == today()
    late = iso_visit(case["id"], slot="evening",
                     recorded_at=(midnight - timedelta(hours=1)).isoformat())
    assert api.post("/api/isolation/visits", json=late).json["visit"]["due_day"] == today(-1)


def test_isolation_visit_rules_and_attention(as_user, world, db):
    api = as_user("cadre_A")
    _, case = open_case(api, world)
    for temperature, status in ((33.9, 422), (43.5, 422), (36.8, 201)):
        response = api.post("/api/isolation/visits", json=iso_visit(case["id"],
                                                                    temperature=temperature))
        assert response.status_code == status
    detail = api.get(f"/api/isolation/cases/{case['id']}").json["case"]
    assert detail["attention"] is False
    assert api.post("/api/isolation/visits", json=iso_visit(case["id"], due_day=today(1))) \
        .json["error"]["fields"][0]["path"] == "/due_day"
    # A phone clock a day ahead: the visit is kept and counted at the server's time, not refused.
    later = (datetime.now(SHANGHAI) + timedelta(days=1)).isoformat()
    ahead = api.post("/api/isolation/visits", json=iso_visit(case["id"], recorded_at=later))
    assert ahead.status_code == 201 and ahead.json["visit"]["local_day"] == today()
    assert as_user("cadre_B").post("/api/isolation/visits", json=iso_visit(case["id"])) \
        .status_code == 403
    assert api.post("/api/isolation/visits", json=iso_visit(new_id())).status_code == 404
    fever = api.post("/api/isolation/visits", json=iso_visit(case["id"], slot="evening",
                                                             temperature=37.3))
    assert fever.status_code == 201
    staff = as_user("committee_A").get(f"/api/isolation/cases?place_id={world['A']}").json
    assert staff["cases"][0]["attention"] is True
    assert "37.3" in staff["cases"][0]["attention_reason"]


def test_symptom_alone_marks_attention(as_user, world):
    api = as_user("cadre_A")
    _, case = open_case(api, world)
    api.post("/api/isolation/visits", json=iso_visit(case["id"], symptoms=["cough"]))
    assert api.get(f"/api/isolation/cases/{case['id']}").json["case"]["attention"] is True


def test_release_before_planned_end_needs_a_reason(as_user, world, db):
    api = as_user("cadre_A")
    _, case = open_case(api, world, policy="policy9")
    url = f"/api/isolation/cases/{case['id']}/end"
    early = {"base_version": 1, "outcome": "released", "ended_on": today(),
             "last_test_result": "negative"}
    response = api.post(url, json=early)
    assert response.status_code == 422
    assert response.json["error"]["fields"][0]["path"] == "/reason"
    assert api.post(url, json={k: v for k, v in early.items() if k != "last_test_result"}) \
        .json["error"]["fields"][0]["path"] == "/last_test_result"
    stale = api.post(url, json={**early, "base_version": 2, "reason": "x"})
    assert stale.status_code == 409 and stale.json["error"]["stored"]["status"] == "open"
    done = api.post(url, json={**early, "reason": "经卫健部门评估提前解除"})
    assert done.status_code == 200
    assert done.json["case"]["end_outcome"] == "released"
    assert done.json["case"]["version"] == 2
    assert api.post(url, json={**early, "reason": "again"}).status_code == 409
    statuses = db.execute("SELECT status FROM registry_history WHERE entity = 'isolation_case' "
                          "ORDER BY received_at").fetchall()
    assert statuses == [("conflict",), ("applied",)]


def test_transfer_needs_no_reason_and_release_on_planned_end_is_fine(as_user, world):
    api = as_user("cadre_A")
    _, case = open_case(api, world, starts_on=today(-6), policy="policy9")
    response = api.post(f"/api/isolation/cases/{case['id']}/end", json={
        "base_version": 1, "outcome": "released", "ended_on": today(),
        "last_test_result": "negative"})
    assert response.status_code == 200


def test_deliveries_from_a_visit_need(as_user, world):
    api = as_user("cadre_A")
    _, case = open_case(api, world)
    body = iso_visit(case["id"], needs=[{"kind": "medicine", "what": "降压药 硝苯地平"}])
    assert api.post("/api/isolation/visits", json=body).status_code == 201
    day = api.get("/api/my/day").json
    assert [d["what"] for d in day["deliveries"]] == ["降压药 硝苯地平"]
    delivery = day["deliveries"][0]
    assert delivery["for_whom"] == "赵大伟" and delivery["case_id"] == case["id"]
    staff = as_user("committee_A").get(f"/api/deliveries?place_id={world['A']}").json
    assert [d["id"] for d in staff["deliveries"]] == [delivery["id"]]
    assert as_user("committee_B").get(f"/api/deliveries?place_id={world['A']}").status_code == 403
    take = {"id": new_id(), "recorded_at": shanghai_time(), "action": "take",
            "delivery_id": delivery["id"]}
    assert api.post("/api/deliveries", json=take).json["delivery"]["status"] == "taken"
    assert api.post("/api/deliveries", json=take).json["status"] == "duplicate"
    other = as_user("cadre_A2").post("/api/deliveries", json={**take, "id": new_id()})
    assert other.status_code == 409 and other.json["error"]["code"] == "delivery_taken"
    done = {**take, "id": new_id(), "action": "deliver"}
    assert api.post("/api/deliveries", json=done).json["delivery"]["status"] == "delivered"
    assert api.post("/api/deliveries", json={**done, "id": new_id()}).status_code == 409
    assert api.get("/api/my/day").json["deliveries"] == []
    raise_without_what = api.post("/api/deliveries", json={
        "id": new_id(), "recorded_at": shanghai_time(), "action": "raise",
        "household_id": world["hhA1"]})
    assert {f["path"] for f in raise_without_what.json["error"]["fields"]} == {"/kind", "/what"}


def test_committee_sees_delivered_deliveries_with_status_filter(as_user, world):
    api = as_user("cadre_A")
    _, case = open_case(api, world)
    body = iso_visit(case["id"], needs=[{"kind": "medicine", "what": "退烧药"},
                                         {"kind": "food", "what": "米面油"}])
    assert api.post("/api/isolation/visits", json=body).status_code == 201
    first, second = api.get("/api/my/day").json["deliveries"]
    done = {"id": new_id(), "recorded_at": shanghai_time(), "action": "deliver",
            "delivery_id": first["id"]}
    assert api.post("/api/deliveries", json=done).status_code == 201
    staff = as_user("committee_A")
    url = f"/api/deliveries?place_id={world['A']}"

    def listed(query=""):
        response = staff.get(url + query)
        assert response.status_code == 200, response.json
        return {d["id"]: d["status"] for d in response.json["deliveries"]}

    assert listed() == listed("&status=open") == {second["id"]: "open"}
    assert listed("&status=delivered") == {first["id"]: "delivered"}
    assert listed("&status=all") == {first["id"]: "delivered", second["id"]: "open"}
    bad = staff.get(url + "&status=lost")
    assert bad.status_code == 400 and bad.json["error"]["fields"][0]["path"] == "/status"
    assert as_user("committee_B").get(url + "&status=all").status_code == 403


def test_my_day_lists_due_and_overdue_visits(as_user, world):
    api = as_user("cadre_A")
    _, case = open_case(api, world, starts_on=today(-1), policy="policy9")
    api.post("/api/isolation/visits", json=iso_visit(case["id"], due_day=today(-1)))
    due = api.get("/api/my/day").json["isolation_visits"]
    slots = [(e["day"], e["slot"], e["status"]) for e in due]
    assert (today(-1), "evening", "overdue") in slots
    assert (today(-1), "morning", "overdue") not in slots
    assert (today(), "evening", "due") in slots
    assert due[0]["case"]["resident"]["name"] == "赵大伟"
    assert as_user("cadre_B").get("/api/my/day").json["isolation_visits"] == []


def test_isolation_records_through_sync(as_user, world, db):
    api = as_user("cadre_A")

    def record(kind, body):
        return {"id": body["id"], "type": kind, "recorded_at": body["recorded_at"],
                "data": {k: v for k, v in body.items() if k not in ("id", "recorded_at")}}

    case = {"id": new_id(), "recorded_at": shanghai_time(), "resident_id": world["resA1"],
            "reason": "risk_area_arrival", "starts_on": today(), "policy_id": world["policy8"]}
    good = iso_visit(case["id"], temperature=38.0, needs=[{"kind": "food", "what": "米面"}])
    bad = iso_visit(case["id"], temperature=30)
    raise_ = {"id": new_id(), "recorded_at": shanghai_time(), "action": "raise",
              "household_id": world["hhA2"], "kind": "other", "what": "代缴电费"}
    batch = {"device_id": "p1", "records": [record("isolation_case", case),
                                            record("isolation_visit", good),
                                            record("isolation_visit", bad),
                                            record("delivery", raise_)]}
    results = api.post("/api/sync", json=batch).json["results"]
    assert [r["status"] for r in results] == ["created", "created", "invalid", "created"]
    assert results[2]["errors"][0]["path"] == "/data/temperature"
    again = api.post("/api/sync", json=batch).json["results"]
    assert [r["status"] for r in again] == ["duplicate", "duplicate", "invalid", "duplicate"]
    assert db.execute("SELECT count(*) FROM deliveries").fetchone()[0] == 2
    assert db.execute("SELECT attention FROM isolation_cases").fetchone()[0] == 1


@pytest.mark.parametrize("who, status", [("committee_A", 201), ("committee_B", 403)])
def test_local_policy(as_user, world, who, status):
    response = as_user(who).post("/api/isolation/policies", json={
        "place_id": world["A"], "name": "甲社区 返乡人员 居家健康监测",
        "rules": {"slots": ["morning"], "phases": [{"kind": "home_monitoring", "days": 7,
                                                    "test_days": [1, 7]}]}})
    assert response.status_code == status


def test_a_delivery_raised_on_a_slow_phone_counts_at_the_corrected_time(as_user, world, db):
    """Clock skew for deliveries too: the batch's sent_at corrects the phone's clock
    (docs/field-lessons.md#clock-skew)."""
    api = as_user("cadre_A")
    behind = timedelta(hours=30)
    phone_now = datetime.now(SHANGHAI) - behind
    raise_ = {"id": new_id(), "type": "delivery", "recorded_at": shanghai_time(phone_now),
              "data": {"action": "raise", "household_id": world["hhA2"], "kind": "other",
                       "what": "代缴电费"}}
    answer = api.post("/api/sync", json={"device_id": "slow", "sent_at": shanghai_time(phone_now),
                                         "records": [raise_]}).json
    assert answer["results"][0]["status"] == "created"
    raised_at, raised_day = db.execute("SELECT raised_at, raised_day FROM deliveries WHERE id = ?",
                                       [raise_["id"]]).fetchone()
    stored = datetime.fromisoformat(raised_at.replace("Z", "+00:00"))
    assert abs(stored - datetime.now(SHANGHAI)) < timedelta(minutes=5)  # not 30 hours ago
    assert raised_day == datetime.now(SHANGHAI).date().isoformat()
    event = db.execute("SELECT recorded_at FROM delivery_events WHERE id = ?",
                       [raise_["id"]]).fetchone()[0]
    assert event == raise_["recorded_at"]  # the phone's own claim is kept as sent
