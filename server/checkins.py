"""Check-in (报到) and check-out; at a checkpoint the pair is a watch shift (值守).

`record_checkin` and `record_checkout` are the one path for a record, whether it comes from the
live route or from the sync endpoint. Each answers one of the sync statuses:
created, duplicate (same id and content, or a repeat scan within the window), conflict.
"""

from __future__ import annotations

import functools
import hashlib
import json
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlite_utils
from flask import Blueprint, current_app, g, has_request_context, jsonify, request
from flask_login import current_user

from . import group_commit, posters, summaries
from .auth import check_throttle, record_failure, require_role
from .db import connect, first_row, get_db, write_transaction
from .errors import ApiError, json_body, query_int
from .i18n import t
from .timeutil import local_day, now_utc, parse_time, utc_text

bp = Blueprint("checkins", __name__)

# A device clock this far ahead of the server is not trusted for the record's day.
MAX_CLOCK_AHEAD = timedelta(minutes=10)


def trusted_time(record: dict) -> datetime:
    """The time to count the record at (PITFALLS 27). A record is flagged, not refused, when
    the phone's clock is wrong: its claimed recorded_at is kept as sent beside received_at,
    and refusing it would leave it stuck in the outbox of a phone the cadre cannot fix.

    In a sync batch that said when it was sent, a phone clock off by more than the skew is
    corrected by that offset (a phone two days behind still counts today's visit today);
    otherwise a time ahead of the server's beyond the skew is replaced by the server's."""
    recorded = parse_time(record["recorded_at"])
    now = now_utc()
    offset = g.get("clock_offset") if has_request_context() else None
    if offset is not None:
        return min(recorded + offset, now)
    return now if recorded - now > MAX_CLOCK_AHEAD else recorded


def payload_hash(user_id: int, fields: dict) -> str:
    """Hash of the canonical record content: same id + same hash is a harmless retry."""
    canonical = json.dumps({"user": user_id, **fields}, sort_keys=True, ensure_ascii=False,
                           separators=(",", ":"))
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def user_is_assigned(db: sqlite_utils.Database, user_id: int, community_id: int,
                     day: str | None = None) -> bool:
    day = day or local_day(now_utc(), current_app.config["TIMEZONE"])
    return db.execute(
        """SELECT 1 FROM assignments WHERE user_id = ? AND community_id = ?
           AND starts_on <= ? AND (ends_on IS NULL OR ends_on >= ?)""",
        [user_id, community_id, day, day]).fetchone() is not None


def open_checkin_at(db: sqlite_utils.Database, user_id: int, community_id: int,
                    checkpoint_id: int | None, since_utc: str | None = None) -> dict | None:
    """The user's latest check-in at that place that has no check-out yet."""
    since_utc = since_utc or utc_text(now_utc() - timedelta(hours=24))
    return first_row(
        db, """SELECT c.* FROM checkins c LEFT JOIN checkouts o ON o.checkin_id = c.id
               WHERE c.user_id = ? AND c.community_id = ? AND c.checkpoint_id IS ?
               AND c.recorded_utc >= ? AND o.id IS NULL
               ORDER BY c.recorded_utc DESC LIMIT 1""",
        [user_id, community_id, checkpoint_id, since_utc])


def record_checkin(db: sqlite_utils.Database, user_id: int, record: dict,
                   device_id: str | None = None) -> tuple[str, dict]:
    """Store a validated check-in record; return (status, stored row).

    Raises ApiError for a bad poster token. Runs in one BEGIN IMMEDIATE transaction (or a
    savepoint of the caller's) so that parallel retries of one id give exactly one `created`.
    """
    return store_checkin_facts(db, CheckinFacts.of(user_id, record, device_id))


@dataclass(frozen=True)
class CheckinFacts:
    """What storing a check-in takes from the request: settings, the trusted time, the poster
    token's signature. With them store_checkin_facts needs nothing but the database, so it can run
    in the group-commit writer (group_commit.py), outside the request."""

    user_id: int
    record: dict
    device_id: str | None
    digest: str
    received: datetime
    trusted: datetime
    clock_flag: bool
    day: str
    zone: str
    window: timedelta
    poster_id: object  # None when the token's signature is wrong

    @classmethod
    def of(cls, user_id: int, record: dict, device_id: str | None = None) -> CheckinFacts:
        config = current_app.config
        location = record.get("location") or {}
        content = {"token": record["token"], "recorded_at": record["recorded_at"],
                   "location": location or None}
        trusted = trusted_time(record)
        return cls(user_id=user_id, record=record, device_id=device_id,
                   digest=payload_hash(user_id, content), received=now_utc(), trusted=trusted,
                   clock_flag=trusted != parse_time(record["recorded_at"]),
                   day=local_day(trusted, config["TIMEZONE"]), zone=config["TIMEZONE"],
                   window=timedelta(minutes=config["CHECKIN_WINDOW_MINUTES"]),
                   poster_id=posters.verified_poster_id(record["token"]))


