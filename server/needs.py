"""Mobilisation (动员): needs, call-ups, volunteering (主动请战),
matching with explanations, and bulk assignment.

A need is for people (a community: how many, for what, when, with which skills) or for help (an
enterprise: what problem, which department it thinks can solve it). `proposals` ranks cadres for
a need and says why for each; `assign_need` assigns a list of them at once, reporting each cadre
it could not assign (already assigned in the period), and every assigned cadre gets a notice.
"""

from __future__ import annotations

import json
import re
from datetime import timedelta

import sqlite_utils
from flask import Blueprint, current_app, jsonify, request
from flask_login import current_user

from . import cadres, places, records
from .audit import audit
from .db import get_db, write_transaction
from .enterprises import CATEGORIES, enterprise_for, get_enterprise, related_unit_ids
from .errors import ApiError, fail, field_error, json_body, query_int, raise_if
from .i18n import t
from .notices import insert_notice
from .records import Incoming, answer, record_body
from .registrations import POOL_SQL, below, pool_params
from .scope import ROLES, User, in_staff_scope, mask_phone, require_place_in_scope, require_role, scope_paths
from .timeutil import now_utc, today, utc_text

bp = Blueprint("needs", __name__)

TASKS = {"screening": "入户排查", "checkpoint": "卡口值守", "data_entry": "数据录入",
         "delivery": "送医送药", "service": "便民服务", "other": "其他"}

# Points of each reason a cadre fits a need. The order they encode: a home unit that handles
# the problem outweighs a specialty, which outweighs having volunteered, then nearness; each
# current assignment weighs against.
POINTS = {"named": 50, "related": 40, "specialty": 20, "volunteered": 15, "available": 10,
          "same_community": 12, "same_town": 8, "same_district": 4, "load": -10}


def _day() -> str:
    return today(current_app.config["TIMEZONE"]).isoformat()


# --- needs ----------------------------------------------------------------------------------------

def get_need(db: sqlite_utils.Database, need_id: int) -> dict | None:
    return next(db.query("SELECT * FROM needs WHERE id = ?", [need_id]), None)


def need_json(db: sqlite_utils.Database, row: dict, detail: bool = False) -> dict:
    data = {k: row[k] for k in ("id", "kind", "title", "description", "task", "category",
                                "department", "people", "urgency", "starts_on", "ends_on",
                                "status", "created_at", "updated_at")}
    data["skills"] = json.loads(row["skills"])
    place = places.get_place(db, row["place_id"])
    data["place"] = {"id": place["id"], "name": place["name"]}
    enterprise = get_enterprise(db, row["enterprise_id"])
    data["enterprise"] = {"id": enterprise["id"], "name": enterprise["name"]} if enterprise else None
    data["category_title"] = CATEGORIES.get(row["category"] or "")
    data["task_title"] = TASKS.get(row["task"] or "")
    data["assigned"] = db.execute("SELECT count(*) FROM assignments WHERE need_id = ?",
                                  [row["id"]]).fetchone()[0]
    if detail:
        data["assignments"] = [
            {"id": r["id"], "user": {"id": r["user_id"], "name": r["name"]},
             "home_unit": r["unit"] or "", "starts_on": r["starts_on"], "ends_on": r["ends_on"],
             "role_in_team": r["role_in_team"]}
            for r in db.query("""SELECT a.*, u.name, h.name AS unit FROM assignments a
                                 JOIN users u ON u.id = a.user_id
                                 LEFT JOIN home_units h ON h.id = u.home_unit_id
                                 WHERE a.need_id = ? ORDER BY a.id""", [row["id"]])]
    return data


