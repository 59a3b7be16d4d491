"""Accounts, login and logout, sessions the server can end, throttling of failed attempts,
and the password rule.

The roles and every permission check live in server/scope.py. Ending a user's sessions and
unlocking an account from outside (staff, the committee's notice) is server/accounts.py.
"""

from __future__ import annotations

import hashlib
import math
import re
import secrets
import time
from datetime import timedelta

import sqlite_utils
from blinker import Namespace
from flask import Blueprint, current_app, jsonify, redirect, request, session, url_for
from flask_login import LoginManager, current_user, login_user, logout_user
from flask_wtf.csrf import generate_csrf
from itsdangerous import BadSignature, URLSafeTimedSerializer
from werkzeug.security import check_password_hash, generate_password_hash
from zxcvbn import zxcvbn

from . import places
from .audit import audit
from .db import first_row, get_db, write_transaction
from .errors import ApiError, field_error, json_body, raise_if
from .i18n import t
from .scope import ROLES, User, require_role
from .settings import deployment_mode
from .timeutil import now_utc, utc_text

PHONE_RE = re.compile(r"^1[3-9]\d{9}$")

bp = Blueprint("auth", __name__)
login_manager = LoginManager()

# Sent after each failed login with the account's failures in the window, so that a module
# above both this one and notices.py (accounts.py) can tell the committee.
signals = Namespace()
login_failed = signals.signal("login-failed")

# Compared against when the phone is unknown, so a wrong phone costs as much time as a wrong
# password and the answer's timing does not tell which phones have accounts.
_DUMMY_HASH = generate_password_hash("not a password of anyone")


# --- the password rule --------------------------------------------------------------------------

# Frequent in Chinese password leaks and weighed too lightly by zxcvbn's English lists.
COMMON_PASSWORDS = (
    "woaini1314", "woaini520", "5201314", "5201314520", "520520520", "1314520", "woaini",
    "aini1314", "qq123456", "a123456", "a123456789", "aa123456", "abc123456", "147258369",
    "123456abc", "123qwe", "iloveyou", "31415926", "110110110", "asd123456", "zxcvbnm",
)
MIN_PASSWORD_LENGTH = 8
MIN_PASSWORD_SCORE = 2  # zxcvbn: at least ~10^6 guesses (docs/deploy.md#passwords)
ZXCVBN_MAX_LENGTH = 72  # what zxcvbn accepts; what lies beyond only makes a password stronger


def password_problem(password: str, *personal: str) -> str | None:
    """The i18n key of what is wrong with a new password, or None. `personal`: the account's
    phone and name, which a password must not be built from."""
    if len(password) < MIN_PASSWORD_LENGTH:
        return "password_short"
    inputs = [p for p in personal if p] + list(COMMON_PASSWORDS)
    if zxcvbn(password[:ZXCVBN_MAX_LENGTH], user_inputs=inputs)["score"] < MIN_PASSWORD_SCORE:
        return "password_weak"
    return None


def require_strong_password(path: str, password: str, *personal: str) -> None:
    """422 naming the field at `path` when `password` breaks the rule."""
    problem = password_problem(password, *personal)
    if problem:
        raise_if([field_error(path, problem, problem, limit=MIN_PASSWORD_LENGTH)])


def new_initial_password() -> str:
    """Eight random digits (easy to type on a phone) that the rule accepts: a random string can
    still look like a date or a run, which the rule refuses."""
    while True:
        password = "".join(secrets.choice("0123456789") for _ in range(8))
        if password_problem(password) is None:
            return password


# --- accounts -----------------------------------------------------------------------------------

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
    check_password: bool = True,
) -> int:
    """Add an account; committee accounts need a community, admins any node, enterprise
    contacts their enterprise (and no place). `check_password=False` only for the demo world,
    whose one published password the rule would refuse."""
    if not PHONE_RE.match(phone):
        raise ValueError(f"not a mainland mobile number: {phone!r}")
    if role not in ROLES:
        raise ValueError(f"unknown role {role!r}")
    if len(password) < MIN_PASSWORD_LENGTH:
        raise ValueError("passwords have at least 8 characters")
    if check_password and password_problem(password, phone, name):
        raise ValueError(f"{t('password_weak', lang='en')} / {t('password_weak', lang='zh')}")
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
    # On every request: first_row, without sqlite-utils' savepoint around each read.
    row = first_row(db, "SELECT * FROM users WHERE id = ? AND active = 1", [user_id])
    if row is None:
        return None
    enterprise = None
    if row.get("enterprise_id") is not None:
        enterprise = first_row(db, "SELECT id, name, community_id FROM enterprises WHERE id = ?",
                               [row["enterprise_id"]])
    return User(row, places.get_place(db, row["place_id"]), enterprise)


# --- sessions the server can end ----------------------------------------------------------------
# A row per login (migration 10). The signed cookie keeps Flask-Login's user id and our random
# token; the row keeps the token's SHA-256. Rows rather than a per-user generation: logout ends
# this phone's session alone, a password change all but the current one (docs/deploy.md#sessions).

