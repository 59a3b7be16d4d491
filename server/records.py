"""The record protocol: how every record a phone (or an office form) sends is stored once.

A record carries a UUID made where it was captured. Every store function goes through `store()`:

1. `Incoming.of`: the trusted (clock-corrected) time it counts at, the time it was received,
   and the hash of its content: every field it carries but `LEFT_OUT_OF_HASH`, and its author.
2. In one savepoint (BEGIN IMMEDIATE when alone, so parallel retries of one id cannot both
   pass the check): look up the id. When it names a stored record, `answer_earlier` decides:
   the caller's own record with the same hash is a `duplicate`, with another hash a `conflict`
   (the stored copy is shown); a record of someone else is `id_taken`, answered **without**
   the stored copy: an id is no secret once it has left a phone.
3. Otherwise the type's own `create` checks its rules and writes; it answers (status, JSON).
4. A database constraint broken inside the savepoint rolls back this record alone and is
   answered 422 `record_rejected` (in a sync batch: this record `invalid`, the others go on).
   A storage failure is no fault of the record: the request fails whole (503) and the phone
   keeps all of it.

docs/architecture.md walks one record through it; docs/sync.md is the phone's side.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlite_utils
from flask import g, has_request_context, jsonify, request

from .db import first_row, write_transaction
from .errors import ApiError, field_error, validate
from .timeutil import now_utc, parse_time

# A device clock this far off the server's is not trusted for the record's time.
MAX_CLOCK_AHEAD = timedelta(minutes=10)
# Fields that say how a record travelled, not what it says: a retry may differ in them.
LEFT_OUT_OF_HASH = frozenset({"id", "device_id"})
# The live routes' status codes for the answers of store().
STATUS_CODES = {"created": 201, "duplicate": 200, "repeat": 200}


def trusted_time(record: dict) -> datetime:
    """The time to count the record at. A record is flagged, not refused, when the phone's
    clock is wrong: its claimed recorded_at is kept as sent beside received_at, and refusing
    it would leave it stuck in the outbox of a phone the cadre cannot fix.

    In a sync batch that said when it was sent, a phone clock off by more than the skew is
    corrected by that offset (a phone two days behind still counts today's visit today);
    otherwise a time ahead of the server's beyond the skew is replaced by the server's.
    (docs/field-lessons.md#clock-skew)"""
    recorded = parse_time(record["recorded_at"])
    now = now_utc()
    offset = g.get("clock_offset") if has_request_context() else None
    if offset is not None:
        return min(recorded + offset, now)
    return now if recorded - now > MAX_CLOCK_AHEAD else recorded


def content_hash(user_id: int, record: dict) -> str:
    """Hash of the canonical record content and its author: same id + same hash is a retry."""
    fields = {k: v for k, v in record.items() if k not in LEFT_OUT_OF_HASH}
    canonical = json.dumps({"user": user_id, **fields}, sort_keys=True, ensure_ascii=False,
                           separators=(",", ":"))
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class Incoming:
    """A validated record about to be stored, with the facts the protocol adds to it."""

    record: dict
    user_id: int
    device_id: str | None
    digest: str
    trusted: datetime   # when it counts (trusted_time)
    received: datetime

    @classmethod
    def of(cls, user_id: int, record: dict, device_id: str | None = None,
           hashed: dict | None = None) -> Incoming:
        """`hashed`: the content to hash when a type keeps an older canonical form (check-ins)."""
        return cls(record=record, user_id=user_id, device_id=device_id,
                   digest=content_hash(user_id, record if hashed is None else hashed),
                   trusted=trusted_time(record), received=now_utc())

    @property
    def id(self) -> str:
        return self.record["id"]

    @property
    def clock_flag(self) -> bool:
        """The phone's time was not taken as it was sent."""
        return self.trusted != parse_time(self.record["recorded_at"])


@dataclass(frozen=True)
class Earlier:
    """What a record's id already names: its author, its content hash, how to show it, and
    what a same-content retry is answered (`duplicate`; a kept stale edit stays `conflict`;
    a repeat scan is `repeat`)."""

    user_id: int
    digest: str
    show: Callable[[], dict]
    same: str = "duplicate"


Lookup = Callable[[sqlite_utils.Database, str], "Earlier | None"]


def answer_earlier(earlier: Earlier, incoming: Incoming) -> tuple[str, dict]:
    """The one place that compares content hashes."""
    if earlier.user_id != incoming.user_id:
        raise id_taken()
    status = earlier.same if earlier.digest == incoming.digest else "conflict"
    return status, earlier.show()


def id_taken() -> ApiError:
    """Another account's record has this id: refused without showing it."""
    return ApiError(409, "id_taken", fields=[field_error("/id", "id_taken", "unique")])


def store(db: sqlite_utils.Database, incoming: Incoming, earlier: Lookup | None,
          create: Callable[[], tuple[str, dict]]) -> tuple[str, dict]:
    """The record protocol (module docstring): look up the id, answer a retry, or create.

    Runs in one BEGIN IMMEDIATE transaction, or a savepoint of the caller's (a sync batch, the
    group-commit writer), so that a failure rolls back this record alone.
    """
    try:
        with write_transaction(db):
            found = earlier(db, incoming.id) if earlier is not None else None
            if found is not None:
                return answer_earlier(found, incoming)
            return create()
    except (sqlite3.IntegrityError, sqlite3.DataError) as error:
        # What this record holds broke a rule of the database: refuse it alone. A storage
        # failure (OperationalError: disk full, read-only, lock not granted) is not the record's
        # fault and fails the whole request with 503, so the phone keeps everything.
        raise rejected(error) from None


def rejected(error: sqlite3.DatabaseError) -> ApiError:
    """A constraint the checks before it missed (two new residents with one id): the record is
    refused whole, nothing of it is stored, and the message says which rule."""
    rule = str(error).split(":")[0].strip().lower().replace(" constraint failed", "") or "constraint"
    return ApiError(422, "record_rejected", fields=[field_error("", "record_rejected", rule)])


def by_id(table: str, show: Callable[[sqlite_utils.Database, dict], dict],
          author: str = "user_id") -> Lookup:
    """The usual lookup: the row of `table` with the id, its `author` column and payload_hash."""
    sql = f"SELECT * FROM {table} WHERE id = ?"

    def lookup(db: sqlite_utils.Database, record_id: str) -> Earlier | None:
        row = first_row(db, sql, [record_id])
        if row is None:
            return None
        return Earlier(row[author], row["payload_hash"], lambda: show(db, row))
    return lookup


def earlier_edit(entity: str, show: Callable[[sqlite_utils.Database, str], dict]) -> Lookup:
    """The lookup for edits of a versioned registry (households, residents, isolation cases):
    the edit's row in registry_history. A retry of an applied edit is a duplicate, of a stale
    one (kept, never applied) a conflict again, however often it is sent. `show(db, entity_id)`
    gives the registry's current copy."""

    def lookup(db: sqlite_utils.Database, edit_id: str) -> Earlier | None:
        done = first_row(db, "SELECT entity, entity_id, user_id, payload_hash, status "
                             "FROM registry_history WHERE id = ?", [edit_id])
        if done is None:
            return None
        if done["entity"] != entity:
            raise id_taken()  # the id of an edit of another kind of record
        return Earlier(done["user_id"], done["payload_hash"], lambda: show(db, done["entity_id"]),
                       same="duplicate" if done["status"] == "applied" else "conflict")
    return lookup


# --- the live routes' side --------------------------------------------------------------------

def answer(status: str, data: dict, key: str):
    """A live route's answer for store()'s result; a conflict is a 409 with the stored copy."""
    if status == "conflict":
        raise ApiError(409, "conflict", extra={"stored": data})
    return jsonify({"status": status, key: data}), STATUS_CODES[status]


def with_id(body: object) -> object:
    """Office forms may leave the record's id and time to the server; phones always send them."""
    if isinstance(body, dict):
        body.setdefault("id", str(uuid.uuid4()))
        body.setdefault("recorded_at", now_utc().isoformat())
    return body


def record_body(schema: str, **extra) -> dict:
    """The request's JSON record, with `extra` fields from the URL, validated against
    schemas/<schema>.json (an office form's missing id and time filled in first)."""
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise ApiError(400, "invalid_json")
    return validate(schema, with_id({**body, **extra}))
