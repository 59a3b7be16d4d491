"""Dual registration (双报到): the standing pool a mobilisation draws on.

Party members register with the community where they live or are paired (a person's own
registration, from the app); their home units (机关企事业单位) register with the communities they
are paired with (结对共建), entered by the community's committee or an admin from the unit's
letter. A call-up to "the registered pool" below a node reaches both: the people registered
there, and the cadres of the units registered there; matching counts a unit's registered
community as near for its cadres.
"""

from __future__ import annotations

import sqlite_utils
from flask import Blueprint, jsonify
from flask_login import current_user

from . import places
from .audit import audit
from .db import get_db, write_transaction
from .errors import ApiError, fail, json_body, query_int
from .scope import User, mask_phone, require_place_in_scope, require_role, scope_paths
from .timeutil import now_utc, utc_text

bp = Blueprint("registrations", __name__)


def below(path: str) -> list[str]:
    """Bounds of the paths at or below `path`, for `p.path >= ? AND p.path < ?`."""
    return [path, path + "\uffff"]


# The cadres in the registered pool below a node (two path bounds, twice): people registered
# there, and cadres of the home units registered there.
POOL_SQL = """SELECT g.user_id FROM registrations g JOIN places p ON p.id = g.community_id
              WHERE p.path >= ? AND p.path < ?
              UNION SELECT u.id FROM users u
              JOIN unit_registrations r ON r.home_unit_id = u.home_unit_id
              JOIN places p ON p.id = r.community_id
              WHERE u.role IN ('cadre', 'leader') AND p.path >= ? AND p.path < ?"""


def pool_params(path: str) -> list[str]:
    return below(path) * 2


# --- people --------------------------------------------------------------------------------------

def register(db: sqlite_utils.Database, user: User, community_id: int, kind: str = "residence",
             services: str = "") -> tuple[str, dict]:
    place = places.get_place(db, community_id)
    if place is None or place["kind"] != "community":
        raise fail(422, "not_found", "/community_id", "exists")
    with write_transaction(db):
        existing = next(db.query("SELECT * FROM registrations WHERE user_id = ? AND community_id = ?",
                                 [user.id, community_id]), None)
        if existing is not None:
            db.execute("UPDATE registrations SET kind = ?, services = ? WHERE id = ?",
                       [kind, services, existing["id"]])
            status = "duplicate"
        else:
            db.execute("""INSERT INTO registrations (user_id, community_id, kind, services,
                              created_at) VALUES (?,?,?,?,?)""",
                       [user.id, community_id, kind, services, utc_text(now_utc())])
            status = "created"
        row = next(db.query("SELECT * FROM registrations WHERE user_id = ? AND community_id = ?",
                            [user.id, community_id]))
    return status, {**row, "community": {"id": place["id"], "name": place["name"]}}


def registered_below(db: sqlite_utils.Database, path: str, full: bool) -> list[dict]:
    """The people registered with the communities at or below `path`, with unit and specialty."""
    return [{"id": r["id"], "kind": r["kind"], "services": r["services"],
             "created_at": r["created_at"],
             "community": {"id": r["community_id"], "name": r["community"]},
             "user": {"id": r["user_id"], "name": r["name"],
                      "phone": r["phone"] if full else mask_phone(r["phone"]),
                      "home_unit": r["home_unit"] or "", "specialty": r["specialty"],
                      "party_member": bool(r["party_member"])}}
            for r in db.query(
                """SELECT g.*, p.name AS community, u.name, u.phone, u.specialty, u.party_member,
                          h.name AS home_unit
                   FROM registrations g JOIN places p ON p.id = g.community_id
                   JOIN users u ON u.id = g.user_id LEFT JOIN home_units h ON h.id = u.home_unit_id
                   WHERE p.path >= ? AND p.path < ? AND u.active = 1
                   ORDER BY p.path, u.name""", below(path))]


# --- home units ----------------------------------------------------------------------------------

def register_unit(db: sqlite_utils.Database, actor: User, body: dict) -> tuple[str, dict]:
    """A home unit paired with a community (by its name: a new unit is added to the list);
    registering the same pair again updates its contact and services."""
    community = require_place_in_scope(db, actor, body["community_id"])
    if community["kind"] != "community":
        raise fail(422, "not_found", "/community_id", "exists")
    name = body["home_unit"].strip()
    if not name:
        raise fail(422, "rule_required", "/home_unit", "required")
    values = [body.get("contact_name", "").strip(), body.get("contact_phone", ""),
              body.get("members", 0), body.get("services", "").strip()]
    with write_transaction(db):
        unit_id = places.home_unit_id(db, name)
        existing = db.execute("SELECT id FROM unit_registrations WHERE home_unit_id = ? "
                              "AND community_id = ?", [unit_id, community["id"]]).fetchone()
        if existing is not None:
            db.execute("""UPDATE unit_registrations SET contact_name = ?, contact_phone = ?,
                              members = ?, services = ? WHERE id = ?""", [*values, existing[0]])
            registration_id, status = existing[0], "updated"
        else:
            registration_id = db.execute(
                """INSERT INTO unit_registrations (home_unit_id, community_id, contact_name,
                       contact_phone, members, services, registered_by, created_at)
                   VALUES (?,?,?,?,?,?,?,?)""",
                [unit_id, community["id"], *values, actor.id, utc_text(now_utc())]).lastrowid
            status = "created"
        audit(db, "create" if status == "created" else "update",
              f"unit_registration:{registration_id}")
    return status, units_below(db, community["path"], registration_id=registration_id)[0]


