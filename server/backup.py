"""Online backup and restore of the SQLite file.

The backup uses SQLite's online backup API, page by page, so it runs while the server takes
writes and yields a consistent snapshot. Restore checks the file first and keeps the current
database beside it, so a wrong restore can be undone.
"""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path

from .timeutil import now_utc


def backup(database: str | Path, destination: str | Path | None = None) -> Path:
    """Copy the live database to `destination` (default: backups/ beside it, timestamped)."""
    database = Path(database)
    if destination is None:
        stamp = now_utc().strftime("%Y%m%d-%H%M%S")
        destination = database.parent / "backups" / f"baodao-{stamp}.db"
    destination = Path(destination)
    destination.parent.mkdir(parents=True, exist_ok=True)
    source = sqlite3.connect(database, timeout=30)
    target = sqlite3.connect(destination)
    try:
        # Small steps with pauses let the server's writers in between.
        source.backup(target, pages=256, sleep=0.005)
        check = target.execute("PRAGMA integrity_check").fetchone()[0]
        if check != "ok":
            raise RuntimeError(f"backup failed its integrity check: {check}")
    finally:
        target.close()
        source.close()
    return destination


def restore(backup_file: str | Path, database: str | Path) -> Path:
    """Replace the database by `backup_file`; return where the previous database was kept.

    Stop the server first: open connections would keep writing to the replaced file.
    """
    backup_file, database = Path(backup_file), Path(database)
    with sqlite3.connect(f"file:{backup_file}?mode=ro", uri=True) as probe:
        check = probe.execute("PRAGMA integrity_check").fetchone()[0]
    probe.close()
    if check != "ok":
        raise RuntimeError(f"{backup_file} is damaged: {check}")
    kept = database.with_name(database.name + ".before-restore")
    if database.exists():
        # A consistent copy of the current state (WAL included), then the file is replaced.
        backup(database, kept)
    for suffix in ("-wal", "-shm"):
        Path(str(database) + suffix).unlink(missing_ok=True)
    shutil.copyfile(backup_file, database)
    return kept
