"""Deployment-wide settings: where the code lives, and the settings kept in the database.

The deployment mode is one row of the `settings` table: in routine mode the PWA hides
checkpoints and isolation; needs, registrations and services stay. Configuration read from the
environment is `app.config` (server/__init__.py; docs/configuration.md).
"""

from __future__ import annotations

from pathlib import Path

import sqlite_utils

from .audit import audit
from .db import write_transaction
from .timeutil import now_utc, utc_text

ROOT = Path(__file__).resolve().parent.parent  # the checkout: pwa/, schemas/, data/

MODES = ("emergency", "routine")
HIDDEN_IN_ROUTINE = ["checkpoints", "isolation"]


def deployment_mode(db: sqlite_utils.Database) -> str:
    row = db.execute("SELECT value FROM settings WHERE key = 'mode'").fetchone()
    return row[0] if row and row[0] in MODES else "emergency"


def set_mode(db: sqlite_utils.Database, mode: str, user_id: int | None) -> None:
    if mode not in MODES:
        raise ValueError(f"unknown mode {mode!r}")
    with write_transaction(db):
        db.execute("""INSERT INTO settings (key, value, updated_at, updated_by)
                      VALUES ('mode', ?, ?, ?) ON CONFLICT (key) DO UPDATE SET
                      value = excluded.value, updated_at = excluded.updated_at,
                      updated_by = excluded.updated_by""",
                   [mode, utc_text(now_utc()), user_id])
        audit(db, "update", "setting:mode", mode, user_id=user_id)


def mode_json(db: sqlite_utils.Database) -> dict:
    mode = deployment_mode(db)
    return {"mode": mode, "hidden": HIDDEN_IN_ROUTINE if mode == "routine" else []}
