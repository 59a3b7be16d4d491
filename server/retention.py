"""Retention: personal data goes when its purpose is met (China's PIPL, art. 19 and 47).

A household's people are needed while it can still be screened or one of them is isolated.
Once its community has had no open screening round for `days` days, and none of its residents
has an open case or one closed within `days` days, the household's people are anonymised in
every copy the records made of them (docs/configuration.md#retention):

- the household's and its residents' personal fields, and the edit history's copies of them;
- the free text of its screening visits, of its residents' isolation cases and their visits,
  of its deliveries and their steps (cadres type names and phones into all of them);
- the notices raised by those visits and cases read a neutral text, and any other notice or
  call-up that names one of the people has the name, ID number or phone replaced.

Ids, addresses, dates, statuses, temperatures and every record the tallies count stay, so every
tally is unchanged. The audit log holds ids and counts, never a person's data, and stays as it
is (append-only). Overwritten text would stay in the file's free space, so the run zeroes what
it frees (secure_delete) and then rebuilds the file (VACUUM) and empties the WAL.
"""

from __future__ import annotations

import json
import logging
import sqlite3
from collections import Counter
from datetime import date, timedelta

import sqlite_utils

from .audit import audit
from .db import write_transaction
from .i18n import t

log = logging.getLogger(__name__)

ANONYMISED_NAME = "已匿名"
RESIDENT_FIELDS = {"name": ANONYMISED_NAME, "id_number": "", "id_type": "", "phone": "",
                   "birth_date": None, "hukou_place": "", "came_from": "", "occupation": "",
                   "travel_number": "", "companions": "", "notes": ""}
HOUSEHOLD_FIELDS = {"head_name": "", "phone": "", "landlord": "", "landlord_phone": "",
                    "tenants": "", "notes": ""}
# The fields of a person, in the registry and its history, looked for in notices.
IDENTIFYING = ("name", "id_number", "phone", "head_name", "landlord", "landlord_phone")
SHORTEST = 2  # a one-character "name" would be replaced all over the notices

# The records of household {h} and its people, and what is personal in each of them. The same
# list says what "something left" is (due_households) and what is blanked (anonymise).
_CASES = "SELECT id FROM isolation_cases WHERE household_id = {h}"
# A delivery of a case is the case's household's (server/deliveries.py checks it).
_DELIVERIES = "SELECT id FROM deliveries WHERE household_id = {h}"
COPIES = {  # table: (its rows of the household, {column: blank})
    "screening_visits": ("household_id = {h}", {"notes": ""}),
    "isolation_cases": ("household_id = {h}",
                        {"notes": "", "end_reason": "", "transferred_to": ""}),
    # needs: [{kind, what, for_whom, due_by}] as typed; the deliveries raised keep the kinds
    "isolation_visits": ("case_id IN (" + _CASES + ")", {"notes": "", "needs": "[]"}),
    "deliveries": ("household_id = {h}", {"what": "", "for_whom": ""}),
    "delivery_events": ("delivery_id IN (" + _DELIVERIES + ")", {"note": ""}),
    "registry_history": ("(entity = 'household' AND entity_id = {h})"
                         " OR (entity = 'resident' AND entity_id IN"
                         " (SELECT id FROM residents WHERE household_id = {h}))"
                         " OR (entity = 'isolation_case' AND entity_id IN (" + _CASES + "))",
                         {"fields": "{{}}"}),
}
# The automatic notices about those records, whose texts name the person: the dedupe keys of
# notices.alert_committee and notices.remind_overdue, each found through the unique index.
LINKED_NOTICES = (
    """SELECT n.id, n.title, n.body FROM screening_visits v JOIN notices n
       ON n.dedupe_key = 'health:screening_visit:' || v.id WHERE v.household_id = {h}""",
    """SELECT n.id, n.title, n.body FROM isolation_cases c
       JOIN isolation_visits v ON v.case_id = c.id
       JOIN notices n ON n.dedupe_key = 'health:isolation_visit:' || v.id
       WHERE c.household_id = {h}""",
    """SELECT n.id, n.title, n.body FROM isolation_cases c JOIN notices n
       ON n.dedupe_key > 'overdue:' || c.id || ':' AND n.dedupe_key < 'overdue:' || c.id || ';'
       WHERE c.household_id = {h}""",
)
# Free text a committee types for many readers: a person is replaced in it, the rest stays.
MESSAGES = {"notices": ("title", "body"), "call_ups": ("title", "body")}


