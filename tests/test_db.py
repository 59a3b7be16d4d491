import sqlite3
import threading

import pytest

from server import migrations
from server.db import connect, init_db, write_transaction


def test_migrations_from_empty_and_rerun(tmp_path):
    path = tmp_path / "fresh.db"
    assert init_db(path) == len(migrations.MIGRATIONS)
    db = connect(path)
    tables = set(db.table_names())
    assert {"places", "users", "posters", "checkins", "checkouts", "audit_log"} <= tables
    db.close()
    # Re-running changes nothing and does not fail on existing tables.
    assert init_db(path) == len(migrations.MIGRATIONS)
    assert set(connect(path).table_names()) == tables


def test_connection_settings(tmp_path):
    path = tmp_path / "x.db"
    init_db(path)
    db = connect(path)
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert db.execute("PRAGMA foreign_keys").fetchone()[0] == 1
    assert db.execute("PRAGMA busy_timeout").fetchone()[0] >= 5000
    assert db.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL
    with pytest.raises(sqlite3.IntegrityError):  # foreign keys are enforced
        db.execute("INSERT INTO checkpoints (community_id, name) VALUES (999, 'x')")


def test_parallel_first_start_migrates_once(tmp_path):
    """Two workers starting at once must not both apply a migration."""
    path = tmp_path / "race.db"
    errors = []

    def start():
        try:
            init_db(path)
        except Exception as error:  # pragma: no cover - the assertion shows it
            errors.append(error)

    threads = [threading.Thread(target=start) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert migrations.schema_version(connect(path)) == len(migrations.MIGRATIONS)


def test_refuses_database_newer_than_code(tmp_path):
    path = tmp_path / "new.db"
    init_db(path)
    connect(path).execute(f"PRAGMA user_version = {len(migrations.MIGRATIONS) + 1}")
    with pytest.raises(RuntimeError, match="newer"):
        init_db(path)


def test_failed_migration_leaves_previous_version(tmp_path, monkeypatch):
    path = tmp_path / "fail.db"
    init_db(path)

    def broken(db):
        db.conn.execute("CREATE TABLE half_done (x)")
        raise ValueError("boom")

    monkeypatch.setattr(migrations, "MIGRATIONS", [*migrations.MIGRATIONS, broken])
    with pytest.raises(ValueError):
        init_db(path)
    db = connect(path)
    assert migrations.schema_version(db) == len(migrations.MIGRATIONS) - 1
    assert "half_done" not in db.table_names()


def test_write_transaction_rolls_back(tmp_path):
    path = tmp_path / "tx.db"
    init_db(path)
    db = connect(path)
    with pytest.raises(ValueError):
        with write_transaction(db):
            db.execute("INSERT INTO home_units (name) VALUES ('x')")
            raise ValueError
    assert db.execute("SELECT count(*) FROM home_units").fetchone()[0] == 0


def test_audit_log_cannot_be_edited(db):
    from server.audit import audit

    audit(db, "create", "thing:1")
    with pytest.raises(sqlite3.IntegrityError, match="append-only"):
        db.execute("UPDATE audit_log SET action = 'x'")
    with pytest.raises(sqlite3.IntegrityError, match="append-only"):
        db.execute("DELETE FROM audit_log")


def test_admins_search_the_audit_log(as_user, world, db):
    admin = as_user("admin")
    as_user("committee_A").get(f"/api/places/{world['A']}/tally.csv")
    entries = admin.get("/api/audit", query_string={"action": "export"}).json["entries"]
    assert len(entries) == 1
    entry = entries[0]
    assert entry["user_name"] == "甲社区居委会" and entry["object"] == f"place:{world['A']}"
    assert entry["address"] and entry["at"]
    logins = admin.get("/api/audit", query_string={"object": "user:", "limit": 2}).json["entries"]
    assert len(logins) == 2 and logins[0]["id"] > logins[1]["id"]
    older = admin.get("/api/audit", query_string={"object": "user:",
                                                  "before_id": logins[1]["id"]}).json["entries"]
    assert all(e["id"] < logins[1]["id"] for e in older)
    assert admin.get("/api/audit", query_string={"limit": "many"}).status_code == 422
    # A town's admin and a committee cannot; nothing in the API edits the log.
    assert as_user("town2_admin").get("/api/audit").status_code == 403
    assert as_user("committee_A").get("/api/audit").status_code == 403
    assert admin.delete("/api/audit").status_code == 405
