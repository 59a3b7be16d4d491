"""The audit log: who created, changed, exported or read in full what, when, from where.

Append-only: triggers in the schema refuse UPDATE and DELETE on it.
"""

from __future__ import annotations

import sqlite_utils
from flask import has_request_context, request
from flask_login import current_user

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
