"""Mobilisation and matching: needs, proposals with reasons, bulk assignment, stationed cadres'
problem tickets, the enterprise role, inspections, call-ups and volunteering, routine mode."""

from __future__ import annotations

import sqlite3

import pytest
from helpers import PASSWORD, PHONES, Api, new_id, shanghai_time

from server import cadres, migrations
from server.auth import create_user
from server.db import connect, init_db

GRAIN = "区粮食和物资储备局"


def _cadre(db, phone, name, home_unit="", specialty="") -> int:
    return create_user(db, phone, name, PASSWORD, "cadre", home_unit=home_unit,
                       specialty=specialty, party_member=True)


def _login(app, phone) -> Api:
    api = Api(app)
    assert api.login(phone).status_code == 200
    return api


def _today():
    from datetime import datetime

    from helpers import SHANGHAI
    return datetime.now(SHANGHAI).date().isoformat()


# --- the story ------------------------------------------------------------------------------

def test_flour_mill_gets_a_grain_bureau_cadre_and_its_problem_solved(app, db, world, as_user):
    grain = _cadre(db, "13600000001", "孙副局长", GRAIN, "粮食调运")
    _cadre(db, "13600000002", "周老师", "区教育局", "数据统计")
    deputy = _login(app, "13600000001")
    assert deputy.post("/api/registrations", json={"community_id": world["A"]}).status_code == 201
    admin, mill = as_user("admin"), as_user("mill_contact")
    assert admin.post("/api/departments", json={
        "category": "materials", "departments": [GRAIN]}).status_code == 200

    # The enterprise contact raises the need.
    response = mill.post("/api/needs", json={
        "kind": "help", "title": "需要粮食局帮助放粮（小麦）", "category": "materials",
        "department": GRAIN, "urgency": "urgent", "description": "小麦库存仅够两天"})
    assert response.status_code == 201, response.json
    need = response.json["need"]
    assert need["enterprise"]["id"] == world["mill"] and need["place"]["id"] == world["A"]

    # The admin sees it, and a grain-bureau cadre proposed first, with the reason.
    assert admin.get("/api/needs").json["needs"][0]["id"] == need["id"]
    proposals = admin.get(f"/api/needs/{need['id']}/proposals").json["proposals"]
    first = proposals[0]
    assert first["user"]["id"] == grain
    assert [r["code"] for r in first["reasons"]][:1] == ["named"]
    assert GRAIN in first["explanation"] and "同社区" in first["explanation"]

    # Assigned: notified, and the enterprise is in the cadre's assignments.
    results = admin.post(f"/api/needs/{need['id']}/assignments",
                         json={"user_ids": [grain]}).json["results"]
    assert results[0]["status"] == "assigned"
    inbox = deputy.get("/api/inbox").json["notices"]
    assert any(n["kind"] == "assignment" and "甲面粉厂" in n["title"] for n in inbox)
    mine = deputy.get("/api/my/assignments").json["assignments"]
    stationed = [a for a in mine if a["kind"] == "enterprise"]
    assert stationed[0]["enterprise"]["name"] == "甲面粉厂"
    assert stationed[0]["enterprise"]["contacts"][0]["phone"] == PHONES["mill_contact"]
    assert admin.get(f"/api/needs/{need['id']}").json["need"]["status"] == "filled"
    assert [e["id"] for e in deputy.get("/api/enterprises").json["enterprises"]] == [world["mill"]]

    # The cadre records the ticket on the phone (through the outbox), then solves it.
    ticket_id = new_id()
    batch = {"device_id": "phone-9", "records": [
        {"id": ticket_id, "type": "problem_ticket", "recorded_at": shanghai_time(),
         "data": {"enterprise_id": world["mill"], "need_id": need["id"], "category": "materials",
                  "description": "需协调储备粮小麦2000吨", "departments": [GRAIN]}},
        {"id": new_id(), "type": "ticket_update", "recorded_at": shanghai_time(),
         "data": {"ticket_id": ticket_id, "status": "solved", "note": "储备粮已投放"}}]}
    results = deputy.post("/api/sync", json=batch).json["results"]
    assert [r["status"] for r in results] == ["created", "created"], results
    assert deputy.post("/api/sync", json=batch).json["results"][0]["status"] == "duplicate"

    # Not counted until the enterprise confirms.
    district = admin.get(f"/api/places/{world['district']}/problems").json
    assert district["totals"] == {"raised": 1, "solved": 0, "cannot_solve": 0}
    tickets = mill.get("/api/tickets").json["tickets"]
    assert [t["id"] for t in tickets] == [ticket_id] and tickets[0]["status"] == "solved"
    confirmed = mill.post(f"/api/tickets/{ticket_id}/confirm", json={"solved": True,
                                                                      "note": "感谢"})
    assert confirmed.status_code == 200 and confirmed.json["ticket"]["confirmed"]

    district = admin.get(f"/api/places/{world['district']}/problems").json
    assert district["totals"]["solved"] == 1
    assert district["by_cadre"][0] == {"id": grain, "name": "孙副局长", "raised": 1, "solved": 1,
                                       "cannot_solve": 0}
    assert district["by_category"][0]["title"] == "原料供应"
    assert district["by_town"][0]["name"] == "一号街道"
    tally = admin.get(f"/api/places/{world['district']}/tally").json
    assert tally["totals"][0]["problems_solved"] == 1
    records = admin.get(f"/api/places/{world['district']}/work-records").json["records"]
    assert [(r["problems_raised"], r["problems_solved"]) for r in records
            if r["user"]["id"] == grain] == [(1, 1)]
    # A confirmed ticket is closed.
    late = deputy.post(f"/api/tickets/{ticket_id}/updates", json={"status": "open"})
    assert late.status_code == 409 and late.json["error"]["code"] == "ticket_confirmed"


