"""Enterprises, their contacts (the `enterprise` role), the department ↔ problem-category
table, and problem tickets recorded by stationed cadres (驻企特派员).

An enterprise is a row of its own, not a node of the place tree: it sits in a community (its
属地 committee), so everything about it rolls up through the tree by that community, while the
tree keeps its four kinds and every place-based rule (posters, grids, tallies) stays as it is.

A ticket is captured on the phone (`store_problem_ticket`, sync type `problem_ticket`, the id is
the phone's UUID); each later step is an append-only `ticket_update` with its own UUID. A status
sent with an update older than the ticket's last status change is kept in the history but not
applied. The enterprise contact confirms a solved ticket; only confirmed ones count as solved.
"""

from __future__ import annotations

import json
import uuid
from collections import Counter

import sqlite_utils
from flask import Blueprint, current_app, jsonify, request
from flask_login import current_user

from . import places, records
from .audit import audit
from .auth import create_user, require_strong_password
from .db import first_row, get_db, write_transaction
from .errors import ApiError, fail, field_error, json_body, query_int, query_period
from .records import Earlier, Incoming, answer, record_body
from .scope import ROLES, User, in_staff_scope, mask_phone, require_place_in_scope, require_role, scope_paths
from .timeutil import local_day, now_utc, today, utc_text

bp = Blueprint("enterprises", __name__)

# Problem categories (问题类别), in the order forms show them.
CATEGORIES: dict[str, str] = {
    "materials": "原料供应", "labour": "用工招工", "logistics": "物流运输", "finance": "资金融资",
    "supplies": "防疫物资", "permits": "审批许可", "utilities": "水电气", "market": "产品销售",
    "other": "其他",
}
TICKET_STATUSES = ("open", "coordinating", "solved", "cannot_solve")


# --- enterprises ----------------------------------------------------------------------------------

def get_enterprise(db: sqlite_utils.Database, enterprise_id: int | None) -> dict | None:
    if enterprise_id is None:
        return None
    return next(db.query("SELECT * FROM enterprises WHERE id = ?", [enterprise_id]), None)


def create_enterprise(db: sqlite_utils.Database, name: str, community_id: int, industry: str = "",
                      address: str = "", created_by: int | None = None) -> int:
    place = places.get_place(db, community_id)
    if place is None or place["kind"] != "community":
        raise ValueError("an enterprise sits in a community")
    return db.execute(
        """INSERT INTO enterprises (name, community_id, industry, address, created_by, created_at)
           VALUES (?,?,?,?,?,?)""",
        [name, community_id, industry, address, created_by, utc_text(now_utc())]).lastrowid


def stationed_enterprise_ids(db: sqlite_utils.Database, user_id: int) -> set[int]:
    """The enterprises the cadre is stationed with today."""
    day = today(current_app.config["TIMEZONE"]).isoformat()
    return {r[0] for r in db.execute(
        """SELECT enterprise_id FROM assignments WHERE user_id = ? AND enterprise_id IS NOT NULL
           AND starts_on <= ? AND (ends_on IS NULL OR ends_on >= ?)""", [user_id, day, day])}


def is_contact_of(user: User, enterprise_id: int) -> bool:
    return user.role == "enterprise" and bool(user.enterprise) \
        and user.enterprise["id"] == enterprise_id


def may_work(db: sqlite_utils.Database, user: User, enterprise: dict) -> bool:
    """Record and update its tickets: its stationed cadres, staff whose scope holds it."""
    if user.role in ("committee", "admin"):
        return in_staff_scope(db, user, enterprise["community_id"])
    if user.role in ("cadre", "leader"):
        return enterprise["id"] in stationed_enterprise_ids(db, user.id)
    return False


def may_see(db: sqlite_utils.Database, user: User, enterprise: dict) -> bool:
    return is_contact_of(user, enterprise["id"]) or may_work(db, user, enterprise)


def enterprise_for(db: sqlite_utils.Database, user: User, enterprise_id: int, path: str = "",
                   work: bool = False) -> dict:
    """The enterprise if `user` may see it (or work on it): 404 unknown, 403 otherwise."""
    enterprise = get_enterprise(db, enterprise_id)
    if enterprise is None:
        raise fail(404, "enterprise_unknown", path, "exists") if path else \
            ApiError(404, "enterprise_unknown")
    if not (may_work if work else may_see)(db, user, enterprise):
        code = "not_stationed" if work and user.role in ("cadre", "leader") else "forbidden"
        raise ApiError(403, code, fields=[field_error(path, code, "jurisdiction")] if path else None)
    return enterprise


