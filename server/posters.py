"""QR posters: a signed token per community and checkpoint, its manual code, SVG/PNG/print.

The URL is /c/<token>, where the token is the poster's random id signed with the server's
secret: nobody can make a valid poster for a place without the secret, and re-issuing a poster
revokes the old id, so a torn-down poster stops working.
"""

from __future__ import annotations

import functools
import io
import secrets
import sqlite3
from datetime import timedelta

import qrcode
import qrcode.image.svg
import sqlite_utils
from flask import (
    Blueprint,
    Response,
    current_app,
    g,
    has_app_context,
    jsonify,
    render_template,
    request,
)
from flask_login import current_user
from itsdangerous import BadSignature, URLSafeSerializer
from qrcode.image.pure import PyPNGImage  # pure Python (pypng): no Pillow needed

from . import places
from .audit import audit
from .db import first_row, get_db
from .errors import ApiError, field_error
from .scope import require_place_in_scope, require_role
from .timeutil import now_utc, utc_text

bp = Blueprint("posters", __name__)

CODE_DIGITS = 8


def _serializer() -> URLSafeSerializer:
    return URLSafeSerializer(current_app.config["SECRET_KEY"], salt="baodao-poster")


def token_of(poster_id: str) -> str:
    return _serializer().dumps(poster_id)


def issue_poster(db: sqlite_utils.Database, community_id: int,
                 checkpoint_id: int | None = None) -> dict:
    """A new poster for the place; the previous live one, if any, is revoked."""
    now = utc_text(now_utc())
    for _attempt in range(20):
        code = "".join(secrets.choice("0123456789") for _ in range(CODE_DIGITS))
        poster_id = secrets.token_urlsafe(12)
        try:
            with db.atomic():
                db.execute(
                    """UPDATE posters SET revoked_at = ? WHERE community_id = ?
                       AND checkpoint_id IS ? AND revoked_at IS NULL""",
                    [now, community_id, checkpoint_id])
                db.execute(
                    """INSERT INTO posters (id, community_id, checkpoint_id, manual_code, issued_at)
                       VALUES (?, ?, ?, ?, ?)""",
                    [poster_id, community_id, checkpoint_id, code, now])
            return get_poster(db, poster_id)
        except sqlite3.IntegrityError:
            continue  # the code is taken by a live poster: draw another
    raise RuntimeError("could not draw a free manual code")


def get_poster(db: sqlite_utils.Database, poster_id: str) -> dict | None:
    return first_row(
        db, """SELECT p.*, c.name AS community_name, k.name AS checkpoint_name
               FROM posters p JOIN places c ON c.id = p.community_id
               LEFT JOIN checkpoints k ON k.id = p.checkpoint_id WHERE p.id = ?""", [poster_id])


def live_posters_of(db: sqlite_utils.Database, community_id: int) -> list[dict]:
    """The live poster of the community and of each checkpoint, issued on first request."""
    wanted = [None] + [k["id"] for k in places.checkpoints_of(db, community_id)]
    result = []
    for checkpoint_id in wanted:
        row = db.execute(
            """SELECT id FROM posters WHERE community_id = ? AND checkpoint_id IS ?
               AND revoked_at IS NULL""", [community_id, checkpoint_id]).fetchone()
        result.append(get_poster(db, row[0]) if row else issue_poster(db, community_id,
                                                                      checkpoint_id))
    return result


@functools.lru_cache(maxsize=4096)
def _verified_poster_id(secret_key: str, token: str) -> object:
    """The poster id a token signs, or None. Cached: a morning's scans carry a few posters'
    tokens thousands of times, and the answer depends on nothing but the key and the token."""
    try:
        return URLSafeSerializer(secret_key, salt="baodao-poster").loads(token)
    except BadSignature:
        return None


def resolve_token(db: sqlite_utils.Database, token: str, valid_at: str | None = None) -> dict:
    """The poster a token names, live (or not yet revoked at UTC time `valid_at`),
    or the ApiError a phone should show."""
    return live_poster(db, verified_poster_id(token), valid_at)


def verified_poster_id(token: str) -> object:
    """The poster id the token signs, or None: the part of resolve_token that needs the app."""
    return _verified_poster_id(current_app.config["SECRET_KEY"], token)


def live_poster(db: sqlite_utils.Database, poster_id: object, valid_at: str | None = None,
                late_by: timedelta | None = None, grace: timedelta = timedelta(0)) -> dict:
    """resolve_token's part that needs only the database (it runs in the group-commit writer).

    A revoked poster still answers for a scan at UTC time `valid_at` before the re-issue, when
    the scan arrived at most `grace` after its time (`late_by`): an offline phone syncs late,
    but the time is the phone's word, so an old token stops working `grace` after the re-issue
    whatever a phone claims (docs/configuration.md, POSTER_OFFLINE_GRACE_HOURS). The caller
    flags what it accepts this way."""
    if poster_id is None:
        raise ApiError(404, "poster_invalid")
    poster = _poster_of_request(db, poster_id) if isinstance(poster_id, str) else None
    if poster is None:
        raise ApiError(404, "poster_unknown")
    if poster["revoked_at"] and (valid_at is None or valid_at >= poster["revoked_at"]):
        raise ApiError(410, "poster_revoked")
    if poster["revoked_at"] and late_by is not None and late_by > grace:
        hours = round(grace.total_seconds() / 3600, 1)
        hours = int(hours) if hours == int(hours) else hours
        raise ApiError(410, "poster_revoked_too_old", hours=hours, fields=[field_error(
            "/token", "poster_revoked_too_old", "offline_grace", hours=hours)])
    return poster


