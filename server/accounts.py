"""Accounts seen from outside: staff end a user's sessions or unlock a login, and the
committee hears of repeated failed logins on its accounts.

Above auth.py and notices.py, which may not import each other (docs/architecture.md): auth
sends `login_failed`, this module turns it into a notice.
"""

from __future__ import annotations

import time
from datetime import timedelta

import sqlite_utils
from flask import Blueprint, current_app, jsonify, session
from flask_login import current_user

from . import auth, notices
from .audit import audit
from .db import get_db, write_transaction
from .errors import ApiError
from .i18n import t
from .scope import assigned_community_ids, in_staff_scope, mask_phone, require_role
from .timeutil import now_utc

bp = Blueprint("accounts", __name__)


def places_of(db: sqlite_utils.Database, user_id: int) -> list[int]:
    """The places an account belongs to: its own (committee, admin), the communities it is
    assigned to today (cadre, leader), its enterprise's community (enterprise contact)."""
    own = db.execute(
        """SELECT u.place_id, e.community_id FROM users u
           LEFT JOIN enterprises e ON e.id = u.enterprise_id WHERE u.id = ?""",
        [user_id]).fetchone()
    found = [p for p in (own or ()) if p is not None]
    return found + sorted(assigned_community_ids(db, user_id) - set(found))


def communities_of(db: sqlite_utils.Database, user_id: int) -> list[int]:
    return [p for p in places_of(db, user_id) if db.execute(
        "SELECT 1 FROM places WHERE id = ? AND kind = 'community'", [p]).fetchone()]


def account_in_scope(db: sqlite_utils.Database, user_id: int) -> dict:
    """The account, if the current staff user may act on it: 404 unknown, 403 out of scope.
    An admin of the tree's root reaches every account, as the audit search does."""
    row = db.execute("SELECT id, phone, name FROM users WHERE id = ?", [user_id]).fetchone()
    if row is None:
        raise ApiError(404, "not_found")
    place = current_user.place
    root_admin = current_user.role == "admin" and place is not None and place["parent_id"] is None
    if not root_admin and not any(in_staff_scope(db, current_user, p)
                                  for p in places_of(db, user_id)):
        raise ApiError(403, "forbidden")
    return {"id": row[0], "phone": row[1], "name": row[2]}


# --- the committee hears of failed logins --------------------------------------------------------

@auth.login_failed.connect
def tell_committee(_app, user_id: int, failures: int, **_extra) -> None:
    """From LOGIN_NOTIFY_FAILURES failures in the window on, one notice per account, community
    and window to the committee of each community the account belongs to."""
    config = current_app.config
    if failures < config["LOGIN_NOTIFY_FAILURES"]:
        return
    db = get_db()
    phone, name = db.execute("SELECT phone, name FROM users WHERE id = ?", [user_id]).fetchone()
    window = config["LOGIN_WINDOW_SECONDS"]
    bucket = int(time.time() // window)
    minutes = max(1, round(window / 60))
    for community_id in communities_of(db, user_id):
        notices.insert_notice(
            db, kind="login_failures", urgency="high", link="/#/community",
            place_id=community_id, dedupe_key=f"login_failures:{user_id}:{community_id}:{bucket}",
            target={"auto": "login_failures", "user_id": user_id},
            title=t("notice_login_failures_title", lang="zh", who=name),
            body=t("notice_login_failures_body", lang="zh", who=name, phone=mask_phone(phone),
                   minutes=minutes, count=failures),
            recipients=("SELECT id FROM users WHERE role = 'committee' AND place_id = ?",
                        [community_id]),
            expires_at=now_utc() + timedelta(days=1))


# --- routes -------------------------------------------------------------------------------------

@bp.post("/api/users/<int:user_id>/sessions/end")
@require_role("committee", "admin")
def end_user_sessions(user_id: int):
    """A lost phone: every session of the account ends (the caller's own current one stays)."""
    db = get_db()
    account = account_in_scope(db, user_id)
    keep = session.get(auth.SESSION_KEY) if user_id == current_user.id else None
    with write_transaction(db):
        ended = auth.end_sessions(db, account["id"], keep=keep)
        audit(db, "end_sessions", f"user:{account['id']}", f"{ended} ended")
    return jsonify({"ended": ended})


@bp.post("/api/users/<int:user_id>/unlock")
@require_role("committee", "admin")
def unlock(user_id: int):
    """Forget the account's failed logins from every address and phone."""
    db = get_db()
    account = account_in_scope(db, user_id)
    with write_transaction(db):
        cleared = auth.clear_failures(db, account["phone"])
        audit(db, "unlock", f"user:{account['id']}", f"{cleared} failures cleared")
    return jsonify({"failures_cleared": cleared})
