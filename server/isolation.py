"""Home isolation (居家隔离): policies, cases, isolation visits, and the cadre's day.

A case copies its policy's rules when it opens (policy_snapshot), so a later edit of the policy
never moves the days of a running case. Due and overdue visits are computed on the
jurisdiction's local day (config TIMEZONE), never the UTC day.
`store_isolation_case` and `store_isolation_visit` are the one path for those records, live or
through /api/sync, both by the record protocol (server/records.py). The schedule of due visits
is server/schedule.py; deliveries server/deliveries.py.
"""

from __future__ import annotations

import json
import uuid
from datetime import date, datetime, timedelta

import sqlite_utils
from flask import Blueprint, current_app, jsonify, request
from flask_login import current_user

from . import places, records
from .audit import audit
from .db import first_row, get_db
from .deliveries import DELIVERY_FILTERS, open_deliveries, raise_deliveries, store_delivery
from .errors import ApiError, fail, field_error, json_body, query_int, raise_if
from .households import address, get_household, household_for
from .notices import alert_committee
from .records import Earlier, Incoming, answer
from .rules import future_date_errors, health_reasons, temperature_errors
from .schedule import schedule, visits_of
from .scope import User, can_work_grid, forbidden_at, grid_ids_of, in_staff_scope, require_role
from .screening import households_to_screen
from .timeutil import local_day, now_utc, utc_text

bp = Blueprint("isolation", __name__)


# --- policies ---------------------------------------------------------------------------------

def get_policy(db: sqlite_utils.Database, policy_id: int) -> dict | None:
    return first_row(db, "SELECT * FROM isolation_policies WHERE id = ?", [policy_id])


def policy_json(row: dict) -> dict:
    return {**{k: row[k] for k in ("id", "place_id", "name", "edition", "version",
                                   "updated_at")},
            "rules": json.loads(row["rules"]), "days": total_days(json.loads(row["rules"]))}


def total_days(rules: dict) -> int:
    return sum(phase["days"] for phase in rules["phases"])


def may_edit_policy(db: sqlite_utils.Database, user: User, policy: dict) -> bool:
    """National presets: admins of a district (the top of the tree); others: staff in scope."""
    if policy["place_id"] is None:
        return user.role == "admin" and bool(user.place) and user.place["kind"] == "district"
    return user.role in ("committee", "admin") and in_staff_scope(db, user, policy["place_id"])


# --- cases ------------------------------------------------------------------------------------

def get_case(db: sqlite_utils.Database, case_id: str) -> dict | None:
    return first_row(db, """SELECT c.*, r.name AS resident_name FROM isolation_cases c
                       JOIN residents r ON r.id = c.resident_id WHERE c.id = ?""", [case_id])


def case_cadre_ids(db: sqlite_utils.Database, case_id: str) -> list[int]:
    return [r[0] for r in db.execute(
        "SELECT user_id FROM isolation_case_cadres WHERE case_id = ? ORDER BY user_id", [case_id])]


def case_for(db: sqlite_utils.Database, user: User, case_id: str, path: str = "/case_id") -> dict:
    """The case, if `user` is responsible for it or works its household: else 404 / 403."""
    case = get_case(db, case_id)
    if case is None:
        raise fail(404, "case_unknown", path, "exists")
    if user.id not in case_cadre_ids(db, case_id):
        household = db.execute("SELECT grid_id FROM households WHERE id = ?",
                               [case["household_id"]]).fetchone()
        if not can_work_grid(db, user, household[0], case["community_id"]):
            raise forbidden_at(path)
    return case


def case_json(db: sqlite_utils.Database, row: dict, now: datetime | None = None,
              detail: bool = False) -> dict:
    household = get_household(db, row["household_id"]) or {}
    cadres = [{"id": r["id"], "name": r["name"]} for r in db.query(
        """SELECT u.id, u.name FROM isolation_case_cadres c JOIN users u ON u.id = c.user_id
           WHERE c.case_id = ? ORDER BY u.name""", [row["id"]])]
    snapshot = json.loads(row["policy_snapshot"])
    data = {k: row[k] for k in ("id", "community_id", "reason", "kind", "starts_on",
                                "planned_end", "status", "attention_reason", "end_outcome",
                                "end_reason", "ended_on", "last_test_result", "transferred_to",
                                "notes", "version", "source_visit_id", "recorded_at")}
    data.update({
        "attention": bool(row["attention"]),
        "resident": {"id": row["resident_id"], "name": row["resident_name"]},
        "household": {"id": row["household_id"], "address": address(household) if household
                      else ""},
        "policy": {"id": row["policy_id"], **snapshot},
        "cadres": cadres,
    })
    if detail:
        visits = visits_of(db, row["id"])
        data["schedule"] = schedule(row, visits, now or now_utc(),
                                    current_app.config["TIMEZONE"])
        data["visits"] = [visit_json(v) for v in reversed(visits)]
    return data