def enterprise_json(db: sqlite_utils.Database, row: dict, detail: bool = False) -> dict:
    community = places.get_place(db, row["community_id"])
    data = {k: row[k] for k in ("id", "name", "industry", "address", "created_at")}
    data["community"] = {"id": community["id"], "name": community["name"]}
    if detail:
        day = today(current_app.config["TIMEZONE"]).isoformat()
        data["contacts"] = [{"id": r["id"], "name": r["name"], "phone": mask_phone(r["phone"])}
                            for r in db.query("""SELECT id, name, phone FROM users
                                                 WHERE enterprise_id = ? AND active = 1
                                                 ORDER BY id""", [row["id"]])]
        # The contact and the stationed cadre call each other: their phones are shown in full.
        data["stationed"] = [
            {"id": r["id"], "name": r["name"], "phone": r["phone"], "home_unit": r["unit"] or "",
             "starts_on": r["starts_on"], "ends_on": r["ends_on"]}
            for r in db.query("""SELECT u.id, u.name, u.phone, h.name AS unit, a.starts_on,
                                        a.ends_on FROM assignments a JOIN users u ON u.id = a.user_id
                                 LEFT JOIN home_units h ON h.id = u.home_unit_id
                                 WHERE a.enterprise_id = ? AND (a.ends_on IS NULL OR a.ends_on >= ?)
                                 ORDER BY a.starts_on, u.name""", [row["id"], day])]
    return data


def enterprises_visible(db: sqlite_utils.Database, user: User) -> list[dict]:
    if user.role == "enterprise":
        rows = [get_enterprise(db, user.enterprise["id"])] if user.enterprise else []
    elif user.role in ("committee", "admin"):
        rows = []
        for path in scope_paths(db, user):
            rows += list(db.query(
                """SELECT e.* FROM enterprises e JOIN places p ON p.id = e.community_id
                   WHERE p.path >= ? AND p.path < ? ORDER BY p.path, e.name""",
                [path, path + "\uffff"]))
    else:
        ids = sorted(stationed_enterprise_ids(db, user.id))
        rows = list(db.query(f"SELECT * FROM enterprises WHERE id IN ({','.join('?' * len(ids))})",
                             ids)) if ids else []
    return [enterprise_json(db, r) for r in rows]


# --- the department ↔ problem-category table -----------------------------------------------------

def category_table(db: sqlite_utils.Database) -> list[dict]:
    units: dict[str, list[dict]] = {}
    for r in db.query("""SELECT c.category, h.id, h.name FROM category_departments c
                         JOIN home_units h ON h.id = c.home_unit_id ORDER BY h.name"""):
        units.setdefault(r["category"], []).append({"id": r["id"], "name": r["name"]})
    return [{"category": key, "title": title, "departments": units.get(key, [])}
            for key, title in CATEGORIES.items()]


def set_category_departments(db: sqlite_utils.Database, category: str, names: list[str]) -> None:
    """Replace the departments that handle `category` (home units are made on first use)."""
    if category not in CATEGORIES:
        raise ValueError(f"unknown category {category!r}")
    with write_transaction(db):
        db.execute("DELETE FROM category_departments WHERE category = ?", [category])
        for name in names:
            unit_id = places.home_unit_id(db, name)
            if unit_id is not None:
                db.execute("INSERT OR IGNORE INTO category_departments VALUES (?, ?)",
                           [category, unit_id])


def related_unit_ids(db: sqlite_utils.Database, category: str | None) -> set[int]:
    return {r[0] for r in db.execute(
        "SELECT home_unit_id FROM category_departments WHERE category = ?", [category or ""])}


# --- problem tickets --------------------------------------------------------------------------------

def get_ticket(db: sqlite_utils.Database, ticket_id: str) -> dict | None:
    return next(db.query(
        """SELECT k.*, u.name AS user_name, e.name AS enterprise_name FROM problem_tickets k
           JOIN users u ON u.id = k.user_id JOIN enterprises e ON e.id = k.enterprise_id
           WHERE k.id = ?""", [ticket_id]), None)


