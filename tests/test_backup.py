"""Online backup while writes go on, and restore."""

import sqlite3
import threading

import run
from server.backup import backup, restore
from server.db import connect, init_db


def test_backup_while_writing_then_restore(tmp_path):
    path = tmp_path / "baodao.db"
    init_db(path)
    stop = threading.Event()
    written = []

    def writer():
        db = connect(path)
        n = 0
        while not stop.is_set():
            db.execute("INSERT INTO home_units (name) VALUES (?)", [f"unit {n}"])
            written.append(n)
            n += 1
        db.close()

    thread = threading.Thread(target=writer)
    thread.start()
    while len(written) < 200:
        pass
    copy = backup(path, tmp_path / "copy.db")
    stop.set()
    thread.join()
    snapshot = sqlite3.connect(copy)
    assert snapshot.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    in_copy = snapshot.execute("SELECT count(*) FROM home_units").fetchone()[0]
    snapshot.close()
    assert 200 <= in_copy <= len(written)
    # Writes after the backup are undone by a restore; the replaced file is kept.
    kept = restore(copy, path)
    db = sqlite3.connect(path)
    assert db.execute("SELECT count(*) FROM home_units").fetchone()[0] == in_copy
    assert sqlite3.connect(kept).execute("SELECT count(*) FROM home_units").fetchone()[0] == len(written)


def test_restore_refuses_a_damaged_file(tmp_path):
    import pytest

    path = tmp_path / "baodao.db"
    init_db(path)
    bad = tmp_path / "bad.db"
    bad.write_bytes(b"SQLite format 3\x00" + b"\xff" * 5000)
    with pytest.raises((RuntimeError, sqlite3.DatabaseError)):
        restore(bad, path)
    assert connect(path).execute("SELECT count(*) FROM places").fetchone()[0] == 0


def test_backup_command(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("BAODAO_DATA", str(tmp_path))
    assert run.main(["backup"]) == 0
    out = capsys.readouterr().out
    assert "backup written to" in out
    assert list((tmp_path / "backups").glob("baodao-*.db"))
