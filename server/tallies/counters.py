"""The counting community_tallies (engine.py) hands out, one kind of record each: isolation
cases and their planned visits, hours on watch at checkpoints, deliveries, cadres assigned.

Each counter adds its numbers to `numbers`, {(community_id, day): numbers}, for consecutive
`days`; `args` holds the communities as JSON (:ids, matched by IN_IDS) and the period
(:first, :last).
"""

from __future__ import annotations

import json
from bisect import bisect_left, bisect_right
from collections import Counter
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import sqlite_utils

from .. import summaries
from ..schedule import SLOT_DEADLINES
from ..summaries import isolation_done, summary_rows
from ..timeutil import utc_text

# The communities of a count: `community_id IN_IDS` with the JSON list bound as :ids.
IN_IDS = "IN (SELECT value FROM json_each(:ids))"

# MAX_SHIFT is read as summaries.MAX_SHIFT, at call time, so a change of it reaches the
# summaries and the tallies alike (tests/test_tally_summary.py changes it).


def day_bounds_utc(day: str, zone: str) -> tuple[datetime, datetime]:
    """The UTC start and end of a local day: compare stored UTC texts against these."""
    start = datetime.combine(date.fromisoformat(day), datetime.min.time(), ZoneInfo(zone))
    return start.astimezone(UTC), (start + timedelta(days=1)).astimezone(UTC)


def _hours(moment: datetime) -> float:
    """Hours since the Unix epoch, on the scale of `_hours_sql`."""
    return moment.timestamp() / 3600


def _hours_sql(column: str) -> str:
    """SQL for the hours since the Unix epoch of a stored UTC text, on the scale of `_hours`."""
    return f"((julianday({column}) - 2440587.5) * 24.0)"


def _local_day_sql(column: str, days: list[str], zone: str) -> str | None:
    """SQL for the local day of a stored UTC text, when the zone keeps one offset over `days`
    (Asia/Shanghai always does); None across a daylight-saving change."""
    offsets = {datetime.combine(date.fromisoformat(d), datetime.min.time(), ZoneInfo(zone))
               .utcoffset() for d in [*days, (date.fromisoformat(days[-1]) + timedelta(days=1))
                                      .isoformat()]}
    if len(offsets) != 1:
        return None
    return f"date({column}, '{int(offsets.pop().total_seconds()):+d} seconds')"


def _add_span(diff: list[int], lo: int, hi: int, value: int = 1) -> None:
    """Add `value` to days lo..hi-1 (clamped to the period) of a difference array."""
    lo, hi = max(lo, 0), min(hi, len(diff) - 1)
    if lo < hi:
        diff[lo] += value
        diff[hi] -= value


def _spans(diff: list[int]) -> list[int]:
    """The value of each day of a difference array (its running sums)."""
    values, running = [], 0
    for change in diff[:-1]:
        running += change
        values.append(running)
    return values


# The last planned day of an isolation case, as isolation.schedule plans it: the end (or the
# planned end), and no later than the policy's phases reach.
_PLAN_LAST = """min(coalesce(c.ended_on, c.planned_end), date(c.starts_on,
    ((SELECT sum(json_extract(p.value, '$.days')) FROM json_each(c.policy_snapshot, '$.phases') p)
     - 1) || ' days'))"""


def count_isolation(db: sqlite_utils.Database, numbers: dict, community_ids: list[int],
                    days: list[str], args: dict, local_now: datetime) -> None:
    """New, active, released and transferred cases; planned isolation visits due, done and
    overdue. Visits done come from the summary table; the rest from one row per case, whose
    days SQL turns into positions in the period (index = day - first day)."""
    n = len(days)
    today_, clock = local_now.date().isoformat(), local_now.time()
    diffs = {key: {c: [0] * (n + 1) for c in community_ids}
             for key in ("cases_new", "cases_active", "cases_released", "cases_transferred",
                         "isolation_visits_due")}
    new, active, released, transferred, due = diffs.values()
    position = "CAST(julianday({}) - julianday(:first) AS INTEGER)"
    plans: dict[str, tuple[int, int]] = {}  # policy snapshot → (days planned, slots a day)
    for c, start, end, planned_end, outcome, snapshot in db.execute(
            f"""SELECT community_id, {position.format('starts_on')}, {position.format('ended_on')},
                  {position.format('planned_end')}, end_outcome, policy_snapshot
                FROM isolation_cases WHERE community_id {IN_IDS}
                AND starts_on <= :last AND (ended_on IS NULL OR ended_on >= :first)""", args):
        if snapshot not in plans:  # cases share their policy's snapshot: read it once
            rules = json.loads(snapshot)
            plans[snapshot] = (sum(p["days"] for p in rules["phases"]), len(rules["slots"]))
        length, slots = plans[snapshot]
        _add_span(new[c], start, start + 1)
        _add_span(active[c], start, n if end is None else end)
        last = min(planned_end if end is None else end, start + length - 1)
        _add_span(due[c], start, last + 1, slots)
        if outcome == "released":
            _add_span(released[c], end, end + 1)
        elif outcome == "transferred":
            _add_span(transferred[c], end, end + 1)
    done = isolation_done(db, community_ids, days[0], days[-1])  # kept by triggers
    for c in community_ids:
        columns = [(key, _spans(diffs[key][c])) for key in diffs]
        for index, day in enumerate(days):
            row = numbers[c, day]
            for key, values in columns:
                row[key] = values[index]
            row["isolation_visits_done"] = done.get((c, day), 0)
            if day < today_:  # a planned visit of a past day not done is overdue
                row["isolation_visits_overdue"] = row["isolation_visits_due"] - row[
                    "isolation_visits_done"]
    late = [slot for slot, deadline in SLOT_DEADLINES.items()
            if deadline is not None and clock >= deadline]
    if today_ in days and late:  # today: the slots past their deadline that no visit names
        for c, overdue in db.execute(
                f"""SELECT c.community_id, count(*) FROM isolation_cases c
                    JOIN json_each(c.policy_snapshot, '$.slots') s
                    WHERE c.community_id {IN_IDS} AND c.starts_on <= :today
                    AND :today <= {_PLAN_LAST} AND s.value IN (SELECT value FROM json_each(:late))
                    AND NOT EXISTS (SELECT 1 FROM isolation_visits v WHERE v.case_id = c.id
                                    AND v.due_day = :today AND v.slot = s.value)
                    GROUP BY c.community_id""",
                {**args, "today": today_, "late": json.dumps(late)}):
            numbers[c, today_]["isolation_visits_overdue"] = overdue


