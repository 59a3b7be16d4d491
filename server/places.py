"""The jurisdiction tree (district → town → community/village → grid), checkpoints, home units."""

from __future__ import annotations

import sqlite_utils

from .db import first_row

CHILD_KIND = {None: "district", "district": "town", "town": "community", "community": "grid"}


def create_place(db: sqlite_utils.Database, name: str, kind: str, parent_id: int | None = None) -> int:
    """Add a node under `parent_id`; the kind must be the one the tree allows there."""
    parent = get_place(db, parent_id) if parent_id is not None else None
    if parent_id is not None and parent is None:
        raise ValueError(f"no place {parent_id}")
    expected = CHILD_KIND.get(parent["kind"] if parent else None)
    if kind != expected:
        raise ValueError(f"a {kind} cannot be placed under {parent['kind'] if parent else 'the root'}")
    with db.atomic():
        cursor = db.execute(
            "INSERT INTO places (parent_id, kind, name, path) VALUES (?, ?, ?, '')",
            [parent_id, kind, name],
        )
        place_id = cursor.lastrowid
        path = f"{parent['path'] if parent else '/'}{place_id}/"
        db.execute("UPDATE places SET path = ? WHERE id = ?", [path, place_id])
    return place_id


def get_place(db: sqlite_utils.Database, place_id: int | None) -> dict | None:
    if place_id is None:
        return None
    # first_row: every permission check reads a place, and db.query wraps each read in a
    # savepoint of its own (a quarter of a large import's time).
    return first_row(db, "SELECT * FROM places WHERE id = ?", [place_id])


def find_place(db: sqlite_utils.Database, name: str, kind: str) -> dict | None:
    rows = list(db.query("SELECT * FROM places WHERE name = ? AND kind = ?", [name, kind]))
    return rows[0] if len(rows) == 1 else None


def is_within(place: dict, ancestor_path: str) -> bool:
    """True when `place` is the node at `ancestor_path` or below it."""
    return place["path"].startswith(ancestor_path)


def subtree(db: sqlite_utils.Database, path: str, kind: str | None = None) -> list[dict]:
    """The node at `path` and everything below it, optionally of one kind, in tree order."""
    sql = "SELECT * FROM places WHERE path >= ? AND path < ?"
    params: list = [path, path + "\uffff"]  # an index range scan, unlike LIKE
    if kind:
        sql += " AND kind = ?"
        params.append(kind)
    return list(db.query(sql + " ORDER BY path", params))


def ancestor_of_kind(db: sqlite_utils.Database, place: dict, kind: str) -> dict | None:
    ids = [int(p) for p in place["path"].strip("/").split("/")]
    rows = list(db.query(
        f"SELECT * FROM places WHERE kind = ? AND id IN ({','.join('?' * len(ids))})",
        [kind, *ids],
    ))
    return rows[0] if rows else None


def create_checkpoint(db: sqlite_utils.Database, community_id: int, name: str) -> int:
    place = get_place(db, community_id)
    if place is None or place["kind"] != "community":
        raise ValueError("checkpoints belong to a community")
    return db.execute(
        "INSERT INTO checkpoints (community_id, name) VALUES (?, ?)", [community_id, name]
    ).lastrowid


def checkpoints_of(db: sqlite_utils.Database, community_id: int) -> list[dict]:
    return list(db.query(
        "SELECT * FROM checkpoints WHERE community_id = ? ORDER BY id", [community_id]
    ))


def home_unit_id(db: sqlite_utils.Database, name: str) -> int | None:
    """The id of the home unit called `name`, created on first use; None for an empty name."""
    name = name.strip()
    if not name:
        return None
    db.execute("INSERT OR IGNORE INTO home_units (name) VALUES (?)", [name])
    return db.execute("SELECT id FROM home_units WHERE name = ?", [name]).fetchone()[0]
