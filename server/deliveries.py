"""Deliveries (送医送药): medicine or supplies a visit found to be needed, tracked from raised
to taken to delivered. Each step is a record of its own (delivery_events), stored by the record
protocol (server/records.py), live or through /api/sync.
"""

from __future__ import annotations

import uuid
from datetime import datetime

import sqlite_utils
from flask import current_app

from . import records, summaries
from .db import first_row
from .errors import fail
from .households import address, household_for
from .records import Earlier, Incoming
from .scope import User
from .timeutil import now_utc, utc_text


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
    """recorded_at as the phone said it; `trusted` the time it counts at (records.trusted_time)."""
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
    return first_row(db, """SELECT d.*, h.building, h.unit, h.door, r.name AS raised_by_name,
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


def _earlier_step(db: sqlite_utils.Database, step_id: str) -> Earlier | None:
    row = first_row(db, "SELECT delivery_id, user_id, payload_hash FROM delivery_events "
                        "WHERE id = ?", [step_id])
    if row is None:
        return None
    return Earlier(row["user_id"], row["payload_hash"],
                   lambda: delivery_json(get_delivery(db, row["delivery_id"])))


def store_delivery(db: sqlite_utils.Database, user: User, record: dict,
                   device_id: str | None) -> tuple[str, dict]:
    """One step of a delivery: raise (a new task), take, deliver; each step has its own id."""
    incoming = Incoming.of(user.id, record, device_id)
    recorded, digest = incoming.trusted, incoming.digest

    def create() -> tuple[str, dict]:
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
             utc_text(incoming.received), device_id, record.get("note", ""), digest])
        return "created", delivery_json(get_delivery(db, delivery["id"]))

    return records.store(db, incoming, _earlier_step, create)


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