def ticket_json(db: sqlite_utils.Database, row: dict, history: bool = True) -> dict:
    data = {k: row[k] for k in ("id", "need_id", "category", "description", "status", "raised_on",
                                "solved_on", "confirmed_at", "confirm_note", "recorded_at",
                                "received_at")}
    data["category_title"] = CATEGORIES.get(row["category"], row["category"])
    data["departments"] = json.loads(row["departments"])
    data["confirmed"] = row["confirmed_at"] is not None
    data["enterprise"] = {"id": row["enterprise_id"], "name": row["enterprise_name"]}
    data["user"] = {"id": row["user_id"], "name": row["user_name"]}
    if "latest_note" in row:
        data["latest_note"] = json.loads(row["latest_note"]) if row["latest_note"] else None
    if history:
        data["updates"] = [
            {"id": u["id"], "status": u["status"], "departments": json.loads(u["departments"]),
             "note": u["note"], "applied": bool(u["applied"]), "recorded_at": u["recorded_at"],
             "user": {"id": u["user_id"], "name": u["name"]}}
            for u in db.query("""SELECT t.*, u.name FROM ticket_updates t JOIN users u
                                 ON u.id = t.user_id WHERE t.ticket_id = ?
                                 ORDER BY t.recorded_utc, t.received_at""", [row["id"]])]
    return data


def _earlier_ticket(db: sqlite_utils.Database, ticket_id: str) -> Earlier | None:
    ticket = get_ticket(db, ticket_id)
    if ticket is None:
        return None
    return Earlier(ticket["user_id"], ticket["payload_hash"], lambda: ticket_json(db, ticket))


def _earlier_update(db: sqlite_utils.Database, update_id: str) -> Earlier | None:
    row = first_row(db, "SELECT ticket_id, user_id, payload_hash FROM ticket_updates "
                        "WHERE id = ?", [update_id])
    if row is None:
        return None
    return Earlier(row["user_id"], row["payload_hash"],
                   lambda: ticket_json(db, get_ticket(db, row["ticket_id"])))


def store_problem_ticket(db: sqlite_utils.Database, user: User, record: dict,
                         device_id: str | None) -> tuple[str, dict]:
    """A validated ticket (schemas/problem_ticket.json), live or from the outbox."""
    incoming = Incoming.of(user.id, record, device_id)
    recorded = incoming.trusted
    zone = current_app.config["TIMEZONE"]

    def create() -> tuple[str, dict]:
        enterprise = enterprise_for(db, user, record["enterprise_id"], "/enterprise_id", work=True)
        need_id = record.get("need_id")
        if need_id is not None and db.execute(
                "SELECT 1 FROM needs WHERE id = ? AND enterprise_id = ?",
                [need_id, enterprise["id"]]).fetchone() is None:
            raise fail(422, "need_unknown", "/need_id", "exists")
        status = record.get("status", "open")
        day = local_day(recorded, zone)
        stamp = utc_text(now_utc())
        db.execute(
            """INSERT INTO problem_tickets (id, enterprise_id, need_id, user_id, category,
                   description, departments, status, status_at, raised_on, solved_on,
                   recorded_at, received_at, device_id, payload_hash)
               VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)""",
            [record["id"], enterprise["id"], need_id, user.id, record["category"],
             record["description"], json.dumps(record.get("departments", []), ensure_ascii=False),
             status, utc_text(recorded), day, day if status == "solved" else None,
             record["recorded_at"], stamp, device_id, incoming.digest])
        audit(db, "create", f"ticket:{record['id']}", f"enterprise:{enterprise['id']}")
        return "created", ticket_json(db, get_ticket(db, record["id"]))

    return records.store(db, incoming, _earlier_ticket, create)


