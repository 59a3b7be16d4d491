"""Tally benchmark: a district of 1,000 communities over 30 days with 10 million screening visits.

    python bench/tally.py [--visits 10000000] [--communities 1000] [--days 30] [--db FILE]

Generates the district into its own SQLite file (the real schema from server/migrations.py,
filled with raw executemany in big transactions, the summary table filled consistently, which
takes several minutes at full size), then times, in the same run, side by side:
  - a plain `SELECT count(*) FROM screening_visits`,
  - the district tally (tally_report) for one day and for 30 days, and its JSON,
  - a community tally for one day and for 30 days,
  - the old way for the screening numbers: a recount from the visits of one community's day,
  - the old way for hours on watch and deliveries: counted from the watches and the deliveries'
    UTC times for the district's 30 days,
and prints the ratios to the count(*). It also checks the summaries against a recount on a
sample of community-days, and hours on watch and deliveries on every community-day of the
30-day district tally. The summaries that need the time zone (watch_coverage, the delivery
days) are made by the same rebuild the server runs at start (summaries.ensure_zone).
--db FILE keeps the generated file and reuses it on the next run with the same sizes;
without it the file goes to a temporary directory, removed at the end.
The numbers move with the machine; the ratios much less.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import sqlite3
import statistics
import sys
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

ZONE = "Asia/Shanghai"
CADRES = 20         # per community (Hubei: 580,000 cadres in 27,000 communities)
CHECKPOINTS = 2     # per community, watched in three 8-hour shifts a day
GRIDS = 5           # per community
CASES = 10          # home isolation cases opened per community over the period
DELIVERIES = 3      # per community and day
OUTCOMES = ["answered"] * 16 + ["nobody_home"] * 3 + ["refused"]
CORRECTED = 0.005   # share of visits corrected by a later visit the same day
SURNAMES = "王李张刘陈杨赵黄周吴徐孙胡朱高林何郭马罗"


def uid(kind: int, n: int) -> str:
    """A UUID-shaped id that grows with n, so the primary-key index is filled in order."""
    return f"{kind:08x}-0000-4000-8000-{n:012x}"


def utc(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class Writer:
    """executemany in batches, one transaction per `commit_every` rows."""

    def __init__(self, conn: sqlite3.Connection, batch: int = 50_000):
        self.conn, self.batch, self.pending, self.rows = conn, batch, {}, 0

    def add(self, sql: str, row: tuple) -> None:
        rows = self.pending.setdefault(sql, [])
        rows.append(row)
        if len(rows) >= self.batch:
            self.flush(sql)

    def flush(self, sql: str | None = None) -> None:
        for key in [sql] if sql else list(self.pending):
            rows = self.pending.pop(key, [])
            if rows:
                self.conn.executemany(key, rows)
                self.rows += len(rows)


def generate(path: Path, communities: int, days: list[str], visits: int, seed: int = 1) -> dict:
    """The district, its people and a month of their records; returns the sizes made."""
    from server.db import init_db
    from server.migrations import V6_BACKFILL, V9_BACKFILL

    rng = random.Random(seed)
    database = path  # `path` is a place's path below
    init_db(path)
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode = OFF")
    conn.execute("PRAGMA synchronous = OFF")
    conn.execute("PRAGMA cache_size = -1000000")
    big = ("screening_visits", "screening_visit_residents", "checkins", "households", "residents",
           "isolation_visits", "deliveries")
    indexes = conn.execute(
        f"""SELECT name, sql FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL
            AND tbl_name IN ({','.join('?' * len(big))})""", big).fetchall()
    triggers = conn.execute("SELECT name, sql FROM sqlite_master WHERE type = 'trigger'").fetchall()
    for kind, rows in (("INDEX", indexes), ("TRIGGER", triggers)):
        for name, _ in rows:  # made again once the rows are in: much faster than row by row
            conn.execute(f"DROP {kind} {name}")
    conn.execute("BEGIN")
    w = Writer(conn)
    stamp = utc(datetime.now(UTC))
    zone = ZoneInfo(ZONE)
    first_day = date.fromisoformat(days[0])
    policy_id, rules, name, edition = conn.execute(
        "SELECT id, rules, name, edition FROM isolation_policies WHERE place_id IS NULL "
        "ORDER BY id LIMIT 1").fetchone()
    snapshot = json.dumps({"name": name, "edition": edition, "version": 1, **json.loads(rules)},
                          ensure_ascii=False)
    case_days = sum(p["days"] for p in json.loads(rules)["phases"])
    conn.execute("INSERT INTO places (id, kind, name, path) VALUES (1, 'district', '压测区', '/1/')")
    towns = max(1, communities // 50)
    next_place = 2
    community_ids = []
    for t in range(towns):
        town = next_place
        next_place += 1
        conn.execute("INSERT INTO places (id, parent_id, kind, name, path) VALUES (?, 1, 'town', ?, ?)",
                     [town, f"街道{t + 1}", f"/1/{town}/"])
        for c in range(t, communities, towns):
            community = next_place
            next_place += 1
            community_ids.append((community, town))
            conn.execute("INSERT INTO places (id, parent_id, kind, name, path) "
                         "VALUES (?, ?, 'community', ?, ?)",
                         [community, town, f"社区{c + 1}", f"/1/{town}/{community}/"])
    conn.execute("""INSERT INTO users (id, phone, name, password_hash, role, place_id, created_at)
                    VALUES (1, '13900000000', '区管理员', 'x', 'admin', 1, ?)""", [stamp])
    per_day = visits / (communities * len(days))
    households_per = max(20, int(per_day * 3))  # each household visited every third day or so
    counts = {"visits": 0, "visit_residents": 0, "households": 0, "residents": 0, "checkins": 0,
              "isolation_cases": 0, "isolation_visits": 0, "deliveries": 0}
    summary = []
    n_user = n_household = n_resident = n_visit = n_checkin = n_case = n_iso = n_delivery = 0
    n_checkpoint = n_grid = 0
    for index, (community, town) in enumerate(community_ids):
        path = f"/1/{town}/{community}/"
        grids = []
        for g in range(GRIDS):
            n_grid += 1
            grid = 100_000 + n_grid
            grids.append(grid)
            w.add("INSERT INTO places (id, parent_id, kind, name, path) VALUES (?,?,'grid',?,?)",
                  (grid, community, f"网格{g + 1}", f"{path}{grid}/"))
        cadres = []
        for k in range(CADRES):
            n_user += 1
            user = 10 + n_user
            cadres.append(user)
            w.add("""INSERT INTO users (id, phone, name, password_hash, role, created_at)
                     VALUES (?,?,?,'x','cadre',?)""", (user, f"138{n_user:08d}",
                                                       SURNAMES[k] + f"干部{n_user}", stamp))
            w.add("""INSERT INTO assignments (user_id, community_id, starts_on, created_at)
                     VALUES (?,?,?,?)""", (user, community, days[0], stamp))
        poster = uid(0x10, community)
        w.add("INSERT INTO posters (id, community_id, manual_code, issued_at) VALUES (?,?,?,?)",
              (poster, community, f"{community:08d}", stamp))
        checkpoints = []
        for k in range(CHECKPOINTS):
            n_checkpoint += 1
            checkpoints.append(n_checkpoint)
            w.add("INSERT INTO checkpoints (id, community_id, name) VALUES (?,?,?)",
                  (n_checkpoint, community, f"卡口{k + 1}"))
            w.add("""INSERT INTO posters (id, community_id, checkpoint_id, manual_code, issued_at)
                     VALUES (?,?,?,?,?)""", (uid(0x11, n_checkpoint), community, n_checkpoint,
                                             f"9{n_checkpoint:07d}", stamp))
        w.add("""INSERT INTO screening_rounds (id, community_id, name, starts_on, ends_on, created_at)
                 VALUES (?,?,'第一轮',?,?,?)""", (community, community, days[0], days[-1], stamp))
        households = []
        for h in range(households_per):
            n_household += 1
            household = uid(0x20, n_household)
            members = []
            for _ in range(rng.choice((1, 2, 2, 3))):
                n_resident += 1
                members.append(uid(0x21, n_resident))
                w.add("""INSERT INTO residents (id, household_id, name, id_type, id_number, phone,
                             created_at, updated_at) VALUES (?,?,?,'id_card',?,?,?,?)""",
                      (members[-1], household, f"{SURNAMES[n_resident % 20]}居民{n_resident}",
                       f"420102{1950 + n_resident % 60}0101{n_resident % 10000:04d}",
                       f"137{n_resident:08d}", stamp, stamp))
            households.append((household, members))
            w.add("""INSERT INTO households (id, community_id, grid_id, building, unit, door,
                         head_name, phone, residents_count, created_at, updated_at)
                     VALUES (?,?,?,?,?,?,?,?,?,?,?)""",
                  (household, community, grids[h % GRIDS], str(h // 40 + 1), str(h // 10 % 4 + 1),
                   f"{h % 10 + 1:02d}", "户主", f"139{n_household:08d}", len(members), stamp,
                   stamp))
        counts["households"] += len(households)
        # a month of visits, check-ins, watches, deliveries
        due = round(per_day * (index + 1) * len(days)) - round(per_day * index * len(days))
        for d, day in enumerate(days):
            midnight = datetime.combine(first_day + timedelta(days=d), datetime.min.time(), zone)
            todays = due // len(days) + (1 if d < due % len(days) else 0)
            live: dict[str, tuple] = {}
            for v in range(todays):
                n_visit += 1
                visit = uid(0x30, n_visit)
                when = midnight + timedelta(seconds=rng.randrange(7 * 3600, 21 * 3600))
                corrects = None
                if live and rng.random() < CORRECTED:
                    corrects = rng.choice(list(live))
                    household, members = live.pop(corrects)[0]
                else:
                    household, members = households[rng.randrange(len(households))]
                outcome = rng.choice(OUTCOMES)
                fever = 0
                if outcome == "answered":
                    for resident in members:
                        temperature = 37.6 if rng.random() < 0.01 else 36.5
                        fever += temperature >= 37.3
                        w.add("""INSERT INTO screening_visit_residents (visit_id, resident_id,
                                     temperature, symptoms) VALUES (?,?,?,'[]')""",
                              (visit, resident, temperature))
                    counts["visit_residents"] += len(members)
                live[visit] = ((household, members), outcome,
                               len(members) if outcome == "answered" else 0, fever)
                w.add("""INSERT INTO screening_visits (id, household_id, round_id, community_id,
                             user_id, recorded_at, recorded_utc, local_day, received_at, device_id,
                             outcome, result, notes, corrects_id, payload_hash)
                         VALUES (?,?,?,?,?,?,?,?,?,'bench',?,?,'',?,?)""",
                      (visit, household, community, community, cadres[v % CADRES], when.isoformat(),
                       utc(when), day, utc(when + timedelta(minutes=5)), outcome,
                       "normal" if outcome == "answered" else None, corrects,
                       f"{n_visit:064x}"))
            counts["visits"] += todays
            numbers = {o: set() for o in ("answered", "nobody_home", "refused")}
            screened = feverish = 0
            for (household, _), outcome, residents, fever in live.values():
                numbers[outcome].add(household)
                screened += residents
                feverish += fever
            summary.append((community, day, len(numbers["answered"]), len(numbers["nobody_home"]),
                            len(numbers["refused"]), screened, feverish))
            for k, user in enumerate(cadres):
                if rng.random() < 0.9:
                    n_checkin += 1
                    when = midnight + timedelta(minutes=rng.randrange(7 * 60, 10 * 60))
                    w.add("""INSERT INTO checkins (id, user_id, poster_id, community_id, recorded_at,
                                 recorded_utc, local_day, received_at, outside_assignment,
                                 payload_hash) VALUES (?,?,?,?,?,?,?,?,?,'h')""",
                          (uid(0x40, n_checkin), user, poster, community, when.isoformat(),
                           utc(when), day, utc(when), int(k == 0 and d % 7 == 0)))
            for k, checkpoint in enumerate(checkpoints):
                for shift in range(3):
                    if rng.random() < 0.05:
                        continue  # an uncovered shift
                    n_checkin += 1
                    start = midnight + timedelta(hours=8 * shift, minutes=rng.randrange(0, 20))
                    checkin = uid(0x40, n_checkin)
                    w.add("""INSERT INTO checkins (id, user_id, poster_id, community_id,
                                 checkpoint_id, recorded_at, recorded_utc, local_day, received_at,
                                 payload_hash) VALUES (?,?,?,?,?,?,?,?,?,'h')""",
                          (checkin, cadres[(d + k * 3 + shift) % CADRES], uid(0x11, checkpoint),
                           community, checkpoint, start.isoformat(), utc(start), day, utc(start)))
                    end = start + timedelta(hours=8)
                    w.add("""INSERT INTO checkouts (id, checkin_id, user_id, recorded_at,
                                 recorded_utc, received_at, payload_hash) VALUES (?,?,?,?,?,?,'h')""",
                          (uid(0x41, n_checkin), checkin, cadres[(d + k * 3 + shift) % CADRES],
                           end.isoformat(), utc(end), utc(end)))
            for _ in range(DELIVERIES):
                n_delivery += 1
                raised = midnight + timedelta(minutes=rng.randrange(8 * 60, 20 * 60))
                delivered = raised + timedelta(hours=rng.choice((2, 4, 30)))
                w.add("""INSERT INTO deliveries (id, household_id, community_id, kind, what, status,
                             raised_by, raised_at, delivered_by, delivered_at)
                         VALUES (?,?,?,'medicine','常用药','delivered',?,?,?,?)""",
                      (uid(0x50, n_delivery), households[n_delivery % len(households)][0],
                       community, cadres[0], utc(raised), cadres[1], utc(delivered)))
        # home isolation cases, visited morning and evening on nine days in ten
        for _ in range(CASES):
            n_case += 1
            case = uid(0x60, n_case)
            household, members = households[rng.randrange(len(households))]
            start = first_day + timedelta(days=rng.randrange(len(days)))
            planned_end = start + timedelta(days=case_days - 1)
            ended_on, outcome = None, None  # released at the planned end; one in ten transferred
            if rng.random() < 0.1:
                ended_on, outcome = start + timedelta(days=rng.randrange(1, case_days)), "transferred"
            elif planned_end.isoformat() < days[-1]:
                ended_on, outcome = planned_end, "released"
            last_day = min(ended_on or planned_end, first_day + timedelta(days=len(days) - 1))
            if ended_on and ended_on.isoformat() > days[-1]:
                ended_on, outcome = None, None  # still open today
            w.add("""INSERT INTO isolation_cases (id, resident_id, household_id, community_id,
                         reason, kind, starts_on, planned_end, policy_id, policy_snapshot, status,
                         end_outcome, ended_on, created_by, recorded_at, received_at, updated_at,
                         payload_hash)
                     VALUES (?,?,?,?,'close_contact','home_isolation',?,?,?,?,?,?,?,?,?,?,?,'h')""",
                  (case, members[0], household, community, start.isoformat(),
                   planned_end.isoformat(), policy_id, snapshot, "ended" if ended_on else "open",
                   outcome, ended_on.isoformat() if ended_on else None, cadres[0], stamp, stamp,
                   stamp))
            visit_day = start
            while visit_day <= last_day:
                for slot, hour in (("morning", 9), ("evening", 19)):
                    if rng.random() < 0.9:
                        n_iso += 1
                        when = (datetime.combine(visit_day, datetime.min.time(), zone)
                                + timedelta(hours=hour))
                        w.add("""INSERT INTO isolation_visits (id, case_id, user_id, due_day, slot,
                                     recorded_at, recorded_utc, local_day, received_at, temperature,
                                     payload_hash) VALUES (?,?,?,?,?,?,?,?,?,36.6,'h')""",
                              (uid(0x61, n_iso), case, cadres[1], visit_day.isoformat(), slot,
                               when.isoformat(), utc(when), visit_day.isoformat(), utc(when)))
                visit_day += timedelta(days=1)
        if index % 50 == 49:
            w.flush()
            conn.execute("COMMIT")
            conn.execute("BEGIN")
            print(f"  {index + 1}/{communities} communities, {n_visit:,} visits", flush=True)
    w.flush()
    conn.executemany(
        """INSERT INTO daily_screening_counts (community_id, local_day, households_answered,
               households_nobody_home, households_refused, residents_screened,
               residents_fever_or_symptoms) VALUES (?,?,?,?,?,?,?)""", summary)
    conn.execute("COMMIT")
    print("  building indexes ...", flush=True)
    for _, sql in indexes:
        conn.execute(sql)
    for sql in V6_BACKFILL:  # the summaries the triggers keep (screening's is filled above)
        if "daily_screening_counts" not in sql:
            conn.execute(sql)
    for sql in V9_BACKFILL:
        conn.execute(sql)
    for _, sql in triggers:
        conn.execute(sql)
    conn.execute("""CREATE TABLE bench_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)""")
    counts.update(residents=n_resident, checkins=n_checkin, isolation_cases=n_case,
                  isolation_visits=n_iso, deliveries=n_delivery)
    conn.execute("INSERT INTO bench_meta VALUES ('sizes', ?)", [json.dumps(counts)])
    conn.execute("PRAGMA journal_mode = WAL")  # as the server runs it
    conn.close()
    began = time.perf_counter()
    rebuild(database)
    print(f"  hours on watch and delivery days made in {time.perf_counter() - began:.1f} s",
          flush=True)
    return counts


def rebuild(path: Path) -> None:
    """watch_coverage and the delivery days from the rows written, as at the server's start."""
    from server.db import connect, write_transaction
    from server.summaries import rebuild_zone_summaries

    db = connect(path)
    try:
        with write_transaction(db):
            rebuild_zone_summaries(db, ZONE)
    finally:
        db.close()