def _earlier_case(db: sqlite_utils.Database, case_id: str) -> Earlier | None:
    case = get_case(db, case_id)
    if case is None:
        return None
    return Earlier(case["created_by"], case["payload_hash"], lambda: case_json(db, case))


def store_isolation_case(db: sqlite_utils.Database, user: User, record: dict,
                         device_id: str | None) -> tuple[str, dict]:
    """Open a case for a resident under a policy (copied into the case)."""
    incoming = Incoming.of(user.id, record, device_id)

    def create() -> tuple[str, dict]:
        resident = first_row(db, "SELECT * FROM residents WHERE id = ? AND deleted_at IS NULL",
                        [record["resident_id"]])
        if resident is None:
            raise fail(404, "resident_unknown", "/resident_id", "exists")
        household = household_for(db, user, resident["household_id"], "/resident_id")
        errors = future_date_errors({"/starts_on": record["starts_on"]})
        policy = get_policy(db, record["policy_id"])
        if policy is None:
            errors.append(field_error("/policy_id", "policy_unknown", "exists"))
        cadre_ids = record.get("cadre_ids") or ([user.id] if user.role in ("cadre", "leader")
                                                else [])
        for index, cadre_id in enumerate(cadre_ids):
            if db.execute("SELECT 1 FROM users WHERE id = ? AND active = 1",
                          [cadre_id]).fetchone() is None:
                errors.append(field_error(f"/cadre_ids/{index}", "not_found", "exists"))
        if record.get("source_visit_id") and db.execute(
                "SELECT 1 FROM screening_visits WHERE id = ? AND household_id = ?",
                [record["source_visit_id"], household["id"]]).fetchone() is None:
            errors.append(field_error("/source_visit_id", "visit_unknown", "exists"))
        raise_if(errors)
        if db.execute("SELECT 1 FROM isolation_cases WHERE resident_id = ? AND status = 'open'",
                      [resident["id"]]).fetchone():
            raise fail(409, "case_open", "/resident_id", "unique")
        rules = json.loads(policy["rules"])
        snapshot = {"name": policy["name"], "edition": policy["edition"],
                    "version": policy["version"], **rules}
        planned_end = date.fromisoformat(record["starts_on"]) + timedelta(days=total_days(rules) - 1)
        stamp = utc_text(now_utc())
        db.execute(
            """INSERT INTO isolation_cases (id, resident_id, household_id, community_id, reason,
                   kind, starts_on, planned_end, policy_id, policy_snapshot, source_visit_id,
                   notes, created_by, recorded_at, received_at, updated_at, device_id,
                   payload_hash) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)""",
            [record["id"], resident["id"], household["id"], household["community_id"],
             record["reason"], record.get("kind") or rules["phases"][0]["kind"],
             record["starts_on"], planned_end.isoformat(), policy["id"],
             json.dumps(snapshot, ensure_ascii=False), record.get("source_visit_id"),
             record.get("notes", ""), user.id, record["recorded_at"], stamp, stamp, device_id,
             incoming.digest])
        for cadre_id in cadre_ids:
            db.execute("INSERT INTO isolation_case_cadres (case_id, user_id) VALUES (?, ?)",
                       [record["id"], cadre_id])
        return "created", case_json(db, get_case(db, record["id"]))

    return records.store(db, incoming, _earlier_case, create)