def store_ticket_update(db: sqlite_utils.Database, user: User, record: dict,
                        device_id: str | None) -> tuple[str, dict]:
    """A validated step of a ticket (schemas/ticket_update.json): status, departments, note."""
    incoming = Incoming.of(user.id, record, device_id)
    recorded = incoming.trusted

    def create() -> tuple[str, dict]:
        ticket = get_ticket(db, record["ticket_id"])
        if ticket is None:
            raise fail(404, "ticket_unknown", "/ticket_id", "exists")
        enterprise_for(db, user, ticket["enterprise_id"], "/ticket_id", work=True)
        if ticket["confirmed_at"] is not None:
            raise fail(409, "ticket_confirmed", "/ticket_id", "state")
        recorded_utc = utc_text(recorded)
        status = record.get("status")
        applied = status is None or recorded_utc >= ticket["status_at"]
        departments = list(dict.fromkeys(json.loads(ticket["departments"])
                                         + record.get("departments", [])))
        db.execute(
            """INSERT INTO ticket_updates (id, ticket_id, user_id, status, departments, note,
                   applied, recorded_at, recorded_utc, received_at, device_id, payload_hash)
               VALUES (?,?,?,?,?,?,?,?,?,?,?,?)""",
            [record["id"], ticket["id"], user.id, status,
             json.dumps(record.get("departments", []), ensure_ascii=False),
             record.get("note", ""), int(applied), record["recorded_at"], recorded_utc,
             utc_text(incoming.received), device_id, incoming.digest])
        db.execute("UPDATE problem_tickets SET departments = ? WHERE id = ?",
                   [json.dumps(departments, ensure_ascii=False), ticket["id"]])
        if status is not None and applied:
            day = local_day(recorded, current_app.config["TIMEZONE"])
            db.execute("""UPDATE problem_tickets SET status = ?, status_at = ?, solved_on = ?
                          WHERE id = ?""",
                       [status, recorded_utc, day if status == "solved" else None, ticket["id"]])
        return "created", ticket_json(db, get_ticket(db, ticket["id"]))

    return records.store(db, incoming, _earlier_update, create)


def confirm_ticket(db: sqlite_utils.Database, user: User, ticket_id: str, solved: bool,
                   note: str = "") -> dict:
    """The enterprise contact confirms a solved ticket, or sends it back to coordinating."""
    with write_transaction(db):
        ticket = get_ticket(db, ticket_id)
        if ticket is None:
            raise ApiError(404, "ticket_unknown")
        if not is_contact_of(user, ticket["enterprise_id"]):
            raise ApiError(403, "forbidden")
        if ticket["confirmed_at"] is not None:
            return ticket_json(db, ticket)  # a retried confirmation
        if ticket["status"] != "solved":
            raise fail(409, "ticket_not_solved", "/solved", "state")
        now = now_utc()
        if solved:
            db.execute("""UPDATE problem_tickets SET confirmed_at = ?, confirmed_on = ?,
                              confirmed_by = ?, confirm_note = ? WHERE id = ?""",
                       [utc_text(now), local_day(now, current_app.config["TIMEZONE"]), user.id,
                        note, ticket_id])
        else:
            db.execute("""INSERT INTO ticket_updates (id, ticket_id, user_id, status, note,
                              applied, recorded_at, recorded_utc, received_at, payload_hash)
                          VALUES (?,?,?,'coordinating',?,1,?,?,?,'')""",
                       [str(uuid.uuid4()), ticket_id, user.id, note, now.isoformat(),
                        utc_text(now), utc_text(now)])
            db.execute("""UPDATE problem_tickets SET status = 'coordinating', status_at = ?,
                              solved_on = NULL WHERE id = ?""", [utc_text(now), ticket_id])
        audit(db, "confirm" if solved else "reject", f"ticket:{ticket_id}", note[:200])
        return ticket_json(db, get_ticket(db, ticket_id))