def _neutral_notice() -> dict:
    # Stored in Chinese, as notices.alert_committee stores the texts it replaces.
    return {"title": t("retention_notice_title", lang="zh"),
            "body": t("retention_notice_body", lang="zh")}


def _something_left() -> str:
    """SQL true when household h still holds something personal in one of its copies."""
    residents = " OR ".join(f"r.{k} IS NOT {_literal(v)}" for k, v in RESIDENT_FIELDS.items())
    checks = [" OR ".join(f"h.{k} != ''" for k in HOUSEHOLD_FIELDS),
              f"EXISTS (SELECT 1 FROM residents r WHERE r.household_id = h.id AND ({residents}))"]
    for table, (rows, blanks) in COPIES.items():
        changed = " OR ".join(f"{c} IS NOT {_literal(b.format())}" for c, b in blanks.items())
        checks.append(f"EXISTS (SELECT 1 FROM {table} WHERE ({rows.format(h='h.id')}) "
                      f"AND ({changed}))")
    checks += [f"EXISTS (SELECT 1 FROM ({sql.format(h='h.id')}) "
               "WHERE title != :title OR body != :body)" for sql in LINKED_NOTICES]
    return " OR ".join(checks)


def _literal(value: object) -> str:
    return "NULL" if value is None else "'" + str(value).replace("'", "''") + "'"


def due_households(db: sqlite_utils.Database, today: date, days: int) -> list[str]:
    """Households whose purpose is met: no round open lately, no case open or closed lately,
    and something personal left in one of their copies (so a second run finds nothing, and a
    household anonymised by an older release that left copies behind is taken again)."""
    cutoff = (today - timedelta(days=days)).isoformat()
    return [row[0] for row in db.execute(
        f"""SELECT h.id FROM households h
            WHERE NOT EXISTS (SELECT 1 FROM screening_rounds s
                              WHERE s.community_id = h.community_id AND s.ends_on >= :cutoff)
            AND NOT EXISTS (SELECT 1 FROM isolation_cases c WHERE c.household_id = h.id
                            AND (c.status = 'open' OR c.ended_on >= :cutoff))
            AND ({_something_left()})""", {"cutoff": cutoff, **_neutral_notice()})]


def _people_strings(db: sqlite_utils.Database, household_id: str) -> set[str]:
    """Every name, ID number and phone the household's people had, today or in an edit."""
    found = set()
    for table, rows in (("households", "id = :h"), ("residents", "household_id = :h")):
        for row in db.query(f"SELECT * FROM {table} WHERE {rows}", {"h": household_id}):
            found.update(str(row[k]) for k in IDENTIFYING if row.get(k))
    history = COPIES["registry_history"][0].format(h=":h")
    for (fields,) in db.execute(f"SELECT fields FROM registry_history WHERE {history}",
                                {"h": household_id}):
        edit = json.loads(fields)
        found.update(str(edit[k]) for k in IDENTIFYING if isinstance(edit, dict) and edit.get(k))
    return {s.strip() for s in found if len(s.strip()) >= SHORTEST and s != ANONYMISED_NAME}


class Redactor:
    """Replaces any of `strings` in a text by ANONYMISED_NAME, longest first: one pass over the
    text per length, so thousands of people cost no more than a few."""

    def __init__(self, strings: set[str]):
        self.strings = strings
        self.lengths = sorted({len(s) for s in strings}, reverse=True)

    def __call__(self, text: str | None) -> str | None:
        if not text or not self.strings:
            return text
        for length in self.lengths:
            out, i = [], 0
            while i <= len(text) - length:
                if text[i:i + length] in self.strings:
                    out.append(ANONYMISED_NAME)
                    i += length
                else:
                    out.append(text[i])
                    i += 1
            text = "".join(out) + text[i:]
        return text