def test_contact_can_send_a_solution_back(as_user, world):
    committee, mill = as_user("committee_A"), as_user("mill_contact")
    ticket = {"id": new_id(), "recorded_at": shanghai_time(), "enterprise_id": world["mill"],
              "category": "logistics", "description": "货车无法通行"}
    assert committee.post("/api/tickets", json=ticket).status_code == 201
    early = mill.post(f"/api/tickets/{ticket['id']}/confirm", json={"solved": True})
    assert early.status_code == 409 and early.json["error"]["code"] == "ticket_not_solved"
    listed = mill.get("/api/tickets").json["tickets"]
    assert next(k for k in listed if k["id"] == ticket["id"])["latest_note"] is None
    assert committee.post(f"/api/tickets/{ticket['id']}/updates",
                          json={"status": "solved", "note": "已协调交警放行"}).status_code == 201
    assert committee.post(f"/api/tickets/{ticket['id']}/updates",
                          json={"departments": ["交通局"]}).status_code == 201  # no note
    listed = mill.get("/api/tickets").json["tickets"]  # the contact follows the progress
    latest = next(k for k in listed if k["id"] == ticket["id"])["latest_note"]
    assert latest["note"] == "已协调交警放行" and latest["user"]["id"] == world["committee_A"]
    back = mill.post(f"/api/tickets/{ticket['id']}/confirm", json={"solved": False,
                                                                   "note": "仍无法通行"})
    assert back.json["ticket"]["status"] == "coordinating"
    assert not back.json["ticket"]["confirmed"]
    assert back.json["ticket"]["updates"][-1]["note"] == "仍无法通行"
    listed = mill.get("/api/tickets").json["tickets"]
    assert next(k for k in listed if k["id"] == ticket["id"])["latest_note"]["note"] == "仍无法通行"


