"""Check-in (报到) and check-out; at a checkpoint the pair is a watch shift (值守).

`record_checkin` and `record_checkout` are the one path for a record, whether it comes from the
live route or from the sync endpoint. Each answers one of the sync statuses:
created, duplicate (same id and content, or a repeat scan within the window), conflict.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from datetime import timedelta

import sqlite_utils
from flask import Blueprint, current_app, jsonify, request
from flask_login import current_user

from . import group_commit, posters, records, summaries
from .auth import check_throttle, record_failure
from .db import connect, first_row, get_db
from .errors import ApiError, fail, json_body, query_int
from .i18n import current_language, speaking
from .records import Earlier, Incoming
from .scope import require_role
from .timeutil import local_day, now_utc, utc_text

bp = Blueprint("checkins", __name__)

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
    """What storing a check-in takes from the request: the record protocol's facts (trusted
    time, hash), settings, the poster token's signature. With them store_checkin_facts needs
    nothing but the database, so it can run in the group-commit writer (group_commit.py),
    outside the request."""

    incoming: Incoming
    day: str
    zone: str
    window: timedelta
    poster_id: object  # None when the token's signature is wrong
    grace: timedelta   # how late an offline scan of a since re-issued poster may arrive
    lang: str          # the user's language, for refusals made in the writer thread

    @classmethod
    def of(cls, user_id: int, record: dict, device_id: str | None = None) -> CheckinFacts:
        config = current_app.config
        # The canonical content check-ins were first stored with: kept, so that a phone's
        # retry of a record stored before still matches its hash.
        hashed = {"token": record["token"], "recorded_at": record["recorded_at"],
                  "location": record.get("location") or None}
        incoming = Incoming.of(user_id, record, device_id, hashed)
        return cls(incoming=incoming, day=local_day(incoming.trusted, config["TIMEZONE"]),
                   zone=config["TIMEZONE"],
                   window=timedelta(minutes=config["CHECKIN_WINDOW_MINUTES"]),
                   poster_id=posters.verified_poster_id(record["token"]),
                   grace=timedelta(hours=config["POSTER_OFFLINE_GRACE_HOURS"]),
                   lang=current_language())


def _earlier_checkin(db: sqlite_utils.Database, record_id: str) -> Earlier | None:
    """A check-in with this id, or a repeat scan kept as an alias of the first check-in."""
    row = first_row(db, "SELECT user_id, payload_hash FROM checkins WHERE id = ?", [record_id])
    if row is not None:
        return Earlier(row["user_id"], row["payload_hash"], lambda: get_checkin(db, record_id))
    alias = first_row(db, "SELECT checkin_id, user_id, payload_hash FROM checkin_aliases "
                          "WHERE id = ?", [record_id])
    if alias is not None:
        return Earlier(alias["user_id"], alias["payload_hash"],
                       lambda: get_checkin(db, alias["checkin_id"]), same="repeat")
    return None


def store_checkin_facts(db: sqlite_utils.Database, facts: CheckinFacts) -> tuple[str, dict]:
    """record_checkin's database part; uses nothing of the request (see CheckinFacts)."""
    incoming, day = facts.incoming, facts.day
    record, user_id, trusted = incoming.record, incoming.user_id, incoming.trusted
    location = record.get("location") or {}

    def create() -> tuple[str, dict]:
        # A poster re-issued after the phone scanned it offline still counts for that scan,
        # if it arrives within the grace; flagged (old_poster): the time is the phone's word.
        poster = posters.live_poster(db, facts.poster_id, valid_at=utc_text(trusted),
                                     late_by=incoming.received - trusted, grace=facts.grace)
        window = facts.window
        repeat = open_checkin_at(db, user_id, poster["community_id"], poster["checkpoint_id"],
                                 since_utc=utc_text(trusted - window))
        if repeat is not None and repeat["recorded_utc"] <= utc_text(trusted + window):
            db.execute("""INSERT INTO checkin_aliases (id, checkin_id, user_id, payload_hash,
                              received_at) VALUES (?,?,?,?,?)""",
                       [incoming.id, repeat["id"], user_id, incoming.digest,
                        utc_text(incoming.received)])
            return "repeat", repeat
        db.execute(
            """INSERT INTO checkins (id, user_id, poster_id, community_id, checkpoint_id,
                   recorded_at, recorded_utc, local_day, received_at, device_id, lat, lng,
                   accuracy, outside_assignment, clock_flag, old_poster, payload_hash)
               VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)""",
            [incoming.id, user_id, poster["id"], poster["community_id"],
             poster["checkpoint_id"], record["recorded_at"], utc_text(trusted), day,
             utc_text(incoming.received), incoming.device_id, location.get("lat"),
             location.get("lng"), location.get("accuracy"),
             int(not user_is_assigned(db, user_id, poster["community_id"], day)),
             int(incoming.clock_flag), int(poster["revoked_at"] is not None), incoming.digest])
        if poster["checkpoint_id"] is not None:  # a watch: the hours on watch it adds
            summaries.count_watch(db, incoming.id, facts.zone)
        return "created", get_checkin(db, incoming.id)

    with speaking(facts.lang):  # a refusal's every message in the user's language
        return records.store(db, incoming, _earlier_checkin, create)


