"""Home isolation (居家隔离): policies, cases, the schedule of due visits, visits, deliveries,
and the cadre's day.

A case copies its policy's rules when it opens (policy_snapshot), so a later edit of the policy
never moves the days of a running case. Due and overdue visits are computed on the
jurisdiction's local day (config TIMEZONE), never the UTC day.
`store_isolation_case`, `store_isolation_visit` and `store_delivery` are the one path for those
records, live or through /api/sync.
"""

from __future__ import annotations

import json
import uuid
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import sqlite_utils
from flask import Blueprint, current_app, jsonify, request
from flask_login import current_user

from . import notices, places, summaries
from .audit import audit
from .auth import User, require_role
from .checkins import payload_hash, trusted_time
from .db import get_db, write_transaction
from .errors import ApiError, json_body, query_int
from .screening import (
    address,
    answer,
    can_work_grid,
    fail,
    field_error,
    future_date_errors,
    get_household,
    grid_ids_of,
    household_for,
    households_to_screen,
    in_staff_scope,
    raise_if,
    temperature_errors,
)
from .timeutil import local_day, now_utc, utc_text

bp = Blueprint("isolation", __name__)

FEVER = 37.3
# A slot not visited by this local time is overdue; None: overdue once its day has passed.
SLOT_DEADLINES: dict[str, time | None] = {"morning": time(12, 0), "evening": None}


def _row(db: sqlite_utils.Database, sql: str, params: list) -> dict | None:
    rows = list(db.query(sql, params))
    return rows[0] if rows else None


# --- policies ---------------------------------------------------------------------------------