def same_indexes(path: Path) -> list[str]:
    """Give a kept file the indexes of today's schema (they may have changed since it was
    made), so a rerun measures the current code; returns the names created or rebuilt. A file
    whose tables or triggers differ from today's schema has to be made again."""
    from server.db import init_db

    query = "SELECT type, name, sql FROM sqlite_master WHERE sql IS NOT NULL AND name != 'bench_meta'"
    with tempfile.TemporaryDirectory() as folder:
        init_db(Path(folder) / "schema.db")
        with sqlite3.connect(Path(folder) / "schema.db") as fresh:
            schema = fresh.execute(query).fetchall()
    conn = sqlite3.connect(path, isolation_level=None)
    kept = conn.execute(query).fetchall()
    if {r for r in schema if r[0] != "index"} != {r for r in kept if r[0] != "index"}:
        sys.exit(f"{path} was made with another schema: remove it to generate it again")
    wanted = {name: sql for kind, name, sql in schema if kind == "index"}
    have = {name: sql for kind, name, sql in kept if kind == "index"}
    changed = [name for name, sql in wanted.items() if have.get(name) != sql]
    for name in changed:
        print(f"  building index {name} ...", flush=True)
        conn.execute(f"DROP INDEX IF EXISTS {name}")
        conn.execute(wanted[name])
    conn.close()
    return changed