def store_checkin_facts(db: sqlite_utils.Database, facts: CheckinFacts) -> tuple[str, dict]:
    """record_checkin's database part; uses nothing of the request (see CheckinFacts)."""
    record, user_id, digest, trusted, day = (facts.record, facts.user_id, facts.digest,
                                             facts.trusted, facts.day)
    location = record.get("location") or {}
    with write_transaction(db):
        existing = db.execute("SELECT payload_hash FROM checkins WHERE id = ?",
                              [record["id"]]).fetchone()
        if existing is not None:
            status = "duplicate" if existing[0] == digest else "conflict"
            return status, get_checkin(db, record["id"])
        alias = db.execute("SELECT checkin_id, payload_hash FROM checkin_aliases WHERE id = ?",
                           [record["id"]]).fetchone()
        if alias is not None:
            return ("repeat" if alias[1] == digest else "conflict"), get_checkin(db, alias[0])
        # A poster re-issued after the phone scanned it offline still counts for that scan.
        poster = posters.live_poster(db, facts.poster_id, valid_at=utc_text(trusted))
        window = facts.window
        repeat = open_checkin_at(db, user_id, poster["community_id"], poster["checkpoint_id"],
                                 since_utc=utc_text(trusted - window))
        if repeat is not None and repeat["recorded_utc"] <= utc_text(trusted + window):
            db.execute("""INSERT INTO checkin_aliases (id, checkin_id, user_id, payload_hash,
                              received_at) VALUES (?,?,?,?,?)""",
                       [record["id"], repeat["id"], user_id, digest, utc_text(facts.received)])
            return "repeat", repeat
        db.execute(
            """INSERT INTO checkins (id, user_id, poster_id, community_id, checkpoint_id,
                   recorded_at, recorded_utc, local_day, received_at, device_id, lat, lng,
                   accuracy, outside_assignment, clock_flag, payload_hash)
               VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)""",
            [record["id"], user_id, poster["id"], poster["community_id"],
             poster["checkpoint_id"], record["recorded_at"], utc_text(trusted), day,
             utc_text(facts.received), facts.device_id, location.get("lat"),
             location.get("lng"), location.get("accuracy"),
             int(not user_is_assigned(db, user_id, poster["community_id"], day)),
             int(facts.clock_flag), digest])
        if poster["checkpoint_id"] is not None:  # a watch: the hours on watch it adds
            summaries.count_watch(db, record["id"], facts.zone)
        return "created", get_checkin(db, record["id"])


def record_checkout(db: sqlite_utils.Database, user_id: int, record: dict,
                    device_id: str | None = None) -> tuple[str, dict]:
    """Close the user's own check-in; return (status, the check-in row)."""
    digest = payload_hash(user_id, {"checkin_id": record["checkin_id"],
                                    "recorded_at": record["recorded_at"]})
    received = now_utc()
    trusted = trusted_time(record)
    with write_transaction(db):
        existing = db.execute("SELECT checkin_id, payload_hash FROM checkouts WHERE id = ?",
                              [record["id"]]).fetchone()
        if existing is not None:
            status = "duplicate" if existing[1] == digest else "conflict"
            return status, get_checkin(db, existing[0])
        checkin = get_checkin(db, resolve_alias(db, record["checkin_id"]))
        pointer = [{"path": "/checkin_id", "message": ""}]
        if checkin is None:
            raise ApiError(404, "checkin_unknown", fields=_with_message(pointer, "checkin_unknown"))
        if checkin["user_id"] != user_id:
            raise ApiError(403, "checkin_not_yours",
                           fields=_with_message(pointer, "checkin_not_yours"))
        if checkin["checkout"] is not None:
            raise ApiError(409, "already_checked_out",
                           fields=_with_message(pointer, "already_checked_out"))
        if utc_text(trusted) < checkin["recorded_utc"]:
            raise ApiError(422, "checkout_before_checkin",
                           fields=_with_message([{"path": "/recorded_at"}],
                                                "checkout_before_checkin"))
        db.execute(
            """INSERT INTO checkouts (id, checkin_id, user_id, recorded_at, recorded_utc,
                   received_at, device_id, payload_hash) VALUES (?,?,?,?,?,?,?,?)""",
            [record["id"], checkin["id"], user_id, record["recorded_at"], utc_text(trusted),
             utc_text(received), device_id, digest])
        if checkin["checkpoint_id"] is not None:  # a watch ends: its hours on watch
            summaries.count_watch(db, checkin["id"], current_app.config["TIMEZONE"])
        return "created", get_checkin(db, checkin["id"])


def _with_message(fields: list[dict], key: str) -> list[dict]:
    return [{**f, "message": t(key)} for f in fields]


def resolve_alias(db: sqlite_utils.Database, checkin_id: str) -> str:
    """The check-in an id names: itself, or the first check-in when it was a repeat scan."""
    row = db.execute("SELECT checkin_id FROM checkin_aliases WHERE id = ?", [checkin_id]).fetchone()
    return row[0] if row else checkin_id