def _anonymise_household(db: sqlite_utils.Database, household_id: str, done: Counter) -> None:
    params = {"h": household_id}
    neutral = _neutral_notice()
    linked = {row[0] for sql in LINKED_NOTICES for row in db.execute(sql.format(h=":h"), params)
              if (row[1], row[2]) != (neutral["title"], neutral["body"])}
    done["notices"] += db.execute(
        "UPDATE notices SET title = :title, body = :body WHERE id IN "
        "(SELECT value FROM json_each(:ids))", {**neutral, "ids": json.dumps(sorted(linked))}
    ).rowcount
    for table, (rows, blanks) in COPIES.items():
        blanks = {c: b.format() for c, b in blanks.items()}
        changed = " OR ".join(f"{c} IS NOT :{c}" for c in blanks)
        done[table] += db.execute(
            f"UPDATE {table} SET {', '.join(f'{c} = :{c}' for c in blanks)} "
            f"WHERE ({rows.format(h=':h')}) AND ({changed})", {**params, **blanks}).rowcount
    db.execute(f"UPDATE households SET {', '.join(f'{k} = :{k}' for k in HOUSEHOLD_FIELDS)} "
               "WHERE id = :h", {**params, **HOUSEHOLD_FIELDS})
    done["residents"] += db.execute(
        f"UPDATE residents SET {', '.join(f'{k} = :{k}' for k in RESIDENT_FIELDS)} "
        "WHERE household_id = :h", {**params, **RESIDENT_FIELDS}).rowcount


def _redact_messages(db: sqlite_utils.Database, strings: set[str], done: Counter) -> None:
    """One pass over the notices and call-ups for all the people of the run."""
    redact = Redactor(strings)
    for table, columns in MESSAGES.items():
        for row in list(db.execute(f"SELECT id, {', '.join(columns)} FROM {table}")):
            texts = {c: redact(v) for c, v in zip(columns, row[1:], strict=True)}
            if list(texts.values()) != list(row[1:]):
                db.execute(f"UPDATE {table} SET {', '.join(f'{c} = :{c}' for c in columns)} "
                           "WHERE id = :id", {**texts, "id": row[0]})
                done[table] += 1


def anonymise(db: sqlite_utils.Database, today: date, days: int) -> dict:
    """Anonymise every household due, its people and their copies, in one transaction; then
    rebuild the file so that nothing overwritten stays in it. Returns how many of each."""
    if days < 1:
        raise ValueError("retention days must be at least 1")
    if db.conn.in_transaction:
        raise RuntimeError("retention runs alone: it rebuilds the file after its transaction")
    done: Counter = Counter()
    # What this connection frees is overwritten with zeros, not left in free space.
    secure = db.execute("PRAGMA secure_delete").fetchone()[0]
    db.execute("PRAGMA secure_delete = ON")
    try:
        with write_transaction(db):
            households = due_households(db, today, days)
            strings = set()
            for household_id in households:
                strings |= _people_strings(db, household_id)
                _anonymise_household(db, household_id, done)
            _redact_messages(db, strings, done)
            if households:
                copies = ", ".join(f"{table} {n}" for table, n in sorted(done.items())
                                   if table != "residents" and n)
                audit(db, "delete", "retention",
                      f"{len(households)} households, {done['residents']} residents "
                      f"anonymised (older than {days} days); copies: {copies or 'none'}")
    finally:
        db.execute(f"PRAGMA secure_delete = {int(secure)}")
    result = {"households": len(households), "residents": done.pop("residents", 0),
              "copies": dict(done), "file_rebuilt": False}
    if households:
        result["file_rebuilt"] = rebuild_file(db)
    return result


def rebuild_file(db: sqlite_utils.Database) -> bool:
    """VACUUM and empty the WAL: text overwritten or deleted before (an edit months ago left
    the old row in its page's free space) is gone from the file only once it is rebuilt.
    False (logged) when the file could not be rebuilt now, e.g. the disk is too full; the
    next run that anonymises someone tries again."""
    try:
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchall()
        db.execute("VACUUM")
        busy = db.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()[0]
    except sqlite3.OperationalError:
        log.exception("retention: the database file could not be rebuilt")
        return False
    if busy:
        log.warning("retention: readers kept the WAL from being emptied; the next checkpoint will")
    return True
