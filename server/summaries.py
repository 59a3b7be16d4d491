"""Summary tables for the tallies (issue 6, point 7): numbers per community and local day kept
current by the writes, so a district's month is read, not counted from millions of records.

`daily_screening_counts` holds the numbers the tallies take from screening visits, the table
that grows to millions of rows: households answered / nobody home / refused (distinct
households per outcome) and residents screened / with fever or symptoms. A correction replaces
the visit it corrects in every count. `count_screening_visit` runs in the transaction that
inserts a visit (live route or sync, both through `screening.store_screening_visit`): for the
household, on the visit's day and on the corrected visit's day, it takes the household's
contribution to the counts without the new visit and with it, and adds the difference.
Contributions are per household, so "distinct households" stays exact however visits and
corrections interleave. A duplicate or conflicting replay never reaches the insert, so it
changes nothing.

`daily_checkin_counts` (cadres reported, on watch, check-ins flagged),
`daily_isolation_counts` (planned isolation visits done) and `community_household_counts`
are kept by triggers (server/migrations.py, v6), whoever writes.

The recount_* functions count the same numbers from the records themselves; the tests and
bench/tally.py prove the two agree.
"""

from __future__ import annotations

import sqlite_utils

FEVER = 37.3
OUTCOMES = ("answered", "nobody_home", "refused")
COLUMNS = ("households_answered", "households_nobody_home", "households_refused",
           "residents_screened", "residents_fever_or_symptoms")
CHECKIN_COLUMNS = ("cadres_reported", "cadres_on_watch", "checkins_flagged")

# A visit counts unless a correction points at it.
_LIVE = "NOT EXISTS (SELECT 1 FROM screening_visits x WHERE x.corrects_id = v.id{extra})"
_FEVERISH = f"(r.temperature >= {FEVER} OR r.symptoms NOT IN ('[]', ''))"


def zero() -> dict:
    return dict.fromkeys(COLUMNS, 0)


def recount_screening(db: sqlite_utils.Database, community_id: int, day: str) -> dict:
    """The day's screening numbers counted from the visits (for proofs: a district's month of
    such recounts is what the summary saves)."""
    live = _LIVE.format(extra="")
    outcomes = dict(db.execute(
        f"""SELECT v.outcome, count(DISTINCT v.household_id) FROM screening_visits v
            WHERE v.community_id = ? AND v.local_day = ? AND {live} GROUP BY v.outcome""",
        [community_id, day]).fetchall())
    residents, feverish = db.execute(
        f"""SELECT count(*), sum({_FEVERISH}) FROM screening_visit_residents r
            JOIN screening_visits v ON v.id = r.visit_id
            WHERE r.present = 1 AND v.community_id = ? AND v.local_day = ? AND {live}""",
        [community_id, day]).fetchone()
    return {**{f"households_{o}": outcomes.get(o, 0) for o in OUTCOMES},
            "residents_screened": residents or 0, "residents_fever_or_symptoms": feverish or 0}


def stored_counts(db: sqlite_utils.Database, community_id: int, day: str) -> dict:
    """The summary row of a community's day (zeros when it has none)."""
    row = db.execute(f"SELECT {', '.join(COLUMNS)} FROM daily_screening_counts "
                     "WHERE community_id = ? AND local_day = ?", [community_id, day]).fetchone()
    return dict(zip(COLUMNS, row, strict=True)) if row else zero()


def _contribution(db: sqlite_utils.Database, community_id: int, day: str, household_id: str,
                  without: str | None) -> dict:
    """One household's share of a community's day, as if visit `without` were not stored."""
    numbers = zero()
    for outcome, residents, feverish in db.execute(
            f"""SELECT v.outcome, count(r.visit_id), coalesce(sum({_FEVERISH}), 0)
                FROM screening_visits v
                LEFT JOIN screening_visit_residents r ON r.visit_id = v.id AND r.present = 1
                WHERE v.household_id = :household AND v.community_id = :community
                AND v.local_day = :day AND v.id IS NOT :without
                AND {_LIVE.format(extra=" AND x.id IS NOT :without")}
                GROUP BY v.outcome""",
            {"household": household_id, "community": community_id, "day": day,
             "without": without}):
        numbers[f"households_{outcome}"] = 1
        numbers["residents_screened"] += residents
        numbers["residents_fever_or_symptoms"] += feverish
    return numbers


def add(db: sqlite_utils.Database, community_id: int, day: str, delta: dict) -> None:
    """Add `delta` to the summary row of a community's day (creating it)."""
    if not any(delta.values()):
        return
    db.execute(
        f"""INSERT INTO daily_screening_counts (community_id, local_day, {', '.join(COLUMNS)})
            VALUES (?, ?, {', '.join('?' * len(COLUMNS))})
            ON CONFLICT (community_id, local_day) DO UPDATE SET
            {', '.join(f'{c} = {c} + excluded.{c}' for c in COLUMNS)}""",
        [community_id, day, *(delta[c] for c in COLUMNS)])