def get_checkin(db: sqlite_utils.Database, checkin_id: str) -> dict | None:
    row = first_row(
        db, """SELECT c.*, o.id AS checkout_id, o.recorded_at AS checkout_recorded_at,
                      p.name AS community_name, k.name AS checkpoint_name, u.name AS user_name
               FROM checkins c JOIN places p ON p.id = c.community_id
               JOIN users u ON u.id = c.user_id
               LEFT JOIN checkpoints k ON k.id = c.checkpoint_id
               LEFT JOIN checkouts o ON o.checkin_id = c.id WHERE c.id = ?""", [checkin_id])
    if row is None:
        return None
    row["checkout"] = ({"id": row["checkout_id"], "recorded_at": row["checkout_recorded_at"]}
                       if row["checkout_id"] else None)
    return row


def checkins_of_user(db: sqlite_utils.Database, user_id: int, limit: int = 50) -> list[dict]:
    ids = [r[0] for r in db.execute(
        "SELECT id FROM checkins WHERE user_id = ? ORDER BY recorded_utc DESC LIMIT ?",
        [user_id, limit]).fetchall()]
    return [get_checkin(db, i) for i in ids]


def checkin_json(db: sqlite_utils.Database, row: dict) -> dict:
    if "community_name" not in row:
        row = get_checkin(db, row["id"])
    community = {"id": row["community_id"], "name": row["community_name"]}
    checkpoint = ({"id": row["checkpoint_id"], "name": row["checkpoint_name"]}
                  if row["checkpoint_id"] else None)
    return {
        "id": row["id"],
        "user": {"id": row["user_id"], "name": row["user_name"]},
        "community": community,
        "checkpoint": checkpoint,
        "place_name": community["name"] + (f" · {checkpoint['name']}" if checkpoint else ""),
        "recorded_at": row["recorded_at"],
        "received_at": row["received_at"],
        "local_day": row["local_day"],
        "outside_assignment": bool(row["outside_assignment"]),
        "clock_flag": bool(row["clock_flag"]),
        "is_watch": row["checkpoint_id"] is not None,
        "checkout": row["checkout"],
    }


def store_checkin(db: sqlite_utils.Database, user, record: dict,
                  device_id: str | None) -> tuple[str, dict]:
    """The sync endpoint's entry: a repeat scan counts as a duplicate of the earlier check-in."""
    status, row = record_checkin(db, user.id, record, device_id)
    return ("duplicate" if status == "repeat" else status), checkin_json(db, row)


def store_checkout(db: sqlite_utils.Database, user, record: dict,
                   device_id: str | None) -> tuple[str, dict]:
    status, row = record_checkout(db, user.id, record, device_id)
    return status, checkin_json(db, row)


# --- routes -----------------------------------------------------------------------------------

STATUS_CODES = {"created": 201, "duplicate": 200, "repeat": 200}


def _answer(status: str, row: dict):
    db = get_db()
    if status == "conflict":
        raise ApiError(409, "conflict", extra={"stored": checkin_json(db, row)})
    return jsonify({"status": status, "checkin": checkin_json(db, row)}), STATUS_CODES[status]


@bp.post("/api/checkins")
@require_role()
def create_checkin():
    body = json_body("checkin")
    facts = CheckinFacts.of(current_user.id, body, body.get("device_id"))
    try:  # the morning rush: check-ins arriving together share one commit (group_commit.py)
        status, row = group_commit.run(current_app.config["DATABASE"],
                                       functools.partial(store_checkin_facts, facts=facts), connect)
    except ApiError as error:  # raised in the writer thread: told again in this user's language
        raise error.retold() from None
    return _answer(status, row)


@bp.post("/api/checkouts")
@require_role()
def create_checkout():
    body = json_body("checkout")
    status, row = record_checkout(get_db(), current_user.id, body, body.get("device_id"))
    return _answer(status, row)


@bp.get("/api/checkins/mine")
@require_role()
def my_checkins():
    db = get_db()
    limit = min(max(query_int("limit", 50), 1), 200)
    return jsonify({"checkins": [checkin_json(db, r)
                                 for r in checkins_of_user(db, current_user.id, limit)]})


@bp.get("/api/posters/resolve")
@require_role()
def resolve_poster():
    """The place behind a scanned token or a typed manual code, and the user's open check-in."""
    db = get_db()
    if request.args.get("code"):
        key = f"code:{request.remote_addr or ''}"
        check_throttle(db, {key: current_app.config["CODE_MAX_PER_ADDRESS"]})
        try:
            poster = posters.resolve_code(db, request.args["code"])
        except ApiError:
            record_failure(db, key)  # manual codes are short: slow down guessing
            raise
    else:
        poster = posters.resolve_token(db, request.args.get("token", ""))
    open_row = open_checkin_at(db, current_user.id, poster["community_id"],
                               poster["checkpoint_id"])
    return jsonify({
        "poster": posters.poster_json(poster),
        "assigned": user_is_assigned(db, current_user.id, poster["community_id"]),
        "open_checkin": checkin_json(db, open_row) if open_row else None,
    })
