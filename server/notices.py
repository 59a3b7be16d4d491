"""Notices (通知): who gets them, the inbox, read marks, the sender's report, automatic notices.

A notice's recipients are resolved when it is sent, with one INSERT ... SELECT, and one more
queues a push per subscription of each recipient; the push worker (push.py) does the rest.
The inbox is a delivery path of its own (Chrome's push service is unreachable from mainland
China, iOS pushes only to home-screen apps): fetching it marks the notice as arrived.
`store_notice_read` is the one path for a read mark, live or through /api/sync.
"""

from __future__ import annotations

import json
import uuid
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import sqlite_utils
from flask import Blueprint, current_app, has_app_context, jsonify, request
from flask_login import current_user

from . import places, records
from .audit import audit
from .db import get_db, write_transaction
from .errors import ApiError, fail, field_error, json_body, query_int
from .i18n import t
from .records import Incoming
from .schedule import SLOT_DEADLINES, schedule, visits_of
from .scope import ROLES, User, require_role, scope_paths
from .timeutil import now_utc, utc_text

bp = Blueprint("notices", __name__)

DEFAULTS = {"NOTICE_DEFAULT_HOURS": 72, "NOTICE_MAX_DAYS": 30, "OVERDUE_REMINDER_MINUTES": 60,
            "TIMEZONE": "Asia/Shanghai"}


def _config(key: str):
    """App config when there is an app (cadres.assign also runs from scripts without one)."""
    return current_app.config.get(key, DEFAULTS[key]) if has_app_context() else DEFAULTS[key]