def timed(fn, repeat: int) -> tuple[float, float, object]:
    """(first run, median of `repeat` further runs) in seconds, and the last result."""
    began = time.perf_counter()
    result = fn()
    first = time.perf_counter() - began
    runs = []
    for _ in range(repeat):
        began = time.perf_counter()
        result = fn()
        runs.append(time.perf_counter() - began)
    return first, statistics.median(runs), result


def watch_and_deliveries(numbers: dict) -> dict:
    from server.tallies.engine import RECOUNTED_FIELDS

    return {key: {k: row[k] for k in RECOUNTED_FIELDS} for key, row in numbers.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--visits", type=int, default=10_000_000)
    parser.add_argument("--communities", type=int, default=1000)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--db", type=Path, help="keep the generated file here (reused next time)")
    args = parser.parse_args()

    from server.db import connect
    from server.summaries import (
        checkin_counts,
        household_counts,
        isolation_done,
        recount_checkins,
        recount_households,
        recount_isolation_done,
        recount_screening,
        round_screened,
        stored_counts,
    )
    from server.tallies.engine import (
        community_tallies,
        daily_tally,
        recount_watch_and_deliveries,
        tally_report,
    )
    from server.tallies.progress import round_progress

    last = datetime.now(ZoneInfo(ZONE)).date() - timedelta(days=1)
    days = [(last - timedelta(days=args.days - 1 - n)).isoformat() for n in range(args.days)]
    folder = None
    if args.db is None:
        folder = Path(tempfile.mkdtemp(prefix="baodao-tally-"))
        path = folder / "tally.db"
    else:
        path = args.db
    try:
        sizes = None
        if path.exists():
            with sqlite3.connect(path) as probe:
                try:
                    sizes = json.loads(probe.execute(
                        "SELECT value FROM bench_meta WHERE key = 'sizes'").fetchone()[0])
                    places = probe.execute(
                        "SELECT count(*) FROM places WHERE kind = 'community'").fetchone()[0]
                    first = probe.execute("SELECT min(local_day) FROM daily_screening_counts"
                                          ).fetchone()[0]
                except (sqlite3.Error, TypeError):
                    sizes = None
            if sizes and (sizes["visits"] != args.visits or places != args.communities):
                sys.exit(f"{path} holds another size: remove it or choose another --db")
            if sizes:
                days = [(date.fromisoformat(first) + timedelta(days=n)).isoformat()
                        for n in range(args.days)]
                print(f"reusing {path} (days {days[0]}..{days[-1]})")
                created = same_indexes(path)
                if created:
                    print(f"  created the indexes the schema has gained since: {', '.join(created)}")
        if sizes is None:
            path.parent.mkdir(parents=True, exist_ok=True)
            print(f"generating {args.communities} communities x {args.days} days, "
                  f"{args.visits:,} screening visits into {path}", flush=True)
            began = time.perf_counter()
            sizes = generate(path, args.communities, days, args.visits)
            print(f"  generated in {time.perf_counter() - began:.0f} s")
        print("  sizes: " + ", ".join(f"{k} {v:,}" for k, v in sizes.items()))
        print(f"  file: {path.stat().st_size / 2**30:.1f} GiB")

        db = connect(path)
        district = next(db.query("SELECT * FROM places WHERE kind = 'district'"))
        community = next(db.query("SELECT * FROM places WHERE kind = 'community' ORDER BY id"))
        day, now = days[-1], datetime.now(UTC)
        ids = [row[0] for row in db.execute("SELECT id FROM places WHERE kind = 'community'")]
        communities_of_district = list(db.query("SELECT * FROM places WHERE kind = 'community'"))
        r = args.repeat
        load = os.getloadavg()[0]  # other work on the machine slows every figure
        results = {
            "SELECT count(*) FROM screening_visits": timed(
                lambda: db.execute("SELECT count(*) FROM screening_visits").fetchone()[0], r),
            "district tally, 1 day (tally_report)": timed(
                lambda: tally_report(db, district, day, day, ZONE, now), r),
            "district tally, 30 days (tally_report)": timed(
                lambda: tally_report(db, district, days[0], days[-1], ZONE, now), r),
            "community tally, 1 day (daily_tally)": timed(
                lambda: daily_tally(db, community["id"], day, ZONE, now), r),
            "community tally, 30 days (tally_report)": timed(
                lambda: tally_report(db, community, days[0], days[-1], ZONE, now), r),
            "recount of one community-day's screening (old way)": timed(
                lambda: recount_screening(db, community["id"], day), r),
            "recount of watch hours + deliveries, 30 days (old)": timed(
                lambda: recount_watch_and_deliveries(db, ids, days, ZONE, now), r),
            "district progress chart numbers (round_screened_counts)": timed(
                lambda: (round_screened(db, ids, day), household_counts(db, ids)), r),
            "the same from the visits (round_progress per community)": timed(
                lambda: [round_progress(db, c, day) for c in communities_of_district], 1),
        }
        summary_bars = results["district progress chart numbers (round_screened_counts)"][2]
        recounted_bars = results["the same from the visits (round_progress per community)"][2]
        agree = sum(  # a community with no current round: no bar numbers, no grids
            (summary_bars[0].get(c["id"], 0),
             summary_bars[1].get(c["id"], 0) if c["id"] in summary_bars[0] else 0) == (
                sum(g["screened"] for g in p["grids"]), sum(g["households"] for g in p["grids"]))
            for c, p in zip(communities_of_district, recounted_bars, strict=True))
        month = results["district tally, 30 days (tally_report)"][2]
        results["JSON of the 30-day district tally"] = timed(lambda: json.dumps(month), r)
        base = results["SELECT count(*) FROM screening_visits"][1]
        count = results["SELECT count(*) FROM screening_visits"][2]
        print(f"\n{count:,} screening visits; {len(month['rows']):,} rows in the 30-day district "
              f"tally; load average {os.getloadavg()[0]:.1f} (started at {load:.1f}); times: "
              f"first run / median of {r} (ratio of the median to count(*))")
        for label, (first_run, median, _) in results.items():
            print(f"  {label:<58} {first_run * 1000:9.1f} ms / {median * 1000:9.1f} ms  "
                  f"({median / base:.3f})")
        # the summaries against a recount from the records, on a sample of community-days
        rng = random.Random(7)
        sample = [(rng.choice(ids), rng.choice(days)) for _ in range(50)]
        checks = {
            "screening": lambda c, d: stored_counts(db, c, d) == recount_screening(db, c, d),
            "check-ins": lambda c, d: checkin_counts(db, [c], d, d).get((c, d)) ==
            recount_checkins(db, c, d),
            "isolation visits done": lambda c, d: isolation_done(db, [c], d, d).get((c, d), 0) ==
            recount_isolation_done(db, c, d),
            "households": lambda c, d: household_counts(db, [c]).get(c, 0) ==
            recount_households(db, c),
            "hours on watch and deliveries": lambda c, d: watch_and_deliveries(
                community_tallies(db, [c], [d], ZONE, now)) == watch_and_deliveries(
                recount_watch_and_deliveries(db, [c], [d], ZONE, now)),
        }
        bad = []
        for name, check in checks.items():
            wrong = [(c, d) for c, d in sample if not check(c, d)]
            bad += wrong
            print(f"\n{name} summary = recount on {len(sample) - len(wrong)} of {len(sample)} "
                  f"sampled community-days" + (f"; DIFFERENT: {wrong[:5]}" if wrong else ""),
                  end="")
        recounted = results["recount of watch hours + deliveries, 30 days (old)"][2]
        rows = {(row["community"]["id"], row["day"]): row for row in month["rows"]}
        wrong = [key for key, row in rows.items() if watch_and_deliveries({key: row}) !=
                 watch_and_deliveries({key: recounted[key]})]
        bad += wrong
        print(f"\nhours on watch and deliveries summary = recount on {len(rows) - len(wrong):,} "
              f"of {len(rows):,} community-days of the 30-day district tally"
              + (f"; DIFFERENT: {wrong[:5]}" if wrong else ""))
        print(f"round progress summary = recount on {agree:,} of {len(recounted_bars):,} "
              "communities")
        if agree != len(recounted_bars):
            bad.append(("round progress", len(recounted_bars) - agree))
        db.close()
        if bad:
            sys.exit(1)
    finally:
        if folder is not None:
            shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