def count_watch_hours(db: sqlite_utils.Database, numbers: dict, community_ids: list[int],
                      days: list[str], args: dict, bounds: list[datetime], now: datetime,
                      summarised: bool) -> None:
    """Hours of each day each checkpoint had someone on watch (overlaps counted once), summed
    per community, and the hours it had nobody. Only the part of a day that has passed counts;
    an open shift counts until MAX_SHIFT, and no shift counts longer. From watch_coverage
    when it is `summarised` in the zone asked for, else counted from the watches."""
    starts = [_hours(b) for b in bounds]
    ends = [min(h, _hours(now)) for h in starts[1:]]
    checkpoints = dict(db.execute(
        f"SELECT id, community_id FROM checkpoints WHERE community_id {IN_IDS}", args))
    count_covered = _covered_from_summary if summarised else _covered_from_watches
    covered = count_covered(db, checkpoints, days, args, bounds, now)
    spans = [max(hi - lo, 0.0) for lo, hi in zip(starts, ends, strict=False)]
    count = Counter(checkpoints.values())
    for c, hours in covered.items():
        for index, day in enumerate(days):
            row = numbers[c, day]
            row["checkpoint_hours_covered"] = round(hours[index], 2)
            row["checkpoint_hours_uncovered"] = round(max(count[c] * spans[index] - hours[index],
                                                          0.0), 2)


def _covered_from_summary(db: sqlite_utils.Database, checkpoints: dict, days: list[str],
                          args: dict, bounds: list[datetime],
                          now: datetime) -> dict[int, list[float]]:
    """{community: hours covered per day} from watch_coverage: a past day's stored seconds; of
    a day not over (today), only the stretches' part before `now`."""
    covered = {c: [0.0] * len(days) for c in set(checkpoints.values())}
    index = {day: n for n, day in enumerate(days)}
    ongoing = next((n for n, end in enumerate(bounds[1:]) if end > now), len(days))
    where = f"FROM watch_coverage WHERE community_id {IN_IDS} AND local_day BETWEEN :lo AND :hi"
    if ongoing > 0:
        for c, day, seconds in db.execute(
                f"SELECT community_id, local_day, sum(seconds) {where} GROUP BY 1, 2",
                {**args, "lo": days[0], "hi": days[ongoing - 1]}):
            if c in covered:
                covered[c][index[day]] += seconds / 3600
    if ongoing < len(days):
        clock = now.timestamp()
        for c, day, stretches in db.execute(
                f"SELECT community_id, local_day, stretches {where}",
                {**args, "lo": days[ongoing], "hi": days[-1]}):
            passed = sum(min(end, clock) - begin for begin, end in json.loads(stretches)
                         if begin < clock)
            if c in covered:
                covered[c][index[day]] += passed / 3600
    return covered


