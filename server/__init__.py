"""Baodao (报到): the Flask application factory."""

from __future__ import annotations

import os
import secrets
from datetime import timedelta
from pathlib import Path

from flask import Flask
from flask_wtf.csrf import CSRFProtect
from werkzeug.middleware.proxy_fix import ProxyFix
from werkzeug.routing import IntegerConverter

from . import (
    accounts,
    audit,
    auth,
    checkins,
    db,
    enterprises,
    errors,
    inspections,
    isolation,
    needs,
    notices,
    posters,
    push,
    pwa,
    registrations,
    screening,
    summaries,
    sync,
    tallies,
)
from .settings import ROOT


class SQLiteInt(IntegerConverter):
    def __init__(self, map, *args, **kwargs):  # noqa: A002 - werkzeug's parameter name
        kwargs.setdefault("max", 2**63 - 1)
        kwargs.setdefault("min", -(2**63))
        kwargs.setdefault("signed", True)  # -5 is an unknown id (404), not another route
        super().__init__(map, *args, **kwargs)
csrf = CSRFProtect()

# Secrets that must never run a real deployment (copied from examples and docs).
PLACEHOLDER_SECRETS = {"dev", "changeme", "change-me", "secret", "test"}


def data_dir() -> Path:
    return Path(os.environ.get("BAODAO_DATA") or ROOT / "data").resolve()


def _secret_key(folder: Path) -> str:
    """The session secret: made on first start, kept beside the database, never in the repo."""
    path = folder / "secret_key"
    if not path.exists():
        folder.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(secrets.token_hex(32))
    return path.read_text().strip()


def create_app(config: dict | None = None) -> Flask:
    """Defaults, then BAODAO_* environment variables, then the `config` mapping (tests)."""
    app = Flask(__name__, static_folder=None)
    # Any integer id in a URL is an id: beyond SQLite's 64 bits or negative, an unknown one (404).
    app.url_map.converters["int"] = SQLiteInt
    folder = Path((config or {}).get("DATA_DIR") or data_dir())
    app.config.from_mapping(
        DATA_DIR=str(folder),
        DATABASE=str(folder / "baodao.db"),
        TIMEZONE="Asia/Shanghai",
        PUBLIC_URL="",                 # e.g. https://192.168.1.10:8443, printed on posters
        CHECKIN_WINDOW_MINUTES=30,     # a second scan within this is the same check-in
        POSTER_OFFLINE_GRACE_HOURS=24,  # how old an offline scan of a since re-issued poster may be
        LOGIN_WINDOW_SECONDS=900,
        LOGIN_MAX_PER_PAIR=5,          # one account from one address (or known phone): refused
        LOGIN_MAX_PER_ACCOUNT=30,      # from all addresses: then slowed, never locked
        LOGIN_MAX_PER_ADDRESS=30,      # all accounts from one address: then slowed
        LOGIN_MAX_DELAY_SECONDS=60,    # the longest a slowed login waits
        LOGIN_NOTIFY_FAILURES=10,      # an account's failures in the window that tell its committee
        CODE_MAX_PER_ADDRESS=20,
        MAX_CONTENT_LENGTH=1024 * 1024,  # bytes per request, a sync batch included
        SYNC_MAX_RECORDS=200,          # records per sync batch; the phone sends 50 at a time
        # uploaded tables (docs/screening-api.md#import-files-and-limits)
        IMPORT_MAX_ROWS=50_000,        # rows with content in one file
        IMPORT_MAX_SECONDS=30,         # to read one uploaded table, before anything is written
        HTTPS=False,
        TRUSTED_PROXIES=0,             # 1 behind nginx: take the client address from it
        RETENTION_DAYS=0,              # >0: the worker anonymises, daily, what is this long done
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        PERMANENT_SESSION_LIFETIME=timedelta(days=30),  # cadres stay logged in on their phone
        WTF_CSRF_TIME_LIMIT=None,      # the token lives as long as the session
        WTF_CSRF_HEADERS=["X-CSRFToken"],
        # Web Push (docs/push.md). Unset VAPID_SUB: push is off, the inbox still works.
        VAPID_SUB=None,                # mailto:ops@your-domain.cn or https://your-site.cn
        PUSH_ALLOWED_HOSTS="",         # push services beyond FCM/Mozilla/Apple/Microsoft
        PUSH_TEST_SERVICE_ORIGINS="",  # tests only: a local fake push service's origins
        PUSH_THREADS=32,               # concurrent sends; each mostly waits on the network
        PUSH_MAX_ATTEMPTS=8,           # 429/5xx/network errors retried, then 'failed'
        PUSH_RETRY_BASE_SECONDS=10,    # back-off: base × 2^(attempt-1), with jitter
        PUSH_RETRY_MAX_SECONDS=3600,
        PUSH_POLL_SECONDS=0.5,         # how often the worker looks for new deliveries
        PUSH_CHECK_SECONDS=60,         # how often it looks for overdue isolation visits
        PUSH_WORKER_NICE=10,           # the worker process yields the CPU to the web server
        NOTICE_DEFAULT_HOURS=72,       # expiry of a notice that names none
        NOTICE_MAX_DAYS=30,
        OVERDUE_REMINDER_MINUTES=60,   # remind a cadre this long after a visit slot's deadline
    )
    app.config.from_prefixed_env("BAODAO")
    if config:
        app.config.update(config)
    if "SECRET_KEY" not in app.config or not app.config["SECRET_KEY"]:
        app.config["SECRET_KEY"] = _secret_key(Path(app.config["DATA_DIR"]))
    elif app.config["SECRET_KEY"] in PLACEHOLDER_SECRETS and not app.config.get("TESTING"):
        raise RuntimeError("BAODAO_SECRET_KEY is a placeholder; unset it to generate one")
    if app.config["TRUSTED_PROXIES"]:
        # Login throttling and the audit log need the phone's address, not the proxy's.
        hops = int(app.config["TRUSTED_PROXIES"])
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops)
    app.config["SESSION_COOKIE_SECURE"] = bool(app.config["HTTPS"])
    app.config["REMEMBER_COOKIE_SECURE"] = bool(app.config["HTTPS"])

    db.init_db(app.config["DATABASE"])
    # the summaries that need the time zone: made (again) if the zone is not theirs
    summaries.ensure_zone(app.config["DATABASE"], app.config["TIMEZONE"])
    db.init_app(app)
    errors.init_app(app)
    csrf.init_app(app)
    auth.init_app(app)
    csrf.exempt(auth.session_login)
    push.configure(app)
    for module in (checkins, posters, tallies, screening, isolation, sync, push, notices,
                   enterprises, needs, registrations, inspections, audit, accounts, pwa):
        app.register_blueprint(module.bp)
    pwa.init_app(app)
    return app
