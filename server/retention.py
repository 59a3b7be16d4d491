"""Retention: personal data goes when its purpose is met (China's PIPL, art. 19 and 47).

A household's people are needed while it can still be screened or one of them is isolated.
Once its community has had no open screening round for `days` days, and none of its residents
has an open case or one closed within `days` days, the personal fields of the household and its
residents are blanked, and the edit history's copies of them too. Ids, addresses, dates and
every record the tallies count stay, so every tally is unchanged.
"""

from __future__ import annotations

import json
from datetime import date, timedelta

import sqlite_utils

from .audit import audit
from .db import write_transaction

ANONYMISED_NAME = "已匿名"
RESIDENT_FIELDS = {"name": ANONYMISED_NAME, "id_number": "", "id_type": "", "phone": "",
                   "birth_date": None, "hukou_place": "", "came_from": "", "occupation": "",
                   "travel_number": "", "companions": "", "notes": ""}
HOUSEHOLD_FIELDS = {"head_name": "", "phone": "", "landlord": "", "landlord_phone": "",
                    "tenants": "", "notes": ""}


def due_households(db: sqlite_utils.Database, today: date, days: int) -> list[str]:
    """Households whose purpose is met: no round open lately, no case open or closed lately,
    and something personal left to blank."""
    cutoff = (today - timedelta(days=days)).isoformat()
    return [row[0] for row in db.execute(
        """SELECT h.id FROM households h
           WHERE NOT EXISTS (SELECT 1 FROM screening_rounds s
                             WHERE s.community_id = h.community_id AND s.ends_on >= ?)
           AND NOT EXISTS (SELECT 1 FROM isolation_cases c WHERE c.household_id = h.id
                           AND (c.status = 'open' OR c.ended_on >= ?))
           AND (h.head_name != '' OR h.phone != '' OR EXISTS (
                SELECT 1 FROM residents r WHERE r.household_id = h.id AND r.name != ?))""",
        [cutoff, cutoff, ANONYMISED_NAME])]


def anonymise(db: sqlite_utils.Database, today: date, days: int) -> dict:
    """Blank the personal fields of every household due; return how many were done."""
    if days < 1:
        raise ValueError("retention days must be at least 1")
    with write_transaction(db):
        households = due_households(db, today, days)
        residents = 0
        for household_id in households:
            db.execute(f"UPDATE households SET {', '.join(f'{k} = ?' for k in HOUSEHOLD_FIELDS)} "
                       "WHERE id = ?", [*HOUSEHOLD_FIELDS.values(), household_id])
            ids = [r[0] for r in db.execute("SELECT id FROM residents WHERE household_id = ?",
                                            [household_id])]
            for resident_id in ids:
                db.execute(f"UPDATE residents SET {', '.join(f'{k} = ?' for k in RESIDENT_FIELDS)}"
                           " WHERE id = ?", [*RESIDENT_FIELDS.values(), resident_id])
            db.execute("""UPDATE registry_history SET fields = '{}' WHERE
                          (entity = 'household' AND entity_id = ?) OR
                          (entity = 'resident' AND entity_id IN (SELECT value FROM json_each(?)))""",
                       [household_id, json.dumps(ids)])
            residents += len(ids)
        if households:
            audit(db, "delete", "retention", f"{len(households)} households, {residents} residents "
                                             f"anonymised (older than {days} days)")
    return {"households": len(households), "residents": residents}