def create_need(db: sqlite_utils.Database, user: User, body: dict) -> int:
    """A validated need (schemas/need.json). People: staff of the community. Help: the
    enterprise's contact (their own enterprise), or staff whose scope holds it."""
    errors: list[dict] = []
    enterprise = None
    if body["kind"] == "help":
        if user.role == "enterprise":
            enterprise_id = body.get("enterprise_id", user.enterprise["id"])
            if enterprise_id != user.enterprise["id"]:
                raise ApiError(403, "forbidden", fields=[
                    field_error("/enterprise_id", "forbidden", "jurisdiction")])
        elif "enterprise_id" not in body:
            raise fail(422, "invalid", "/enterprise_id", "required")
        else:
            enterprise_id = body["enterprise_id"]
        enterprise = enterprise_for(db, user, enterprise_id, "/enterprise_id",
                                    work=user.role != "enterprise")
        place_id = enterprise["community_id"]
    else:
        if user.role not in ("committee", "admin"):
            raise ApiError(403, "forbidden")
        place = require_place_in_scope(db, user, body["community_id"])
        if place["kind"] != "community":
            raise fail(422, "not_found", "/community_id", "kind")
        place_id = place["id"]
    starts_on = body.get("starts_on") or _day()
    if body.get("ends_on") and body["ends_on"] < starts_on:
        errors.append(field_error("/ends_on", "end_before_start", "range"))
    raise_if(errors)
    department = body.get("department", "").strip()
    department_id = db.execute("SELECT id FROM home_units WHERE name = ?",
                               [department]).fetchone() if department else None
    stamp = utc_text(now_utc())
    with write_transaction(db):
        need_id = db.execute(
            """INSERT INTO needs (kind, place_id, enterprise_id, title, description, task, category,
                   department, department_id, people, skills, urgency, starts_on, ends_on,
                   created_by, created_at, updated_at) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)""",
            [body["kind"], place_id, enterprise["id"] if enterprise else None, body["title"],
             body.get("description", ""), body.get("task"), body.get("category"), department,
             department_id[0] if department_id else None, body.get("people", 1),
             json.dumps(body.get("skills", []), ensure_ascii=False),
             body.get("urgency", "normal"), starts_on, body.get("ends_on"), user.id, stamp,
             stamp]).lastrowid
        audit(db, "create", f"need:{need_id}")
    return need_id


def need_for(db: sqlite_utils.Database, user: User, need_id: int, manage: bool = False) -> dict:
    """The need if `user` may see it (manage: staff whose scope holds it); 404 / 403."""
    need = get_need(db, need_id)
    if need is None:
        raise ApiError(404, "need_unknown")
    staff = user.role in ("committee", "admin") and in_staff_scope(db, user, need["place_id"])
    if manage:
        allowed = staff
    elif user.role == "enterprise":
        allowed = bool(user.enterprise) and need["enterprise_id"] == user.enterprise["id"]
    else:
        allowed = staff or db.execute("SELECT 1 FROM assignments WHERE need_id = ? AND user_id = ?",
                                      [need_id, user.id]).fetchone() is not None
    if not allowed:
        raise ApiError(403, "forbidden")
    return need


def needs_visible(db: sqlite_utils.Database, user: User, status: str | None = None,
                  place_id: int | None = None) -> list[dict]:
    """Staff: needs at or below their node (or `place_id`); the enterprise contact: their
    enterprise's. Open first, then oldest first."""
    where, params = [], []
    if user.role == "enterprise":
        where.append("n.enterprise_id = ?")
        params.append(user.enterprise["id"] if user.enterprise else -1)
    elif place_id is not None:
        where.append("p.path >= ? AND p.path < ?")
        params += below(require_place_in_scope(db, user, place_id)["path"])
    else:
        scopes = scope_paths(db, user)
        where.append("(" + (" OR ".join("p.path >= ? AND p.path < ?" for _ in scopes) or "0") + ")")
        params += [v for s in scopes for v in below(s)]
    if status:
        where.append("n.status = ?")
        params.append(status)
    rows = db.query(f"""SELECT n.* FROM needs n JOIN places p ON p.id = n.place_id
                        WHERE {' AND '.join(where)}
                        ORDER BY n.status != 'open', n.created_at, n.id LIMIT 500""", params)
    return [need_json(db, r) for r in rows]


# --- matching ---------------------------------------------------------------------------------------

def _words(text: str) -> list[str]:
    return [w for w in re.split(r"[\s,，、;；/|]+", text or "") if len(w) >= 2]