def get_policy(db: sqlite_utils.Database, policy_id: int) -> dict | None:
    return _row(db, "SELECT * FROM isolation_policies WHERE id = ?", [policy_id])


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
    return _row(db, """SELECT c.*, r.name AS resident_name FROM isolation_cases c
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
            raise ApiError(403, "forbidden", fields=[field_error(path, "forbidden", "jurisdiction")])
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


def store_isolation_case(db: sqlite_utils.Database, user: User, record: dict,
                         device_id: str | None) -> tuple[str, dict]:
    """Open a case for a resident under a policy (copied into the case)."""
    trusted_time(record)
    digest = payload_hash(user.id, {k: v for k, v in record.items() if k not in ("id", "device_id")})
    with write_transaction(db):
        existing = get_case(db, record["id"])
        if existing is not None:
            status = "duplicate" if existing["payload_hash"] == digest else "conflict"
            return status, case_json(db, existing)
        resident = _row(db, "SELECT * FROM residents WHERE id = ? AND deleted_at IS NULL",
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
             digest])
        for cadre_id in cadre_ids:
            db.execute("INSERT INTO isolation_case_cadres (case_id, user_id) VALUES (?, ?)",
                       [record["id"], cadre_id])
        return "created", case_json(db, get_case(db, record["id"]))


def end_case(db: sqlite_utils.Database, user: User, case_id: str,
             body: dict) -> tuple[str, dict]:
    """End a case (released / transferred / other); a stale base_version is a conflict."""
    edit_id = body.get("id") or str(uuid.uuid4())
    digest = payload_hash(user.id, {**body, "case_id": case_id, "id": None})
    with write_transaction(db):
        case = case_for(db, user, case_id, "")
        done = db.execute("SELECT payload_hash FROM registry_history WHERE id = ?",
                          [edit_id]).fetchone()
        if done is not None:  # a retry of an edit already answered
            return ("duplicate" if done[0] == digest else "conflict"), case_json(db, case)
        if case["status"] == "ended":
            raise fail(409, "case_ended", "", "state")
        fields = {k: body[k] for k in ("outcome", "ended_on", "reason", "last_test_result",
                                       "transferred_to") if k in body}

        def history(status: str, new_version: int | None) -> None:
            db.execute(
                """INSERT INTO registry_history (id, entity, entity_id, status, base_version,
                       new_version, fields, source, user_id, recorded_at, received_at,
                       payload_hash) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)""",
                [edit_id, "isolation_case", case_id, status, body["base_version"], new_version,
                 json.dumps(fields, ensure_ascii=False), "office", user.id,
                 utc_text(now_utc()), utc_text(now_utc()), digest])

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


# --- schedule ---------------------------------------------------------------------------------

def schedule(case: dict, visits: list[dict], now: datetime, zone: str) -> list[dict]:
    """Every planned visit of the case: {day, slot, phase, test, status}.

    status: done (a visit covers it), due (today, still in time), overdue, upcoming. Days are
    local days of `zone`: at 00:30 in Shanghai yesterday's evening is overdue, even though
    it is still yesterday in UTC.
    """
    rules = json.loads(case["policy_snapshot"])
    local_now = now.astimezone(ZoneInfo(zone))
    today_ = local_now.date()
    done = {(v["due_day"], v["slot"]) for v in visits}
    last = date.fromisoformat(case["ended_on"] or case["planned_end"])
    day = date.fromisoformat(case["starts_on"])
    entries = []
    for phase in rules["phases"]:
        for number in range(1, phase["days"] + 1):
            if day > last:
                return entries
            for slot in rules["slots"]:
                deadline = SLOT_DEADLINES[slot]
                if (day.isoformat(), slot) in done:
                    status = "done"
                elif day > today_:
                    status = "upcoming"
                elif day < today_ or (deadline is not None and local_now.time() >= deadline):
                    status = "overdue"
                else:
                    status = "due"
                entries.append({"day": day.isoformat(), "slot": slot, "phase": phase["kind"],
                                "test": number in phase.get("test_days", []),
                                "status": status})
            day += timedelta(days=1)
    return entries


def visits_of(db: sqlite_utils.Database, case_id: str) -> list[dict]:
    return list(db.query(
        """SELECT v.*, u.name AS user_name FROM isolation_visits v JOIN users u ON u.id = v.user_id
           WHERE v.case_id = ? ORDER BY v.recorded_utc""", [case_id]))


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
    return _row(db, """SELECT v.*, u.name AS user_name FROM isolation_visits v
                       JOIN users u ON u.id = v.user_id WHERE v.id = ?""", [visit_id])


def store_isolation_visit(db: sqlite_utils.Database, user: User, record: dict,
                          device_id: str | None) -> tuple[str, dict]:
    """One visit of a case; fever (≥37.3 °C) or any symptom marks the case for attention."""
    recorded = trusted_time(record)
    digest = payload_hash(user.id, {k: v for k, v in record.items() if k not in ("id", "device_id")})
    day = local_day(recorded, current_app.config["TIMEZONE"])
    due_day = record.get("due_day") or day
    with write_transaction(db):
        existing = _get_visit(db, record["id"])
        if existing is not None:
            status = "duplicate" if existing["payload_hash"] == digest else "conflict"
            return status, visit_json(existing)
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
             record.get("corrects_id"), digest])
        reasons = notices.health_reasons(record.get("temperature"), record.get("symptoms", []))
        if reasons:
            # A flag raised by an event, not an edit of the case: the version does not move,
            # so it never turns someone's pending edit of the case into a conflict.
            db.execute("UPDATE isolation_cases SET attention = 1, attention_reason = ? "
                       "WHERE id = ?", [f"{due_day} {' '.join(reasons)}", case["id"]])
            # In the same transaction as the visit: a replayed visit never alerts twice.
            notices.alert_committee(db, case["community_id"], case["resident_name"], reasons,
                                    f"/#/dashboard/{case['community_id']}",
                                    f"health:isolation_visit:{record['id']}")
        household = get_household(db, case["household_id"])
        raise_deliveries(db, user, household, record["id"], record.get("needs", []), recorded,
                         case_id=case["id"], for_whom=case["resident_name"])
        return "created", visit_json(_get_visit(db, record["id"]))


# --- deliveries -------------------------------------------------------------------------------

def raise_deliveries(db: sqlite_utils.Database, user: User, household: dict, visit_id: str,
                     needs: list[dict], recorded: datetime, case_id: str | None,
                     for_whom: str = "") -> None:
    """A delivery task per need found in a visit; ids derive from the visit's, so a replayed
    visit can never raise them twice."""
    for index, need in enumerate(needs):
        delivery_id = str(uuid.uuid5(uuid.NAMESPACE_URL, f"baodao:visit:{visit_id}:{index}"))
        _insert_delivery(db, user, delivery_id, household, case_id, visit_id, need,
                         for_whom or household["head_name"], recorded.isoformat(), recorded,
                         None, "")


def _insert_delivery(db, user, delivery_id, household, case_id, visit_id, need, for_whom,
                     recorded_at: str, trusted: datetime, device_id, digest) -> None:
    """recorded_at as the phone said it; `trusted` the time it counts at (trusted_time)."""
    stamp, recorded_utc = utc_text(now_utc()), utc_text(trusted)
    db.execute(
        """INSERT INTO deliveries (id, household_id, community_id, case_id, source_visit_id,
               kind, what, for_whom, due_by, raised_by, raised_at)
           VALUES (?,?,?,?,?,?,?,?,?,?,?)""",
        [delivery_id, household["id"], household["community_id"], case_id, visit_id,
         need["kind"], need["what"], need.get("for_whom") or for_whom, need.get("due_by"),
         user.id, recorded_utc])
    summaries.date_delivery(db, delivery_id, current_app.config["TIMEZONE"])
    db.execute(
        """INSERT INTO delivery_events (id, delivery_id, action, user_id, recorded_at,
               recorded_utc, received_at, device_id, payload_hash)
           VALUES (?,?,'raise',?,?,?,?,?,?)""",
        [delivery_id, delivery_id, user.id, recorded_at, recorded_utc, stamp, device_id, digest])


def get_delivery(db: sqlite_utils.Database, delivery_id: str) -> dict | None:
    return _row(db, """SELECT d.*, h.building, h.unit, h.door, r.name AS raised_by_name,
                              t.name AS taken_by_name, w.name AS delivered_by_name
                       FROM deliveries d JOIN households h ON h.id = d.household_id
                       JOIN users r ON r.id = d.raised_by
                       LEFT JOIN users t ON t.id = d.taken_by
                       LEFT JOIN users w ON w.id = d.delivered_by WHERE d.id = ?""",
                [delivery_id])


def delivery_json(row: dict, now: datetime | None = None) -> dict:
    raised = datetime.fromisoformat(row["raised_at"].replace("Z", "+00:00"))
    age = (now or now_utc()) - raised
    return {**{k: row[k] for k in ("id", "household_id", "community_id", "case_id",
                                   "source_visit_id", "kind", "what", "for_whom", "due_by",
                                   "status", "raised_at", "taken_at", "delivered_at")},
            "address": address(row), "age_hours": round(age.total_seconds() / 3600, 1),
            "raised_by": {"id": row["raised_by"], "name": row["raised_by_name"]},
            "taken_by": row["taken_by"] and {"id": row["taken_by"], "name": row["taken_by_name"]},
            "delivered_by": row["delivered_by"] and {"id": row["delivered_by"],
                                                     "name": row["delivered_by_name"]}}


def store_delivery(db: sqlite_utils.Database, user: User, record: dict,
                   device_id: str | None) -> tuple[str, dict]:
    """One step of a delivery: raise (a new task), take, deliver; each step has its own id."""
    recorded = trusted_time(record)
    digest = payload_hash(user.id, {k: v for k, v in record.items() if k not in ("id", "device_id")})
    with write_transaction(db):
        done = db.execute("SELECT delivery_id, payload_hash FROM delivery_events WHERE id = ?",
                          [record["id"]]).fetchone()
        if done is not None:
            return ("duplicate" if done[1] == digest else "conflict"), \
                delivery_json(get_delivery(db, done[0]))
        action = record["action"]
        if action == "raise":
            household = household_for(db, user, record["household_id"])
            if record.get("case_id") and db.execute(
                    "SELECT 1 FROM isolation_cases WHERE id = ? AND household_id = ?",
                    [record["case_id"], household["id"]]).fetchone() is None:
                raise fail(422, "case_unknown", "/case_id", "exists")
            _insert_delivery(db, user, record["id"], household, record.get("case_id"), None,
                             record, household["head_name"], record["recorded_at"], recorded,
                             device_id, digest)
            return "created", delivery_json(get_delivery(db, record["id"]))
        delivery = get_delivery(db, record["delivery_id"])
        if delivery is None:
            raise fail(404, "delivery_unknown", "/delivery_id", "exists")
        household_for(db, user, delivery["household_id"], "/delivery_id")
        if delivery["status"] == "delivered":
            raise fail(409, "delivery_done", "/delivery_id", "state")
        if action == "take" and delivery["taken_by"] not in (None, user.id):
            raise fail(409, "delivery_taken", "/delivery_id", "state")
        stamp = utc_text(recorded)
        if action == "take":
            db.execute("UPDATE deliveries SET status = 'taken', taken_by = ?, taken_at = ? "
                       "WHERE id = ?", [user.id, stamp, delivery["id"]])
        else:
            db.execute(
                """UPDATE deliveries SET status = 'delivered', delivered_by = ?, delivered_at = ?,
                       taken_by = coalesce(taken_by, ?), taken_at = coalesce(taken_at, ?)
                   WHERE id = ?""", [user.id, stamp, user.id, stamp, delivery["id"]])
            summaries.date_delivery(db, delivery["id"], current_app.config["TIMEZONE"])
        db.execute(
            """INSERT INTO delivery_events (id, delivery_id, action, user_id, recorded_at,
                   recorded_utc, received_at, device_id, note, payload_hash)
               VALUES (?,?,?,?,?,?,?,?,?,?)""",
            [record["id"], delivery["id"], action, user.id, record["recorded_at"], stamp,
             utc_text(now_utc()), device_id, record.get("note", ""), digest])
        return "created", delivery_json(get_delivery(db, delivery["id"]))


DELIVERY_FILTERS = {"open": "d.status != 'delivered'", "delivered": "d.status = 'delivered'",
                    "all": "1"}


def open_deliveries(db: sqlite_utils.Database, where: str, params: list,
                    status: str = "open") -> list[dict]:
    """Deliveries matching `where` on d.*, oldest first: open (not yet delivered) by default,
    or `delivered`, or `all`."""
    ids = [r[0] for r in db.execute(
        f"""SELECT d.id FROM deliveries d JOIN households h ON h.id = d.household_id
            WHERE {DELIVERY_FILTERS[status]} AND ({where}) ORDER BY d.raised_at""", params)]
    now = now_utc()
    return [delivery_json(get_delivery(db, i), now) for i in ids]


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