def _earlier_checkout(db: sqlite_utils.Database, record_id: str) -> Earlier | None:
    row = first_row(db, "SELECT checkin_id, user_id, payload_hash FROM checkouts WHERE id = ?",
                    [record_id])
    if row is None:
        return None
    return Earlier(row["user_id"], row["payload_hash"], lambda: get_checkin(db, row["checkin_id"]))


def record_checkout(db: sqlite_utils.Database, user_id: int, record: dict,
                    device_id: str | None = None) -> tuple[str, dict]:
    """Close the user's own check-in; return (status, the check-in row)."""
    incoming = Incoming.of(user_id, record, device_id)

    def create() -> tuple[str, dict]:
        checkin = get_checkin(db, resolve_alias(db, record["checkin_id"]))
        if checkin is None:
            raise fail(404, "checkin_unknown", "/checkin_id", "checkin_unknown")
        if checkin["user_id"] != user_id:
            raise fail(403, "checkin_not_yours", "/checkin_id", "checkin_not_yours")
        if checkin["checkout"] is not None:
            raise fail(409, "already_checked_out", "/checkin_id", "already_checked_out")
        if utc_text(incoming.trusted) < checkin["recorded_utc"]:
            raise fail(422, "checkout_before_checkin", "/recorded_at", "checkout_before_checkin")
        db.execute(
            """INSERT INTO checkouts (id, checkin_id, user_id, recorded_at, recorded_utc,
                   received_at, device_id, payload_hash) VALUES (?,?,?,?,?,?,?,?)""",
            [incoming.id, checkin["id"], user_id, record["recorded_at"],
             utc_text(incoming.trusted), utc_text(incoming.received), device_id,
             incoming.digest])
        if checkin["checkpoint_id"] is not None:  # a watch ends: its hours on watch
            summaries.count_watch(db, checkin["id"], current_app.config["TIMEZONE"])
        return "created", get_checkin(db, checkin["id"])

    return records.store(db, incoming, _earlier_checkout, create)


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
        "old_poster": bool(row["old_poster"]),
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

def _answer(status: str, row: dict):
    db = get_db()
    if status == "conflict":
        raise ApiError(409, "conflict", extra={"stored": checkin_json(db, row)})
    return jsonify({"status": status, "checkin": checkin_json(db, row)}), records.STATUS_CODES[status]


@bp.post("/api/checkins")
@require_role()
def create_checkin():
    body = json_body("checkin")
    facts = CheckinFacts.of(current_user.id, body, body.get("device_id"))
    # The morning rush: check-ins arriving together share one commit (group_commit.py).
    status, row = group_commit.run(current_app.config["DATABASE"],
                                   functools.partial(store_checkin_facts, facts=facts), connect)
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