SESSION_KEY = "sid"
TOUCH_EVERY = timedelta(hours=1)  # seen_at is written at most this often, not every request


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _lifetime() -> timedelta:
    return current_app.permanent_session_lifetime


def start_session(db: sqlite_utils.Database, user_id: int) -> str:
    """A new session row for `user_id`; returns the token for the cookie."""
    token = secrets.token_urlsafe(32)
    now = now_utc()
    with write_transaction(db):
        db.execute("DELETE FROM sessions WHERE seen_at < ?", [utc_text(now - _lifetime())])
        db.execute("INSERT INTO sessions (id, user_id, created_at, seen_at, address) "
                   "VALUES (?, ?, ?, ?, ?)",
                   [_digest(token), user_id, utc_text(now), utc_text(now), client_address()])
    return token


def session_alive(db: sqlite_utils.Database, token: object, user_id: int) -> bool:
    """The session row of `token` exists, is `user_id`'s, and was seen within the lifetime."""
    if not isinstance(token, str):
        return False
    row = db.execute("SELECT user_id, seen_at FROM sessions WHERE id = ?",
                     [_digest(token)]).fetchone()
    now = now_utc()
    if row is None or row[0] != user_id or row[1] < utc_text(now - _lifetime()):
        return False
    if row[1] < utc_text(now - TOUCH_EVERY):
        with write_transaction(db):
            db.execute("UPDATE sessions SET seen_at = ? WHERE id = ?",
                       [utc_text(now), _digest(token)])
    return True


def end_sessions(db: sqlite_utils.Database, user_id: int, keep: object = None) -> int:
    """End every session of `user_id` but the one of token `keep`; returns how many ended."""
    kept = _digest(keep) if isinstance(keep, str) else ""
    with write_transaction(db):
        return db.execute("DELETE FROM sessions WHERE user_id = ? AND id != ?",
                          [user_id, kept]).rowcount


def end_session(db: sqlite_utils.Database, token: object) -> None:
    if isinstance(token, str):
        with write_transaction(db):
            db.execute("DELETE FROM sessions WHERE id = ?", [_digest(token)])


@login_manager.user_loader
def _load_user(user_id: str) -> User | None:
    db = get_db()
    if not session_alive(db, session.get(SESSION_KEY), int(user_id)):
        return None  # logged out, password changed, or ended by staff: anonymous, 401 on the API
    return load_user_by_id(db, int(user_id))


@login_manager.unauthorized_handler
def _unauthorized():
    if request.path.startswith("/api/"):
        raise ApiError(401, "login_required")
    return redirect(url_for("pwa.index"))


# --- throttling -------------------------------------------------------------------------------
# Keys of login_failures: 'pair:<phone>|<address>' and 'device:<phone>|<nonce>' refuse one
# account from one address (or one known phone) for the window; 'phone:<phone>' and
# 'addr:<address>' only slow down, and never a phone the account logged in on before (its
# device cookie): an attacker cannot lock the owner out (docs/deploy.md#login-throttling).

DEVICE_COOKIE = "baodao_device"
DEVICE_COOKIE_DAYS = 365


def _failures(db: sqlite_utils.Database, key: str, window: float) -> int:
    return db.execute(
        "SELECT count(*) FROM login_failures WHERE key = ? AND at > ?", [key, time.time() - window]
    ).fetchone()[0]


def check_throttle(db: sqlite_utils.Database, keys: dict[str, int]) -> None:
    """429 when any key (e.g. 'pair:…' → limit) had too many failures in the window."""
    window = current_app.config["LOGIN_WINDOW_SECONDS"]
    for key, limit in keys.items():
        if _failures(db, key, window) >= limit:
            minutes = max(1, round(window / 60))
            raise ApiError(429, "too_many_attempts", headers={"Retry-After": str(int(window))},
                           minutes=minutes)


def check_slowdown(db: sqlite_utils.Database, keys: dict[str, int]) -> None:
    """429 for a key past its limit until a delay after its last failure has passed: 1 s,
    then doubling with each further failure, at most LOGIN_MAX_DELAY_SECONDS."""
    config = current_app.config
    since = time.time() - config["LOGIN_WINDOW_SECONDS"]
    for key, limit in keys.items():
        count, last = db.execute("SELECT count(*), max(at) FROM login_failures "
                                 "WHERE key = ? AND at > ?", [key, since]).fetchone()
        if count < limit:
            continue
        delay = min(config["LOGIN_MAX_DELAY_SECONDS"], 2.0 ** min(count - limit, 30))
        wait = last + delay - time.time()
        if wait > 0:
            seconds = math.ceil(wait)
            raise ApiError(429, "login_slowed", headers={"Retry-After": str(seconds)},
                           seconds=seconds)


def record_failure(db: sqlite_utils.Database, *keys: str) -> None:
    now = time.time()
    with db.atomic():
        # Old rows are useless; drop them as we go so the table stays small.
        db.execute("DELETE FROM login_failures WHERE at < ?",
                   [now - current_app.config["LOGIN_WINDOW_SECONDS"]])
        for key in keys:
            db.execute("INSERT INTO login_failures (key, at) VALUES (?, ?)", [key, now])


