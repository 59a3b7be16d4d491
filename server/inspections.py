"""Field inspections (四不两直: unannounced visits) and the deployment mode (emergency/routine).

An admin records an inspection of a community, one of its checkpoints or an enterprise in it:
when, what was found, and each cadre seen (on duty or not, conduct). The cadres' work records
(tallies.work_records) count them. The mode itself is kept by server/settings.py; its routes
are here.
"""

from __future__ import annotations

import sqlite_utils
from flask import Blueprint, current_app, jsonify
from flask_login import current_user

from .audit import audit
from .db import get_db, write_transaction
from .errors import ApiError, field_error, json_body, query_int, raise_if
from .records import MAX_CLOCK_AHEAD
from .scope import User, require_place_in_scope, require_role, scope_paths
from .settings import mode_json, set_mode
from .timeutil import local_day, now_utc, parse_time, utc_text

bp = Blueprint("inspections", __name__)

# --- inspections ----------------------------------------------------------------------------------

def record_inspection(db: sqlite_utils.Database, user: User, body: dict) -> int:
    """Store a validated inspection (schemas/inspection.json); 422 with pointers on bad ids."""
    community = require_place_in_scope(db, user, body["community_id"])
    errors: list[dict] = []
    if community["kind"] != "community":
        errors.append(field_error("/community_id", "not_found", "kind"))
    checkpoint_id = body.get("checkpoint_id")
    if checkpoint_id is not None and db.execute(
            "SELECT 1 FROM checkpoints WHERE id = ? AND community_id = ?",
            [checkpoint_id, community["id"]]).fetchone() is None:
        errors.append(field_error("/checkpoint_id", "checkpoint_unknown", "exists"))
    enterprise_id = body.get("enterprise_id")
    if enterprise_id is not None and db.execute(
            "SELECT 1 FROM enterprises WHERE id = ? AND community_id = ?",
            [enterprise_id, community["id"]]).fetchone() is None:
        errors.append(field_error("/enterprise_id", "enterprise_unknown", "exists"))
    moment = parse_time(body["inspected_at"])
    if moment - now_utc() > MAX_CLOCK_AHEAD:
        errors.append(field_error("/inspected_at", "in_future", "future"))
    seen: set[int] = set()
    for index, cadre in enumerate(body.get("cadres", [])):
        path = f"/cadres/{index}/user_id"
        if cadre["user_id"] in seen:
            errors.append(field_error(path, "repeated", "unique"))
        elif db.execute("SELECT 1 FROM users WHERE id = ? AND role IN ('cadre', 'leader')",
                        [cadre["user_id"]]).fetchone() is None:
            errors.append(field_error(path, "user_unknown", "exists"))
        seen.add(cadre["user_id"])
    raise_if(errors)
    with write_transaction(db):
        inspection_id = db.execute(
            """INSERT INTO inspections (community_id, checkpoint_id, enterprise_id, inspected_at,
                   local_day, findings, created_by, created_at) VALUES (?,?,?,?,?,?,?,?)""",
            [community["id"], checkpoint_id, enterprise_id, body["inspected_at"],
             local_day(moment, current_app.config["TIMEZONE"]), body.get("findings", ""),
             user.id, utc_text(now_utc())]).lastrowid
        db.conn.executemany(
            """INSERT INTO inspection_cadres (inspection_id, user_id, on_duty, conduct, note)
               VALUES (?,?,?,?,?)""",
            [(inspection_id, c["user_id"], int(c.get("on_duty", True)), c.get("conduct", "good"),
              c.get("note", "")) for c in body.get("cadres", [])])
        audit(db, "create", f"inspection:{inspection_id}", f"{len(seen)} cadres")
    return inspection_id


def inspections_below(db: sqlite_utils.Database, path: str, limit: int = 200,
                      inspection_id: int | None = None) -> list[dict]:
    """Newest first, with the cadres seen; `inspection_id`: that one only."""
    rows = list(db.query(
        """SELECT i.*, p.name AS community_name, k.name AS checkpoint_name,
                  e.name AS enterprise_name, u.name AS inspector
           FROM inspections i JOIN places p ON p.id = i.community_id
           LEFT JOIN checkpoints k ON k.id = i.checkpoint_id
           LEFT JOIN enterprises e ON e.id = i.enterprise_id
           JOIN users u ON u.id = i.created_by
           WHERE p.path >= ? AND p.path < ? AND (? IS NULL OR i.id = ?)
           ORDER BY i.inspected_at DESC, i.id DESC LIMIT ?""",
        [path, path + "\uffff", inspection_id, inspection_id, limit]))
    cadres: dict[int, list] = {}
    if rows:
        ids = [r["id"] for r in rows]
        for c in db.query(
                f"""SELECT c.*, u.name FROM inspection_cadres c JOIN users u ON u.id = c.user_id
                    WHERE c.inspection_id IN ({','.join('?' * len(ids))}) ORDER BY u.name""", ids):
            cadres.setdefault(c["inspection_id"], []).append(
                {"user": {"id": c["user_id"], "name": c["name"]}, "on_duty": bool(c["on_duty"]),
                 "conduct": c["conduct"], "note": c["note"]})
    return [{"id": r["id"], "inspected_at": r["inspected_at"], "local_day": r["local_day"],
             "community": {"id": r["community_id"], "name": r["community_name"]},
             "checkpoint": ({"id": r["checkpoint_id"], "name": r["checkpoint_name"]}
                            if r["checkpoint_id"] else None),
             "enterprise": ({"id": r["enterprise_id"], "name": r["enterprise_name"]}
                            if r["enterprise_id"] else None),
             "findings": r["findings"], "inspector": r["inspector"],
             "cadres": cadres.get(r["id"], [])} for r in rows]


# --- routes -------------------------------------------------------------------------------------

@bp.get("/api/mode")
def get_mode():
    """No login needed: the PWA decides what to show before and after login."""
    return jsonify(mode_json(get_db()))


@bp.post("/api/mode")
@require_role("admin")
def post_mode():
    if current_user.place is None or current_user.place["parent_id"] is not None:
        raise ApiError(403, "forbidden")  # the deployment's mode: the root admin only
    body = json_body("mode")
    db = get_db()
    set_mode(db, body["mode"], current_user.id)
    return jsonify(mode_json(db))


@bp.post("/api/inspections")
@require_role("admin")
def create_inspection():
    db = get_db()
    inspection_id = record_inspection(db, current_user, json_body("inspection"))
    entry = inspections_below(db, "/", 1, inspection_id)[0]
    return jsonify({"inspection": entry}), 201


@bp.get("/api/inspections")
@require_role("committee", "admin")
def list_inspections():
    db = get_db()
    place_id = query_int("place_id")
    if place_id is not None:
        path = require_place_in_scope(db, current_user, place_id)["path"]
    else:
        path = scope_paths(db, current_user)[0]
    return jsonify({"inspections": inspections_below(db, path)})

