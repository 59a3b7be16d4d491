"""Schema migrations, numbered by PRAGMA user_version and applied in order at start.

Each migration runs in its own transaction together with the version bump, so a failed
migration leaves the file at the previous version. Never edit a released migration: add one.
"""

from __future__ import annotations

import sqlite_utils


def _v1_foundation(db: sqlite_utils.Database) -> None:
    for sql in V1_SQL:
        db.conn.execute(sql)


V1_SQL = [
    # The jurisdiction tree. `path` is '/1/4/9/' (ids from the root): "everything below node N"
    # is `path LIKE N.path || '%'`, one indexed range scan.
    """CREATE TABLE places (
        id INTEGER PRIMARY KEY,
        parent_id INTEGER REFERENCES places(id),
        kind TEXT NOT NULL CHECK (kind IN ('district', 'town', 'community', 'grid')),
        name TEXT NOT NULL,
        path TEXT NOT NULL UNIQUE,
        UNIQUE (parent_id, name)
    )""",
    "CREATE INDEX places_parent ON places(parent_id)",
    """CREATE TABLE checkpoints (
        id INTEGER PRIMARY KEY,
        community_id INTEGER NOT NULL REFERENCES places(id),
        name TEXT NOT NULL,
        UNIQUE (community_id, name)
    )""",
    """CREATE TABLE home_units (
        id INTEGER PRIMARY KEY,
        name TEXT NOT NULL UNIQUE
    )""",
    """CREATE TABLE users (
        id INTEGER PRIMARY KEY,
        phone TEXT NOT NULL UNIQUE,
        name TEXT NOT NULL,
        password_hash TEXT NOT NULL,
        role TEXT NOT NULL CHECK (role IN ('cadre', 'leader', 'committee', 'admin')),
        place_id INTEGER REFERENCES places(id),
        home_unit_id INTEGER REFERENCES home_units(id),
        specialty TEXT NOT NULL DEFAULT '',
        party_member INTEGER NOT NULL DEFAULT 0,
        active INTEGER NOT NULL DEFAULT 1,
        created_at TEXT NOT NULL
    )""",
    "CREATE INDEX users_place ON users(place_id)",
    # Failed logins (and manual-code guesses), for throttling by account and by address.
    """CREATE TABLE login_failures (
        id INTEGER PRIMARY KEY,
        key TEXT NOT NULL,
        at REAL NOT NULL
    )""",
    "CREATE INDEX login_failures_key_at ON login_failures(key, at)",
    """CREATE TABLE teams (
        id INTEGER PRIMARY KEY,
        community_id INTEGER NOT NULL REFERENCES places(id),
        name TEXT NOT NULL,
        leader_id INTEGER REFERENCES users(id),
        party_branch INTEGER NOT NULL DEFAULT 0,
        UNIQUE (community_id, name)
    )""",
    """CREATE TABLE assignments (
        id INTEGER PRIMARY KEY,
        user_id INTEGER NOT NULL REFERENCES users(id),
        community_id INTEGER NOT NULL REFERENCES places(id),
        team_id INTEGER REFERENCES teams(id),
        role_in_team TEXT NOT NULL DEFAULT 'member',
        starts_on TEXT NOT NULL,
        ends_on TEXT,
        created_at TEXT NOT NULL
    )""",
    "CREATE INDEX assignments_user ON assignments(user_id, starts_on)",
    "CREATE INDEX assignments_community ON assignments(community_id, starts_on)",
    # A poster is a random id signed into the URL; re-issuing sets revoked_at on the old one.
    """CREATE TABLE posters (
        id TEXT PRIMARY KEY,
        community_id INTEGER NOT NULL REFERENCES places(id),
        checkpoint_id INTEGER REFERENCES checkpoints(id),
        manual_code TEXT NOT NULL,
        issued_at TEXT NOT NULL,
        revoked_at TEXT
    )""",
    "CREATE INDEX posters_place ON posters(community_id, checkpoint_id)",
    # Only live posters need unique manual codes; revoked ones keep theirs for the record.
    "CREATE UNIQUE INDEX posters_live_code ON posters(manual_code) WHERE revoked_at IS NULL",
    # Captured events: the id is the phone's UUID, so a retry can never make a second row.
    """CREATE TABLE checkins (
        id TEXT PRIMARY KEY,
        user_id INTEGER NOT NULL REFERENCES users(id),
        poster_id TEXT NOT NULL REFERENCES posters(id),
        community_id INTEGER NOT NULL REFERENCES places(id),
        checkpoint_id INTEGER REFERENCES checkpoints(id),
        recorded_at TEXT NOT NULL,
        recorded_utc TEXT NOT NULL,
        local_day TEXT NOT NULL,
        received_at TEXT NOT NULL,
        device_id TEXT,
        lat REAL,
        lng REAL,
        accuracy REAL,
        outside_assignment INTEGER NOT NULL DEFAULT 0,
        clock_flag INTEGER NOT NULL DEFAULT 0,
        payload_hash TEXT NOT NULL
    )""",
    "CREATE INDEX checkins_user_time ON checkins(user_id, recorded_utc)",
    "CREATE INDEX checkins_community_day ON checkins(community_id, local_day)",
    "CREATE INDEX checkins_checkpoint_time ON checkins(checkpoint_id, recorded_utc)",
    """CREATE TABLE checkouts (
        id TEXT PRIMARY KEY,
        checkin_id TEXT NOT NULL UNIQUE REFERENCES checkins(id),
        user_id INTEGER NOT NULL REFERENCES users(id),
        recorded_at TEXT NOT NULL,
        recorded_utc TEXT NOT NULL,
        received_at TEXT NOT NULL,
        device_id TEXT,
        payload_hash TEXT NOT NULL
    )""",
    """CREATE TABLE audit_log (
        id INTEGER PRIMARY KEY,
        at TEXT NOT NULL,
        user_id INTEGER,
        action TEXT NOT NULL,
        object TEXT NOT NULL,
        detail TEXT NOT NULL DEFAULT '',
        address TEXT NOT NULL DEFAULT ''
    )""",
    "CREATE INDEX audit_log_at ON audit_log(at)",
    # The audit log can be appended to, never edited, through any connection of ours.
    """CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
       BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END""",
    """CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
       BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END""",
]


MIGRATIONS = [_v1_foundation]


def schema_version(db: sqlite_utils.Database) -> int:
    return db.execute("PRAGMA user_version").fetchone()[0]


def migrate(db: sqlite_utils.Database) -> int:
    """Apply the migrations the file has not had yet, each in its own transaction.

    The version is read inside the write lock, so two processes starting at once (gunicorn
    workers) cannot both apply the same migration.
    """
    while True:
        db.conn.execute("BEGIN IMMEDIATE")
        try:
            version = schema_version(db)
            if version > len(MIGRATIONS):
                raise RuntimeError(
                    f"database schema version {version} is newer than this code "
                    f"({len(MIGRATIONS)} migrations)")
            if version == len(MIGRATIONS):
                db.conn.execute("COMMIT")
                return version
            MIGRATIONS[version](db)
            db.conn.execute(f"PRAGMA user_version = {version + 1}")
        except BaseException:
            db.conn.execute("ROLLBACK")
            raise
        db.conn.execute("COMMIT")