def count_screening_visit(db: sqlite_utils.Database, visit_id: str) -> None:
    """Bring the summary up to date with a visit just inserted (with its residents), in the
    inserting transaction. The visit enters its day; the visit it corrects leaves its own."""
    visit = db.execute("SELECT household_id, community_id, local_day, corrects_id "
                       "FROM screening_visits WHERE id = ?", [visit_id]).fetchone()
    if visit is None:
        raise ValueError(f"no screening visit {visit_id}")
    household_id, community_id, day, corrects_id = visit
    days = {(community_id, day)}
    if corrects_id:
        corrected = db.execute("SELECT community_id, local_day FROM screening_visits WHERE id = ?",
                               [corrects_id]).fetchone()
        if corrected is not None:
            days.add(tuple(corrected))
    for community, local_day in days:
        before = _contribution(db, community, local_day, household_id, without=visit_id)
        after = _contribution(db, community, local_day, household_id, without=None)
        add(db, community, local_day, {c: after[c] - before[c] for c in COLUMNS})


def summary_rows(db: sqlite_utils.Database, table: str, columns: tuple[str, ...], args: dict):
    """(community_id, local_day, *columns) of a daily summary table for the communities
    (args["ids"], a JSON list) and days args["first"]..args["last"]."""
    return db.execute(f"""SELECT community_id, local_day, {', '.join(columns)} FROM {table}
                          WHERE community_id IN (SELECT value FROM json_each(:ids))
                          AND local_day BETWEEN :first AND :last""", args)


def checkin_counts(db: sqlite_utils.Database, community_ids: list[int], first: str,
                   last: str) -> dict[tuple[int, str], dict]:
    """{(community_id, day): cadres reported, on watch, check-ins flagged} from the summary."""
    return {(row[0], row[1]): dict(zip(CHECKIN_COLUMNS, row[2:], strict=True)) for row in db.execute(
        f"""SELECT community_id, local_day, {', '.join(CHECKIN_COLUMNS)} FROM daily_checkin_counts
            WHERE community_id IN (SELECT value FROM json_each(?))
            AND local_day BETWEEN ? AND ?""", [_json_ids(community_ids), first, last])}


def recount_checkins(db: sqlite_utils.Database, community_id: int, day: str) -> dict:
    """The day's check-in numbers counted from the check-ins."""
    row = db.execute(
        """SELECT count(DISTINCT user_id),
             count(DISTINCT CASE WHEN checkpoint_id IS NOT NULL THEN user_id END),
             coalesce(sum(outside_assignment = 1), 0)
           FROM checkins WHERE community_id = ? AND local_day = ?""", [community_id, day]).fetchone()
    return dict(zip(CHECKIN_COLUMNS, row, strict=True))


def isolation_done(db: sqlite_utils.Database, community_ids: list[int], first: str,
                   last: str) -> dict[tuple[int, str], int]:
    """{(community_id, day): planned isolation visits done} from the summary."""
    return {(row[0], row[1]): row[2] for row in db.execute(
        """SELECT community_id, local_day, visits_done FROM daily_isolation_counts
           WHERE community_id IN (SELECT value FROM json_each(?))
           AND local_day BETWEEN ? AND ? AND visits_done > 0""",
        [_json_ids(community_ids), first, last])}


def recount_isolation_done(db: sqlite_utils.Database, community_id: int, day: str) -> int:
    """The planned isolation visits of the day that a visit covers, by isolation.schedule."""
    from datetime import UTC, datetime

    from .isolation import schedule, visits_of

    done = 0
    for case in db.query("""SELECT * FROM isolation_cases WHERE community_id = ?
                            AND starts_on <= ? AND (ended_on IS NULL OR ended_on >= ?)""",
                         [community_id, day, day]):
        done += sum(entry["day"] == day and entry["status"] == "done"  # whatever the clock
                    for entry in schedule(case, visits_of(db, case["id"]), datetime.now(UTC), "UTC"))
    return done


def household_counts(db: sqlite_utils.Database, community_ids: list[int]) -> dict[int, int]:
    """{community_id: households not deleted} from the summary."""
    return dict(db.execute(
        """SELECT community_id, households FROM community_household_counts
           WHERE community_id IN (SELECT value FROM json_each(?))""", [_json_ids(community_ids)]))


def recount_households(db: sqlite_utils.Database, community_id: int) -> int:
    return db.execute("SELECT count(*) FROM households WHERE community_id = ? "
                      "AND deleted_at IS NULL", [community_id]).fetchone()[0]


def _json_ids(ids: list[int]) -> str:
    return "[" + ",".join(str(int(i)) for i in ids) + "]"
