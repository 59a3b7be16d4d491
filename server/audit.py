"""The audit log: who created, changed, exported or read in full what, when, from where.

Append-only: triggers in the schema refuse UPDATE and DELETE on it.
"""

from __future__ import annotations

import sqlite_utils
from flask import Blueprint, has_request_context, jsonify, request
from flask_login import current_user

from .db import get_db
from .errors import ApiError, query_int
from .timeutil import now_utc, utc_text


def audit(db: sqlite_utils.Database, action: str, obj: str, detail: str = "",
          user_id: int | None = None) -> None:
    """Append one entry; the actor and address come from the request when there is one."""
    address = ""
    if has_request_context():
        address = request.remote_addr or ""
        if user_id is None and current_user.is_authenticated:
            user_id = current_user.id
    db.execute(
        "INSERT INTO audit_log (at, user_id, action, object, detail, address) VALUES (?,?,?,?,?,?)",
        [utc_text(now_utc()), user_id, action, obj, detail, address],
    )


# --- search (admins of a root node: the organisation department) -------------------------------

bp = Blueprint("audit", __name__)


def search(db: sqlite_utils.Database, *, user_id: int | None = None, action: str = "",
           obj: str = "", first: str = "", last: str = "", before_id: int | None = None,
           limit: int = 100) -> list[dict]:
    """Newest first; `obj` matches a prefix ('resident:' finds every resident read)."""
    where, params = ["1 = 1"], []
    for clause, value in (("a.user_id = ?", user_id), ("a.action = ?", action or None),
                          ("a.object LIKE ? ESCAPE '\\'", _prefix(obj)),
                          ("a.at >= ?", first or None), ("a.at < ?", last or None),
                          ("a.id < ?", before_id)):
        if value is not None:
            where.append(clause)
            params.append(value)
    return list(db.query(
        f"""SELECT a.*, u.name AS user_name FROM audit_log a LEFT JOIN users u ON u.id = a.user_id
            WHERE {' AND '.join(where)} ORDER BY a.id DESC LIMIT ?""", [*params, limit]))


def _prefix(text: str) -> str | None:
    if not text:
        return None
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


@bp.get("/api/audit")
def audit_search():
    if not current_user.is_authenticated:
        raise ApiError(401, "login_required")
    if current_user.role != "admin" or current_user.place is None \
            or current_user.place["parent_id"] is not None:
        raise ApiError(403, "forbidden")  # the log spans the deployment: root admins only
    args = request.args
    user_id, before_id = query_int("user_id"), query_int("before_id")
    limit = min(max(query_int("limit", 100), 1), 500)
    rows = search(get_db(), user_id=user_id, action=args.get("action", ""),
                  obj=args.get("object", ""), first=args.get("from", ""),
                  last=args.get("to", ""), before_id=before_id, limit=limit)
    return jsonify({"entries": rows})
