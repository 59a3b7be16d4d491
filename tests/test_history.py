"""Registry history (GET /api/households/<id>/history) masks as the household page does, and
a full read is audited (docs/screening-api.md)."""

from helpers import ID_NUMBERS, new_id, shanghai_time

from server import cadres

PHONE, LANDLORD = "13911112222", "13733334444"


def edit(as_user, world) -> None:
    """A cadre corrects a household's phones and a resident's ID number and phone."""
    cadre = as_user("cadre_A")
    response = cadre.post(f"/api/households/{world['hhA1']}", json={
        "id": new_id(), "recorded_at": shanghai_time(), "base_version": 1, "phone": PHONE,
        "is_rental": True, "landlord_phone": LANDLORD})
    assert response.status_code == 201, response.json
    response = cadre.post(f"/api/residents/{world['resA2']}", json={
        "id": new_id(), "recorded_at": shanghai_time(), "base_version": 1,
        "id_type": "id_card", "id_number": ID_NUMBERS[2], "phone": PHONE})
    assert response.status_code == 201, response.json


def reads(db, user_id) -> list[tuple]:
    return db.execute("SELECT object, detail FROM audit_log WHERE action = 'read_full' "
                      "AND user_id = ? ORDER BY id", [user_id]).fetchall()


def test_history_out_of_scope_is_refused(as_user, world):
    edit(as_user, world)
    url = f"/api/households/{world['hhA1']}/history"
    assert as_user("committee_B").get(url).status_code == 403
    assert as_user("cadre_A").get(url).status_code == 403  # staff only, as before


def test_history_in_scope_is_full_and_audited(as_user, world, db):
    edit(as_user, world)
    history = as_user("committee_A").get(f"/api/households/{world['hhA1']}/history").json
    fields = history["household"][0]["fields"]
    assert fields["phone"] == PHONE and fields["landlord_phone"] == LANDLORD
    resident = history["residents"][world["resA2"]][0]["fields"]
    assert resident["id_number"] == ID_NUMBERS[2] and resident["phone"] == PHONE
    assert reads(db, world["committee_A"]) == [(f"household:{world['hhA1']}", "history"),
                                               (f"resident:{world['resA2']}", "history")]


def test_history_masked_for_a_user_who_does_not_see_full(as_user, world, db):
    """B's committee helping out in A (assigned there) may open A's households, masked, as the
    household page shows them: the history must not show more."""
    edit(as_user, world)
    with db.atomic():
        cadres.assign(db, world["committee_B"], world["A"], "2026-01-01")
    helper = as_user("committee_B")
    page = helper.get(f"/api/households/{world['hhA1']}").json["household"]
    assert page["masked"] is True and page["phone"] == "139****2222"
    history = helper.get(f"/api/households/{world['hhA1']}/history").json
    text = str(history)
    assert PHONE not in text and LANDLORD not in text and ID_NUMBERS[2] not in text
    fields = history["household"][0]["fields"]
    assert fields["phone"] == "139****2222" and fields["landlord_phone"] == "137****4444"
    assert fields["is_rental"] == 1  # the rest of the edit as it was
    resident = history["residents"][world["resA2"]][0]["fields"]
    on_page = next(r for r in page["residents"] if r["id"] == world["resA2"])
    assert resident["id_number"] == on_page["id_number"]
    assert resident["id_number"].count("*") == 8 and resident["phone"] == "139****2222"
    assert reads(db, world["committee_B"]) == []