def _utc(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


# --- sending ------------------------------------------------------------------------------------

def insert_notice(db: sqlite_utils.Database, *, title: str, body: str, recipients: tuple[str, list],
                  expires_at: datetime, kind: str = "manual", urgency: str = "normal",
                  link: str | None = None, sender_id: int | None = None,
                  place_id: int | None = None, target: dict | None = None,
                  notice_id: str | None = None, dedupe_key: str | None = None) -> str | None:
    """Store a notice, resolve its recipients (`recipients`: SQL selecting user ids, params)
    and queue its pushes. Returns the id, or None when `dedupe_key` was already used."""
    notice_id = notice_id or str(uuid.uuid4())
    sql, params = recipients
    stamp = utc_text(now_utc())
    with write_transaction(db):
        inserted = db.execute(
            """INSERT OR IGNORE INTO notices (id, sender_id, place_id, kind, title, body, urgency,
                   link, target, created_at, expires_at, dedupe_key)
               VALUES (?,?,?,?,?,?,?,?,?,?,?,?)""",
            [notice_id, sender_id, place_id, kind, title, body, urgency, link,
             json.dumps(target or {}, ensure_ascii=False), stamp, utc_text(expires_at),
             dedupe_key]).rowcount
        if not inserted:
            return None
        db.execute(f"""INSERT OR IGNORE INTO notice_recipients (notice_id, user_id)
                       SELECT ?, u.id FROM users u WHERE u.active = 1 AND u.id IN ({sql})""",
                   [notice_id, *params])
        db.execute(
            """INSERT INTO push_deliveries (notice_id, user_id, subscription_id, endpoint,
                   next_attempt_at, created_at, updated_at)
               SELECT r.notice_id, r.user_id, s.id, s.endpoint, 0, ?, ?
               FROM notice_recipients r JOIN push_subscriptions s ON s.user_id = r.user_id
               WHERE r.notice_id = ?""", [stamp, stamp, notice_id])
    return notice_id


def _below(path: str) -> list[str]:
    return [path, path + "\uffff"]  # a range scan on places.path, as places.subtree does


def cadres_below(path: str, day: str) -> tuple[str, list]:
    """SQL selecting the cadres (and team leaders) assigned to the communities and grids at or
    below the node at `path`, today or later."""
    return ("""SELECT a.user_id FROM assignments a JOIN places p ON p.id = a.community_id
               WHERE p.path >= ? AND p.path < ? AND (a.ends_on IS NULL OR a.ends_on >= ?)
               UNION SELECT g.user_id FROM grid_assignments g JOIN places p ON p.id = g.grid_id
               WHERE p.path >= ? AND p.path < ?""", [*_below(path), day, *_below(path)])


def _today() -> str:
    return now_utc().astimezone(ZoneInfo(_config("TIMEZONE"))).date().isoformat()


def resolve_target(db: sqlite_utils.Database, sender: User, target: dict) -> tuple[str, list, int]:
    """(SQL selecting the recipients, its params, the place the notice concerns).

    A committee reaches its community; an admin any node below its own, a team there, a role
    there, or named people working there. Anything else is 403.
    """
    scopes = scope_paths(db, sender)
    day = _today()

    def within(place: dict | None) -> bool:
        return place is not None and any(places.is_within(place, p) for p in scopes)

    if target.get("user_ids"):
        ids = list(dict.fromkeys(target["user_ids"]))
        reachable = set()
        for path in scopes:
            sql, params = cadres_below(path, day)
            reachable |= {r[0] for r in db.execute(
                f"""SELECT id FROM users WHERE id IN (SELECT value FROM json_each(?)) AND (
                        id IN ({sql}) OR place_id IN (SELECT id FROM places
                                                      WHERE path >= ? AND path < ?))""",
                [json.dumps(ids), *params, *_below(path)])}
        bad = [field_error(f"/target/user_ids/{i}", "forbidden", "jurisdiction")
               for i, user_id in enumerate(target["user_ids"]) if user_id not in reachable]
        if bad:
            raise ApiError(403, "forbidden", fields=bad)
        return "SELECT value FROM json_each(?)", [json.dumps(ids)], sender.place["id"]
    if target.get("team_id") is not None:
        team = db.execute("SELECT community_id FROM teams WHERE id = ?",
                          [target["team_id"]]).fetchone()
        if team is None:
            raise fail(404, "not_found", "/target/team_id", "exists")
        if not within(places.get_place(db, team[0])):
            raise fail(403, "forbidden", "/target/team_id", "jurisdiction")
        return ("""SELECT user_id FROM assignments WHERE team_id = ?
                   AND (ends_on IS NULL OR ends_on >= ?)
                   UNION SELECT leader_id FROM teams WHERE id = ?""",
                [target["team_id"], day, target["team_id"]], team[0])
    place = places.get_place(db, target.get("place_id", sender.place["id"]))
    if place is None:
        raise fail(404, "not_found", "/target/place_id", "exists")
    if not within(place):
        raise fail(403, "forbidden", "/target/place_id", "jurisdiction")
    sql, params = cadres_below(place["path"], day)
    role = target.get("role")
    if role in ("cadre", "leader"):
        sql, params = f"SELECT id FROM users WHERE role = ? AND id IN ({sql})", [role, *params]
    elif role in ("committee", "admin"):
        sql, params = ("""SELECT id FROM users WHERE role = ? AND id != ? AND place_id IN (
                              SELECT id FROM places WHERE path >= ? AND path < ?)""",
                       [role, sender.id, *_below(place["path"])])
    return sql, params, place["id"]


def safe_link(link: str) -> bool:
    """A path in this app ('/#/dashboard/3'), never another site ('//x', '/\\x', 'https:')."""
    return (link.startswith("/") and not link.startswith(("//", "/\\"))
            and not any(c.isspace() or c == "\\" or ord(c) < 32 for c in link))


def send_notice(db: sqlite_utils.Database, sender: User, body: dict) -> tuple[str, dict]:
    """A notice written by committee or admin staff: ('created' | 'duplicate', its report)."""
    now = now_utc()
    if body.get("expires_at"):
        expires = datetime.fromisoformat(body["expires_at"])
        if expires <= now or expires - now > timedelta(days=_config("NOTICE_MAX_DAYS")):
            raise ApiError(422, "invalid", fields=[field_error(
                "/expires_at", "notice_expiry", "range", days=_config("NOTICE_MAX_DAYS"))])
    else:
        expires = now + timedelta(hours=_config("NOTICE_DEFAULT_HOURS"))
    link = body.get("link")
    if link is not None and not safe_link(link):
        raise ApiError(422, "invalid", fields=[field_error("/link", "rule_pattern", "pattern")])
    target = body.get("target") or {}
    sql, params, place_id = resolve_target(db, sender, target)
    with write_transaction(db):
        if body.get("id"):
            existing = db.execute("SELECT sender_id FROM notices WHERE id = ?",
                                  [body["id"]]).fetchone()
            if existing is not None:  # a retried send: the first one stands
                if existing[0] != sender.id:
                    raise ApiError(409, "conflict")
                return "duplicate", notice_report(db, body["id"])
        count = db.execute(f"SELECT count(*) FROM users WHERE active = 1 AND id IN ({sql})",
                           params).fetchone()[0]
        if count == 0:
            raise ApiError(422, "no_recipients", fields=[field_error(
                "/target", "no_recipients", "recipients")])
        notice_id = insert_notice(
            db, title=body["title"], body=body.get("body", ""), recipients=(sql, params),
            expires_at=expires, urgency=body.get("urgency", "normal"), link=link,
            sender_id=sender.id, place_id=place_id, target=target, notice_id=body.get("id"))
        audit(db, "create", f"notice:{notice_id}", f"{count} recipients")
        return "created", notice_report(db, notice_id)


# --- reading ------------------------------------------------------------------------------------

def notice_json(row: dict) -> dict:
    data = {k: row[k] for k in ("id", "kind", "title", "body", "urgency", "link", "created_at",
                                "expires_at", "place_id")}
    data["sender"] = ({"id": row["sender_id"], "name": row.get("sender_name")}
                      if row["sender_id"] else None)
    if "read_at" in row:
        data["read_at"] = row["read_at"]
    return data


def inbox(db: sqlite_utils.Database, user_id: int, limit: int = 200) -> list[dict]:
    """The user's notices not yet expired, unread first, newest first; fetching them counts
    as their arrival by the inbox (what the sender sees when push could not reach)."""
    stamp = utc_text(now_utc())
    rows = list(db.query(
        """SELECT n.*, u.name AS sender_name, r.read_at, r.fetched_at
           FROM notice_recipients r JOIN notices n ON n.id = r.notice_id
           LEFT JOIN users u ON u.id = n.sender_id
           WHERE r.user_id = ? AND n.expires_at > ?
           ORDER BY r.read_at IS NOT NULL, n.created_at DESC, n.id LIMIT ?""",
        [user_id, stamp, limit]))
    unfetched = [r["id"] for r in rows if r["fetched_at"] is None]
    if unfetched:  # written only when something arrived: polling the inbox stays a read
        with write_transaction(db):
            db.conn.executemany(
                "UPDATE notice_recipients SET fetched_at = ?, state = 'sent' "
                "WHERE notice_id = ? AND user_id = ? AND fetched_at IS NULL",
                [(stamp, notice_id, user_id) for notice_id in unfetched])
    return [notice_json(r) for r in rows]


def store_notice_read(db: sqlite_utils.Database, user: User, record: dict,
                      device_id: str | None) -> tuple[str, dict]:
    """A read mark (live or from the phone's outbox): created, or duplicate if already read.

    Kept per (notice, reader), not by the mark's own id: reading twice is one read."""
    incoming = Incoming.of(user.id, record, device_id)
    recorded = incoming.trusted

    def create() -> tuple[str, dict]:
        row = next(db.query(
            """SELECT n.*, u.name AS sender_name, r.read_at FROM notice_recipients r
               JOIN notices n ON n.id = r.notice_id LEFT JOIN users u ON u.id = n.sender_id
               WHERE r.notice_id = ? AND r.user_id = ?""", [record["notice_id"], user.id]), None)
        if row is None:
            raise fail(404, "notice_unknown", "/notice_id", "exists")
        if row["read_at"]:
            return "duplicate", notice_json(row)
        read_at = utc_text(min(recorded, now_utc()))
        db.execute(
            """UPDATE notice_recipients SET read_at = ?, read_device_id = ?, state = 'sent',
                   fetched_at = coalesce(fetched_at, ?) WHERE notice_id = ? AND user_id = ?""",
            [read_at, device_id, read_at, record["notice_id"], user.id])
        return "created", notice_json({**row, "read_at": read_at})

    return records.store(db, incoming, None, create)


def may_see_report(db: sqlite_utils.Database, user: User, notice: dict) -> bool:
    """The sender, and committee/admin staff whose jurisdiction holds the notice's place."""
    if notice["sender_id"] == user.id:
        return True
    place = places.get_place(db, notice["place_id"])
    return (user.role in ("committee", "admin") and place is not None
            and any(places.is_within(place, p) for p in scope_paths(db, user)))


def notice_report(db: sqlite_utils.Database, notice_id: str) -> dict:
    """The notice, and per recipient: delivery state, how it arrived, when it was read."""
    notice = next(db.query("""SELECT n.*, u.name AS sender_name FROM notices n
                              LEFT JOIN users u ON u.id = n.sender_id WHERE n.id = ?""",
                           [notice_id]))
    pushes: dict[int, dict] = {}
    for user_id, state, count in db.execute(
            """SELECT user_id, state, count(*) FROM push_deliveries WHERE notice_id = ?
               GROUP BY user_id, state""", [notice_id]):
        pushes.setdefault(user_id, {})[state] = count
    recipients = []
    for r in db.query("""SELECT r.*, u.name FROM notice_recipients r JOIN users u
                         ON u.id = r.user_id WHERE r.notice_id = ? ORDER BY r.read_at IS NULL,
                         u.name""", [notice_id]):
        via = [name for name, at in (("push", r["pushed_at"]), ("inbox", r["fetched_at"])) if at]
        recipients.append({"user": {"id": r["user_id"], "name": r["name"]}, "state": r["state"],
                           "via": via, "pushed_at": r["pushed_at"], "fetched_at": r["fetched_at"],
                           "read_at": r["read_at"], "push": pushes.get(r["user_id"], {})})
    summary = {"recipients": len(recipients),
               "read": sum(1 for r in recipients if r["read_at"]),
               "by_push": sum(1 for r in recipients if "push" in r["via"]),
               "by_inbox": sum(1 for r in recipients if "inbox" in r["via"]),
               "not_arrived": sum(1 for r in recipients if not r["via"]),
               "states": {s: sum(1 for r in recipients if r["state"] == s)
                          for s in ("queued", "sent", "failed", "gone")}}
    return {**notice_json(notice), "target": json.loads(notice["target"]), "summary": summary,
            "recipients": recipients}


# --- automatic notices --------------------------------------------------------------------------

def _committee_of(community_id: int) -> tuple[str, list]:
    return ("SELECT id FROM users WHERE role = 'committee' AND place_id = ?", [community_id])


def alert_committee(db: sqlite_utils.Database, community_id: int, who: str,
                    reasons: list[str], link: str, dedupe_key: str) -> str | None:
    """Fever or symptoms found in a visit: an urgent notice to the community's committee."""
    return insert_notice(
        db, kind="health_alert", urgency="high", link=link, place_id=community_id,
        title=t("notice_health_title", lang="zh", who=who),
        body=t("notice_health_body", lang="zh", who=who, reasons="、".join(reasons)),
        recipients=_committee_of(community_id), expires_at=now_utc() + timedelta(days=3),
        dedupe_key=dedupe_key, target={"auto": "health_alert"})


def notify_assignment(db: sqlite_utils.Database, assignment_id: int, user_id: int,
                      community: dict, starts_on: str) -> str | None:
    """A new assignment tells the cadre where and from when."""
    return insert_notice(
        db, kind="assignment", link="/#/", place_id=community["id"],
        title=t("notice_assignment_title", lang="zh", community=community["name"]),
        body=t("notice_assignment_body", lang="zh", community=community["name"],
               starts_on=starts_on),
        recipients=("SELECT ?", [user_id]), expires_at=now_utc() + timedelta(days=7),
        dedupe_key=f"assignment:{assignment_id}", target={"auto": "assignment"})


def slot_deadline(day: str, slot: str, zone: str) -> datetime:
    """When a visit slot turns overdue (schedule.SLOT_DEADLINES; None: the day's end)."""
    deadline = SLOT_DEADLINES.get(slot)
    start = datetime.fromisoformat(day).replace(tzinfo=ZoneInfo(zone))
    if deadline is None:
        return start + timedelta(days=1)
    return start.replace(hour=deadline.hour, minute=deadline.minute)


def remind_overdue(db: sqlite_utils.Database, now: datetime) -> int:
    """Remind the cadres of each isolation visit overdue by OVERDUE_REMINDER_MINUTES: one
    reminder per case, day and slot, however often this runs. Slots overdue for more than a
    day are left to the task list (a first run must not flood phones with old slots)."""
    zone = _config("TIMEZONE")
    grace = timedelta(minutes=_config("OVERDUE_REMINDER_MINUTES"))
    sent = 0
    for case in db.query("""SELECT c.*, r.name AS resident_name FROM isolation_cases c
                            JOIN residents r ON r.id = c.resident_id WHERE c.status = 'open'"""):
        for entry in schedule(case, visits_of(db, case["id"]), now, zone):
            if entry["status"] != "overdue":
                continue
            late = now - slot_deadline(entry["day"], entry["slot"], zone)
            key = f"overdue:{case['id']}:{entry['day']}:{entry['slot']}"
            if not grace <= late < grace + timedelta(days=1) or db.execute(
                    "SELECT 1 FROM notices WHERE dedupe_key = ?", [key]).fetchone():
                continue
            slot = t(f"slot_{entry['slot']}", lang="zh")
            notice_id = insert_notice(
                db, kind="overdue_visit", urgency="high", link="/#/",
                place_id=case["community_id"], dedupe_key=key, target={"auto": "overdue_visit"},
                title=t("notice_overdue_title", lang="zh", who=case["resident_name"]),
                body=t("notice_overdue_body", lang="zh", who=case["resident_name"],
                       day=entry["day"], slot=slot),
                # The case's cadres; a case without any goes to the cadres of its grid.
                recipients=("""SELECT user_id FROM isolation_case_cadres WHERE case_id = ?
                               UNION SELECT g.user_id FROM grid_assignments g
                               JOIN households h ON h.grid_id = g.grid_id WHERE h.id = ?
                               AND NOT EXISTS (SELECT 1 FROM isolation_case_cadres
                                               WHERE case_id = ?)""",
                            [case["id"], case["household_id"], case["id"]]),
                expires_at=now + timedelta(hours=12))
            sent += notice_id is not None
    return sent


# --- routes -------------------------------------------------------------------------------------

@bp.post("/api/notices")
@require_role("committee", "admin")
def create_notice():
    status, report = send_notice(get_db(), current_user, json_body("notice"))
    return jsonify({"status": status, "notice": report}), 201 if status == "created" else 200


@bp.get("/api/notices")
@require_role("committee", "admin")
def list_notices():
    """Notices sent by the user or concerning places in their jurisdiction, newest first."""
    db = get_db()
    scopes = scope_paths(db, current_user)
    clauses = " OR ".join("p.path >= ? AND p.path < ?" for _ in scopes) or "0"
    rows = list(db.query(
        f"""SELECT n.*, u.name AS sender_name,
                   (SELECT count(*) FROM notice_recipients r WHERE r.notice_id = n.id) AS recipients,
                   (SELECT count(*) FROM notice_recipients r WHERE r.notice_id = n.id
                    AND r.read_at IS NOT NULL) AS read
            FROM notices n LEFT JOIN users u ON u.id = n.sender_id
            LEFT JOIN places p ON p.id = n.place_id
            WHERE n.sender_id = ? OR {clauses} ORDER BY n.created_at DESC LIMIT ?""",
        [current_user.id, *[v for s in scopes for v in _below(s)],
         min(query_int("limit", 100), 500)]))
    return jsonify({"notices": [{**notice_json(r), "recipients": r["recipients"],
                                 "read": r["read"]} for r in rows]})


@bp.get("/api/notices/<notice_id>")
@require_role()
def notice_detail(notice_id: str):
    db = get_db()
    notice = next(db.query("SELECT * FROM notices WHERE id = ?", [notice_id]), None)
    if notice is None:
        raise ApiError(404, "notice_unknown")
    if not may_see_report(db, current_user, notice):
        raise ApiError(403, "forbidden")
    return jsonify({"notice": notice_report(db, notice_id)})


@bp.get("/api/inbox")
@require_role(*ROLES)  # the enterprise contact too
def my_inbox():
    notices = inbox(get_db(), current_user.id)
    return jsonify({"notices": notices,
                    "unread": sum(1 for n in notices if not n["read_at"])})


@bp.post("/api/inbox/<notice_id>/read")
@require_role(*ROLES)  # the enterprise contact too
def mark_read(notice_id: str):
    body = request.get_json(silent=True) if request.content_length else None
    body = body if isinstance(body, dict) else {}
    record = {"id": str(uuid.uuid4()), "notice_id": notice_id,
              "recorded_at": now_utc().isoformat()}
    status, data = store_notice_read(get_db(), current_user, record, body.get("device_id"))
    return jsonify({"status": status, "notice": data})