def _nearness(cadre_paths: list[str], need_path: str) -> str | None:
    """same_community / same_town / same_district: the closest of the cadre's places."""
    target = need_path.strip("/").split("/")
    best = 0
    for path in cadre_paths:
        ids = path.strip("/").split("/")
        depth = 0
        for a, b in zip(ids, target, strict=False):
            if a != b:
                break
            depth += 1
        best = max(best, depth)
    return {1: "same_district", 2: "same_town"}.get(best, "same_community" if best >= 3 else None)


def _reasons_into(reasons: list[dict]):
    def because(code: str, times: int = 1, **params) -> None:
        reasons.append({"code": code, "points": POINTS[code] * times,
                        "text": t(f"match_{code}", **params)})
    return because


def proposals(db: sqlite_utils.Database, need: dict, limit: int = 20) -> list[dict]:
    """Cadres ranked by fit for `need`, each with its score and the reasons for it."""
    day = _day()
    need_place = places.get_place(db, need["place_id"])
    related = related_unit_ids(db, need["category"]) if need["category"] else set()
    category = CATEGORIES.get(need["category"] or "", "")
    skills = json.loads(need["skills"])
    text = f"{need['title']} {need['description']}"
    volunteered = {r[0] for r in db.execute(
        """SELECT v.user_id FROM volunteers v LEFT JOIN call_ups c ON c.id = v.call_up_id
           WHERE v.need_id = ? OR c.need_id = ?""", [need["id"], need["id"]])}
    available = {r[0] for r in db.execute(
        """SELECT v.user_id FROM volunteers v LEFT JOIN call_ups c ON c.id = v.call_up_id
           WHERE v.need_id IS NULL AND c.need_id IS NULL
           AND (v.available_from IS NULL OR v.available_from <= ?)
           AND (v.available_to IS NULL OR v.available_to >= ?)""",
        [need["starts_on"], need["starts_on"]])}
    paths: dict[int, list[str]] = {}
    for user_id, path in db.execute(
            """SELECT g.user_id, p.path FROM registrations g JOIN places p ON p.id = g.community_id
               UNION ALL SELECT u.id, p.path FROM users u JOIN places p ON p.id = u.place_id
               WHERE u.role IN ('cadre', 'leader')
               UNION ALL SELECT u.id, p.path FROM users u
               JOIN unit_registrations r ON r.home_unit_id = u.home_unit_id
               JOIN places p ON p.id = r.community_id WHERE u.role IN ('cadre', 'leader')"""):
        paths.setdefault(user_id, []).append(path)
    result = []
    for c in db.query(
            """SELECT u.id, u.name, u.phone, u.specialty, u.home_unit_id, h.name AS home_unit,
                      (SELECT count(*) FROM assignments a WHERE a.user_id = u.id
                       AND a.starts_on <= :day AND (a.ends_on IS NULL OR a.ends_on >= :day)) AS load
               FROM users u LEFT JOIN home_units h ON h.id = u.home_unit_id
               WHERE u.active = 1 AND u.role IN ('cadre', 'leader')
               AND u.id NOT IN (SELECT user_id FROM assignments WHERE need_id = :need)""",
            {"day": day, "need": need["id"]}):
        reasons: list[dict] = []
        because = _reasons_into(reasons)
        if c["home_unit_id"] is not None and c["home_unit_id"] == need["department_id"]:
            because("named", unit=c["home_unit"])
        elif c["home_unit_id"] in related:
            because("related", unit=c["home_unit"], category=category)
        specialty = c["specialty"] or ""
        if specialty and (any(s in specialty or specialty in s for s in skills)
                          or any(w in text for w in _words(specialty))):
            because("specialty", specialty=specialty)
        if c["id"] in volunteered:
            because("volunteered")
        elif c["id"] in available:
            because("available")
        near = _nearness(paths.get(c["id"], []), need_place["path"])
        if near:
            because(near)
        if c["load"]:
            because("load", c["load"], count=c["load"])
        score = sum(r["points"] for r in reasons)
        result.append({"user": {"id": c["id"], "name": c["name"], "phone": mask_phone(c["phone"]),
                                "home_unit": c["home_unit"] or "", "specialty": specialty},
                       "score": score, "load": c["load"], "reasons": reasons,
                       "explanation": "；".join(r["text"] for r in reasons)})
    result.sort(key=lambda p: (-p["score"], p["load"], p["user"]["id"]))
    return result[:limit]


