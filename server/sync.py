"""POST /api/sync and GET /api/sync/changes: the phone's outbox and its offline data.

A sync batch is {"device_id", "records": [{"id", "type", "recorded_at", "data"}]}. Each record
goes through the same store function as its live route (RECORD_TYPES), and gets one result,
in order: created | duplicate | conflict | invalid. The whole batch runs in one BEGIN
IMMEDIATE transaction with a savepoint per record, committed before the answer is sent, so an
acknowledged record is durable and one bad record rolls back alone.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

import sqlite_utils
from flask import Blueprint, current_app, g, jsonify, request
from flask_login import current_user

from . import checkins, deliveries, enterprises, isolation, needs, notices, posters, screening
from .db import get_db, write_transaction
from .errors import ApiError, validate, validation_errors
from .households import household_json
from .i18n import t
from .records import MAX_CLOCK_AHEAD
from .scope import ROLES, WORKER_ROLES, User, grid_ids_of, require_role
from .timeutil import now_utc, parse_time, today, utc_text

bp = Blueprint("sync", __name__)


@dataclass(frozen=True)
class RecordType:
    """How one type of phone record is validated (schemas/<schema>.json) and stored."""

    schema: str
    store: Callable[[sqlite_utils.Database, User, dict, str | None], tuple[str, dict]]
    roles: tuple[str, ...] = WORKER_ROLES  # who may send it; the enterprise contact: read marks


RECORD_TYPES: dict[str, RecordType] = {
    "checkin": RecordType("checkin", checkins.store_checkin),
    "checkout": RecordType("checkout", checkins.store_checkout),
    "household": RecordType("household", screening.store_household),
    "resident": RecordType("resident", screening.store_resident),
    "screening_visit": RecordType("screening_visit", screening.store_screening_visit),
    "isolation_case": RecordType("isolation_case", isolation.store_isolation_case),
    "isolation_visit": RecordType("isolation_visit", isolation.store_isolation_visit),
    "delivery": RecordType("delivery", deliveries.store_delivery),
    "notice_read": RecordType("notice_read", notices.store_notice_read, ROLES),
    "problem_ticket": RecordType("problem_ticket", enterprises.store_problem_ticket),
    "ticket_update": RecordType("ticket_update", enterprises.store_ticket_update),
    "volunteer": RecordType("volunteer", needs.store_volunteer, ("cadre", "leader")),
}


def _data_pointer(path: str) -> str:
    """A field pointer of the flattened record, as a pointer into the sync record."""
    if path in ("/id", "/recorded_at") or path.startswith(("/id/", "/recorded_at/")):
        return path
    return "/data" + path


def sync_record(db: sqlite_utils.Database, user: User, record: dict,
                device_id: str | None) -> dict:
    """One record of a batch → its result. Never raises for a bad record."""
    result: dict = {"id": record.get("id") if isinstance(record, dict) else None}
    if not isinstance(record, dict):
        return {**result, "status": "invalid", "errors": [
            {"path": "", "message": t("rule_type", expected="object"), "rule": "type"}]}
    envelope_errors = validation_errors("sync_record", record)
    record_type = RECORD_TYPES.get(record.get("type"))
    if envelope_errors or record_type is None:
        return {**result, "status": "invalid", "errors": envelope_errors or [
            {"path": "/type", "message": t("rule_enum", options=", ".join(RECORD_TYPES)),
             "rule": "enum"}]}
    if user.role not in record_type.roles:
        return {**result, "status": "invalid", "code": "forbidden", "errors": [
            {"path": "/type", "message": t("forbidden"), "rule": "role"}]}
    flat = {**record["data"], "id": record["id"], "recorded_at": record["recorded_at"]}
    errors = validation_errors(record_type.schema, flat)
    if errors:
        for error in errors:
            error["path"] = _data_pointer(error["path"])
        return {**result, "status": "invalid", "errors": errors}
    try:
        status, stored = record_type.store(db, user, flat, device_id)
    except ApiError as error:
        fields = [{**f, "path": _data_pointer(f["path"])} for f in error.fields]
        return {**result, "status": "invalid", "code": error.code,
                "errors": fields or [{"path": "", "message": error.message, "rule": error.code}]}
    result["status"] = status
    if status == "created":
        result["stored"] = stored  # server facts the phone shows (flags, the verified place)
    elif status == "conflict":
        result["stored"] = stored
        result["code"] = "conflict"
        result["errors"] = [{"path": "", "message": t("conflict"), "rule": "conflict"}]
    elif status == "duplicate" and stored.get("id") != record["id"]:
        result["duplicate_of"] = stored.get("id")  # a repeat scan: the earlier record stands
    return result


@bp.post("/api/sync")
@require_role(*ROLES)  # the enterprise contact too
def sync():
    max_records = current_app.config["SYNC_MAX_RECORDS"]
    body = request.get_json(silent=True)
    if isinstance(body, dict) and isinstance(body.get("records"), list) \
            and len(body["records"]) > max_records:
        raise ApiError(413, "too_large", extra={"limits": {
            "max_records": max_records,
            "max_content_length": current_app.config["MAX_CONTENT_LENGTH"]}})
    if not isinstance(body, dict):
        raise ApiError(400, "invalid_json")
    records = body.get("records")
    # Each record is checked on its own below, so one bad record never blocks the others.
    validate("sync", {**body, "records": [] if isinstance(records, list) else records})
    db = get_db()
    device_id = body.get("device_id")
    offset = _clock_offset(body.get("sent_at"))
    if offset is not None:
        g.clock_offset = offset  # records.trusted_time corrects each record's time by it
    with write_transaction(db):
        results = [sync_record(db, current_user, record, device_id)
                   for record in body["records"]]
    answer = {"results": results, "server_time": utc_text(now_utc())}
    if offset is not None:
        answer["clock_offset_seconds"] = round(offset.total_seconds())  # the phone warns its user
    return jsonify(answer)


def _clock_offset(sent_at: str | None) -> timedelta | None:
    """Server time minus the phone's, from when the phone says it sent the batch; None when
    unknown or within the skew a phone's clock may have (docs/field-lessons.md#clock-skew)."""
    sent = parse_time(sent_at) if sent_at else None
    if sent is None:
        return None
    offset = now_utc() - sent
    return offset if abs(offset) > MAX_CLOCK_AHEAD else None


