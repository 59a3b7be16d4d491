"""The visits a home-isolation case is due: its schedule by the jurisdiction's local day.

A case copies its policy's rules when it opens (policy_snapshot), so a later edit of the policy
never moves the days of a running case. Read by isolation (the case page, the task list),
notices (overdue reminders), summaries and the tallies (visits due, done and overdue).
"""

from __future__ import annotations

import json
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import sqlite_utils

# A slot not visited by this local time is overdue; None: overdue once its day has passed.
SLOT_DEADLINES: dict[str, time | None] = {"morning": time(12, 0), "evening": None}


def schedule(case: dict, visits: list[dict], now: datetime, zone: str) -> list[dict]:
    """Every planned visit of the case: {day, slot, phase, test, status}.

    status: done (a visit covers it), due (today, still in time), overdue, upcoming. Days are
    local days of `zone`: at 00:30 in Shanghai yesterday's evening is overdue, even though
    it is still yesterday in UTC.
    """
    rules = json.loads(case["policy_snapshot"])
    local_now = now.astimezone(ZoneInfo(zone))
    today_ = local_now.date()
    done = {(v["due_day"], v["slot"]) for v in visits}
    last = date.fromisoformat(case["ended_on"] or case["planned_end"])
    day = date.fromisoformat(case["starts_on"])
    entries = []
    for phase in rules["phases"]:
        for number in range(1, phase["days"] + 1):
            if day > last:
                return entries
            for slot in rules["slots"]:
                deadline = SLOT_DEADLINES[slot]
                if (day.isoformat(), slot) in done:
                    status = "done"
                elif day > today_:
                    status = "upcoming"
                elif day < today_ or (deadline is not None and local_now.time() >= deadline):
                    status = "overdue"
                else:
                    status = "due"
                entries.append({"day": day.isoformat(), "slot": slot, "phase": phase["kind"],
                                "test": number in phase.get("test_days", []),
                                "status": status})
            day += timedelta(days=1)
    return entries


def visits_of(db: sqlite_utils.Database, case_id: str) -> list[dict]:
    return list(db.query(
        """SELECT v.*, u.name AS user_name FROM isolation_visits v JOIN users u ON u.id = v.user_id
           WHERE v.case_id = ? ORDER BY v.recorded_utc""", [case_id]))