def test_an_older_status_from_an_offline_phone_is_kept_but_not_applied(as_user, world):
    committee = as_user("committee_A")
    ticket = {"id": new_id(), "recorded_at": "2026-03-01T09:00:00+08:00",
              "enterprise_id": world["mill"], "category": "finance", "description": "缺流动资金"}
    committee.post("/api/tickets", json=ticket)
    committee.post(f"/api/tickets/{ticket['id']}/updates", json={
        "status": "solved", "recorded_at": "2026-03-03T09:00:00+08:00"})
    stale = committee.post(f"/api/tickets/{ticket['id']}/updates", json={
        "status": "coordinating", "recorded_at": "2026-03-02T09:00:00+08:00",
        "departments": ["区财政局"]}).json["ticket"]
    assert stale["status"] == "solved" and stale["departments"] == ["区财政局"]
    assert [u["applied"] for u in stale["updates"]] == [False, True]


# --- matching -------------------------------------------------------------------------------------

def test_matching_order_on_a_hand_made_pool(app, db, world, as_user):
    pool = {
        "unit": _cadre(db, "13600000011", "甲单位", "区交通运输局"),
        "unit_busy": _cadre(db, "13600000012", "乙单位忙", "区交通运输局"),
        "specialty": _cadre(db, "13600000013", "丙特长", "区文旅局", "物流调度"),
        "volunteer": _cadre(db, "13600000014", "丁请战", "区文旅局"),
        "nobody": _cadre(db, "13600000015", "戊无", "区文旅局"),
        "busy": _cadre(db, "13600000016", "己忙", "区文旅局"),
    }
    for key in ("unit_busy", "busy"):
        cadres.assign(db, pool[key], world["B"], _today())
    admin = as_user("admin")
    admin.post("/api/departments", json={"category": "logistics",
                                         "departments": ["区交通运输局"]})
    need = as_user("mill_contact").post("/api/needs", json={
        "kind": "help", "title": "成品面粉运不出去", "category": "logistics",
        "skills": ["物流调度"]}).json["need"]
    volunteered = _login(app, "13600000014").post(
        "/api/volunteers", json={"need_id": need["id"], "available_from": _today()})
    assert volunteered.status_code == 201
    proposals = admin.get(f"/api/needs/{need['id']}/proposals?limit=200").json["proposals"]
    order = {p["user"]["id"]: i for i, p in enumerate(proposals)}
    ranked = sorted(pool, key=lambda k: order[pool[k]])
    assert ranked == ["unit", "unit_busy", "specialty", "volunteer", "nobody", "busy"]
    by_key = {k: next(p for p in proposals if p["user"]["id"] == pool[k]) for k in pool}
    assert [r["code"] for r in by_key["unit"]["reasons"]] == ["related"]
    assert [r["code"] for r in by_key["unit_busy"]["reasons"]] == ["related", "load"]
    assert [r["code"] for r in by_key["specialty"]["reasons"]] == ["specialty"]
    assert [r["code"] for r in by_key["volunteer"]["reasons"]] == ["volunteered"]
    assert by_key["nobody"]["reasons"] == [] and by_key["busy"]["load"] == 1
    assert "区交通运输局" in by_key["unit"]["explanation"]
    # English when the user picks it.
    english = Api(app, lang="en")
    english.login(PHONES["admin"])
    proposal = next(p for p in english.get(f"/api/needs/{need['id']}/proposals?limit=200")
                    .json["proposals"] if p["user"]["id"] == pool["unit"])
    assert "handles" in proposal["explanation"]


def test_nearness_ranks_same_community_then_town_then_district(app, db, world, as_user):
    phones = ["13600000021", "13600000022", "13600000023"]
    ids = [_cadre(db, phone, f"近{phone[-1]}") for phone in phones]
    for phone, community in zip(phones, ("A", "B", "C"), strict=True):
        assert _login(app, phone).post("/api/registrations", json={
            "community_id": world[community], "kind": "paired"}).status_code == 201
    need = as_user("committee_A").post("/api/needs", json={
        "kind": "people", "community_id": world["A"], "title": "卡口值守", "task": "checkpoint",
        "people": 3}).json["need"]
    proposals = as_user("admin").get(f"/api/needs/{need['id']}/proposals?limit=200").json
    codes = {p["user"]["id"]: [r["code"] for r in p["reasons"]] for p in proposals["proposals"]}
    assert codes[ids[0]] == ["same_community"] and codes[ids[1]] == ["same_town"]
    assert codes[ids[2]] == ["same_district"]
    order = [p["user"]["id"] for p in proposals["proposals"] if p["user"]["id"] in ids]
    assert order == ids


