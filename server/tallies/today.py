"""The live picture of a day: who reported, who is on watch now, who has not.

Read by the dashboard (routes.py: /api/places/<id>/today), for one community or rolled up
over the communities below a town or district.
"""

from __future__ import annotations

import sqlite_utils

from .. import places, summaries
from ..checkins import checkin_json, get_checkin
from ..scope import mask_phone
from ..timeutil import now_utc, utc_text

# MAX_SHIFT is read as summaries.MAX_SHIFT, at call time, so a change of it reaches the
# summaries and the tallies alike (tests/test_tally_summary.py changes it).


def _assigned_users(db: sqlite_utils.Database, community_id: int, day: str) -> list[dict]:
    """The active cadres assigned to the community on `day`, by name."""
    return list(db.query(
        """SELECT DISTINCT u.id, u.name, u.phone, h.name AS home_unit
           FROM assignments a JOIN users u ON u.id = a.user_id
           LEFT JOIN home_units h ON h.id = u.home_unit_id
           WHERE a.community_id = ? AND a.starts_on <= ? AND (a.ends_on IS NULL OR a.ends_on >= ?)
           AND u.active = 1 ORDER BY u.name""", [community_id, day, day]))


def user_json(row: dict) -> dict:
    """A cadre as the lists show them: phone masked, home unit (工作单位) or ""."""
    return {"id": row["id"], "name": row["name"], "phone": mask_phone(row["phone"]),
            "home_unit": row.get("home_unit") or ""}


def community_today(db: sqlite_utils.Database, community: dict, day: str) -> dict:
    """Who reported on `day` (first check-in each), who is on watch now, who has not reported."""
    first_checkins = list(db.query(
        """SELECT c.id, c.user_id, u.name, u.phone, h.name AS home_unit
           FROM checkins c JOIN users u ON u.id = c.user_id
           LEFT JOIN home_units h ON h.id = u.home_unit_id
           WHERE c.community_id = ? AND c.local_day = ?
           AND c.recorded_utc = (SELECT min(c2.recorded_utc) FROM checkins c2
                                 WHERE c2.user_id = c.user_id AND c2.community_id = c.community_id
                                 AND c2.local_day = c.local_day)
           ORDER BY c.recorded_utc""", [community["id"], day]))
    reported = [{"user": user_json({**r, "id": r["user_id"]}),
                 "checkin": checkin_json(db, get_checkin(db, r["id"]))} for r in first_checkins]
    reported_ids = {r["user_id"] for r in first_checkins}
    not_reported = [user_json(u) for u in _assigned_users(db, community["id"], day)
                    if u["id"] not in reported_ids]
    on_watch = []
    since = utc_text(now_utc() - summaries.MAX_SHIFT)
    for checkpoint in places.checkpoints_of(db, community["id"]):
        cadres = [{"id": r["user_id"], "name": r["name"], "since": r["recorded_at"]}
                  for r in db.query(
            """SELECT c.user_id, u.name, c.recorded_at FROM checkins c
               JOIN users u ON u.id = c.user_id
               LEFT JOIN checkouts o ON o.checkin_id = c.id
               WHERE c.checkpoint_id = ? AND c.recorded_utc >= ? AND o.id IS NULL
               ORDER BY c.recorded_utc""", [checkpoint["id"], since])]
        on_watch.append({"checkpoint": {"id": checkpoint["id"], "name": checkpoint["name"]},
                         "cadres": cadres})
    assigned = len(_assigned_users(db, community["id"], day))
    return {
        "place": {k: community[k] for k in ("id", "name", "kind")},
        "day": day,
        "reported": reported,
        "on_watch": on_watch,
        "not_reported": not_reported,
        "totals": {
            "assigned": assigned,
            "reported": len(reported),
            "on_watch": sum(len(w["cadres"]) for w in on_watch),
            "flagged": sum(1 for r in reported if r["checkin"]["outside_assignment"]),
            "not_reported": len(not_reported),
        },
    }


def rollup_today(db: sqlite_utils.Database, node: dict, day: str) -> dict:
    """One row per community below `node`, with the same totals as `community_today`."""
    since = utc_text(now_utc() - summaries.MAX_SHIFT)
    rows = list(db.query(
        """SELECT p.id, p.name, t.id AS town_id, t.name AS town_name,
           (SELECT count(DISTINCT a.user_id) FROM assignments a WHERE a.community_id = p.id
              AND a.starts_on <= :day AND (a.ends_on IS NULL OR a.ends_on >= :day)) AS assigned,
           (SELECT count(DISTINCT c.user_id) FROM checkins c
              WHERE c.community_id = p.id AND c.local_day = :day) AS reported,
           (SELECT count(DISTINCT c.user_id) FROM checkins c
              WHERE c.community_id = p.id AND c.local_day = :day
              AND c.outside_assignment = 1) AS flagged,
           (SELECT count(*) FROM checkins c LEFT JOIN checkouts o ON o.checkin_id = c.id
              WHERE c.community_id = p.id AND c.checkpoint_id IS NOT NULL
              AND c.recorded_utc >= :since AND o.id IS NULL) AS on_watch,
           (SELECT count(DISTINCT a.user_id) FROM assignments a WHERE a.community_id = p.id
              AND a.starts_on <= :day AND (a.ends_on IS NULL OR a.ends_on >= :day)
              AND a.user_id NOT IN (SELECT c.user_id FROM checkins c
                  WHERE c.community_id = p.id AND c.local_day = :day)) AS not_reported
           FROM places p LEFT JOIN places t ON t.id = p.parent_id
           WHERE p.kind = 'community' AND p.path >= :lo AND p.path < :hi
           ORDER BY p.path""",
        {"day": day, "since": since, "lo": node["path"], "hi": node["path"] + "\uffff"}))
    keys = ("assigned", "reported", "on_watch", "flagged", "not_reported")
    return {
        "place": {k: node[k] for k in ("id", "name", "kind")},
        "day": day,
        "rows": [{"community": {"id": r["id"], "name": r["name"]},
                  "town": {"id": r["town_id"], "name": r["town_name"]},
                  **{k: r[k] for k in keys}} for r in rows],
        "totals": {k: sum(r[k] for r in rows) for k in keys},
    }

