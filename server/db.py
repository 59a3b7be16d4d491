"""The SQLite store: one connection per request, migrations by PRAGMA user_version.

sqlite-utils commits each write by itself. Code that must be all-or-nothing, or that reads
then writes (idempotency checks), runs inside `write_transaction(db)`, which starts with
BEGIN IMMEDIATE so two writers can never both pass the same check.
"""

from __future__ import annotations

import contextlib
import secrets
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import sqlite_utils
from flask import current_app, g

from . import migrations

BUSY_TIMEOUT_MS = 10_000


def connect(path: str | Path) -> sqlite_utils.Database:
    """Open the database file with the settings every connection needs."""
    conn = sqlite3.connect(str(path), timeout=BUSY_TIMEOUT_MS / 1000, check_same_thread=True)
    db = sqlite_utils.Database(conn)
    # Off by default in SQLite, and per connection.
    db.execute("PRAGMA foreign_keys = ON")
    db.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
    # FULL: a record acknowledged to a phone survives a power cut, not only a process crash.
    # Writes are batched per request, so this costs one fsync per request (see docs/durability).
    db.execute("PRAGMA synchronous = FULL")
    return db


def init_db(path: str | Path) -> int:
    """Create or migrate the database file; return its schema version. Called once at start."""
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    db = connect(path)
    try:
        db.enable_wal()  # once, outside any transaction
        return migrations.migrate(db)
    finally:
        db.close()


def get_db() -> sqlite_utils.Database:
    """The request's connection, opened on first use and closed at teardown."""
    if "db" not in g:
        g.db = connect(current_app.config["DATABASE"])
    return g.db


def close_db(_exc: BaseException | None = None) -> None:
    db = g.pop("db", None)
    if db is not None:
        db.close()


def first_row(db: sqlite_utils.Database, sql: str, params=()) -> dict | None:
    """The first row of a read as a dict, or None.

    For the per-record hot paths (sync, check-in): sqlite-utils' `query()` wraps every read in
    a SAVEPOINT and RELEASE of its own, two more statements for each read.
    """
    cursor = db.execute(sql, params)
    row = cursor.fetchone()
    return None if row is None else dict(zip([d[0] for d in cursor.description], row, strict=True))


@contextlib.contextmanager
def write_transaction(db: sqlite_utils.Database) -> Iterator[sqlite_utils.Database]:
    """BEGIN IMMEDIATE ... COMMIT: takes the write lock before the first read.

    Nested inside another write_transaction it is a savepoint, so a sync batch can run all
    its records in one transaction (one fsync) while one bad record rolls back alone.
    """
    if db.conn.in_transaction:
        name = f"record_{secrets.token_hex(8)}"
        db.conn.execute(f"SAVEPOINT {name}")
        try:
            yield db
        except BaseException:
            if db.conn.in_transaction:
                db.conn.execute(f"ROLLBACK TO SAVEPOINT {name}")
                db.conn.execute(f"RELEASE SAVEPOINT {name}")
            raise
        db.conn.execute(f"RELEASE SAVEPOINT {name}")
        return
    db.conn.execute("BEGIN IMMEDIATE")
    try:
        yield db
    except BaseException:
        if db.conn.in_transaction:
            db.conn.execute("ROLLBACK")
        raise
    else:
        db.conn.execute("COMMIT")


def init_app(app) -> None:
    app.teardown_appcontext(close_db)