# --- bulk assignment --------------------------------------------------------------------------------

def test_bulk_assignment_reports_conflicts_per_cadre(app, db, world, as_user):
    free = _cadre(db, "13600000031", "空闲干部")
    other = _cadre(db, "13600000032", "另一空闲")
    admin = as_user("admin")
    need = as_user("committee_A").post("/api/needs", json={
        "kind": "people", "community_id": world["A"], "title": "入户排查", "task": "screening",
        "people": 2, "starts_on": "2026-02-01", "ends_on": "2026-02-14"}).json["need"]
    # `other` is busy in part of the period elsewhere.
    cadres.assign(db, other, world["C"], "2026-02-10", "2026-02-20")
    response = admin.post(f"/api/needs/{need['id']}/assignments", json={
        "user_ids": [world["cadre_A"], free, world["committee_A"], other]})
    assert response.status_code == 200
    results = {r["user_id"]: r for r in response.json["results"]}
    assert results[world["cadre_A"]]["status"] == "conflict"  # in A since 2026-01-01, open-ended
    assert results[world["cadre_A"]]["conflicts"][0]["community"]["id"] == world["A"]
    assert results[other]["status"] == "conflict"
    assert results[other]["conflicts"][0]["ends_on"] == "2026-02-20"
    assert results[world["committee_A"]]["status"] == "invalid"
    assert results[free]["status"] == "assigned"
    assert [r["user_id"] for r in response.json["results"]] == [
        world["cadre_A"], free, world["committee_A"], other]  # in the order asked
    again = admin.post(f"/api/needs/{need['id']}/assignments", json={"user_ids": [free]})
    assert again.json["results"][0]["status"] == "duplicate"
    row = db.execute("""SELECT a.community_id, a.need_id, a.starts_on, a.ends_on FROM assignments a
                        WHERE a.user_id = ?""", [free]).fetchone()
    assert row == (world["A"], need["id"], "2026-02-01", "2026-02-14")
    assert db.execute("""SELECT count(*) FROM notice_recipients r JOIN notices n
                         ON n.id = r.notice_id WHERE r.user_id = ? AND n.kind = 'assignment'""",
                      [free]).fetchone()[0] == 1
    assert admin.get(f"/api/needs/{need['id']}").json["need"]["status"] == "open"  # 1 of 2


# --- the enterprise role ----------------------------------------------------------------------------