def _covered_from_watches(db: sqlite_utils.Database, checkpoints: dict, days: list[str],
                          args: dict, bounds: list[datetime],
                          now: datetime) -> dict[int, list[float]]:
    """{community: hours covered per day} counted from the check-ins at checkpoints and their
    check-outs (the recount that proves watch_coverage, and the way in another zone)."""
    n = len(days)
    starts = [_hours(b) for b in bounds]
    ends = [min(h, _hours(now)) for h in starts[1:]]
    limit = summaries.MAX_SHIFT.total_seconds() / 3600
    covered = {c: [0.0] * n for c in set(checkpoints.values())}

    def add(hours: list[float], begin: float, finish: float) -> None:
        """Spread one stretch of watch over the days it touches."""
        index = bisect_right(starts, begin) - 1
        if index < 0:
            index = 0
        while index < n and starts[index] < finish:
            lo, hi = starts[index], ends[index]
            part = (finish if finish < hi else hi) - (begin if begin > lo else lo)
            if part > 0:
                hours[index] += part
            index += 1

    # Ordered by checkpoint and start, overlapping watches merge into one stretch as they come.
    current, begin, finish = None, 0.0, 0.0
    for checkpoint_id, start, stop in db.execute(
            f"""SELECT c.checkpoint_id, {_hours_sql('c.recorded_utc')}, {_hours_sql('o.recorded_utc')}
                FROM checkins c LEFT JOIN checkouts o ON o.checkin_id = c.id
                WHERE c.checkpoint_id IN (SELECT value FROM json_each(:checkpoints))
                AND c.recorded_utc >= :lo AND c.recorded_utc < :hi
                ORDER BY c.checkpoint_id, c.recorded_utc""",
            {"checkpoints": json.dumps(list(checkpoints)), "hi": utc_text(bounds[-1]),
             "lo": utc_text(bounds[0] - summaries.MAX_SHIFT)}):
        limited = start + limit
        stop = limited if stop is None or stop > limited else stop
        if checkpoint_id == current and start <= finish:
            if stop > finish:
                finish = stop
            continue
        if current is not None:
            add(covered[checkpoints[current]], begin, finish)
        current, begin, finish = checkpoint_id, start, stop
    if current is not None:
        add(covered[checkpoints[current]], begin, finish)
    return covered


def count_deliveries(db: sqlite_utils.Database, numbers: dict, days: list[str], zone: str,
                     args: dict, bounds: list[datetime], summarised: bool) -> None:
    """Deliveries raised and done on each local day: from daily_delivery_counts (kept from the
    day columns the write path sets) when they are `summarised` in `zone`, else from their UTC
    times."""
    if summarised:  # kept from the day columns by triggers
        for community_id, day, raised, delivered in summary_rows(
                db, "daily_delivery_counts", ("raised", "delivered"), args):
            row = numbers[community_id, day]
            row["deliveries_raised"], row["deliveries_done"] = raised, delivered
        return
    texts = [utc_text(b) for b in bounds]
    for key, column in (("deliveries_raised", "raised_at"), ("deliveries_done", "delivered_at")):
        where = f"""FROM deliveries WHERE community_id {IN_IDS} AND {column} >= :lo
                    AND {column} < :hi"""
        local = _local_day_sql(column, days, zone)
        params = {**args, "lo": texts[0], "hi": texts[-1]}
        if local:
            for community_id, day, count in db.execute(
                    f"SELECT community_id, {local}, count(*) {where} GROUP BY 1, 2", params):
                numbers[community_id, day][key] = count
        else:
            for community_id, moment in db.execute(f"SELECT community_id, {column} {where}", params):
                numbers[community_id, days[bisect_right(texts, moment) - 1]][key] += 1


def count_cadres_assigned(db: sqlite_utils.Database, numbers: dict, community_ids: list[int],
                          days: list[str], args: dict) -> None:
    """Cadres assigned on each day, once each: cadres with one assignment in the community
    come grouped by its dates; the few with several are merged here."""
    diffs = {c: [0] * (len(days) + 1) for c in community_ids}
    several: dict[tuple[int, int], set[int]] = {}
    for community_id, starts_on, ends_on, count, user_id in db.execute(
            f"""WITH a AS (SELECT DISTINCT community_id, user_id, starts_on, ends_on
                           FROM assignments WHERE community_id {IN_IDS} AND starts_on <= :last
                           AND (ends_on IS NULL OR ends_on >= :first)),
                m AS (SELECT community_id, user_id FROM a GROUP BY community_id, user_id
                      HAVING count(*) > 1)
                SELECT community_id, starts_on, ends_on, count(*), NULL FROM a
                WHERE (community_id, user_id) NOT IN m GROUP BY community_id, starts_on, ends_on
                UNION ALL
                SELECT community_id, starts_on, ends_on, 1, user_id FROM a
                WHERE (community_id, user_id) IN m""", args):
        lo = bisect_left(days, starts_on)
        hi = bisect_right(days, ends_on) if ends_on else len(days)
        if user_id is None:
            _add_span(diffs[community_id], lo, hi, count)
        else:
            several.setdefault((community_id, user_id), set()).update(range(lo, hi))
    for (community_id, _), covered in several.items():
        for index in covered:
            _add_span(diffs[community_id], index, index + 1)
    for community_id, diff in diffs.items():
        for day, value in zip(days, _spans(diff), strict=True):
            numbers[community_id, day]["cadres_assigned"] = value