def end_case(db: sqlite_utils.Database, user: User, case_id: str,
             body: dict) -> tuple[str, dict]:
    """End a case (released / transferred / other); a stale base_version is a conflict."""
    record = {**body, "id": body.get("id") or str(uuid.uuid4()), "case_id": case_id}
    # An office form sends no time of its own: the edit counts when it arrives.
    incoming = Incoming.of(user.id, {**record, "recorded_at": utc_text(now_utc())},
                           hashed=record)

    def create() -> tuple[str, dict]:
        case = case_for(db, user, case_id, "")
        if case["status"] == "ended":
            raise fail(409, "case_ended", "", "state")
        fields = {k: body[k] for k in ("outcome", "ended_on", "reason", "last_test_result",
                                       "transferred_to") if k in body}

        def history(status: str, new_version: int | None) -> None:
            stamp = utc_text(incoming.received)
            db.execute(
                """INSERT INTO registry_history (id, entity, entity_id, status, base_version,
                       new_version, fields, source, user_id, recorded_at, received_at,
                       payload_hash) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)""",
                [incoming.id, "isolation_case", case_id, status, body["base_version"],
                 new_version, json.dumps(fields, ensure_ascii=False), "office", user.id,
                 stamp, stamp, incoming.digest])

        if body["base_version"] != case["version"]:
            history("conflict", None)
            return "conflict", case_json(db, case)
        errors = future_date_errors({"/ended_on": body["ended_on"]})
        if body["ended_on"] < case["starts_on"]:
            errors.append(field_error("/ended_on", "end_before_start", "order"))
        if (body["outcome"] == "released" and body["ended_on"] < case["planned_end"]
                and not body.get("reason", "").strip()):
            errors.append(field_error("/reason", "release_needs_reason", "early_release"))
        raise_if(errors)
        db.execute(
            """UPDATE isolation_cases SET status = 'ended', end_outcome = ?, ended_on = ?,
                   end_reason = ?, last_test_result = ?, transferred_to = ?, version = version + 1,
                   updated_at = ? WHERE id = ?""",
            [body["outcome"], body["ended_on"], body.get("reason", ""),
             body.get("last_test_result"), body.get("transferred_to", ""), utc_text(now_utc()),
             case_id])
        history("applied", case["version"] + 1)
        audit(db, "end_case", f"isolation_case:{case_id}", body["outcome"])
        return "created", case_json(db, get_case(db, case_id))

    return records.store(db, incoming, records.earlier_edit(
        "isolation_case", lambda db, key: case_json(db, get_case(db, key))), create)


# --- schedule ---------------------------------------------------------------------------------


def visits_due(db: sqlite_utils.Database, case_ids: list[str], now: datetime) -> list[dict]:
    """Due and overdue visits of open cases, oldest first, for the task list."""
    zone = current_app.config["TIMEZONE"]
    result = []
    for case_id in case_ids:
        case = get_case(db, case_id)
        if case["status"] != "open":
            continue
        for entry in schedule(case, visits_of(db, case_id), now, zone):
            if entry["status"] in ("due", "overdue"):
                result.append({**entry, "case": case_json(db, case)})
    return sorted(result, key=lambda e: (e["day"], e["slot"] != "morning"))


# --- isolation visits -------------------------------------------------------------------------

def visit_json(row: dict) -> dict:
    return {**{k: row[k] for k in ("id", "case_id", "due_day", "slot", "recorded_at",
                                   "received_at", "local_day", "temperature", "sample_result",
                                   "mental_state", "notes", "corrects_id")},
            "symptoms": json.loads(row["symptoms"]), "needs": json.loads(row["needs"]),
            "sample_taken": bool(row["sample_taken"]),
            "user": {"id": row["user_id"], "name": row["user_name"]}}


def _get_visit(db: sqlite_utils.Database, visit_id: str) -> dict | None:
    return first_row(db, """SELECT v.*, u.name AS user_name FROM isolation_visits v
                       JOIN users u ON u.id = v.user_id WHERE v.id = ?""", [visit_id])


def _earlier_visit(db: sqlite_utils.Database, visit_id: str) -> Earlier | None:
    visit = _get_visit(db, visit_id)
    if visit is None:
        return None
    return Earlier(visit["user_id"], visit["payload_hash"], lambda: visit_json(visit))