def _poster_of_request(db: sqlite_utils.Database, poster_id: str) -> dict | None:
    """get_poster, read once per request: a synced batch names a few posters a hundred times.
    (Outside a request, in the group-commit writer, read each time.)"""
    if not has_app_context():
        return get_poster(db, poster_id)
    seen = g.setdefault("posters_read", {})
    if poster_id not in seen:
        seen[poster_id] = get_poster(db, poster_id)
    return seen[poster_id]


def resolve_code(db: sqlite_utils.Database, code: str) -> dict:
    digits = "".join(ch for ch in code if ch.isdigit())
    row = db.execute("SELECT id FROM posters WHERE manual_code = ? AND revoked_at IS NULL",
                     [digits]).fetchone()
    if row is None:
        raise ApiError(404, "code_unknown")
    return get_poster(db, row[0])


def place_name(poster: dict) -> str:
    if poster["checkpoint_name"]:
        return f"{poster['community_name']} · {poster['checkpoint_name']}"
    return poster["community_name"]


def poster_url(poster: dict) -> str:
    base = current_app.config.get("PUBLIC_URL") or request.url_root
    return base.rstrip("/") + "/c/" + token_of(poster["id"])


def poster_json(poster: dict) -> dict:
    return {
        "id": poster["id"],
        "kind": "checkpoint" if poster["checkpoint_id"] else "community",
        "name": place_name(poster),
        "token": token_of(poster["id"]),
        "url": poster_url(poster),
        "manual_code": poster["manual_code"],
        "issued_at": poster["issued_at"],
        "community": {"id": poster["community_id"], "name": poster["community_name"]},
        "checkpoint": ({"id": poster["checkpoint_id"], "name": poster["checkpoint_name"]}
                       if poster["checkpoint_id"] else None),
        "svg_url": f"/posters/{poster['id']}.svg",
        "png_url": f"/posters/{poster['id']}.png",
        "print_url": f"/posters/{poster['id']}/print",
    }


def format_code(code: str) -> str:
    return f"{code[:4]} {code[4:]}"


def qr_svg(url: str) -> bytes:
    image = qrcode.make(url, image_factory=qrcode.image.svg.SvgPathImage,
                        error_correction=qrcode.constants.ERROR_CORRECT_M, box_size=10, border=4)
    return image.to_string()


def qr_png(url: str) -> bytes:
    image = qrcode.make(url, image_factory=PyPNGImage,
                        error_correction=qrcode.constants.ERROR_CORRECT_M, box_size=8, border=4)
    out = io.BytesIO()
    image.save(out)
    return out.getvalue()


# --- routes -----------------------------------------------------------------------------------

def _staff_poster(poster_id: str) -> dict:
    """The poster, when the staff member asking may manage its community."""
    db = get_db()
    poster = get_poster(db, poster_id)
    if poster is None:
        raise ApiError(404, "not_found")
    require_place_in_scope(db, current_user, poster["community_id"])
    return poster


@bp.get("/api/places/<int:place_id>/posters")
@require_role("committee", "admin")
def list_posters(place_id: int):
    db = get_db()
    place = require_place_in_scope(db, current_user, place_id)
    if place["kind"] != "community":
        raise ApiError(404, "not_found")
    return jsonify({"posters": [poster_json(p) for p in live_posters_of(db, place_id)]})


@bp.post("/api/posters/<poster_id>/reissue")
@require_role("committee", "admin")
def reissue(poster_id: str):
    old = _staff_poster(poster_id)
    db = get_db()
    if old["revoked_at"]:
        raise ApiError(410, "poster_revoked")
    poster = issue_poster(db, old["community_id"], old["checkpoint_id"])
    audit(db, "update", f"poster:{old['id']}", f"reissued as {poster['id']}")
    return jsonify({"poster": poster_json(poster)})


@bp.get("/posters/<poster_id>.svg")
@require_role("committee", "admin")
def poster_svg(poster_id: str):
    poster = _staff_poster(poster_id)
    return Response(qr_svg(poster_url(poster)), mimetype="image/svg+xml")


@bp.get("/posters/<poster_id>.png")
@require_role("committee", "admin")
def poster_png(poster_id: str):
    poster = _staff_poster(poster_id)
    return Response(qr_png(poster_url(poster)), mimetype="image/png")


@bp.get("/posters/<poster_id>/print")
@require_role("committee", "admin")
def poster_print(poster_id: str):
    poster = _staff_poster(poster_id)
    url = poster_url(poster)
    svg = qr_svg(url).decode("utf-8")
    svg = svg[svg.index("<svg"):]  # drop the XML declaration to inline it in HTML
    return render_template("poster.html", poster=poster, name=place_name(poster), url=url,
                           code=format_code(poster["manual_code"]), svg=svg,
                           revoked=bool(poster["revoked_at"]))