# --- assignment ------------------------------------------------------------------------------------

def conflicts_of(db: sqlite_utils.Database, user_id: int, starts_on: str,
                 ends_on: str | None) -> list[dict]:
    """The cadre's assignments overlapping [starts_on, ends_on] (None: open-ended)."""
    return [{"assignment_id": r["id"], "community": {"id": r["community_id"], "name": r["place"]},
             "enterprise": ({"id": r["enterprise_id"], "name": r["enterprise"]}
                            if r["enterprise_id"] else None),
             "need_id": r["need_id"], "starts_on": r["starts_on"], "ends_on": r["ends_on"]}
            for r in db.query(
                """SELECT a.*, p.name AS place, e.name AS enterprise FROM assignments a
                   JOIN places p ON p.id = a.community_id
                   LEFT JOIN enterprises e ON e.id = a.enterprise_id
                   WHERE a.user_id = ? AND a.starts_on <= coalesce(?, '9999-12-31')
                   AND coalesce(a.ends_on, '9999-12-31') >= ? ORDER BY a.starts_on""",
                [user_id, ends_on, starts_on])]


def station(db: sqlite_utils.Database, user_id: int, enterprise: dict, starts_on: str,
            ends_on: str | None, need: dict | None = None,
            role_in_team: str = "stationed") -> int:
    """Station a cadre with an enterprise (驻企特派员): an assignment to its community that
    names it; the cadre gets a notice."""
    with write_transaction(db):
        assignment_id = db.execute(
            """INSERT INTO assignments (user_id, community_id, role_in_team, starts_on, ends_on,
                   created_at, enterprise_id, need_id) VALUES (?,?,?,?,?,?,?,?)""",
            [user_id, enterprise["community_id"], role_in_team, starts_on, ends_on,
             utc_text(now_utc()), enterprise["id"], need["id"] if need else None]).lastrowid
        insert_notice(
            db, kind="assignment", link=f"/#/enterprise/{enterprise['id']}",
            place_id=enterprise["community_id"],
            title=t("notice_station_title", lang="zh", enterprise=enterprise["name"]),
            body=t("notice_station_body", lang="zh", enterprise=enterprise["name"],
                   starts_on=starts_on, need=need["title"] if need else ""),
            recipients=("SELECT ?", [user_id]), expires_at=now_utc() + timedelta(days=7),
            dedupe_key=f"assignment:{assignment_id}", target={"auto": "assignment"})
    return assignment_id


def assign_need(db: sqlite_utils.Database, actor: User, need: dict, user_ids: list[int],
                starts_on: str | None = None, ends_on: str | None = None,
                role_in_team: str | None = None) -> list[dict]:
    """Assign each cadre to the need; one result per cadre, in order: assigned (with the
    assignment id), duplicate (already on this need), conflict (assigned elsewhere in the
    period, with those assignments) or invalid (not a cadre)."""
    if need["status"] == "closed":
        raise fail(409, "need_closed", "/need_id", "state")
    starts_on = starts_on or need["starts_on"]
    ends_on = ends_on if ends_on is not None else need["ends_on"]
    if ends_on is not None and ends_on < starts_on:
        raise fail(422, "end_before_start", "/ends_on", "range")
    enterprise = get_enterprise(db, need["enterprise_id"])
    community = places.get_place(db, need["place_id"])
    results = []
    with write_transaction(db):
        for user_id in user_ids:
            row = db.execute("SELECT role FROM users WHERE id = ? AND active = 1",
                             [user_id]).fetchone()
            if row is None or row[0] not in ("cadre", "leader"):
                results.append({"user_id": user_id, "status": "invalid", "code": "not_a_cadre",
                                "message": t("not_a_cadre")})
                continue
            if db.execute("SELECT 1 FROM assignments WHERE need_id = ? AND user_id = ?",
                          [need["id"], user_id]).fetchone():
                results.append({"user_id": user_id, "status": "duplicate"})
                continue
            clashes = conflicts_of(db, user_id, starts_on, ends_on)
            if clashes:
                results.append({"user_id": user_id, "status": "conflict",
                                "code": "assignment_conflict",
                                "message": t("assignment_conflict"), "conflicts": clashes})
                continue
            if enterprise is not None:
                assignment_id = station(db, user_id, enterprise, starts_on, ends_on, need,
                                        role_in_team or "stationed")
            else:
                assignment_id = cadres.assign(db, user_id, community["id"], starts_on, ends_on,
                                              role_in_team=role_in_team or "member")
                db.execute("UPDATE assignments SET need_id = ? WHERE id = ?",
                           [need["id"], assignment_id])
            results.append({"user_id": user_id, "status": "assigned",
                            "assignment_id": assignment_id})
        assigned = db.execute("SELECT count(*) FROM assignments WHERE need_id = ?",
                              [need["id"]]).fetchone()[0]
        if need["status"] == "open" and assigned >= need["people"]:
            db.execute("UPDATE needs SET status = 'filled', updated_at = ? WHERE id = ?",
                       [utc_text(now_utc()), need["id"]])
        audit(db, "assign", f"need:{need['id']}",
              f"{sum(r['status'] == 'assigned' for r in results)} of {len(user_ids)}",
              user_id=actor.id)
    return results