def test_enterprise_contact_sees_only_their_enterprise(app, db, world, as_user):
    from server import enterprises

    other = enterprises.create_enterprise(db, "乙纺织厂", world["B"], "纺织")
    create_user(db, "13500000002", "纺织厂钱经理", PASSWORD, "enterprise", enterprise_id=other)
    theirs = _login(app, "13500000002").post("/api/needs", json={
        "kind": "help", "title": "缺口罩", "category": "supplies"}).json["need"]
    committee_b = as_user("committee_B")
    ticket = {"id": new_id(), "recorded_at": shanghai_time(), "enterprise_id": other,
              "category": "supplies", "description": "口罩缺口5万只", "status": "solved"}
    assert committee_b.post("/api/tickets", json=ticket).status_code == 201

    mill = as_user("mill_contact")
    session = mill.get("/api/session").json["user"]
    assert session["role"] == "enterprise" and session["enterprise"]["id"] == world["mill"]
    assert [e["id"] for e in mill.get("/api/enterprises").json["enterprises"]] == [world["mill"]]
    assert mill.get(f"/api/enterprises/{other}").status_code == 403
    assert mill.get("/api/needs").json["needs"] == []
    assert mill.get(f"/api/needs/{theirs['id']}").status_code == 403
    forged = mill.post("/api/needs", json={"kind": "help", "title": "x", "category": "other",
                                           "enterprise_id": other})
    assert forged.status_code == 403 and forged.json["error"]["fields"][0]["path"] == "/enterprise_id"
    assert mill.get("/api/tickets").json["tickets"] == []
    assert mill.get(f"/api/tickets/{ticket['id']}").status_code == 403
    assert mill.post(f"/api/tickets/{ticket['id']}/confirm", json={"solved": True}).status_code == 403
    # Nothing of the cadre world.
    for url in ("/api/households", "/api/my/day", "/api/isolation/cases", "/api/places",
                "/api/registrations", "/api/call-ups", f"/api/places/{world['A']}/problems"):
        assert mill.get(url).status_code == 403, url
    assert mill.post("/api/needs", json={"kind": "people", "community_id": world["A"],
                                         "title": "x", "task": "other"}).status_code == 403
    result = mill.post("/api/sync", json={"records": [{
        "id": new_id(), "type": "problem_ticket", "recorded_at": shanghai_time(),
        "data": {"enterprise_id": world["mill"], "category": "other", "description": "x"}}]})
    assert result.status_code == 200 and result.json["results"][0]["code"] == "forbidden"
    assert mill.get("/api/sync/changes").status_code == 200
    assert mill.get("/api/inbox").status_code == 200
    # Staff see both enterprises' needs below their node, open first, oldest first.
    mine = mill.post("/api/needs", json={"kind": "help", "title": "缺小麦",
                                         "category": "materials"}).json["need"]
    admin = as_user("admin")
    admin.post(f"/api/needs/{theirs['id']}/status", json={"status": "closed"})
    assert [n["id"] for n in admin.get("/api/needs").json["needs"]] == [mine["id"], theirs["id"]]
    assert [n["id"] for n in as_user("committee_A").get("/api/needs").json["needs"]] == [mine["id"]]


def test_cadre_not_stationed_cannot_record_tickets(as_user, world):
    response = as_user("cadre_A").post("/api/tickets", json={
        "id": new_id(), "recorded_at": shanghai_time(), "enterprise_id": world["mill"],
        "category": "other", "description": "x"})
    assert response.status_code == 403
    assert response.json["error"]["fields"][0]["path"] == "/enterprise_id"


# --- inspections, call-ups, mode --------------------------------------------------------------------

def test_inspections_join_the_work_record(as_user, world):
    admin = as_user("admin")
    response = admin.post("/api/inspections", json={
        "community_id": world["A"], "checkpoint_id": world["gateA"],
        "inspected_at": shanghai_time(), "findings": "南门卡口登记不全",
        "cadres": [{"user_id": world["cadre_A"], "on_duty": True, "conduct": "good"},
                   {"user_id": world["cadre_A2"], "on_duty": False, "conduct": "poor",
                    "note": "脱岗"}]})
    assert response.status_code == 201, response.json
    assert response.json["inspection"]["checkpoint"]["name"] == "南门卡口"
    listed = as_user("committee_A").get("/api/inspections").json["inspections"]
    assert [len(i["cadres"]) for i in listed] == [2]
    assert as_user("committee_B").get("/api/inspections").json["inspections"] == []
    records = {r["user"]["id"]: r for r in admin.get(
        f"/api/places/{world['A']}/work-records?sort=inspections_absent").json["records"]}
    assert records[world["cadre_A"]]["inspections_on_duty"] == 1
    assert records[world["cadre_A2"]]["inspections_absent"] == 1
    assert records[world["cadre_A2"]]["inspections_on_duty"] == 0