def store_isolation_visit(db: sqlite_utils.Database, user: User, record: dict,
                          device_id: str | None) -> tuple[str, dict]:
    """One visit of a case; a fever (rules.FEVER) or any symptom marks the case for attention."""
    incoming = Incoming.of(user.id, record, device_id)
    recorded = incoming.trusted
    day = local_day(recorded, current_app.config["TIMEZONE"])
    due_day = record.get("due_day") or day

    def create() -> tuple[str, dict]:
        case = case_for(db, user, record["case_id"])
        errors = temperature_errors({"/temperature": record.get("temperature")})
        errors += future_date_errors({"/due_day": due_day})
        last = case["ended_on"] or case["planned_end"]
        if not case["starts_on"] <= due_day <= last:
            errors.append(field_error("/due_day", "case_ended" if due_day > last
                                      else "end_before_start", "schedule"))
        if record.get("corrects_id"):
            corrected = _get_visit(db, record["corrects_id"])
            if corrected is None or corrected["case_id"] != case["id"]:
                errors.append(field_error("/corrects_id", "visit_unknown", "exists"))
        raise_if(errors)
        db.execute(
            """INSERT INTO isolation_visits (id, case_id, user_id, due_day, slot, recorded_at,
                   recorded_utc, local_day, received_at, device_id, temperature, symptoms,
                   sample_taken, sample_result, mental_state, needs, notes, corrects_id,
                   payload_hash) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)""",
            [record["id"], case["id"], user.id, due_day, record["slot"], record["recorded_at"],
             utc_text(recorded), day, utc_text(now_utc()), device_id, record.get("temperature"),
             json.dumps(record.get("symptoms", [])), int(record.get("sample_taken", False)),
             record.get("sample_result"), record.get("mental_state", ""),
             json.dumps(record.get("needs", []), ensure_ascii=False), record.get("notes", ""),
             record.get("corrects_id"), incoming.digest])
        reasons = health_reasons(record.get("temperature"), record.get("symptoms", []))
        if reasons:
            # A flag raised by an event, not an edit of the case: the version does not move,
            # so it never turns someone's pending edit of the case into a conflict.
            db.execute("UPDATE isolation_cases SET attention = 1, attention_reason = ? "
                       "WHERE id = ?", [f"{due_day} {' '.join(reasons)}", case["id"]])
            # In the same transaction as the visit: a replayed visit never alerts twice.
            alert_committee(db, case["community_id"], case["resident_name"], reasons,
                                    f"/#/dashboard/{case['community_id']}",
                                    f"health:isolation_visit:{record['id']}")
        household = get_household(db, case["household_id"])
        raise_deliveries(db, user, household, record["id"], record.get("needs", []), recorded,
                         case_id=case["id"], for_whom=case["resident_name"])
        return "created", visit_json(_get_visit(db, record["id"]))

    return records.store(db, incoming, _earlier_visit, create)


# --- deliveries -------------------------------------------------------------------------------


# --- what a user works on ---------------------------------------------------------------------

def _place_filter(db: sqlite_utils.Database, user: User,
                  place_id: int | None) -> tuple[str, list]:
    """SQL over households `h`: the grids below a staff member's place, or a cadre's grids."""
    if place_id is not None:
        place = places.get_place(db, place_id)
        if place is None:
            raise ApiError(404, "not_found")
        if not in_staff_scope(db, user, place_id):
            raise ApiError(403, "forbidden")
        grid_ids = [g["id"] for g in places.subtree(db, place["path"], "grid")]
    else:
        grid_ids = grid_ids_of(db, user.id)
    marks = ",".join("?" * len(grid_ids)) or "NULL"
    return f"h.grid_id IN ({marks})", list(grid_ids)


def cases_of(db: sqlite_utils.Database, user: User, place_id: int | None = None,
             status: str = "open") -> list[str]:
    where, params = _place_filter(db, user, place_id)
    if place_id is None:  # a cadre: their grids and the cases they are responsible for
        where += (" OR c.id IN (SELECT case_id FROM isolation_case_cadres WHERE user_id = ?)")
        params.append(user.id)
    return [r[0] for r in db.execute(
        f"""SELECT c.id FROM isolation_cases c JOIN households h ON h.id = c.household_id
            WHERE c.status = ? AND ({where}) ORDER BY c.attention DESC, c.starts_on""",
        [status, *params])]


def my_day(db: sqlite_utils.Database, user: User, now: datetime | None = None) -> dict:
    """The cadre's task list for their local today."""
    now = now or now_utc()
    day = local_day(now, current_app.config["TIMEZONE"])
    where, params = _place_filter(db, user, None)
    return {
        "day": day,
        "households": households_to_screen(db, user.id, day),
        "isolation_visits": visits_due(db, cases_of(db, user), now),
        "deliveries": open_deliveries(
            db, where + " OR d.taken_by = ? OR d.case_id IN (SELECT case_id FROM "
            "isolation_case_cadres WHERE user_id = ?)", [*params, user.id, user.id]),
    }


# --- routes -----------------------------------------------------------------------------------

