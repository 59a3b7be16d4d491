"""Serves the PWA's static files, the poster URL /c/<token>, /healthz, and security headers."""

from __future__ import annotations

import logging
import secrets
import time
from datetime import UTC, datetime
from pathlib import Path

from flask import (
    Blueprint,
    Response,
    current_app,
    g,
    jsonify,
    render_template,
    request,
    send_from_directory,
)
from flask_login import current_user

from . import ROOT, posters
from .db import get_db
from .errors import ApiError
from .i18n import current_language
from .migrations import MIGRATIONS, schema_version
from .push import worker_alive
from .timeutil import utc_text

PWA_DIR = ROOT / "pwa"
SCHEMAS_DIR = ROOT / "schemas"
request_log = logging.getLogger("baodao.request")

bp = Blueprint("pwa", __name__)

# No inline script anywhere; images from ourselves and data: (QR previews); no framing.
CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; "
       "connect-src 'self'; worker-src 'self'; manifest-src 'self'; object-src 'none'; "
       "base-uri 'self'; form-action 'self'; frame-ancestors 'none'")


def _no_cache(response: Response) -> Response:
    # The service worker does the caching; the network copy must always be current.
    response.headers["Cache-Control"] = "no-cache"
    return response


@bp.get("/")
def index():
    return _no_cache(send_from_directory(PWA_DIR, "index.html"))


@bp.get("/<path:filename>")
def static_file(filename: str):
    return _no_cache(send_from_directory(PWA_DIR, filename))


@bp.get("/schemas/<path:filename>")
def schema_file(filename: str):
    return _no_cache(send_from_directory(SCHEMAS_DIR, filename))


@bp.get("/c/<token>")
def poster_page(token: str):
    """A poster's URL: the app itself (which logs in if needed, then offers 报到)."""
    try:
        posters.resolve_token(get_db(), token)
    except ApiError as error:
        # A clear page for torn, forged or revoked posters, not a stack trace.
        html = render_template("poster_error.html", message=error.message,
                               lang=current_language())
        return html, error.status
    return index()


@bp.get("/api/openapi.json")
def openapi():
    document = (SCHEMAS_DIR / "openapi.json").read_bytes()  # small; no open file to leak
    return _no_cache(Response(document, mimetype="application/json"))


@bp.get("/healthz")
def healthz():
    db = get_db()
    version = schema_version(db)
    ready = version == len(MIGRATIONS)
    push = current_app.extensions["baodao_push"]  # off is not unhealthy: the inbox still works
    queued = db.execute("SELECT count(*) FROM push_deliveries WHERE state IN "
                        "('queued', 'sending')").fetchone()[0]
    backups = sorted(Path(current_app.config["DATA_DIR"], "backups").glob("*.db"),
                     key=lambda p: p.stat().st_mtime)
    body = {"status": "ok" if ready else "migrating", "schema_version": version,
            "push": {"enabled": push.enabled, "reason": push.reason,
                     "worker_alive": worker_alive(current_app.config["DATA_DIR"]),
                     "queue_depth": queued},
            "last_backup": (utc_text(datetime.fromtimestamp(backups[-1].stat().st_mtime, UTC))
                            if backups else None)}
    return jsonify(body), 200 if ready else 503


def init_app(app) -> None:
    @app.before_request
    def request_id() -> None:
        # The proxy's id when there is one, so a phone's report, nginx and our log line up.
        g.request_id = request.headers.get("X-Request-Id", "")[:64] or secrets.token_hex(8)
        g.started = time.perf_counter()

    @app.after_request
    def log_request(response: Response) -> Response:
        response.headers["X-Request-Id"] = g.get("request_id", "")
        request_log.info("%s %s %s %d %.1fms user=%s", g.get("request_id", "-"), request.method,
                         request.path, response.status_code,
                         (time.perf_counter() - g.get("started", time.perf_counter())) * 1000,
                         getattr(current_user, "id", "-"))
        return response

    @app.after_request
    def security_headers(response: Response) -> Response:
        headers = response.headers
        headers.setdefault("Content-Security-Policy", CSP)
        headers.setdefault("X-Content-Type-Options", "nosniff")
        headers.setdefault("Referrer-Policy", "same-origin")
        headers.setdefault("X-Frame-Options", "DENY")
        if current_app.config["HTTPS"]:
            headers.setdefault("Strict-Transport-Security", "max-age=31536000")
        if response.mimetype == "application/json":
            headers.setdefault("Cache-Control", "no-store")
        return response
