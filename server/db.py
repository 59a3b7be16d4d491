"""The SQLite store: one connection per thread (a request uses its thread's), migrations by
PRAGMA user_version.

sqlite-utils commits each write by itself. Code that must be all-or-nothing, or that reads
then writes (idempotency checks), runs inside `write_transaction(db)`, which starts with
BEGIN IMMEDIATE so two writers can never both pass the same check.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import sqlite3
import threading
import time
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
    # Writes are batched per request, so this costs one fsync per request (docs/field-lessons.md#durability).
    db.execute("PRAGMA synchronous = FULL")
    # Connections live as long as their thread, so the WAL is rarely deleted on close: after
    # each checkpoint, cut it back to this size rather than keep a burst's worth of disk.
    db.execute("PRAGMA journal_size_limit = 67108864")
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


_thread = threading.local()


def get_db() -> sqlite_utils.Database:
    """The request's connection: the thread's own, opened on first use and kept for the
    thread's next requests (gunicorn's threads live long).

    Opening and closing one per request cost more than a check-in's own SQL: closing the last
    connection to a WAL database checkpoints and deletes the WAL file every time (bench/load.py).
    A connection is never shared between threads, and not across a fork (gunicorn's workers).
    """
    if "db" not in g:
        path = current_app.config["DATABASE"]
        key = (os.getpid(), path)
        if getattr(_thread, "key", None) != key:
            old = getattr(_thread, "db", None)
            if old is not None and _thread.key[0] == key[0]:
                old.close()  # another app's file (tests): one cached connection per thread
            _thread.db, _thread.key = connect(path), key
        g.db = _thread.db
    return g.db


def close_db(_exc: BaseException | None = None) -> None:
    """At teardown: nothing the request left open may leak into the thread's next request."""
    db = g.pop("db", None)
    if db is not None and db.conn.in_transaction:
        db.conn.rollback()


def forget_thread_connection() -> None:
    """Close this thread's kept connection (before a file is replaced or removed)."""
    db = getattr(_thread, "db", None)
    if db is not None and _thread.key[0] == os.getpid():
        db.close()
    _thread.db = _thread.key = None


def first_row(db: sqlite_utils.Database, sql: str, params=()) -> dict | None:
    """The first row of a read as a dict, or None.

    For the per-record hot paths (sync, check-in): sqlite-utils' `query()` wraps every read in
    a SAVEPOINT and RELEASE of its own, two more statements for each read.
    """
    cursor = db.execute(sql, params)
    row = cursor.fetchone()
    return None if row is None else dict(zip([d[0] for d in cursor.description], row, strict=True))


def begin_immediate(conn: sqlite3.Connection) -> None:
    """BEGIN IMMEDIATE, tried again every 0.5 ms while another process holds the write lock,
    for up to the busy timeout: for the group-commit writer (one per process), whose groups
    are short. SQLite's own busy handler sleeps 1, 2, 5, 10 ... 100 ms between tries, so the
    waiting worker overslept the other's groups (bench/load.py: check-ins' p99 250-830 ms, now
    ~100 ms). Not for write_transaction: many threads spinning on a long sync batch cost more
    CPU than the oversleeping (sync ingest fell by a quarter)."""
    deadline = time.monotonic() + BUSY_TIMEOUT_MS / 1000
    conn.execute("PRAGMA busy_timeout = 0")
    try:
        while True:
            try:
                conn.execute("BEGIN IMMEDIATE")
                return
            except sqlite3.OperationalError as error:
                if "locked" not in str(error) or time.monotonic() > deadline:
                    raise
                time.sleep(0.0005)
    finally:
        conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")


_savepoints = itertools.count()  # next() is atomic under the GIL


@contextlib.contextmanager
def write_transaction(db: sqlite_utils.Database) -> Iterator[sqlite_utils.Database]:
    """BEGIN IMMEDIATE ... COMMIT: takes the write lock before the first read.

    Nested inside another write_transaction it is a savepoint, so a sync batch can run all
    its records in one transaction (one fsync) while one bad record rolls back alone.
    """
    if db.conn.in_transaction:
        name = f"record_{next(_savepoints)}"  # unique in the connection; token_hex cost 6 %
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
    db.conn.execute("BEGIN IMMEDIATE")  # SQLite's busy handler: see begin_immediate
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
