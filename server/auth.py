"""Accounts, login and logout, and throttling of failed attempts.

The roles and every permission check live in server/scope.py.
"""

from __future__ import annotations

import re
import time

import sqlite_utils
from flask import Blueprint, current_app, jsonify, redirect, request, session, url_for
from flask_login import LoginManager, current_user, login_user, logout_user
from flask_wtf.csrf import generate_csrf
from werkzeug.security import check_password_hash, generate_password_hash

from . import places
from .audit import audit
from .db import get_db
from .errors import ApiError, json_body
from .scope import ROLES, User, require_role
from .settings import deployment_mode
from .timeutil import now_utc, utc_text

PHONE_RE = re.compile(r"^1[3-9]\d{9}$")

bp = Blueprint("auth", __name__)
login_manager = LoginManager()

# Compared against when the phone is unknown, so a wrong phone costs as much time as a wrong
# password and the answer's timing does not tell which phones have accounts.
_DUMMY_HASH = generate_password_hash("not a password of anyone")


def create_user(
    db: sqlite_utils.Database,
    phone: str,
    name: str,
    password: str,
    role: str,
    place_id: int | None = None,
    home_unit: str = "",
    specialty: str = "",
    party_member: bool = False,
    enterprise_id: int | None = None,
) -> int:
    """Add an account; committee accounts need a community, admins any node, enterprise
    contacts their enterprise (and no place)."""
    if not PHONE_RE.match(phone):
        raise ValueError(f"not a mainland mobile number: {phone!r}")
    if role not in ROLES:
        raise ValueError(f"unknown role {role!r}")
    if len(password) < 8:
        raise ValueError("passwords have at least 8 characters")
    place = places.get_place(db, place_id)
    if role == "committee" and (place is None or place["kind"] != "community"):
        raise ValueError("a committee account belongs to a community")
    if role == "admin" and place is None:
        raise ValueError("an admin account belongs to a node of the tree")
    if (role == "enterprise") != (enterprise_id is not None):
        raise ValueError("an enterprise contact, and only one, belongs to an enterprise")
    if enterprise_id is not None and place_id is not None:
        raise ValueError("an enterprise contact is scoped by its enterprise, not a place")
    return db.execute(
        """INSERT INTO users (phone, name, password_hash, role, place_id, home_unit_id,
                              specialty, party_member, created_at, enterprise_id)
           VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)""",
        [phone, name, generate_password_hash(password), role, place_id,
         places.home_unit_id(db, home_unit), specialty, int(party_member), utc_text(now_utc()),
         enterprise_id],
    ).lastrowid


def load_user_by_id(db: sqlite_utils.Database, user_id: int) -> User | None:
    rows = list(db.query("SELECT * FROM users WHERE id = ? AND active = 1", [user_id]))
    if not rows:
        return None
    enterprise = None
    if rows[0].get("enterprise_id") is not None:
        enterprise = next(db.query("SELECT id, name, community_id FROM enterprises WHERE id = ?",
                                   [rows[0]["enterprise_id"]]), None)
    return User(rows[0], places.get_place(db, rows[0]["place_id"]), enterprise)


@login_manager.user_loader
def _load_user(user_id: str) -> User | None:
    return load_user_by_id(get_db(), int(user_id))


@login_manager.unauthorized_handler
def _unauthorized():
    if request.path.startswith("/api/"):
        raise ApiError(401, "login_required")
    return redirect(url_for("pwa.index"))


# --- throttling -------------------------------------------------------------------------------

def _failures(db: sqlite_utils.Database, key: str, window: float) -> int:
    return db.execute(
        "SELECT count(*) FROM login_failures WHERE key = ? AND at > ?", [key, time.time() - window]
    ).fetchone()[0]


def check_throttle(db: sqlite_utils.Database, keys: dict[str, int]) -> None:
    """429 when any key (e.g. 'phone:…' → limit) had too many failures in the window."""
    window = current_app.config["LOGIN_WINDOW_SECONDS"]
    for key, limit in keys.items():
        if _failures(db, key, window) >= limit:
            minutes = max(1, round(window / 60))
            raise ApiError(429, "too_many_attempts", headers={"Retry-After": str(int(window))},
                           minutes=minutes)


def record_failure(db: sqlite_utils.Database, *keys: str) -> None:
    now = time.time()
    with db.atomic():
        # Old rows are useless; drop them as we go so the table stays small.
        db.execute("DELETE FROM login_failures WHERE at < ?",
                   [now - current_app.config["LOGIN_WINDOW_SECONDS"]])
        for key in keys:
            db.execute("INSERT INTO login_failures (key, at) VALUES (?, ?)", [key, now])


def client_address() -> str:
    return request.remote_addr or ""


# --- routes -----------------------------------------------------------------------------------

def _session_json():
    user = current_user.to_json() if current_user.is_authenticated else None
    return jsonify({"user": user, "csrf_token": generate_csrf(),
                    "mode": deployment_mode(get_db())})


@bp.get("/api/session")
def session_get():
    return _session_json()


@bp.post("/api/session")
def session_login():
    # Exempt from the CSRF token (scripts log in with one POST), but only JSON is read, and a
    # cross-site form cannot send application/json without a CORS preflight we never allow.
    body = json_body("login")
    db = get_db()
    phone, address = body["phone"].strip(), client_address()
    config = current_app.config
    check_throttle(db, {f"phone:{phone}": config["LOGIN_MAX_PER_ACCOUNT"],
                        f"addr:{address}": config["LOGIN_MAX_PER_ADDRESS"]})
    rows = list(db.query("SELECT * FROM users WHERE phone = ? AND active = 1", [phone]))
    stored_hash = rows[0]["password_hash"] if rows else _DUMMY_HASH
    if not check_password_hash(stored_hash, body["password"]) or not rows:
        record_failure(db, f"phone:{phone}", f"addr:{address}")
        raise ApiError(401, "bad_credentials")
    # A fresh session on login: nothing chosen before login (a planted cookie) carries over.
    session.clear()
    user = load_user_by_id(db, rows[0]["id"])
    login_user(user)
    session.permanent = True
    audit(db, "login", f"user:{user.id}")
    return _session_json()


@bp.delete("/api/session")
def session_logout():
    if current_user.is_authenticated:
        audit(get_db(), "logout", f"user:{current_user.id}")
    logout_user()
    session.clear()
    return _session_json()


@bp.post("/api/session/password")
@require_role(*ROLES)
def change_password():
    body = json_body("change_password")
    db = get_db()
    row = db.execute("SELECT password_hash FROM users WHERE id = ?", [current_user.id]).fetchone()
    check_throttle(db, {f"phone:{current_user.phone}": current_app.config["LOGIN_MAX_PER_ACCOUNT"]})
    if not check_password_hash(row[0], body["old_password"]):
        record_failure(db, f"phone:{current_user.phone}")
        raise ApiError(403, "wrong_password",
                       fields=[{"path": "/old_password", "message": ApiError(403, "wrong_password").message}])
    with db.atomic():
        db.execute("UPDATE users SET password_hash = ? WHERE id = ?",
                   [generate_password_hash(body["new_password"]), current_user.id])
        audit(db, "update", f"user:{current_user.id}", "password")
    return jsonify({"ok": True})


def init_app(app) -> None:
    login_manager.init_app(app)
    app.register_blueprint(bp)
