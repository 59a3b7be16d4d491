"""Summary tables for the tallies (docs/capacity.md#tallies-at-real-size): numbers per
community and local day kept
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

`watch_coverage` (hours on watch per checkpoint and local day) and the `raised_day` and
`delivered_day` of deliveries (v8) need the deployment's time zone. The write path keeps them:
`count_watch` after a watch check-in or its check-out (checkins.py), `date_delivery` after a
delivery is raised or delivered (isolation.py). At start, `ensure_zone` rebuilds both in full
when the zone they were made in (settings key `summary_zone`, with MAX_SHIFT) is not the
configured one: the backfill of a database made before v8, the fix when a deployment changes
its zone, and the way to recount them by hand (delete the key, restart). The
tallies read them only when that zone is the one asked for, and count from the records if not.

The recount_* functions count the same numbers from the records themselves; the tests and
bench/tally.py prove the two agree (tallies.engine.recount_watch_and_deliveries for v8's).
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterable, Iterator
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import sqlite_utils

from .db import connect, write_transaction
from .rules import FEVER
from .rules import SCREENING_OUTCOMES as OUTCOMES
from .schedule import schedule, visits_of
from .timeutil import now_utc, utc_text

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
    """The planned isolation visits of the day that a visit covers, by schedule.schedule."""
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


def round_screened(db: sqlite_utils.Database, community_ids: list[int],
                   day: str) -> dict[int, int]:
    """{community_id: households screened in its round current on `day`} from the summary
    (migration v9); communities with no current round are left out."""
    return dict(db.execute(
        """WITH current AS (SELECT community_id, id, row_number() OVER (
                   PARTITION BY community_id ORDER BY starts_on DESC, id DESC) AS n
               FROM screening_rounds WHERE community_id IN (SELECT value FROM json_each(:ids))
               AND starts_on <= :day AND ends_on >= :day)
           SELECT c.community_id, coalesce(s.households, 0) FROM current c
           LEFT JOIN round_screened_counts s ON s.round_id = c.id WHERE c.n = 1""",
        {"ids": _json_ids(community_ids), "day": day}))


def recount_households(db: sqlite_utils.Database, community_id: int) -> int:
    return db.execute("SELECT count(*) FROM households WHERE community_id = ? "
                      "AND deleted_at IS NULL", [community_id]).fetchone()[0]


def _json_ids(ids: list[int]) -> str:
    return "[" + ",".join(str(int(i)) for i in ids) + "]"


# --- hours on watch and deliveries per local day (v8) ------------------------------------------

ZONE_KEY = "summary_zone"
# A watch shift left open longer than this is not counted as "on watch now", and no watch
# counts longer (tallies/counters.py counts the hours the same way).
MAX_SHIFT = timedelta(hours=24)


def made_for(zone: str) -> str:
    """What watch_coverage and the delivery days depend on: the zone, and MAX_SHIFT (how long
    an open watch counts), so a change of either makes them again at start."""
    return f"{zone} max_shift={int(MAX_SHIFT.total_seconds())}s"


def zone_summaries_current(db: sqlite_utils.Database, zone: str) -> bool:
    """Whether watch_coverage and the delivery days are made for `zone` (and this MAX_SHIFT)."""
    row = db.execute("SELECT value FROM settings WHERE key = ?", [ZONE_KEY]).fetchone()
    return row is not None and row[0] == made_for(zone)


def ensure_zone(path: str | Path, zone: str) -> bool:
    """At start, after the migrations: rebuild the zone's summaries unless they are made in
    `zone` already; returns whether it rebuilt. The check runs under the write lock, so of
    several workers starting at once only the first rebuilds."""
    db = connect(path)
    try:
        with write_transaction(db):
            if zone_summaries_current(db, zone):
                return False
            rebuild_zone_summaries(db, zone)
        return True
    finally:
        db.close()


def rebuild_zone_summaries(db: sqlite_utils.Database, zone: str) -> None:
    """Make watch_coverage and the delivery days again from the records, in `zone` (inside the
    caller's transaction)."""
    tz = ZoneInfo(zone)
    db.conn.create_function("baodao_local_day", 1, lambda text: _local_day(text, tz),
                            deterministic=True)
    db.execute("""UPDATE deliveries SET raised_day = baodao_local_day(raised_at),
                  delivered_day = baodao_local_day(delivered_at)""")
    db.execute("DELETE FROM watch_coverage")
    watches = db.execute(
        """SELECT c.checkpoint_id, k.community_id, c.recorded_utc, o.recorded_utc
           FROM checkins c JOIN checkpoints k ON k.id = c.checkpoint_id
           LEFT JOIN checkouts o ON o.checkin_id = c.id
           WHERE c.checkpoint_id IS NOT NULL ORDER BY c.checkpoint_id, c.recorded_utc""")
    for (checkpoint_id, community_id), rows in itertools.groupby(watches, key=lambda r: r[:2]):
        _store_coverage(db, checkpoint_id, community_id,
                        _coverage_by_day(((r[2], r[3]) for r in rows), tz))
    db.execute("""INSERT INTO settings (key, value, updated_at) VALUES (?, ?, ?)
                  ON CONFLICT (key) DO UPDATE SET value = excluded.value,
                  updated_at = excluded.updated_at""",
               [ZONE_KEY, made_for(zone), utc_text(now_utc())])


def date_delivery(db: sqlite_utils.Database, delivery_id: str, zone: str) -> None:
    """Give a delivery just raised or delivered its local days, in the writing transaction."""
    tz = ZoneInfo(zone)
    raised_at, delivered_at = db.execute(
        "SELECT raised_at, delivered_at FROM deliveries WHERE id = ?", [delivery_id]).fetchone()
    db.execute("UPDATE deliveries SET raised_day = ?, delivered_day = ? WHERE id = ?",
               [_local_day(raised_at, tz), _local_day(delivered_at, tz), delivery_id])


def count_watch(db: sqlite_utils.Database, checkin_id: str, zone: str) -> None:
    """Bring watch_coverage up to date with a watch check-in, or the check-out of one, just
    stored (in the writing transaction): the days the watch can touch, from its start to
    MAX_SHIFT later, are made again from the watches of its checkpoint that reach them."""
    row = db.execute("""SELECT c.checkpoint_id, k.community_id, c.recorded_utc FROM checkins c
                        JOIN checkpoints k ON k.id = c.checkpoint_id WHERE c.id = ?""",
                     [checkin_id]).fetchone()
    if row is None:
        return  # not a watch
    checkpoint_id, community_id, start = row
    tz = ZoneInfo(zone)
    begin = _moment(start)
    first, last = (datetime.fromtimestamp(t, tz).date()
                   for t in (begin, begin + MAX_SHIFT.total_seconds()))
    days = [(first + timedelta(days=n)).isoformat() for n in range((last - first).days + 1)]
    lo = _midnight(first, tz) - MAX_SHIFT.total_seconds()  # a watch from here may reach them
    hi = _midnight(last + timedelta(days=1), tz)
    watches = db.execute(
        """SELECT c.recorded_utc, o.recorded_utc FROM checkins c
           LEFT JOIN checkouts o ON o.checkin_id = c.id
           WHERE c.checkpoint_id = ? AND c.recorded_utc >= ? AND c.recorded_utc < ?
           ORDER BY c.recorded_utc""", [checkpoint_id, _text(lo), _text(hi)])
    coverage = _coverage_by_day(watches, tz)
    db.execute("""DELETE FROM watch_coverage WHERE checkpoint_id = ?
                  AND local_day IN (SELECT value FROM json_each(?))""",
               [checkpoint_id, json.dumps(days)])
    _store_coverage(db, checkpoint_id, community_id, {day: coverage.get(day) for day in days})


def _store_coverage(db, checkpoint_id: int, community_id: int, coverage: dict[str, list]) -> None:
    """Insert the checkpoint's rows of the days in `coverage` (a day without any: no row)."""
    db.conn.executemany(
        """INSERT INTO watch_coverage (checkpoint_id, local_day, community_id, seconds, stretches)
           VALUES (?, ?, ?, ?, ?)""",
        [(checkpoint_id, day, community_id, sum(end - begin for begin, end in stretches),
          json.dumps(stretches)) for day, stretches in coverage.items() if stretches])


def _coverage_by_day(watches: Iterable[tuple[str, str | None]], tz: ZoneInfo) -> dict[str, list]:
    """{local day: [[begin, end], ...]} of one checkpoint's watches, (start, check-out or None)
    ordered by start: each counts until its check-out or MAX_SHIFT, whichever comes first;
    overlapping ones merge into one stretch, which is then cut at local midnights."""
    coverage: dict[str, list] = {}
    for begin, end in _merged(watches):
        for day, lo, hi in _day_parts(begin, end, tz):
            coverage.setdefault(day, []).append([lo, hi])
    return coverage


def _merged(watches: Iterable[tuple[str, str | None]]) -> Iterator[tuple[float, float]]:
    limit = MAX_SHIFT.total_seconds()
    begin = finish = None
    for start_text, stop_text in watches:
        start = _moment(start_text)
        stop = start + limit if stop_text is None else min(_moment(stop_text), start + limit)
        if finish is not None and start <= finish:
            finish = max(finish, stop)
            continue
        if finish is not None and finish > begin:
            yield begin, finish
        begin, finish = start, stop
    if finish is not None and finish > begin:
        yield begin, finish


def _day_parts(begin: float, end: float, tz: ZoneInfo) -> Iterator[tuple[str, float, float]]:
    """A stretch cut at the local midnights it crosses: (day, begin, end) for each day."""
    while begin < end:
        day = datetime.fromtimestamp(begin, tz).date()
        midnight = _midnight(day + timedelta(days=1), tz)
        yield day.isoformat(), begin, min(end, midnight)
        begin = midnight


def _midnight(day: date, tz: ZoneInfo) -> float:
    """The UTC epoch seconds of a local day's start (as tallies.counters.day_bounds_utc)."""
    return datetime.combine(day, time.min, tz).timestamp()


def _moment(text: str) -> float:
    return datetime.fromisoformat(text).timestamp()


def _text(moment: float) -> str:
    return utc_text(datetime.fromtimestamp(moment, ZoneInfo("UTC")))


def _local_day(text: str | None, tz: ZoneInfo) -> str | None:
    return None if text is None else datetime.fromisoformat(text).astimezone(tz).date().isoformat()