def units_below(db: sqlite_utils.Database, path: str,
                registration_id: int | None = None) -> list[dict]:
    """The home units registered with the communities at or below `path`, with how many of
    their cadres have accounts here."""
    extra, params = ("AND r.id = ?", [registration_id]) if registration_id else ("", [])
    return [{"id": r["id"], "home_unit": {"id": r["home_unit_id"], "name": r["unit"]},
             "community": {"id": r["community_id"], "name": r["community"]},
             "contact_name": r["contact_name"], "contact_phone": r["contact_phone"],
             "members": r["members"], "services": r["services"], "cadres": r["cadres"],
             "created_at": r["created_at"]}
            for r in db.query(
                f"""SELECT r.*, h.name AS unit, p.name AS community,
                           (SELECT count(*) FROM users u WHERE u.home_unit_id = r.home_unit_id
                            AND u.active = 1 AND u.role IN ('cadre', 'leader')) AS cadres
                    FROM unit_registrations r JOIN home_units h ON h.id = r.home_unit_id
                    JOIN places p ON p.id = r.community_id
                    WHERE p.path >= ? AND p.path < ? {extra}
                    ORDER BY p.path, h.name""", below(path) + params)]


# --- routes --------------------------------------------------------------------------------------

def _staff_path(place_id: int | None) -> str:
    db = get_db()
    if place_id is not None:
        return require_place_in_scope(db, current_user, place_id)["path"]
    return scope_paths(db, current_user)[0]


@bp.get("/api/registrations")
@require_role()
def list_registrations():
    """A cadre: their own registrations. Staff: the registered pool of their node (or
    ?place_id), with full phones (the committee calls them up; the read is audited)."""
    db = get_db()
    if current_user.role in ("cadre", "leader"):
        rows = [{**r, "community": {"id": r["community_id"], "name": r["name"]}}
                for r in db.query("""SELECT g.*, p.name FROM registrations g
                                     JOIN places p ON p.id = g.community_id
                                     WHERE g.user_id = ? ORDER BY g.id""", [current_user.id])]
        return jsonify({"registrations": rows})
    path = _staff_path(query_int("place_id"))
    pool = registered_below(db, path, full=True)
    audit(db, "read", f"registrations:{path}", f"{len(pool)} people")
    return jsonify({"registrations": pool})


@bp.post("/api/registrations")
@require_role("cadre", "leader")
def new_registration():
    body = json_body("registration")
    status, row = register(get_db(), current_user, body["community_id"],
                           body.get("kind", "residence"), body.get("services", ""))
    return jsonify({"status": status, "registration": row}), 201 if status == "created" else 200


@bp.get("/api/unit-registrations")
@require_role("committee", "admin")
def list_unit_registrations():
    """The home units registered with the communities of the user's node (or ?place_id)."""
    db = get_db()
    path = _staff_path(query_int("place_id"))
    units = units_below(db, path)
    audit(db, "read", f"unit_registrations:{path}", f"{len(units)} units")
    return jsonify({"unit_registrations": units})


@bp.post("/api/unit-registrations")
@require_role("committee", "admin")
def new_unit_registration():
    body = json_body("unit_registration")
    status, row = register_unit(get_db(), current_user, body)
    return jsonify({"status": status, "unit_registration": row}), \
        201 if status == "created" else 200


@bp.delete("/api/unit-registrations/<int:registration_id>")
@require_role("committee", "admin")
def delete_unit_registration(registration_id: int):
    db = get_db()
    row = db.execute("SELECT community_id FROM unit_registrations WHERE id = ?",
                     [registration_id]).fetchone()
    if row is None:
        raise ApiError(404, "not_found")
    require_place_in_scope(db, current_user, row[0])
    with write_transaction(db):
        db.execute("DELETE FROM unit_registrations WHERE id = ?", [registration_id])
        audit(db, "delete", f"unit_registration:{registration_id}")
    return jsonify({"deleted": 1})


@bp.get("/api/home-units")
@require_role("committee", "admin")
def list_home_units():
    """Every home unit, for the pickers (a call-up to named units, a unit's registration)."""
    return jsonify({"home_units": list(get_db().query(
        "SELECT id, name FROM home_units ORDER BY name"))})