def test_call_up_and_one_tap_volunteering(app, as_user, world):
    cadre = as_user("cadre_B")
    assert cadre.post("/api/registrations", json={"community_id": world["C"]}).status_code == 201
    admin = as_user("admin")
    need = as_user("committee_A").post("/api/needs", json={
        "kind": "people", "community_id": world["A"], "title": "数据录入", "task": "data_entry"}
    ).json["need"]
    call_up = admin.post("/api/call-ups", json={"title": "紧急动员：甲社区缺数据录入人员",
                                                "need_id": need["id"],
                                                "target": {"place_id": world["town2"]}})
    assert call_up.status_code == 201 and call_up.json["call_up"]["recipients"] == 1
    call_up_id = call_up.json["call_up"]["id"]
    mine = cadre.get("/api/call-ups").json["call_ups"]
    assert [(c["id"], c["volunteered"]) for c in mine] == [(call_up_id, False)]
    assert any(n["kind"] == "call_up" for n in cadre.get("/api/inbox").json["notices"])
    tap = {"id": new_id(), "recorded_at": shanghai_time(), "call_up_id": call_up_id}
    assert cadre.post("/api/volunteers", json=tap).status_code == 201
    assert cadre.post("/api/volunteers", json=tap).status_code == 200
    second = cadre.post("/api/volunteers", json={**tap, "id": new_id()})
    assert second.status_code == 200 and second.json["volunteer"]["id"] == tap["id"]
    assert cadre.get("/api/call-ups").json["call_ups"][0]["volunteered"] is True
    proposals = admin.get(f"/api/needs/{need['id']}/proposals?limit=200").json["proposals"]
    reasons = next(p["reasons"] for p in proposals if p["user"]["id"] == world["cadre_B"])
    assert "volunteered" in [r["code"] for r in reasons]
    # Staff see the registered pool with full phones (the read is audited).
    pool = as_user("town2_admin").get("/api/registrations").json["registrations"]
    assert [(r["user"]["id"], r["user"]["phone"]) for r in pool] == [
        (world["cadre_B"], PHONES["cadre_B"])]
    # Not a recipient: cannot volunteer for it.
    stranger = as_user("cadre_A").post("/api/volunteers", json={
        "id": new_id(), "recorded_at": shanghai_time(), "call_up_id": call_up_id})
    assert stranger.status_code == 422
    assert stranger.json["error"]["fields"][0]["path"] == "/call_up_id"


def test_routine_mode(as_user, anon):
    assert anon.get("/api/mode").json == {"mode": "emergency", "hidden": []}
    assert as_user("town2_admin").post("/api/mode", json={"mode": "routine"}).status_code == 403
    admin = as_user("admin")
    assert admin.post("/api/mode", json={"mode": "routine"}).json["hidden"] == [
        "checkpoints", "isolation"]
    assert anon.get("/api/session").json["mode"] == "routine"
    assert admin.post("/api/mode", json={"mode": "quiet"}).json["error"]["fields"][0]["path"] \
        == "/mode"


# --- bad inputs -------------------------------------------------------------------------------------