def my_assignments(db: sqlite_utils.Database, user: User) -> list[dict]:
    """The cadre's current and coming assignments: a community or an enterprise."""
    day = _day()
    rows = db.query(
        """SELECT a.*, p.name AS community, tm.name AS team, e.name AS enterprise, e.industry,
                  e.address, n.title AS need_title
           FROM assignments a JOIN places p ON p.id = a.community_id
           LEFT JOIN teams tm ON tm.id = a.team_id LEFT JOIN enterprises e ON e.id = a.enterprise_id
           LEFT JOIN needs n ON n.id = a.need_id
           WHERE a.user_id = ? AND (a.ends_on IS NULL OR a.ends_on >= ?)
           ORDER BY a.starts_on, a.id""", [user.id, day])
    result = []
    for r in rows:
        entry = {"id": r["id"], "kind": "enterprise" if r["enterprise_id"] else "community",
                 "community": {"id": r["community_id"], "name": r["community"]},
                 "team": r["team"], "role_in_team": r["role_in_team"],
                 "starts_on": r["starts_on"], "ends_on": r["ends_on"],
                 "need": {"id": r["need_id"], "title": r["need_title"]} if r["need_id"] else None,
                 "enterprise": None}
        if r["enterprise_id"]:
            contacts = [{"name": c[0], "phone": c[1]} for c in db.execute(
                "SELECT name, phone FROM users WHERE enterprise_id = ? AND active = 1 ORDER BY id",
                [r["enterprise_id"]])]
            entry["enterprise"] = {"id": r["enterprise_id"], "name": r["enterprise"],
                                   "industry": r["industry"], "address": r["address"],
                                   "contacts": contacts}
        result.append(entry)
    return result


# --- call-ups and volunteering -----------------------------------------------------------------------

def create_call_up(db: sqlite_utils.Database, sender: User, body: dict) -> dict:
    """A call-up (动员) by notice to the registered pool below a node, or to the cadres of
    named home units; optionally for one need."""
    target = body.get("target") or {}
    place = require_place_in_scope(db, sender, target.get("place_id", sender.place["id"]))
    if body.get("need_id") is not None:
        need = get_need(db, body["need_id"])
        if need is None or not in_staff_scope(db, sender, need["place_id"]):
            raise fail(422, "need_unknown", "/need_id", "exists")
    if target.get("home_unit_ids"):
        ids = target["home_unit_ids"]
        sql = (f"SELECT id FROM users WHERE role IN ('cadre', 'leader') "
               f"AND home_unit_id IN ({','.join('?' * len(ids))})")
        params: list = list(ids)
    else:
        sql, params = POOL_SQL, pool_params(place["path"])
    with write_transaction(db):
        if db.execute(f"SELECT count(*) FROM users WHERE active = 1 AND id IN ({sql})",
                      params).fetchone()[0] == 0:
            raise fail(422, "no_recipients", "/target", "recipients")
        call_up_id = db.execute(
            """INSERT INTO call_ups (place_id, need_id, title, body, target, created_by, created_at)
               VALUES (?,?,?,?,?,?,?)""",
            [place["id"], body.get("need_id"), body["title"], body.get("body", ""),
             json.dumps(target), sender.id, utc_text(now_utc())]).lastrowid
        notice_id = insert_notice(
            db, kind="call_up", urgency="high", link=f"/#/call-ups/{call_up_id}",
            title=body["title"], body=body.get("body", ""), recipients=(sql, params),
            expires_at=now_utc() + timedelta(days=7), sender_id=sender.id, place_id=place["id"],
            target={"call_up": call_up_id, **target})
        db.execute("UPDATE call_ups SET notice_id = ? WHERE id = ?", [notice_id, call_up_id])
        audit(db, "create", f"call_up:{call_up_id}")
    return call_up_json(db, get_call_up(db, call_up_id), None)


