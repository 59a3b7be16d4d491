"""Dual registration (双报到) of home units: registered by the community, reached by call-ups,
near for matching; scoped to the staff's jurisdiction."""

def unit_body(world, **extra):
    return {"home_unit": "区交通运输局", "community_id": world["A"], "contact_name": "党办 王主任",
            "contact_phone": "13512345678", "members": 9, "services": "车辆调度", **extra}


def test_committee_registers_a_unit_and_registering_again_updates_it(as_user, world, db):
    committee = as_user("committee_A")
    response = committee.post("/api/unit-registrations", json=unit_body(world))
    assert response.status_code == 201
    row = response.json["unit_registration"]
    assert row["home_unit"]["name"] == "区交通运输局" and row["community"]["id"] == world["A"]
    assert row["members"] == 9 and row["contact_phone"] == "13512345678"
    again = committee.post("/api/unit-registrations", json=unit_body(world, members=11))
    assert again.status_code == 200 and again.json["status"] == "updated"
    listed = committee.get("/api/unit-registrations").json["unit_registrations"]
    assert [(r["home_unit"]["name"], r["members"]) for r in listed] == [("区交通运输局", 11)]
    # a new unit name joins the unit list, for the pickers
    committee.post("/api/unit-registrations", json=unit_body(world, home_unit="区文旅局"))
    names = [u["name"] for u in committee.get("/api/home-units").json["home_units"]]
    assert "区文旅局" in names
    actions = [r[0] for r in db.execute(
        "SELECT action FROM audit_log WHERE object LIKE 'unit_registration:%' ORDER BY id")]
    assert actions[:2] == ["create", "update"]


def test_bad_unit_registrations_name_the_field_and_change_nothing(as_user, world, db):
    committee = as_user("committee_A")
    for body, pointer in ((unit_body(world, contact_phone="12345"), "/contact_phone"),
                          (unit_body(world, members=-1), "/members"),
                          ({"community_id": world["A"]}, "/home_unit"),
                          (unit_body(world, home_unit="   "), "/home_unit"),
                          (unit_body(world, community_id=world["gridA"]), "/community_id"),
                          (unit_body(world, extra=1), "/extra")):
        response = committee.post("/api/unit-registrations", json=body)
        assert response.status_code == 422, body
        assert pointer in [f["path"] for f in response.json["error"]["fields"]], response.json
    assert db.execute("SELECT count(*) FROM unit_registrations").fetchone()[0] == 0


def test_other_jurisdictions_cannot_see_or_change_a_units_registration(as_user, world):
    row = as_user("committee_A").post("/api/unit-registrations",
                                      json=unit_body(world)).json["unit_registration"]
    other = as_user("committee_B")
    assert other.get("/api/unit-registrations").json["unit_registrations"] == []
    assert other.get(f"/api/unit-registrations?place_id={world['A']}").status_code == 403
    assert other.post("/api/unit-registrations", json=unit_body(world)).status_code == 403
    assert other.delete(f"/api/unit-registrations/{row['id']}").status_code == 403
    admin = as_user("admin")
    assert [r["id"] for r in admin.get("/api/unit-registrations").json["unit_registrations"]] == \
        [row["id"]]
    assert admin.delete(f"/api/unit-registrations/{row['id']}").json == {"deleted": 1}
    assert admin.delete(f"/api/unit-registrations/{row['id']}").status_code == 404


def test_a_call_up_to_the_pool_reaches_the_cadres_of_registered_units(as_user, world):
    admin = as_user("admin")
    body = {"title": "丙村急需排查力量", "target": {"place_id": world["C"]}}
    response = admin.post("/api/call-ups", json=body)
    assert response.status_code == 422  # nobody registered with C yet: nobody to call up
    assert response.json["error"]["fields"][0]["path"] == "/target"
    # The test world's cadres work for 区粮食局; the bureau pairs with C.
    assert admin.post("/api/unit-registrations",
                      json={"home_unit": "区粮食局", "community_id": world["C"]}).status_code == 201
    response = admin.post("/api/call-ups", json=body)
    assert response.status_code == 201, response.json
    for who in ("cadre_A", "cadre_B", "leader_A"):
        inbox = as_user(who).get("/api/inbox").json["notices"]
        assert [n["title"] for n in inbox].count("丙村急需排查力量") == 1, who
    # committees, admins and the enterprise contact are no cadres of the unit
    assert all(n["title"] != "丙村急需排查力量"
               for n in as_user("committee_A").get("/api/inbox").json["notices"])


def test_a_units_registered_community_counts_as_near_in_matching(as_user, world, db):
    admin = as_user("admin")
    need = admin.post("/api/needs", json={"kind": "people", "community_id": world["C"],
                                          "title": "丙村排查", "task": "screening", "people": 2})
    assert need.status_code == 201, need.json
    need_id = need.json["need"]["id"]

    def reasons():
        proposals = admin.get(f"/api/needs/{need_id}/proposals").json["proposals"]
        return {p["user"]["name"]: [r["code"] for r in p["reasons"]] for p in proposals}
    assert "same_community" not in reasons()["张志强"]
    admin.post("/api/unit-registrations", json={"home_unit": "区粮食局", "community_id": world["C"]})
    assert "same_community" in reasons()["张志强"]