def clear_failures(db: sqlite_utils.Database, phone: str) -> int:
    """Unlock: forget the failures of `phone` from every address and phone."""
    ranges = [(f"{kind}:{phone}|", f"{kind}:{phone}|\uffff") for kind in ("pair", "device")]
    with write_transaction(db):
        return db.execute(
            """DELETE FROM login_failures WHERE key = ? OR (key >= ? AND key < ?)
               OR (key >= ? AND key < ?)""",
            [f"phone:{phone}", *ranges[0], *ranges[1]]).rowcount


def account_failures(db: sqlite_utils.Database, phone: str) -> int:
    return _failures(db, f"phone:{phone}", current_app.config["LOGIN_WINDOW_SECONDS"])


def client_address() -> str:
    return request.remote_addr or ""


def _device_signer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.secret_key, salt="login-device")


def known_device(phone: str) -> str | None:
    """The nonce of this browser's device cookie, if it was given at a login to `phone`."""
    value = request.cookies.get(DEVICE_COOKIE)
    if not value:
        return None
    try:
        data = _device_signer().loads(value, max_age=DEVICE_COOKIE_DAYS * 86400)
    except BadSignature:
        return None
    if not isinstance(data, dict) or data.get("phone") != phone:
        return None
    nonce = data.get("nonce")
    return nonce if isinstance(nonce, str) else None


def _set_device_cookie(response, phone: str, nonce: str | None) -> None:
    value = _device_signer().dumps({"phone": phone, "nonce": nonce or secrets.token_urlsafe(12)})
    response.set_cookie(DEVICE_COOKIE, value, max_age=DEVICE_COOKIE_DAYS * 86400, httponly=True,
                        samesite="Lax", secure=bool(current_app.config["HTTPS"]))


def _throttle_login(db: sqlite_utils.Database, phone: str, address: str,
                    device: str | None) -> list[str]:
    """Refuse or slow down this attempt (429); returns the keys a failure counts on."""
    config = current_app.config
    pair = f"device:{phone}|{device}" if device else f"pair:{phone}|{address}"
    check_throttle(db, {pair: config["LOGIN_MAX_PER_PAIR"]})
    slow = {f"phone:{phone}": config["LOGIN_MAX_PER_ACCOUNT"],
            f"addr:{address}": config["LOGIN_MAX_PER_ADDRESS"]}
    if not device:
        check_slowdown(db, slow)
    return [pair, *slow]


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
    device = known_device(phone)
    keys = _throttle_login(db, phone, address, device)
    rows = list(db.query("SELECT * FROM users WHERE phone = ? AND active = 1", [phone]))
    stored_hash = rows[0]["password_hash"] if rows else _DUMMY_HASH
    if not check_password_hash(stored_hash, body["password"]) or not rows:
        record_failure(db, *keys)
        if rows:
            login_failed.send(current_app._get_current_object(), user_id=rows[0]["id"],
                              failures=account_failures(db, phone))
        raise ApiError(401, "bad_credentials")
    # A fresh session on login: nothing chosen before login (a planted cookie) carries over.
    session.clear()
    user = load_user_by_id(db, rows[0]["id"])
    token = start_session(db, user.id)
    login_user(user)
    session[SESSION_KEY] = token
    session.permanent = True
    audit(db, "login", f"user:{user.id}")
    response = _session_json()
    _set_device_cookie(response, phone, device)
    return response


@bp.delete("/api/session")
def session_logout():
    db = get_db()
    if current_user.is_authenticated:
        audit(db, "logout", f"user:{current_user.id}")
    end_session(db, session.get(SESSION_KEY))  # a copy of this cookie is logged out too
    logout_user()
    session.clear()
    return _session_json()


@bp.post("/api/session/password")
@require_role(*ROLES)
def change_password():
    body = json_body("change_password")
    db = get_db()
    row = db.execute("SELECT password_hash FROM users WHERE id = ?", [current_user.id]).fetchone()
    pair = f"pair:{current_user.phone}|{client_address()}"
    check_throttle(db, {pair: current_app.config["LOGIN_MAX_PER_PAIR"]})
    if not check_password_hash(row[0], body["old_password"]):
        record_failure(db, pair, f"phone:{current_user.phone}")
        raise ApiError(403, "wrong_password",
                       fields=[{"path": "/old_password", "message": ApiError(403, "wrong_password").message}])
    require_strong_password("/new_password", body["new_password"], current_user.phone,
                            current_user.name)
    with write_transaction(db):
        db.execute("UPDATE users SET password_hash = ? WHERE id = ?",
                   [generate_password_hash(body["new_password"]), current_user.id])
        # Whoever else holds a session of this account (a lost phone, a copied cookie) is out.
        ended = end_sessions(db, current_user.id, keep=session.get(SESSION_KEY))
        audit(db, "update", f"user:{current_user.id}", f"password; {ended} other sessions ended")
    return jsonify({"ok": True})


def init_app(app) -> None:
    login_manager.init_app(app)
    app.register_blueprint(bp)