def get_call_up(db: sqlite_utils.Database, call_up_id: int) -> dict | None:
    return next(db.query("SELECT * FROM call_ups WHERE id = ?", [call_up_id]), None)


def call_up_json(db: sqlite_utils.Database, row: dict, user_id: int | None) -> dict:
    data = {k: row[k] for k in ("id", "title", "body", "need_id", "notice_id", "created_at")}
    data["target"] = json.loads(row["target"])
    data["recipients"] = db.execute("SELECT count(*) FROM notice_recipients WHERE notice_id = ?",
                                    [row["notice_id"]]).fetchone()[0]
    data["volunteers"] = db.execute("SELECT count(*) FROM volunteers WHERE call_up_id = ?",
                                    [row["id"]]).fetchone()[0]
    if user_id is not None:
        data["volunteered"] = db.execute(
            "SELECT 1 FROM volunteers WHERE call_up_id = ? AND user_id = ?",
            [row["id"], user_id]).fetchone() is not None
    return data


def call_ups_visible(db: sqlite_utils.Database, user: User) -> list[dict]:
    if user.role in ("committee", "admin"):
        scopes = scope_paths(db, user)
        clauses = " OR ".join("p.path >= ? AND p.path < ?" for _ in scopes) or "0"
        rows = db.query(f"""SELECT c.* FROM call_ups c JOIN places p ON p.id = c.place_id
                            WHERE {clauses} ORDER BY c.created_at DESC LIMIT 200""",
                        [v for s in scopes for v in below(s)])
        return [call_up_json(db, r, None) for r in rows]
    rows = db.query("""SELECT c.* FROM call_ups c JOIN notice_recipients r
                       ON r.notice_id = c.notice_id WHERE r.user_id = ?
                       ORDER BY c.created_at DESC LIMIT 200""", [user.id])
    return [call_up_json(db, r, user.id) for r in rows]


def _volunteer_json(row: dict) -> dict:
    return {k: row[k] for k in ("id", "call_up_id", "need_id", "available_from", "available_to",
                                "note", "recorded_at", "received_at")}


def store_volunteer(db: sqlite_utils.Database, user: User, record: dict,
                    device_id: str | None) -> tuple[str, dict]:
    """One tap of 主动请战 (schemas/volunteer.json), live or from the outbox. Volunteering
    twice for the same call-up or need is a duplicate of the first."""
    incoming = Incoming.of(user.id, record, device_id)

    def create() -> tuple[str, dict]:
        errors = []
        call_up_id, need_id = record.get("call_up_id"), record.get("need_id")
        if call_up_id is not None and db.execute(
                """SELECT 1 FROM call_ups c JOIN notice_recipients r ON r.notice_id = c.notice_id
                   WHERE c.id = ? AND r.user_id = ?""", [call_up_id, user.id]).fetchone() is None:
            errors.append(field_error("/call_up_id", "call_up_unknown", "exists"))
        if need_id is not None:
            need = get_need(db, need_id)
            if need is None:
                errors.append(field_error("/need_id", "need_unknown", "exists"))
            elif need["status"] == "closed":
                errors.append(field_error("/need_id", "need_closed", "state"))
        if record.get("available_from") and record.get("available_to") \
                and record["available_to"] < record["available_from"]:
            errors.append(field_error("/available_to", "end_before_start", "range"))
        raise_if(errors)
        same = next(db.query(
            """SELECT * FROM volunteers WHERE user_id = ? AND call_up_id IS ? AND need_id IS ?""",
            [user.id, call_up_id, need_id]), None)
        if same is not None and (call_up_id is not None or need_id is not None):
            return "duplicate", _volunteer_json(same)
        db.execute(
            """INSERT INTO volunteers (id, user_id, call_up_id, need_id, available_from,
                   available_to, note, recorded_at, received_at, device_id, payload_hash)
               VALUES (?,?,?,?,?,?,?,?,?,?,?)""",
            [record["id"], user.id, call_up_id, need_id, record.get("available_from"),
             record.get("available_to"), record.get("note", ""), record["recorded_at"],
             utc_text(incoming.received), device_id, incoming.digest])
        return "created", _volunteer_json(next(db.query("SELECT * FROM volunteers WHERE id = ?",
                                                        [record["id"]])))

    return records.store(db, incoming,
                         records.by_id("volunteers", lambda _db, row: _volunteer_json(row)), create)