def test_bad_inputs_point_at_their_fields(as_user, world):
    committee, admin = as_user("committee_A"), as_user("admin")
    missing = committee.post("/api/needs", json={"kind": "people"})
    assert missing.status_code == 422
    assert {f["path"] for f in missing.json["error"]["fields"]} == {
        "/title", "/community_id", "/task"}
    backwards = committee.post("/api/needs", json={
        "kind": "people", "community_id": world["A"], "title": "x", "task": "other",
        "starts_on": "2026-03-02", "ends_on": "2026-03-01"})
    assert backwards.json["error"]["fields"][0]["path"] == "/ends_on"
    need = committee.post("/api/needs", json={"kind": "people", "community_id": world["A"],
                                              "title": "x", "task": "other"}).json["need"]
    bad = admin.post(f"/api/needs/{need['id']}/assignments", json={
        "user_ids": [world["cadre_B"]], "starts_on": "2026-05-02", "ends_on": "2026-05-01"})
    assert bad.status_code == 422 and bad.json["error"]["fields"][0]["path"] == "/ends_on"
    empty = admin.post(f"/api/needs/{need['id']}/assignments", json={"user_ids": []})
    assert empty.json["error"]["fields"][0]["path"] == "/user_ids"
    inspection = admin.post("/api/inspections", json={
        "community_id": world["B"], "checkpoint_id": world["gateA"],
        "inspected_at": "2026-03-01T10:00:00", "cadres": []})
    assert inspection.json["error"]["fields"][0]["path"] == "/inspected_at"  # no UTC offset
    inspection = admin.post("/api/inspections", json={
        "community_id": world["B"], "checkpoint_id": world["gateA"],
        "inspected_at": "2026-03-01T10:00:00+08:00",
        "cadres": [{"user_id": 999999}, {"user_id": world["cadre_B"], "conduct": "great"}]})
    paths = {f["path"] for f in inspection.json["error"]["fields"]}
    assert paths == {"/cadres/1/conduct"}  # the schema first
    inspection = admin.post("/api/inspections", json={
        "community_id": world["B"], "checkpoint_id": world["gateA"],
        "inspected_at": "2026-03-01T10:00:00+08:00",
        "cadres": [{"user_id": 999999}, {"user_id": world["cadre_B"]},
                   {"user_id": world["cadre_B"]}]})
    assert {f["path"] for f in inspection.json["error"]["fields"]} == {
        "/checkpoint_id", "/cadres/0/user_id", "/cadres/2/user_id"}
    result = as_user("committee_A").post("/api/sync", json={"records": [{
        "id": new_id(), "type": "problem_ticket", "recorded_at": shanghai_time(),
        "data": {"enterprise_id": world["mill"], "category": "weather", "description": ""}}]})
    errors = result.json["results"][0]["errors"]
    assert {e["path"] for e in errors} == {"/data/category", "/data/description"}
    volunteer = as_user("cadre_A").post("/api/volunteers", json={
        "available_from": "2026-03-05", "available_to": "2026-03-01"})
    assert volunteer.json["error"]["fields"][0]["path"] == "/available_to"
    departments = admin.post("/api/departments", json={"category": "x", "departments": [1]})
    assert {f["path"] for f in departments.json["error"]["fields"]} == {
        "/category", "/departments/0"}
    assert admin.get("/api/needs/987654").status_code == 404
    assert admin.get("/api/tickets?status=lost").json["error"]["fields"][0]["path"] == "/status"


# --- the v5 migration -------------------------------------------------------------------------------