def tickets_visible(db: sqlite_utils.Database, user: User, enterprise_id: int | None = None,
                    status: str | None = None, limit: int = 500) -> list[dict]:
    where, params = [], []
    if user.role == "enterprise":
        where.append("k.enterprise_id = ?")
        params.append(user.enterprise["id"] if user.enterprise else -1)
    elif user.role in ("committee", "admin"):
        scopes = scope_paths(db, user)
        where.append("(" + (" OR ".join("p.path >= ? AND p.path < ?" for _ in scopes) or "0") + ")")
        params += [v for s in scopes for v in (s, s + "\uffff")]
    else:
        ids = sorted(stationed_enterprise_ids(db, user.id))
        where.append(f"(k.user_id = ? OR k.enterprise_id IN ({','.join('?' * len(ids)) or 'NULL'}))")
        params += [user.id, *ids]
    if enterprise_id is not None:
        where.append("k.enterprise_id = ?")
        params.append(enterprise_id)
    if status:
        where.append("k.status = ?")
        params.append(status)
    # The latest progress note rides along: the contact follows a ticket by it.
    rows = db.query(
        f"""SELECT k.*, u.name AS user_name, e.name AS enterprise_name,
                   (SELECT json_object('note', t.note, 'recorded_at', t.recorded_at,
                                       'user', json_object('id', w.id, 'name', w.name))
                    FROM ticket_updates t JOIN users w ON w.id = t.user_id
                    WHERE t.ticket_id = k.id AND t.note != ''
                    ORDER BY t.recorded_utc DESC, t.received_at DESC LIMIT 1) AS latest_note
            FROM problem_tickets k
            JOIN users u ON u.id = k.user_id JOIN enterprises e ON e.id = k.enterprise_id
            JOIN places p ON p.id = e.community_id WHERE {' AND '.join(where)}
            ORDER BY k.status IN ('solved', 'cannot_solve'), k.raised_on DESC, k.id LIMIT ?""",
        [*params, limit])
    return [ticket_json(db, r, history=False) for r in rows]


def problem_tally(db: sqlite_utils.Database, node: dict, first: str, last: str) -> dict:
    """Problems raised (tickets raised in the period) and solved (confirmed by the enterprise
    in the period), per enterprise, cadre, category, community and town below `node`."""
    rows = list(db.query(
        """SELECT k.enterprise_id, e.name AS enterprise, k.user_id, u.name AS cadre, k.category,
                  p.id AS community_id, p.name AS community, t.id AS town_id, t.name AS town,
                  k.raised_on BETWEEN :first AND :last AS raised,
                  coalesce(k.confirmed_on BETWEEN :first AND :last, 0) AS solved,
                  k.status = 'cannot_solve' AND k.raised_on BETWEEN :first AND :last AS cannot
           FROM problem_tickets k JOIN enterprises e ON e.id = k.enterprise_id
           JOIN users u ON u.id = k.user_id JOIN places p ON p.id = e.community_id
           LEFT JOIN places t ON t.id = p.parent_id
           WHERE p.path >= :lo AND p.path < :hi""",
        {"first": first, "last": last, "lo": node["path"], "hi": node["path"] + "\uffff"}))

    def group(key, label):
        counts: dict = {}
        for r in rows:
            entry = counts.setdefault(r[key], {"id": r[key], "name": label(r), "raised": 0,
                                               "solved": 0, "cannot_solve": 0})
            entry["raised"] += r["raised"]
            entry["solved"] += r["solved"]
            entry["cannot_solve"] += r["cannot"]
        return sorted((v for v in counts.values() if v["raised"] or v["solved"]),
                      key=lambda v: (-v["raised"], -v["solved"], str(v["name"])))

    totals = Counter()
    for r in rows:
        totals.update({"raised": r["raised"], "solved": r["solved"], "cannot_solve": r["cannot"]})
    return {"place": {k: node[k] for k in ("id", "name", "kind")}, "from": first, "to": last,
            "totals": {k: totals.get(k, 0) for k in ("raised", "solved", "cannot_solve")},
            "by_enterprise": group("enterprise_id", lambda r: r["enterprise"]),
            "by_cadre": group("user_id", lambda r: r["cadre"]),
            "by_category": [{**g, "title": CATEGORIES.get(g["id"], g["id"])}
                            for g in group("category", lambda r: r["category"])],
            "by_community": group("community_id", lambda r: r["community"]),
            "by_town": group("town_id", lambda r: r["town"])}


# --- routes -------------------------------------------------------------------------------------

@bp.get("/api/enterprises")
@require_role(*ROLES)
def list_enterprises():
    return jsonify({"enterprises": enterprises_visible(get_db(), current_user)})


