"""Serves the PWA's static files, the service worker with its shell list, the poster URL
/c/<token>, the domain rules, /healthz, and security headers."""

from __future__ import annotations

import hashlib
import json
import logging
import re
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

from . import posters, rules
from .db import get_db
from .errors import ApiError
from .i18n import current_language
from .migrations import MIGRATIONS, schema_version
from .push import worker_alive
from .settings import ROOT
from .tables import XLSX_MIMETYPE
from .timeutil import utc_text

PWA_DIR = ROOT / "pwa"
SCHEMAS_DIR = ROOT / "schemas"
request_log = logging.getLogger("baodao.request")

bp = Blueprint("pwa", __name__)

# No inline script anywhere; images from ourselves and data: (QR previews); no framing.
CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; "
       "connect-src 'self'; worker-src 'self'; manifest-src 'self'; object-src 'none'; "
       "base-uri 'self'; form-action 'self'; frame-ancestors 'none'")


# The app shell: what the service worker caches so the app opens offline. Every file of the
# PWA folder with these endings, but not the worker itself (the browser fetches it to look for
# updates) nor the stylesheet of the server's printed pages (posters, daily report).
RULES_URL = "/api/rules"
SHELL_ENDINGS = (".html", ".js", ".css", ".webmanifest", ".png", ".svg")
NOT_SHELL = {"sw.js", "poster.css"}
# The forms load their schemas (labels, limits) by name: those are shell too.
LOADED_SCHEMA = re.compile(r"""loadSchema\(\s*['"]([a-z_]+)['"]\s*\)""")
SHELL_SLOT = "/*SHELL*/[]"
VERSION_SLOT = "'/*VERSION*/'"
_workers: dict[str, tuple[tuple, bytes]] = {}  # PWA folder -> (stat key, served sw.js)


def _no_cache(response: Response) -> Response:
    # The service worker does the caching; the network copy must always be current.
    response.headers["Cache-Control"] = "no-cache"
    return response


def _pwa_dir() -> Path:
    return Path(current_app.config["PWA_DIR"])


def _shell_files(folder: Path) -> dict[str, Path]:
    """URL -> file of the app shell, sorted by URL."""
    files = {}
    for path in folder.rglob("*"):
        relative = path.relative_to(folder)
        hidden = any(part.startswith(".") for part in relative.parts)  # editor and VCS leftovers
        if (path.is_file() and path.name.endswith(SHELL_ENDINGS) and not hidden
                and relative.as_posix() not in NOT_SHELL):
            files[f"/{relative.as_posix()}"] = path
    schemas = {m for path in files.values() if path.suffix == ".js"
               for m in LOADED_SCHEMA.findall(path.read_text(encoding="utf-8"))}
    for name in schemas:
        if (SCHEMAS_DIR / f"{name}.json").is_file():  # a missing one would fail the whole install
            files[f"/schemas/{name}.json"] = SCHEMAS_DIR / f"{name}.json"
    return dict(sorted(files.items()))


def _stat_key(folder: Path) -> tuple:
    """Names, times and sizes of every file the worker is made from: a few dozen stat calls."""
    paths = sorted(p for p in (*folder.rglob("*"), *SCHEMAS_DIR.glob("*.json")) if p.is_file())
    return tuple((str(p), s.st_mtime_ns, s.st_size) for p in paths for s in [p.stat()])


def service_worker_source(folder: Path) -> bytes:
    """pwa/sw.js with its shell list and a version that hashes the shell and the worker itself,
    so any changed file makes a new worker with a new cache. Made again when a file changes."""
    served_rules = json.dumps(rules.as_json(), sort_keys=True)
    key = (_stat_key(folder), served_rules)
    kept = _workers.get(str(folder))
    if kept and kept[0] == key:
        return kept[1]
    template = (folder / "sw.js").read_text(encoding="utf-8")
    if template.count(SHELL_SLOT) != 1 or template.count(VERSION_SLOT) != 1:
        raise RuntimeError(f"sw.js needs {SHELL_SLOT} and {VERSION_SLOT} once each")
    shell = _shell_files(folder)
    digest = hashlib.sha256(template.encode())
    for url, path in shell.items():
        digest.update(f"\0{url}\0".encode())
        digest.update(path.read_bytes())
    # The rules too: a phone whose first start of a new version is offline still has them.
    digest.update(f"\0{RULES_URL}\0{served_rules}".encode())
    version = f"baodao-shell-{digest.hexdigest()[:16]}"
    source = (template.replace(SHELL_SLOT, json.dumps([*shell, RULES_URL]))
              .replace(VERSION_SLOT, json.dumps(version))).encode()
    _workers[str(folder)] = (key, source)
    return source


@bp.get("/")
def index():
    return _no_cache(send_from_directory(_pwa_dir(), "index.html"))


@bp.get("/sw.js")
def service_worker():
    response = Response(service_worker_source(_pwa_dir()), mimetype="text/javascript")
    response.add_etag()  # the browser's update check gets a 304 while nothing changed
    return _no_cache(response.make_conditional(request))


@bp.get("/<path:filename>")
def static_file(filename: str):
    return _no_cache(send_from_directory(_pwa_dir(), filename))


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


@bp.get(RULES_URL)
def domain_rules():
    """The thresholds and statuses the forms apply (server/rules.py); no login: nothing secret,
    and the phone keeps a copy for offline work."""
    return jsonify(rules.as_json())


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
    app.config.setdefault("PWA_DIR", str(PWA_DIR))  # tests serve a copy to change files in

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
        # Personal data must not stay in the cache of a shared phone or office PC: every API
        # answer (JSON, CSV/XLSX exports, charts) and every HTML page, unless the route set its
        # own (the shell and static files: no-cache, the service worker keeps them).
        # docs/deploy.md#browser-caches-and-exports
        if (request.path.startswith("/api/") or response.mimetype in (
                "application/json", "text/html", "text/csv", XLSX_MIMETYPE)):
            headers.setdefault("Cache-Control", "no-store")
        return response
