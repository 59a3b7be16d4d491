"""Households (户) and their residents as every feature shows them: lookup with the
jurisdiction check, the address, and the JSON views with personal data masked by scope.

Screening edits these registries (server/screening.py); isolation cases, deliveries and the
tallies read them.
"""

from __future__ import annotations

import sqlite_utils

from .audit import audit
from .errors import fail
from .idcard import mask_id_number
from .scope import User, can_work_grid, forbidden_at, mask_phone, sees_full


def get_household(db: sqlite_utils.Database, household_id: str) -> dict | None:
    rows = list(db.query("SELECT * FROM households WHERE id = ? AND deleted_at IS NULL",
                         [household_id]))
    return rows[0] if rows else None


def household_for(db: sqlite_utils.Database, user: User, household_id: str,
                  path: str = "/household_id") -> dict:
    """The household, if `user` may work on it: 404 unknown, 403 outside their jurisdiction."""
    household = get_household(db, household_id)
    if household is None:
        raise fail(404, "household_unknown", path, "exists")
    if not can_work_grid(db, user, household["grid_id"], household["community_id"]):
        raise forbidden_at(path)
    return household


# The personal values shown masked to a user who does not see them in full (scope.sees_full),
# wherever they appear: a household, a resident, the fields of an edit in the history.
_MASKS = {"phone": mask_phone, "landlord_phone": mask_phone, "id_number": mask_id_number}


def masked(values: dict, full: bool) -> dict:
    """`values` with phones and ID numbers masked unless `full`; an empty one stays empty."""
    if full:
        return dict(values)
    return {k: _MASKS[k](v) if k in _MASKS and v else v for k, v in values.items()}


def resident_json(row: dict, full: bool) -> dict:
    data = {k: row[k] for k in ("id", "household_id", "name", "sex", "birth_date", "birth_year",
                                "id_type", "hukou_place", "came_from", "occupation",
                                "return_date", "travel_mode", "travel_number", "companions",
                                "vaccine_doses", "notes", "version", "updated_at")}
    data.update({k: bool(row[k]) for k in ("elderly_alone", "chronic", "pregnant")})
    data.update(masked({k: row[k] for k in ("id_number", "phone")}, full))
    data["masked"] = not full
    return data


def address(row: dict) -> str:
    """'3号楼2单元501' from building 3, unit 2, door 501 (names kept as typed otherwise)."""
    building, unit = row["building"], row["unit"]
    return "".join((f"{building}号楼" if building.isdigit() else building,
                    f"{unit}单元" if unit.isdigit() else unit, row["door"]))


def household_json(db: sqlite_utils.Database, row: dict, user: User | None = None,
                   with_residents: bool = True) -> dict:
    """A household for `user`; full values are given only as sees_full allows, and audited."""
    full = user is not None and sees_full(db, user, row)
    data = {k: row[k] for k in ("id", "community_id", "grid_id", "building", "unit", "door",
                                "head_name", "residents_count", "landlord", "tenants", "notes",
                                "version", "updated_at")}
    data["is_rental"] = bool(row["is_rental"])
    data["address"] = address(row)
    data.update(masked({k: row[k] for k in ("phone", "landlord_phone")}, full))
    data["masked"] = not full
    if full:
        audit(db, "read_full", f"household:{row['id']}")
    if with_residents:
        residents = list(db.query(
            "SELECT * FROM residents WHERE household_id = ? AND deleted_at IS NULL ORDER BY created_at, name",
            [row["id"]]))
        data["residents"] = [resident_json(r, full) for r in residents]
        if full:
            for r in residents:
                audit(db, "read_full", f"resident:{r['id']}")
    return data