def test_v4_database_with_data_migrates_to_v5(tmp_path, monkeypatch):
    path = tmp_path / "v4.db"
    monkeypatch.setattr(migrations, "MIGRATIONS", migrations.MIGRATIONS[:4])
    assert init_db(path) == 4
    db = connect(path)
    stamp = "2026-01-01T00:00:00.000000Z"
    with db.atomic():
        db.execute("INSERT INTO places (id, kind, name, path) VALUES (1, 'district', '区', '/1/')")
        db.execute("INSERT INTO places (id, parent_id, kind, name, path) "
                   "VALUES (2, 1, 'town', '镇', '/1/2/')")
        db.execute("INSERT INTO places (id, parent_id, kind, name, path) "
                   "VALUES (3, 2, 'community', '社区', '/1/2/3/')")
        db.execute("INSERT INTO home_units (id, name) VALUES (7, '区粮食局')")
        for user_id, role, place in ((10, "admin", 1), (11, "cadre", None), (12, "leader", None)):
            db.execute("""INSERT INTO users (id, phone, name, password_hash, role, place_id,
                              home_unit_id, specialty, party_member, created_at)
                          VALUES (?, ?, ?, 'h', ?, ?, 7, '粮食', 1, ?)""",
                       [user_id, f"1390000{user_id:04d}", f"u{user_id}", role, place, stamp])
        db.execute("INSERT INTO teams (id, community_id, name, leader_id) VALUES (1, 3, '队', 12)")
        db.execute("""INSERT INTO assignments (user_id, community_id, team_id, starts_on, created_at)
                      VALUES (11, 3, 1, '2026-01-01', ?)""", [stamp])
        db.execute("""INSERT INTO notices (id, sender_id, place_id, title, created_at, expires_at)
                      VALUES ('n1', 10, 3, '通知', ?, ?)""", [stamp, stamp])
        db.execute("INSERT INTO notice_recipients (notice_id, user_id) VALUES ('n1', 11)")
        db.execute("""INSERT INTO push_subscriptions (user_id, device_id, endpoint, p256dh, auth,
                          created_at, updated_at) VALUES (11, 'd', 'https://p/1', 'k', 'a', ?, ?)""",
                   [stamp, stamp])
    before = list(db.query("SELECT * FROM users ORDER BY id"))
    counts = {t: db.execute(f"SELECT count(*) FROM {t}").fetchone()[0]
              for t in ("teams", "assignments", "notices", "notice_recipients",
                        "push_subscriptions")}
    db.close()

    monkeypatch.undo()
    assert init_db(path) == len(migrations.MIGRATIONS) >= 5
    db = connect(path)
    after = list(db.query("SELECT * FROM users ORDER BY id"))
    assert [{k: v for k, v in row.items() if k != "enterprise_id"} for row in after] == before
    assert all(row["enterprise_id"] is None for row in after)
    assert {t: db.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in counts} == counts
    assert db.execute("PRAGMA foreign_key_check").fetchall() == []
    assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    indexes = {r[1] for r in db.execute("PRAGMA index_list(users)")}
    assert {"users_place", "users_enterprise"} <= indexes
    # Every table that referenced users still does, and the constraints still hold.
    referencing = [t for t in db.table_names()
                   if any(fk.other_table == "users" for fk in db[t].foreign_keys)]
    assert {"teams", "assignments", "notices", "notice_recipients", "push_subscriptions",
            "checkins", "problem_tickets"} <= set(referencing)
    with pytest.raises(sqlite3.IntegrityError):
        db.execute("INSERT INTO assignments (user_id, community_id, starts_on, created_at) "
                   "VALUES (999, 3, '2026-01-01', 'x')")
    with pytest.raises(sqlite3.IntegrityError):  # a contact needs its enterprise
        db.execute("""INSERT INTO users (phone, name, password_hash, role, created_at)
                      VALUES ('13911112222', 'e', 'h', 'enterprise', 'x')""")
    with pytest.raises(sqlite3.IntegrityError):
        db.execute("""INSERT INTO users (phone, name, password_hash, role, created_at)
                      VALUES ('13911112223', 'e', 'h', 'boss', 'x')""")
    db.execute("INSERT INTO enterprises (id, name, community_id, created_at) "
               "VALUES (1, '面粉厂', 3, 'x')")
    db.execute("""INSERT INTO users (phone, name, password_hash, role, created_at, enterprise_id)
                  VALUES ('13911112224', 'e', 'h', 'enterprise', 'x', 1)""")
    db.close()


def test_demo_flour_mill_story(tmp_path):
    """The demo district: the flour mill's contact asks for the grain bureau; the registered
    grain-bureau party member of the mill's village is proposed first."""
    from server import create_app
    from server.demo import DEMO_PASSWORD, POOL, seed

    app = create_app({"TESTING": True, "DATA_DIR": str(tmp_path), "SECRET_KEY": "test-secret"})
    db = connect(app.config["DATABASE"])
    with app.app_context(), db.atomic():
        seed(db, _today())
    db.close()
    mill = Api(app)
    assert mill.login("13700000001", DEMO_PASSWORD).status_code == 200
    need = mill.post("/api/needs", json={"kind": "help", "title": "需要粮食局帮助放粮（小麦）",
                                         "category": "materials", "department": GRAIN}).json
    admin = Api(app)
    assert admin.login("13900000001", DEMO_PASSWORD).status_code == 200
    proposals = admin.get(f"/api/needs/{need['need']['id']}/proposals").json["proposals"]
    assert proposals[0]["user"]["name"] == POOL[0][1]
    assert [r["code"] for r in proposals[0]["reasons"]] == ["named", "same_community"]
    assert all(GRAIN == p["user"]["home_unit"] for p in proposals[:4])  # then assigned ones