@bp.get("/api/sync/changes")
@require_role(*ROLES)  # the enterprise contact too
def changes():
    """What the phone needs for its next hours offline.

    posters of its communities (offline check-in), its recent check-ins, the households of its
    grids with their residents (masked: the offline copy never holds full ID numbers), its open
    isolation cases, today's task list, and its inbox of notices. Each collection is sent whole
    (`"full": true`): the phone replaces its copy, which also carries deletions. A cadre's share
    is a few hundred rows; true deltas after `since` can come when measured sizes call for them.
    """
    db = get_db()
    user = current_user
    community_ids = [r[0] for r in db.execute(
        """SELECT DISTINCT community_id FROM assignments WHERE user_id = ?
           AND (ends_on IS NULL OR ends_on >= ?)""",
        [user.id, today(current_app.config["TIMEZONE"]).isoformat()])]
    if user.place and user.place["kind"] == "community":
        community_ids.append(user.place["id"])
    live = [posters.poster_json(p) for cid in dict.fromkeys(community_ids)
            for p in posters.live_posters_of(db, cid)]
    mine = [checkins.checkin_json(db, r) for r in checkins.checkins_of_user(db, user.id, 20)]
    grid_ids = grid_ids_of(db, user.id)
    households = [household_json(db, row, None) for row in db.query(
        f"""SELECT * FROM households WHERE deleted_at IS NULL
            AND grid_id IN ({",".join("?" * len(grid_ids))}) ORDER BY building, unit, door""",
        grid_ids)] if grid_ids else []
    cases = [isolation.case_json(db, isolation.get_case(db, case_id))
             for case_id in isolation.cases_of(db, user)]
    return jsonify({
        "cursor": utc_text(now_utc()),
        "posters": {"full": True, "items": live},
        "checkins": {"full": True, "items": mine},
        "households": {"full": True, "items": households},
        "cases": {"full": True, "items": cases},
        "day": {"full": True, "items": [isolation.my_day(db, user)]},
        "notices": {"full": True, "items": notices.inbox(db, user.id)},  # the offline inbox
    })


@bp.get("/api/time")
def server_time():
    """The server's clock, for the phone to estimate its own clock's error
    (docs/field-lessons.md#clock-skew).

    Public and free of the database: it is also the benchmark's trivial route."""
    return jsonify({"server_time": utc_text(now_utc())})