# --- routes -------------------------------------------------------------------------------------

@bp.get("/api/needs")
@require_role("committee", "admin", "enterprise")
def list_needs():
    status = request.args.get("status")
    if status is not None and status not in ("open", "filled", "closed"):
        raise fail(422, "invalid", "/status", "enum")
    place_id = query_int("place_id") if current_user.role != "enterprise" else None
    return jsonify({"needs": needs_visible(get_db(), current_user, status, place_id)})


@bp.post("/api/needs")
@require_role("committee", "admin", "enterprise")
def new_need():
    db = get_db()
    need_id = create_need(db, current_user, json_body("need"))
    return jsonify({"need": need_json(db, get_need(db, need_id), detail=True)}), 201


@bp.get("/api/needs/<int:need_id>")
@require_role(*ROLES)
def need_detail(need_id: int):
    db = get_db()
    return jsonify({"need": need_json(db, need_for(db, current_user, need_id), detail=True)})


@bp.post("/api/needs/<int:need_id>/status")
@require_role("committee", "admin", "enterprise")
def need_status(need_id: int):
    db = get_db()
    need = need_for(db, current_user, need_id, manage=current_user.role != "enterprise")
    body = json_body("need_status")
    with write_transaction(db):
        db.execute("UPDATE needs SET status = ?, updated_at = ? WHERE id = ?",
                   [body["status"], utc_text(now_utc()), need["id"]])
        audit(db, "update", f"need:{need_id}", body["status"])
    return jsonify({"need": need_json(db, get_need(db, need_id), detail=True)})


@bp.get("/api/needs/<int:need_id>/proposals")
@require_role("committee", "admin")
def need_proposals(need_id: int):
    db = get_db()
    need = need_for(db, current_user, need_id, manage=True)
    limit = min(max(query_int("limit", 20), 1), 200)
    return jsonify({"need": need_json(db, need), "proposals": proposals(db, need, limit)})


@bp.post("/api/needs/<int:need_id>/assignments")
@require_role("committee", "admin")
def need_assign(need_id: int):
    db = get_db()
    need = need_for(db, current_user, need_id, manage=True)
    body = json_body("need_assignment")
    results = assign_need(db, current_user, need, body["user_ids"], body.get("starts_on"),
                          body.get("ends_on"), body.get("role_in_team"))
    return jsonify({"results": results,
                    "need": need_json(db, get_need(db, need_id), detail=True)})


@bp.get("/api/my/assignments")
@require_role()
def list_my_assignments():
    return jsonify({"assignments": my_assignments(get_db(), current_user)})


@bp.get("/api/call-ups")
@require_role()
def list_call_ups():
    return jsonify({"call_ups": call_ups_visible(get_db(), current_user)})


@bp.post("/api/call-ups")
@require_role("admin")
def new_call_up():
    return jsonify({"call_up": create_call_up(get_db(), current_user, json_body("call_up"))}), 201


@bp.post("/api/volunteers")
@require_role("cadre", "leader")
def volunteer():
    body = record_body("volunteer")
    return answer(*store_volunteer(get_db(), current_user, body, body.get("device_id")),
                  "volunteer")