@bp.post("/api/enterprises")
@require_role("committee", "admin")
def new_enterprise():
    db = get_db()
    body = json_body("enterprise")
    community = require_place_in_scope(db, current_user, body["community_id"])
    if community["kind"] != "community":
        raise fail(422, "not_found", "/community_id", "kind")
    with write_transaction(db):
        if db.execute("SELECT 1 FROM enterprises WHERE community_id = ? AND name = ?",
                      [community["id"], body["name"]]).fetchone():
            raise fail(409, "name_taken", "/name", "unique")
        enterprise_id = create_enterprise(db, body["name"], community["id"],
                                          body.get("industry", ""), body.get("address", ""),
                                          current_user.id)
        audit(db, "create", f"enterprise:{enterprise_id}")
    return jsonify({"enterprise": enterprise_json(db, get_enterprise(db, enterprise_id), True)}), 201


@bp.get("/api/enterprises/<int:enterprise_id>")
@require_role(*ROLES)
def enterprise_detail(enterprise_id: int):
    db = get_db()
    enterprise = enterprise_for(db, current_user, enterprise_id)
    return jsonify({"enterprise": enterprise_json(db, enterprise, detail=True)})


@bp.post("/api/enterprises/<int:enterprise_id>/contacts")
@require_role("committee", "admin")
def add_contact(enterprise_id: int):
    db = get_db()
    enterprise = enterprise_for(db, current_user, enterprise_id, work=True)
    body = json_body("enterprise_contact")
    with write_transaction(db):
        if db.execute("SELECT 1 FROM users WHERE phone = ?", [body["phone"]]).fetchone():
            raise fail(409, "phone_taken", "/phone", "unique")
        require_strong_password("/password", body["password"], body["phone"], body["name"])
        user_id = create_user(db, body["phone"], body["name"], body["password"], "enterprise",
                              enterprise_id=enterprise["id"])
        audit(db, "create", f"user:{user_id}", f"enterprise:{enterprise['id']}")
    return jsonify({"enterprise": enterprise_json(db, enterprise, detail=True)}), 201


@bp.get("/api/departments")
@require_role(*ROLES)
def get_departments():
    """The problem categories and the departments that handle each (forms and matching)."""
    return jsonify({"categories": category_table(get_db())})


@bp.post("/api/departments")
@require_role("admin")
def post_departments():
    if current_user.place is None or current_user.place["parent_id"] is not None:
        raise ApiError(403, "forbidden")  # one table for the deployment: the root admin edits it
    body = json_body("category_departments")
    db = get_db()
    set_category_departments(db, body["category"], body["departments"])
    audit(db, "update", f"category:{body['category']}", "、".join(body["departments"])[:500])
    return jsonify({"categories": category_table(db)})


@bp.get("/api/tickets")
@require_role(*ROLES)
def list_tickets():
    status = request.args.get("status")
    if status is not None and status not in TICKET_STATUSES:
        raise fail(422, "invalid", "/status", "enum")
    return jsonify({"tickets": tickets_visible(get_db(), current_user,
                                               query_int("enterprise_id"),
                                               status)})


@bp.post("/api/tickets")
@require_role("cadre", "leader", "committee", "admin")
def new_ticket():
    body = record_body("problem_ticket")
    return answer(*store_problem_ticket(get_db(), current_user, body, body.get("device_id")),
                  "ticket")


@bp.get("/api/tickets/<ticket_id>")
@require_role(*ROLES)
def ticket_detail(ticket_id: str):
    db = get_db()
    ticket = get_ticket(db, ticket_id)
    if ticket is None:
        raise ApiError(404, "ticket_unknown")
    enterprise_for(db, current_user, ticket["enterprise_id"])
    return jsonify({"ticket": ticket_json(db, ticket)})


@bp.post("/api/tickets/<ticket_id>/updates")
@require_role("cadre", "leader", "committee", "admin")
def new_ticket_update(ticket_id: str):
    body = record_body("ticket_update", ticket_id=ticket_id)
    return answer(*store_ticket_update(get_db(), current_user, body, body.get("device_id")),
                  "ticket")


@bp.post("/api/tickets/<ticket_id>/confirm")
@require_role("enterprise")
def confirm(ticket_id: str):
    body = json_body("ticket_confirm")
    return jsonify({"ticket": confirm_ticket(get_db(), current_user, ticket_id, body["solved"],
                                             body.get("note", ""))})


@bp.get("/api/places/<int:place_id>/problems")
@require_role("committee", "admin")
def place_problems(place_id: int):
    db = get_db()
    place = require_place_in_scope(db, current_user, place_id)
    first, last = query_period()
    return jsonify(problem_tally(db, place, first, last))

