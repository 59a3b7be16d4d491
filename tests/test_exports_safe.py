"""Exports safe to open: a text a user wrote never reaches a committee's spreadsheet as a
formula (CSV injection, docs/deploy.md#browser-caches-and-exports), and stays readable."""

import csv
import io

from helpers import PASSWORD, new_id, shanghai_time
from openpyxl import load_workbook

from server import cadres
from server.auth import create_user

# What a cadre or a resident may type, each a formula (or the start of one) to Excel and WPS.
DOOR = "=1+1"
WHAT = "=cmd|' /C calc'!A0"
NAME = '=HYPERLINK("http://x","y")'
PHONE = "+86 13800001111"
MINUS = "-1"
AT = "@SUM(A1)"
FULL_WIDTH = "＝1+1"
DANGEROUS = ("=", "+", "-", "@", "\t", "\r", "\n", "＝", "＋", "－", "＠")


def plant(as_user, world, db) -> None:
    """The hostile texts, stored as the PWA stores them: live registry edits, a screening visit
    with a need, a cadre account."""
    committee, cadre = as_user("committee_A"), as_user("cadre_A")
    screened = new_id()
    for household, door, head in ((screened, DOOR, AT), (new_id(), MINUS, FULL_WIDTH),
                                  (new_id(), FULL_WIDTH, "")):
        response = committee.post("/api/households", json={
            "id": new_id(), "recorded_at": shanghai_time(), "household_id": household,
            "base_version": 0, "grid_id": world["gridA"], "building": "", "unit": "",
            "door": door, "head_name": head, "phone": PHONE})
        assert response.status_code == 201, response.json
    resident = new_id()
    response = committee.post("/api/residents", json={
        "id": new_id(), "recorded_at": shanghai_time(), "resident_id": resident,
        "household_id": screened, "base_version": 0, "name": NAME, "phone": PHONE})
    assert response.status_code == 201, response.json
    response = cadre.post("/api/screening-visits", json={
        "id": new_id(), "recorded_at": shanghai_time(), "household_id": screened,
        "outcome": "answered", "result": "normal",
        "residents": [{"resident_id": resident, "temperature": 38.5}],
        "needs": [{"kind": "medicine", "what": WHAT}]})
    assert response.status_code == 201, response.json
    with db.atomic():  # cadres come from the committee's cadre table (run.py import-cadres)
        user = create_user(db, "13800009999", MINUS + "王", PASSWORD, "cadre", home_unit=AT)
        cadres.assign(db, user, world["A"], "2026-01-01")


def exports(world) -> list[str]:
    place = world["A"]
    return [f"/api/places/{place}/tally/records.{{}}?metric=households_answered",
            f"/api/places/{place}/tally/records.{{}}?metric=residents_fever_or_symptoms",
            f"/api/places/{place}/tally/records.{{}}?metric=deliveries_raised",
            f"/api/places/{place}/round-progress.{{}}",
            f"/api/places/{place}/work-records.{{}}",
            f"/api/places/{place}/tally.{{}}"]


PLANTED = {DOOR, WHAT, NAME, MINUS, AT, FULL_WIDTH, MINUS + "王", "+86****1111"}


def formula_like(text: str) -> bool:
    return text.lstrip(" \u3000").startswith(DANGEROUS)


def test_csv_cells_a_user_wrote_start_with_a_quote(as_user, world, db):
    plant(as_user, world, db)
    committee = as_user("committee_A")
    found = set()
    for url in (u.format("csv") for u in exports(world)):
        response = committee.get(url)
        assert response.status_code == 200, url
        rows = list(csv.reader(io.StringIO(response.get_data(as_text=True).lstrip("\ufeff"))))
        for cell in (c for row in rows for c in row):
            assert not formula_like(cell), (url, cell)
            if cell.startswith("'") and cell[1:] in PLANTED:
                found.add(cell[1:])
    assert found == PLANTED  # each hostile text reached an export, quoted, and readable
    # a number the server counted stays a number: the tally's 已排查户数
    tally = committee.get(f"/api/places/{world['A']}/tally.csv").get_data(as_text=True)
    rows = list(csv.reader(io.StringIO(tally.lstrip("\ufeff"))))
    assert rows[1][rows[0].index("已排查户数")] == "1"


def test_xlsx_cells_a_user_wrote_are_text_never_formulas(as_user, world, db):
    plant(as_user, world, db)
    committee = as_user("committee_A")
    found = set()
    numbers = 0
    for url in (u.format("xlsx") for u in exports(world)):
        response = committee.get(url)
        assert response.status_code == 200, url
        sheet = load_workbook(io.BytesIO(response.data)).active
        for cell in (c for row in sheet.iter_rows() for c in row):
            assert cell.data_type != "f", (url, cell.coordinate, cell.value)
            if isinstance(cell.value, str) and formula_like(cell.value):
                assert cell.data_type == "s" and cell.quotePrefix, (url, cell.value)
                found.add(cell.value)  # as typed, no quote added: readable
            numbers += cell.data_type == "n" and isinstance(cell.value, int)
    assert PLANTED <= found
    assert numbers > 0  # counts stay numbers


def test_a_control_character_does_not_break_the_xlsx_export(as_user, world):
    """openpyxl refuses control characters in a cell: one typed door must not make the
    committee's whole export a 500."""
    committee = as_user("committee_A")
    household = new_id()
    response = committee.post("/api/households", json={
        "id": new_id(), "recorded_at": shanghai_time(), "household_id": household,
        "base_version": 0, "grid_id": world["gridA"], "building": "9", "unit": "1",
        "door": "101\u0007"})
    assert response.status_code == 201, response.json
    response = committee.get(f"/api/places/{world['A']}/round-progress.xlsx")
    assert response.status_code == 200
    cells = [c.value for row in load_workbook(io.BytesIO(response.data)).active.iter_rows()
             for c in row]
    assert "9号楼1单元101" in cells


def test_a_round_name_excel_refuses_as_a_sheet_name_still_exports(as_user, world):
    """A sheet name may not hold / \\ ? * : [ ]: a committee's round named so must not make
    its round progress a 500."""
    admin = as_user("admin")
    response = admin.post("/api/rounds", json={
        "community_id": world["C"], "name": "第1/2轮: [复查]?*", "starts_on": "2026-01-01",
        "ends_on": "2099-12-31"})
    assert response.status_code == 201, response.json
    response = admin.get(f"/api/places/{world['C']}/round-progress.xlsx")
    assert response.status_code == 200
    assert load_workbook(io.BytesIO(response.data)).active.title.startswith("排查进度 第1")