@bp.get("/api/isolation/policies")
@require_role()
def list_policies():
    rows = get_db().query("SELECT * FROM isolation_policies ORDER BY place_id IS NOT NULL, id")
    return jsonify({"policies": [policy_json(r) for r in rows]})


@bp.post("/api/isolation/policies")
@require_role("committee", "admin")
def create_policy():
    db = get_db()
    body = json_body("isolation_policy")
    policy = {"place_id": body.get("place_id")}
    if not may_edit_policy(db, current_user, policy):
        raise ApiError(403, "forbidden")
    with db.atomic():
        policy_id = db.execute(
            """INSERT INTO isolation_policies (place_id, name, edition, rules, version,
                   updated_at, updated_by) VALUES (?,?,?,?,1,?,?)""",
            [body.get("place_id"), body["name"], body.get("edition", ""),
             json.dumps(body["rules"], ensure_ascii=False), utc_text(now_utc()),
             current_user.id]).lastrowid
        audit(db, "create", f"isolation_policy:{policy_id}")
    return jsonify({"policy": policy_json(get_policy(db, policy_id))}), 201


@bp.post("/api/isolation/policies/<int:policy_id>")
@require_role("committee", "admin")
def update_policy(policy_id: int):
    """Correct a policy; running cases keep the rules they started with."""
    db = get_db()
    policy = get_policy(db, policy_id)
    if policy is None:
        raise ApiError(404, "policy_unknown")
    body = json_body("isolation_policy")
    if not may_edit_policy(db, current_user, policy) or \
            body.get("place_id", policy["place_id"]) != policy["place_id"]:
        raise ApiError(403, "forbidden")
    with db.atomic():
        db.execute("""UPDATE isolation_policies SET name = ?, edition = ?, rules = ?,
                          version = version + 1, updated_at = ?, updated_by = ? WHERE id = ?""",
                   [body["name"], body.get("edition", policy["edition"]),
                    json.dumps(body["rules"], ensure_ascii=False), utc_text(now_utc()),
                    current_user.id, policy_id])
        audit(db, "update", f"isolation_policy:{policy_id}")
    return jsonify({"policy": policy_json(get_policy(db, policy_id))})


@bp.get("/api/isolation/cases")
@require_role()
def list_cases():
    """?place_id= for staff (a community or above), else the cadre's own; ?status=open|ended."""
    db = get_db()
    status = request.args.get("status", "open")
    ids = cases_of(db, current_user, query_int("place_id"), status)
    return jsonify({"cases": [case_json(db, get_case(db, i)) for i in ids]})


@bp.get("/api/isolation/cases/<case_id>")
@require_role()
def case_detail(case_id: str):
    db = get_db()
    return jsonify({"case": case_json(db, case_for(db, current_user, case_id, ""), detail=True)})


@bp.post("/api/isolation/cases")
@require_role()
def open_case():
    body = json_body("isolation_case")
    return answer(*store_isolation_case(get_db(), current_user, body, body.get("device_id")),
                  "case")


@bp.post("/api/isolation/cases/<case_id>/end")
@require_role()
def close_case(case_id: str):
    body = json_body("isolation_case_end")
    status, data = end_case(get_db(), current_user, case_id, body)
    if status == "conflict":
        raise ApiError(409, "version_conflict", extra={"stored": data})
    return jsonify({"status": status, "case": data})


@bp.post("/api/isolation/visits")
@require_role()
def create_isolation_visit():
    body = json_body("isolation_visit")
    return answer(*store_isolation_visit(get_db(), current_user, body, body.get("device_id")),
                  "visit")


@bp.post("/api/deliveries")
@require_role()
def create_delivery_event():
    body = json_body("delivery")
    return answer(*store_delivery(get_db(), current_user, body, body.get("device_id")),
                  "delivery")


@bp.get("/api/deliveries")
@require_role()
def list_deliveries():
    """Deliveries, oldest first: ?place_id= for staff, else the cadre's grids;
    ?status=open (default, not yet delivered) | delivered | all."""
    db = get_db()
    status = request.args.get("status", "open")
    if status not in DELIVERY_FILTERS:
        raise fail(400, "invalid", "/status", "enum")
    where, params = _place_filter(db, current_user, query_int("place_id"))
    return jsonify({"deliveries": open_deliveries(db, where, params, status)})


@bp.get("/api/my/day")
@require_role()
def cadre_day():
    return jsonify(my_day(get_db(), current_user))
