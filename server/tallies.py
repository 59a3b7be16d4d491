"""Today's picture for committees and admins: who reported, who is on watch, who has not.

A day is the jurisdiction's local day (config TIMEZONE, Asia/Shanghai by default).
"""

from __future__ import annotations

import csv
import io
import json
from bisect import bisect_left, bisect_right
from collections import Counter
from datetime import UTC, date, datetime, timedelta
from operator import itemgetter
from zoneinfo import ZoneInfo

import sqlite_utils
from flask import Blueprint, Response, current_app, jsonify, render_template, request
from flask_login import current_user

from . import charts, places
from .audit import audit
from .auth import mask_phone, require_place_in_scope, require_role, scope_paths
from .checkins import checkin_json, get_checkin
from .db import get_db
from .errors import ApiError, query_int
from .idcard import mask_id_number
from .summaries import (
    CHECKIN_COLUMNS,
    FEVER,
    household_counts,
    isolation_done,
    round_screened,
    summary_rows,
    zone_summaries_current,
)
from .summaries import COLUMNS as SCREENING_COLUMNS
from .timeutil import now_utc, today, utc_text

bp = Blueprint("tallies", __name__)

# A watch shift left open longer than this is not counted as "on watch now".
MAX_SHIFT = timedelta(hours=24)


def _assigned_users(db: sqlite_utils.Database, community_id: int, day: str) -> list[dict]:
    return list(db.query(
        """SELECT DISTINCT u.id, u.name, u.phone, h.name AS home_unit
           FROM assignments a JOIN users u ON u.id = a.user_id
           LEFT JOIN home_units h ON h.id = u.home_unit_id
           WHERE a.community_id = ? AND a.starts_on <= ? AND (a.ends_on IS NULL OR a.ends_on >= ?)
           AND u.active = 1 ORDER BY u.name""", [community_id, day, day]))


def _user_json(row: dict) -> dict:
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
    reported = [{"user": _user_json({**r, "id": r["user_id"]}),
                 "checkin": checkin_json(db, get_checkin(db, r["id"]))} for r in first_checkins]
    reported_ids = {r["user_id"] for r in first_checkins}
    not_reported = [_user_json(u) for u in _assigned_users(db, community["id"], day)
                    if u["id"] not in reported_ids]
    on_watch = []
    since = utc_text(now_utc() - MAX_SHIFT)
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
    since = utc_text(now_utc() - MAX_SHIFT)
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


def _requested_day(name: str = "day") -> str:
    value = request.args.get(name)
    if value is None:
        return today(current_app.config["TIMEZONE"]).isoformat()
    try:
        return date.fromisoformat(value).isoformat()
    except ValueError:
        raise ApiError(422, "invalid", fields=[{"path": f"/{name}", "rule": "format",
                                                "message": "YYYY-MM-DD"}]) from None


# --- routes -----------------------------------------------------------------------------------

@bp.get("/api/places")
@require_role("leader", "committee", "admin")
def visible_places():
    """The nodes of the tree the user may look at, for the dashboard's place picker."""
    db = get_db()
    result = []
    for path in scope_paths(db, current_user):
        result.extend(places.subtree(db, path))
    return jsonify({"places": [{k: p[k] for k in ("id", "parent_id", "kind", "name")}
                               for p in result if p["kind"] != "grid"]})


@bp.get("/api/places/<int:place_id>/today")
@require_role("leader", "committee", "admin")
def place_today(place_id: int):
    db = get_db()
    place = require_place_in_scope(db, current_user, place_id)
    day = _requested_day()
    if place["kind"] == "community":
        return jsonify(community_today(db, place, day))
    if place["kind"] == "grid":
        raise ApiError(404, "not_found")
    return jsonify(rollup_today(db, place, day))


# --- daily tallies (日报) ----------------------------------------------------------------------

# The numbers of a community's day, in the order reports show them, with Chinese headers.
TALLY_FIELDS: list[tuple[str, str]] = [
    ("households_in_round", "本轮应排查户数"),
    ("households_answered", "已排查户数"),
    ("households_nobody_home", "无人在家户数"),
    ("households_refused", "拒绝排查户数"),
    ("residents_screened", "排查人数"),
    ("residents_fever_or_symptoms", "发热或有症状人数"),
    ("cases_new", "新增居家隔离"),
    ("cases_active", "在管居家隔离"),
    ("cases_released", "解除隔离"),
    ("cases_transferred", "转运"),
    ("isolation_visits_due", "应随访次数"),
    ("isolation_visits_done", "已随访次数"),
    ("isolation_visits_overdue", "逾期随访次数"),
    ("deliveries_raised", "新增送医送药"),
    ("deliveries_done", "完成送医送药"),
    ("cadres_assigned", "下沉干部应到"),
    ("cadres_reported", "下沉干部报到"),
    ("cadres_on_watch", "参与值守人数"),
    ("checkpoint_hours_covered", "卡口值守时长(小时)"),
    ("checkpoint_hours_uncovered", "卡口空岗时长(小时)"),
    ("checkins_flagged", "非本社区报到"),
    # mobilisation (enterprises.py): problems of the community's enterprises
    ("problems_raised", "企业问题新增"),
    ("problems_solved", "企业问题解决(企业确认)"),
]


def day_bounds_utc(day: str, zone: str) -> tuple[datetime, datetime]:
    """The UTC start and end of a local day: compare stored UTC texts against these."""
    start = datetime.combine(date.fromisoformat(day), datetime.min.time(), ZoneInfo(zone))
    return start.astimezone(UTC), (start + timedelta(days=1)).astimezone(UTC)


def _hours(moment: datetime) -> float:
    """Hours since the Unix epoch, on the scale of `_hours_sql`."""
    return moment.timestamp() / 3600


def _hours_sql(column: str) -> str:
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


def _isolation_numbers(db, numbers: dict, community_ids: list[int], days: list[str], args: dict,
                       local_now: datetime) -> None:
    """New, active, released and transferred cases; planned isolation visits due, done and
    overdue. Visits done come from the summary table; the rest from one row per case, whose
    days SQL turns into positions in the period (index = day - first day)."""
    from .isolation import SLOT_DEADLINES

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
                FROM isolation_cases WHERE community_id {_IN_IDS}
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
                    WHERE c.community_id {_IN_IDS} AND c.starts_on <= :today
                    AND :today <= {_PLAN_LAST} AND s.value IN (SELECT value FROM json_each(:late))
                    AND NOT EXISTS (SELECT 1 FROM isolation_visits v WHERE v.case_id = c.id
                                    AND v.due_day = :today AND v.slot = s.value)
                    GROUP BY c.community_id""",
                {**args, "today": today_, "late": json.dumps(late)}):
            numbers[c, today_]["isolation_visits_overdue"] = overdue


def _watch_hours(db, numbers: dict, community_ids: list[int], days: list[str], args: dict,
                 bounds: list[datetime], now: datetime, summarised: bool) -> None:
    """Hours of each day each checkpoint had someone on watch (overlaps counted once), summed
    per community, and the hours it had nobody. Only the part of a day that has passed counts;
    an open shift counts until MAX_SHIFT, and no shift counts longer. From watch_coverage
    when it is `summarised` in the zone asked for, else counted from the watches."""
    starts = [_hours(b) for b in bounds]
    ends = [min(h, _hours(now)) for h in starts[1:]]
    checkpoints = dict(db.execute(
        f"SELECT id, community_id FROM checkpoints WHERE community_id {_IN_IDS}", args))
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


def _covered_from_summary(db, checkpoints: dict, days: list[str], args: dict,
                          bounds: list[datetime], now: datetime) -> dict[int, list[float]]:
    """{community: hours covered per day} from watch_coverage: a past day's stored seconds; of
    a day not over (today), only the stretches' part before `now`."""
    covered = {c: [0.0] * len(days) for c in set(checkpoints.values())}
    index = {day: n for n, day in enumerate(days)}
    ongoing = next((n for n, end in enumerate(bounds[1:]) if end > now), len(days))
    where = f"FROM watch_coverage WHERE community_id {_IN_IDS} AND local_day BETWEEN :lo AND :hi"
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


def _covered_from_watches(db, checkpoints: dict, days: list[str], args: dict,
                          bounds: list[datetime], now: datetime) -> dict[int, list[float]]:
    """{community: hours covered per day} counted from the check-ins at checkpoints and their
    check-outs (the recount that proves watch_coverage, and the way in another zone)."""
    n = len(days)
    starts = [_hours(b) for b in bounds]
    ends = [min(h, _hours(now)) for h in starts[1:]]
    limit = MAX_SHIFT.total_seconds() / 3600
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
             "lo": utc_text(bounds[0] - MAX_SHIFT)}):
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


def _count_deliveries(db, numbers: dict, days: list[str], zone: str, args: dict,
                      bounds: list[datetime], summarised: bool) -> None:
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
        where = f"""FROM deliveries WHERE community_id {_IN_IDS} AND {column} >= :lo
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


RECOUNTED_FIELDS = ("deliveries_raised", "deliveries_done", "checkpoint_hours_covered",
                    "checkpoint_hours_uncovered")


def recount_watch_and_deliveries(db: sqlite_utils.Database, community_ids: list[int],
                                 days: list[str], zone: str,
                                 now: datetime | None = None) -> dict[tuple[int, str], dict]:
    """RECOUNTED_FIELDS of each community's day counted from the records, not from
    watch_coverage and the delivery days: the tests and bench/tally.py prove they agree."""
    now = now or now_utc()
    numbers = {(c, d): dict.fromkeys(RECOUNTED_FIELDS, 0) for c in community_ids for d in days}
    args = {"ids": json.dumps([int(c) for c in community_ids]), "first": days[0],
            "last": days[-1]}
    bounds = [day_bounds_utc(d, zone)[0] for d in days] + [day_bounds_utc(days[-1], zone)[1]]
    _count_deliveries(db, numbers, days, zone, args, bounds, summarised=False)
    _watch_hours(db, numbers, community_ids, days, args, bounds, now, summarised=False)
    return numbers


_IN_IDS = "IN (SELECT value FROM json_each(:ids))"


def community_tallies(db: sqlite_utils.Database, community_ids: list[int], days: list[str],
                      zone: str, now: datetime | None = None) -> dict[tuple[int, str], dict]:
    """Every number of each community's local day, {(community_id, day): numbers}, for
    consecutive `days`. Each kind of record is counted by one set-based query over all the
    communities and days: the screening and check-in numbers and the households come from
    the summary tables (summaries.py), the rest from indexed queries over the period."""
    now = now or now_utc()
    first, last = days[0], days[-1]
    keys = [key for key, _ in TALLY_FIELDS]
    numbers = {(c, d): dict.fromkeys(keys, 0) for c in community_ids for d in days}
    args = {"ids": json.dumps([int(c) for c in community_ids]), "first": first, "last": last}

    def put(rows, *columns: str) -> None:
        for community_id, day, *values in rows:
            numbers[community_id, day].update(zip(columns, values, strict=True))

    # screening: the summary table, kept current by the write path
    put(summary_rows(db, "daily_screening_counts", SCREENING_COLUMNS, args), *SCREENING_COLUMNS)
    # households in the round: the community's households on each day a round is open
    households = household_counts(db, community_ids)
    for community_id, starts_on, ends_on in db.execute(
            f"""SELECT community_id, starts_on, ends_on FROM screening_rounds
                WHERE community_id {_IN_IDS} AND starts_on <= :last AND ends_on >= :first""", args):
        for day in days[bisect_left(days, starts_on):bisect_right(days, ends_on)]:
            numbers[community_id, day]["households_in_round"] = households.get(community_id, 0)
    _isolation_numbers(db, numbers, community_ids, days, args, now.astimezone(ZoneInfo(zone)))
    # deliveries raised and done on their local days: kept by the write path (summaries.py)
    bounds = [day_bounds_utc(d, zone)[0] for d in days] + [day_bounds_utc(last, zone)[1]]
    summarised = zone_summaries_current(db, zone)
    _count_deliveries(db, numbers, days, zone, args, bounds, summarised)
    # cadres assigned on each day, once each: cadres with one assignment in the community
    # come grouped by its dates; the few with several are merged here
    diffs = {c: [0] * (len(days) + 1) for c in community_ids}
    several: dict[tuple[int, int], set[int]] = {}
    for community_id, starts_on, ends_on, count, user_id in db.execute(
            f"""WITH a AS (SELECT DISTINCT community_id, user_id, starts_on, ends_on
                           FROM assignments WHERE community_id {_IN_IDS} AND starts_on <= :last
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
    # cadres reported and on watch, check-ins flagged: the summary table, kept by triggers
    put(summary_rows(db, "daily_checkin_counts", CHECKIN_COLUMNS, args), *CHECKIN_COLUMNS)
    _watch_hours(db, numbers, community_ids, days, args, bounds, now, summarised)
    # mobilisation: tickets of enterprises in the community, raised / confirmed solved that day
    for key, column in (("problems_raised", "raised_on"), ("problems_solved", "confirmed_on")):
        put(db.execute(
            f"""SELECT e.community_id, k.{column}, count(*) FROM problem_tickets k
                JOIN enterprises e ON e.id = k.enterprise_id
                WHERE e.community_id {_IN_IDS} AND k.{column} BETWEEN :first AND :last
                GROUP BY e.community_id, k.{column}""", args), key)
    return numbers


def daily_tally(db: sqlite_utils.Database, community_id: int, day: str, zone: str,
                now: datetime | None = None) -> dict:
    """Every number of one community's local day."""
    return community_tallies(db, [community_id], [day], zone, now)[community_id, day]


def _days(first: str, last: str) -> list[str]:
    start, end = date.fromisoformat(first), date.fromisoformat(last)
    if end < start or (end - start).days > 92:
        raise ApiError(422, "invalid", fields=[{"path": "/to", "rule": "range",
                                                "message": "from ≤ to, at most 93 days"}])
    return [(start + timedelta(days=n)).isoformat() for n in range((end - start).days + 1)]


RECORDS_URL = "/api/places/{community_id}/tally/records?day={day}&metric={metric}"


def tally_report(db: sqlite_utils.Database, node: dict, first: str, last: str, zone: str,
                 now: datetime | None = None) -> dict:
    """Rows per community and day below `node`, totals per day, and the day before `first`
    for comparison. Town and district figures are sums of their communities."""
    communities = places.subtree(db, node["path"], "community")
    towns = {p["id"]: p["name"] for p in places.subtree(db, node["path"], "town")}
    days = _days(first, last)
    previous = (date.fromisoformat(first) - timedelta(days=1)).isoformat()
    keys = [key for key, _ in TALLY_FIELDS]
    numbers = community_tallies(db, [c["id"] for c in communities], [previous, *days], zone, now)
    values = itemgetter(*keys)
    totals = {}
    for day in [previous, *days]:
        totals[day] = dict.fromkeys(keys, 0)
        if communities:
            columns = zip(*(values(numbers[c["id"], day]) for c in communities), strict=True)
            totals[day] = {key: round(sum(column), 2)
                           for key, column in zip(keys, columns, strict=True)}
    rows = []
    for community in communities:
        place = {"id": community["id"], "name": community["name"]}
        town = towns.get(community["parent_id"], "")
        for day in days:  # the day's numbers become its row
            row = numbers[community["id"], day]
            row.update(community=place, town=town, day=day)
            rows.append(row)
    return {"place": {k: node[k] for k in ("id", "name", "kind")}, "from": first, "to": last,
            "fields": [{"key": k, "title": title, "records": True} for k, title in TALLY_FIELDS],
            "links": {"records": RECORDS_URL},
            "rows": rows, "totals": [{"day": d, **totals[d]} for d in days],
            "previous_day": {"day": previous, **totals[previous]}}


def _report_from_request(place_id: int) -> dict:
    db = get_db()
    place = require_place_in_scope(db, current_user, place_id)
    if place["kind"] == "grid":
        raise ApiError(404, "not_found")
    zone = current_app.config["TIMEZONE"]
    first = _requested_day("from") if request.args.get("from") else today(zone).isoformat()
    last = _requested_day("to") if request.args.get("to") else first
    return tally_report(db, place, first, last, zone)


def _table(report: dict) -> tuple[list[str], list[list]]:
    """The report as one header row and data rows, with Chinese headers, for CSV and XLSX."""
    header = ["日期", "街道/乡镇", "社区/村"] + [f["title"] for f in report["fields"]]
    keys = [f["key"] for f in report["fields"]]
    rows = [[r["day"], r["town"], r["community"]["name"], *(r[k] for k in keys)]
            for r in report["rows"]]
    rows += [[t["day"], "", "合计", *(t[k] for k in keys)] for t in report["totals"]]
    return header, rows


@bp.get("/api/places/<int:place_id>/tally")
@require_role("committee", "admin")
def place_tally(place_id: int):
    return jsonify(_report_from_request(place_id))


def download(fmt: str, title: str, header: list[str], rows: list[list], filename: str,
             place_id: int) -> Response:
    """A table as CSV (UTF-8 with a BOM, so Excel in China reads it as UTF-8) or XLSX; every
    export is written to the audit log."""
    audit(get_db(), "export", f"place:{place_id}", f"{filename}.{fmt}")
    disposition = {"Content-Disposition": f"attachment; filename={filename}.{fmt}"}
    if fmt == "csv":
        out = io.StringIO()
        writer = csv.writer(out)
        writer.writerow(header)
        writer.writerows(rows)
        return Response("\ufeff" + out.getvalue(), mimetype="text/csv", headers=disposition)
    from openpyxl import Workbook

    book = Workbook(write_only=True)
    sheet = book.create_sheet(title[:31])  # Excel's limit for a sheet name
    sheet.append(header)
    for row in rows:
        sheet.append(row)
    out = io.BytesIO()
    book.save(out)
    return Response(out.getvalue(), headers=disposition,
                    mimetype="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")


@bp.get("/api/places/<int:place_id>/tally.csv", defaults={"fmt": "csv"})
@bp.get("/api/places/<int:place_id>/tally.xlsx", defaults={"fmt": "xlsx"})
@require_role("committee", "admin")
def place_tally_file(place_id: int, fmt: str):
    report = _report_from_request(place_id)
    header, rows = _table(report)
    return download(fmt, f"日报 {report['from']}", header, rows,
                    f"tally-{place_id}-{report['from']}-{report['to']}", place_id)


@bp.get("/reports/<int:place_id>/daily")
@require_role("committee", "admin")
def daily_report_page(place_id: int):
    """The printable daily report (日报) a committee or town sends up the chain."""
    report = _report_from_request(place_id)
    # One report per day of the range, each beside the day before it, a page each on paper.
    befores = [report["previous_day"], *report["totals"][:-1]]
    pages = [{"day": total["day"], "total": total, "previous": before,
              "rows": [r for r in report["rows"] if r["day"] == total["day"]]}
             for total, before in zip(report["totals"], befores, strict=True)]
    return render_template("daily_report.html", report=report, pages=pages,
                           fields=report["fields"], zone=current_app.config["TIMEZONE"])


# --- the records behind a number (the tally's links) ------------------------------------------

# What each number counts, so a list of records can be read against it: the households_* count
# distinct households among the visits listed, cadres_reported/on_watch distinct cadres among
# the check-ins listed, the checkpoint hours are covered (or not) by the watches listed.
RECORD_COUNTS = {
    "households_in_round": "households", "households_answered": "households",
    "households_nobody_home": "households", "households_refused": "households",
    "residents_screened": "records", "residents_fever_or_symptoms": "records",
    "cadres_assigned": "cadres", "cadres_reported": "cadres", "cadres_on_watch": "cadres",
    "checkpoint_hours_covered": "hours", "checkpoint_hours_uncovered": "hours",
}
MAX_RECORDS = 1000
_HOUSEHOLD_COLUMNS = """h.id AS household_id, h.building, h.unit, h.door,
    (SELECT g.name FROM places g WHERE g.id = h.grid_id) AS grid"""
_LIVE_VISIT = "NOT EXISTS (SELECT 1 FROM screening_visits x WHERE x.corrects_id = v.id)"


def _household(row: dict) -> dict:
    from .screening import address

    return {"id": row["household_id"], "address": address(row), "grid": row["grid"]}


def _person(row: dict, prefix: str = "") -> dict:
    """A resident or cadre as the tallies show them: name, phone and ID number masked."""
    data = {"id": row[f"{prefix}id"], "name": row[f"{prefix}name"]}
    if f"{prefix}phone" in row:
        data["phone"] = mask_phone(row[f"{prefix}phone"]) if row[f"{prefix}phone"] else ""
    if f"{prefix}id_number" in row:
        data["id_number"] = mask_id_number(row[f"{prefix}id_number"])
    return data


def _screening_records(db, c: int, day: str, metric: str) -> list[dict]:
    if metric.startswith("households_"):
        rows = db.query(
            f"""SELECT v.id, v.recorded_at, v.outcome, v.result, v.corrects_id, {_HOUSEHOLD_COLUMNS},
                  u.id AS user_id, u.name AS user_name
                FROM screening_visits v JOIN households h ON h.id = v.household_id
                JOIN users u ON u.id = v.user_id
                WHERE v.community_id = ? AND v.local_day = ? AND v.outcome = ? AND {_LIVE_VISIT}
                ORDER BY h.building, h.unit, h.door, v.recorded_utc""",
            [c, day, metric.removeprefix("households_")])
        return [{"type": "screening_visit", "id": r["id"], "recorded_at": r["recorded_at"],
                 "outcome": r["outcome"], "result": r["result"], "corrects_id": r["corrects_id"],
                 "household": _household(r), "user": {"id": r["user_id"], "name": r["user_name"]}}
                for r in rows]
    feverish = (f" AND (s.temperature >= {FEVER} OR s.symptoms NOT IN ('[]', ''))"
                if metric == "residents_fever_or_symptoms" else "")
    rows = db.query(
        f"""SELECT s.visit_id, v.recorded_at, s.temperature, s.symptoms, {_HOUSEHOLD_COLUMNS},
              p.id, p.name, p.phone, p.id_number
            FROM screening_visit_residents s JOIN screening_visits v ON v.id = s.visit_id
            JOIN households h ON h.id = v.household_id JOIN residents p ON p.id = s.resident_id
            WHERE s.present = 1 AND v.community_id = ? AND v.local_day = ? AND {_LIVE_VISIT}
            {feverish} ORDER BY h.building, h.unit, h.door, v.recorded_utc, p.name""", [c, day])
    return [{"type": "screening_visit_resident", "visit_id": r["visit_id"],
             "recorded_at": r["recorded_at"], "temperature": r["temperature"],
             "symptoms": json.loads(r["symptoms"] or "[]"), "resident": _person(r),
             "household": _household(r)} for r in rows]


_CASE_FILTERS = {
    "cases_new": "c.starts_on = :day",
    "cases_active": "c.starts_on <= :day AND (c.ended_on IS NULL OR c.ended_on > :day)",
    "cases_released": "c.ended_on = :day AND c.end_outcome = 'released'",
    "cases_transferred": "c.ended_on = :day AND c.end_outcome = 'transferred'",
    "isolation_visits": "c.starts_on <= :day AND (c.ended_on IS NULL OR c.ended_on >= :day)",
}


def _case_records(db, c: int, day: str, metric: str, zone: str, now: datetime) -> list[dict]:
    from .isolation import schedule, visits_of

    key = "isolation_visits" if metric.startswith("isolation_visits_") else metric
    cases = list(db.query(
        f"""SELECT c.*, {_HOUSEHOLD_COLUMNS}, p.id AS resident_id, p.name AS resident_name,
              p.id_number AS resident_id_number
            FROM isolation_cases c JOIN households h ON h.id = c.household_id
            JOIN residents p ON p.id = c.resident_id
            WHERE c.community_id = :c AND {_CASE_FILTERS[key]}
            ORDER BY c.starts_on, h.building, h.unit, h.door""", {"c": c, "day": day}))

    def case_item(case: dict) -> dict:
        return {"type": "isolation_case", "id": case["id"], "kind": case["kind"],
                "starts_on": case["starts_on"], "planned_end": case["planned_end"],
                "ended_on": case["ended_on"], "end_outcome": case["end_outcome"],
                "status": case["status"], "resident": _person(case, "resident_"),
                "household": _household(case)}

    if metric.startswith("cases_"):
        return [case_item(case) for case in cases]
    wanted = metric.removeprefix("isolation_visits_")
    records = []
    for case in cases:
        visits = visits_of(db, case["id"])
        for entry in schedule(case, visits, now, zone):
            if entry["day"] != day or (wanted != "due" and entry["status"] != wanted):
                continue
            visit = next((v["id"] for v in visits if (v["due_day"], v["slot"])
                          == (day, entry["slot"])), None)
            records.append({"type": "isolation_visit_plan", "day": day, "slot": entry["slot"],
                            "status": entry["status"], "visit_id": visit, "case": case_item(case)})
    return records


def _checkin_records(db, c: int, day: str, metric: str, zone: str) -> list[dict]:
    where = {"cadres_reported": "", "cadres_on_watch": " AND c.checkpoint_id IS NOT NULL",
             "checkins_flagged": " AND c.outside_assignment = 1"}
    if metric in where:
        sql = f"c.community_id = :c AND c.local_day = :day{where[metric]}"
    else:  # the watches that cover part of the day at the community's checkpoints
        lo, hi = day_bounds_utc(day, zone)
        sql = f"""c.checkpoint_id IN (SELECT id FROM checkpoints WHERE community_id = :c)
                  AND c.recorded_utc >= :before AND c.recorded_utc < :hi
                  AND min(coalesce(julianday(o.recorded_utc), 1e9),
                          julianday(c.recorded_utc) + {MAX_SHIFT / timedelta(days=1)})
                      > julianday(:lo)"""
    rows = db.query(
        f"""SELECT c.id, c.recorded_at, c.outside_assignment, c.checkpoint_id, k.name AS checkpoint,
              o.recorded_at AS checkout_at, u.id AS user_id, u.name AS user_name,
              u.phone AS user_phone
            FROM checkins c JOIN users u ON u.id = c.user_id
            LEFT JOIN checkpoints k ON k.id = c.checkpoint_id
            LEFT JOIN checkouts o ON o.checkin_id = c.id
            WHERE {sql} ORDER BY c.recorded_utc""",
        {"c": c, "day": day, **({} if metric in where else {
            "lo": utc_text(lo), "hi": utc_text(hi), "before": utc_text(lo - MAX_SHIFT)})})
    return [{"type": "checkin", "id": r["id"], "recorded_at": r["recorded_at"],
             "checkout_at": r["checkout_at"],
             "checkpoint": ({"id": r["checkpoint_id"], "name": r["checkpoint"]}
                            if r["checkpoint_id"] else None),
             "outside_assignment": bool(r["outside_assignment"]), "user": _person(r, "user_")}
            for r in rows]


def tally_records(db: sqlite_utils.Database, community_id: int, day: str, metric: str,
                  zone: str, now: datetime | None = None) -> list[dict]:
    """The records behind one number of a community's day (`metric`: a TALLY_FIELDS key), in
    the order a committee checks them; personal data masked as in the tallies."""
    now = now or now_utc()
    c = community_id
    if metric not in dict(TALLY_FIELDS):
        raise ValueError(f"unknown tally metric {metric}")
    if metric == "households_in_round":
        rows = db.query(
            f"""SELECT {_HOUSEHOLD_COLUMNS} FROM households h
                WHERE h.community_id = :c AND h.deleted_at IS NULL AND EXISTS (
                  SELECT 1 FROM screening_rounds r WHERE r.community_id = :c
                  AND r.starts_on <= :day AND r.ends_on >= :day)
                ORDER BY h.building, h.unit, h.door""", {"c": c, "day": day})
        return [{"type": "household", **_household(r)} for r in rows]
    if metric.startswith(("households_", "residents_")):
        return _screening_records(db, c, day, metric)
    if metric.startswith(("cases_", "isolation_visits_")):
        return _case_records(db, c, day, metric, zone, now)
    if metric.startswith("deliveries_"):
        column = "raised_at" if metric == "deliveries_raised" else "delivered_at"
        lo, hi = day_bounds_utc(day, zone)
        rows = db.query(
            f"""SELECT d.id, d.kind, d.what, d.status, d.raised_at, d.delivered_at, d.case_id,
                  {_HOUSEHOLD_COLUMNS}
                FROM deliveries d JOIN households h ON h.id = d.household_id
                WHERE d.community_id = ? AND d.{column} >= ? AND d.{column} < ?
                ORDER BY d.{column}""", [c, utc_text(lo), utc_text(hi)])
        return [{"type": "delivery", **{k: r[k] for k in ("id", "kind", "what", "status",
                                                          "raised_at", "delivered_at", "case_id")},
                 "household": _household(r)} for r in rows]
    if metric == "cadres_assigned":
        rows = db.query(
            """SELECT DISTINCT u.id, u.name, u.phone, h.name AS home_unit
               FROM assignments a JOIN users u ON u.id = a.user_id
               LEFT JOIN home_units h ON h.id = u.home_unit_id
               WHERE a.community_id = ? AND a.starts_on <= ? AND (a.ends_on IS NULL OR a.ends_on >= ?)
               ORDER BY u.name""", [c, day, day])
        return [{"type": "cadre", "user": _user_json(r)} for r in rows]
    if metric.startswith("problems_"):
        column = "raised_on" if metric == "problems_raised" else "confirmed_on"
        rows = db.query(
            f"""SELECT k.id, k.category, k.status, k.raised_on, k.confirmed_on,
                  e.id AS enterprise_id, e.name AS enterprise_name
                FROM problem_tickets k JOIN enterprises e ON e.id = k.enterprise_id
                WHERE e.community_id = ? AND k.{column} = ? ORDER BY k.recorded_at""", [c, day])
        return [{"type": "problem_ticket", **{k: r[k] for k in ("id", "category", "status",
                                                                "raised_on", "confirmed_on")},
                 "enterprise": {"id": r["enterprise_id"], "name": r["enterprise_name"]}}
                for r in rows]
    return _checkin_records(db, c, day, metric, zone)


def _records_request(place_id: int) -> tuple[dict, str, str, str, list[dict]]:
    """The community, day, metric (with its title) and records a records request names."""
    db = get_db()
    place = require_place_in_scope(db, current_user, place_id)
    if place["kind"] != "community":
        raise ApiError(404, "not_found")
    metric = request.args.get("metric", "")
    titles = dict(TALLY_FIELDS)
    if metric not in titles:
        raise ApiError(422, "invalid", fields=[{"path": "/query/metric", "rule": "enum",
                                                "message": ", ".join(titles)}])
    day = _requested_day()
    records = tally_records(db, place["id"], day, metric, current_app.config["TIMEZONE"])
    return place, day, metric, titles[metric], records


@bp.get("/api/places/<int:place_id>/tally/records")
@require_role("committee", "admin")
def place_tally_records(place_id: int):
    """The records behind one number of a community's day: the tally's links."""
    place, day, metric, title, records = _records_request(place_id)
    limit = min(max(query_int("limit", 200), 1), MAX_RECORDS)
    offset = max(query_int("offset", 0), 0)
    value = daily_tally(get_db(), place["id"], day, current_app.config["TIMEZONE"])[metric]
    return jsonify({"place": {k: place[k] for k in ("id", "name", "kind")}, "day": day,
                    "metric": metric, "title": title, "value": value,
                    "counts": RECORD_COUNTS.get(metric, "records"), "total": len(records),
                    "limit": limit, "offset": offset,
                    "records": records[offset:offset + limit]})


@bp.get("/api/places/<int:place_id>/tally/records.csv", defaults={"fmt": "csv"})
@bp.get("/api/places/<int:place_id>/tally/records.xlsx", defaults={"fmt": "xlsx"})
@require_role("committee", "admin")
def place_tally_records_file(place_id: int, fmt: str):
    """The same list as a spreadsheet, masked as on screen, with Chinese headers."""
    place, day, metric, title, records = _records_request(place_id)
    header, rows = flat_table(records)
    return download(fmt, f"{title} {day}", header, rows,
                    f"records-{place['id']}-{day}-{metric}", place["id"])


# Chinese headers of the records' fields: a nested field is named by its owner and its own
# name, e.g. household.address -> 住户地址.
_OWNERS = {"household": "住户", "user": "干部", "resident": "居民", "case": "隔离",
           "checkpoint": "卡口"}
_FIELDS = {
    "type": "记录类型", "id": "编号", "name": "姓名", "phone": "电话", "id_number": "身份证号",
    "address": "地址", "grid": "网格", "recorded_at": "记录时间", "outcome": "入户结果",
    "result": "排查结论", "corrects_id": "更正的记录", "visit_id": "随访/入户记录",
    "temperature": "体温", "symptoms": "症状", "kind": "类别", "starts_on": "开始日期",
    "planned_end": "计划结束日期", "ended_on": "结束日期", "end_outcome": "结束去向",
    "status": "状态", "day": "日期", "slot": "时段", "checkout_at": "签退时间",
    "outside_assignment": "非派驻地报到", "what": "物品/事项", "raised_at": "提出时间",
    "delivered_at": "送达时间", "case_id": "隔离编号", "category": "问题类别",
    "description": "问题描述", "raised_on": "提出日期", "confirmed_on": "确认解决日期",
}


def _flat(record: dict, path: tuple = ()) -> dict[tuple, object]:
    cells: dict[tuple, object] = {}
    for key, value in record.items():
        if isinstance(value, dict):
            cells.update(_flat(value, (*path, key)))
        else:
            cells[(*path, key)] = value
    return cells


def _cell(value: object) -> object:
    if isinstance(value, bool):
        return "是" if value else "否"
    if isinstance(value, list):
        return "、".join(str(v) for v in value)
    return "" if value is None else value


def flat_table(records: list[dict]) -> tuple[list[str], list[list]]:
    """Records (nested dicts) as one header row and data rows for CSV and XLSX."""
    flat = [_flat(r) for r in records]
    columns = list(dict.fromkeys(key for cells in flat for key in cells))
    header = ["".join(_OWNERS.get(part, _FIELDS.get(part, part)) for part in key[:-1])
              + _FIELDS.get(key[-1], key[-1]) for key in columns]
    return header, [[_cell(cells.get(key)) for key in columns] for cells in flat]


# --- screening round progress ------------------------------------------------------------------

def round_progress(db: sqlite_utils.Database, community: dict, day: str) -> dict:
    """The community's current round: per grid and per cadre, households screened (a door
    answered in the round) of households to screen, and which remain."""
    from .screening import address, current_round

    round_ = current_round(db, community["id"], day)
    if round_ is None:
        return {"round": None, "grids": [], "cadres": [], "remaining": []}
    households = list(db.query(
        """SELECT h.*, g.name AS grid_name, EXISTS (SELECT 1 FROM screening_visits v
               WHERE v.household_id = h.id AND v.round_id = ? AND v.outcome = 'answered')
               AS screened
           FROM households h JOIN places g ON g.id = h.grid_id
           WHERE h.community_id = ? AND h.deleted_at IS NULL
           ORDER BY g.path, h.building, h.unit, h.door""", [round_["id"], community["id"]]))
    grids: dict[int, dict] = {}
    for h in households:
        grid = grids.setdefault(h["grid_id"], {"grid": {"id": h["grid_id"], "name": h["grid_name"]},
                                               "households": 0, "screened": 0})
        grid["households"] += 1
        grid["screened"] += h["screened"]
    cadres = []
    for row in db.query(
            """SELECT u.id, u.name, group_concat(a.grid_id) AS grid_ids
               FROM grid_assignments a JOIN users u ON u.id = a.user_id
               JOIN places g ON g.id = a.grid_id WHERE g.parent_id = ?
               GROUP BY u.id ORDER BY u.name""", [community["id"]]):
        mine = {int(g) for g in row["grid_ids"].split(",")}
        own = [h for h in households if h["grid_id"] in mine]
        cadres.append({"user": {"id": row["id"], "name": row["name"]},
                       "households": len(own), "screened": sum(h["screened"] for h in own)})
    return {
        "round": {k: round_[k] for k in ("id", "name", "starts_on", "ends_on")},
        "grids": list(grids.values()),
        "cadres": cadres,
        "remaining": [{"id": h["id"], "address": address(h), "grid": h["grid_name"]}
                      for h in households if not h["screened"]],
    }


# --- cadre work record (一线考察) ----------------------------------------------------------------

WORK_FIELDS: list[tuple[str, str]] = [
    ("days_reported", "报到天数"),
    ("watch_hours", "值守时长(小时)"),
    ("households_screened", "入户排查户次"),
    ("isolation_visits", "隔离随访次数"),
    ("deliveries_done", "送医送药次数"),
    # mobilisation (enterprises.py, inspections.py): enterprise problems, field inspections
    ("problems_raised", "记录企业问题数"),
    ("problems_solved", "解决企业问题数"),
    ("inspections_on_duty", "督查在岗次数"),
    ("inspections_absent", "督查不在岗次数"),
    ("notices_read", "已读通知数"),
]


def work_records(db: sqlite_utils.Database, node: dict, first: str, last: str,
                 zone: str) -> list[dict]:
    """Per cadre assigned below `node` in the period: the work the organisation department
    weighs in its field evaluation, counted from the cadre's own records."""
    lo, _ = day_bounds_utc(first, zone)
    _, hi = day_bounds_utc(last, zone)
    lo_text, hi_text = utc_text(lo), utc_text(hi)
    rows = db.query(
        f"""SELECT u.id, u.name, u.phone, h.name AS home_unit, group_concat(DISTINCT p.name) AS places,
             (SELECT count(DISTINCT c.local_day) FROM checkins c WHERE c.user_id = u.id
                AND c.local_day BETWEEN :first AND :last) AS days_reported,
             (SELECT coalesce(sum(min(julianday(coalesce(o.recorded_utc, c.recorded_utc))
                                      - julianday(c.recorded_utc), 1.0)), 0) * 24
                FROM checkins c LEFT JOIN checkouts o ON o.checkin_id = c.id
                WHERE c.user_id = u.id AND c.checkpoint_id IS NOT NULL
                AND c.local_day BETWEEN :first AND :last) AS watch_hours,
             (SELECT count(*) FROM screening_visits v WHERE v.user_id = u.id
                AND v.outcome = 'answered' AND v.local_day BETWEEN :first AND :last
                AND {_LIVE_VISIT}) AS households_screened,  -- a corrected visit is replaced
             (SELECT count(*) FROM isolation_visits v WHERE v.user_id = u.id
                AND v.local_day BETWEEN :first AND :last) AS isolation_visits,
             (SELECT count(*) FROM deliveries d WHERE d.delivered_by = u.id
                AND d.delivered_at >= :lo AND d.delivered_at < :hi) AS deliveries_done,
             -- mobilisation: tickets raised / confirmed solved, inspections that saw the cadre
             (SELECT count(*) FROM problem_tickets k WHERE k.user_id = u.id
                AND k.raised_on BETWEEN :first AND :last) AS problems_raised,
             (SELECT count(*) FROM problem_tickets k WHERE k.user_id = u.id
                AND k.confirmed_on BETWEEN :first AND :last) AS problems_solved,
             (SELECT count(*) FROM inspection_cadres ic JOIN inspections i ON i.id = ic.inspection_id
                WHERE ic.user_id = u.id AND ic.on_duty = 1
                AND i.local_day BETWEEN :first AND :last) AS inspections_on_duty,
             (SELECT count(*) FROM inspection_cadres ic JOIN inspections i ON i.id = ic.inspection_id
                WHERE ic.user_id = u.id AND ic.on_duty = 0
                AND i.local_day BETWEEN :first AND :last) AS inspections_absent,
             (SELECT count(*) FROM notice_recipients r WHERE r.user_id = u.id
                AND r.read_at >= :lo AND r.read_at < :hi) AS notices_read
           FROM users u JOIN assignments a ON a.user_id = u.id
           JOIN places p ON p.id = a.community_id
           LEFT JOIN home_units h ON h.id = u.home_unit_id
           WHERE p.path >= :path AND p.path < :path_end
           AND a.starts_on <= :last AND (a.ends_on IS NULL OR a.ends_on >= :first)
           GROUP BY u.id""",
        {"first": first, "last": last, "lo": lo_text, "hi": hi_text, "path": node["path"],
         "path_end": node["path"] + "\uffff"})
    return [{"user": {"id": r["id"], "name": r["name"], "phone": mask_phone(r["phone"]),
                      "home_unit": r["home_unit"] or ""},
             "places": r["places"], **{k: r[k] for k, _ in WORK_FIELDS},
             "watch_hours": round(r["watch_hours"], 2)} for r in rows]


def _period() -> tuple[str, str]:
    zone = current_app.config["TIMEZONE"]
    last = _requested_day("to") if request.args.get("to") else today(zone).isoformat()
    first = (_requested_day("from") if request.args.get("from")
             else (date.fromisoformat(last) - timedelta(days=29)).isoformat())
    _days(first, last)  # checks order and length
    return first, last


def _progress_request(place_id: int) -> tuple[dict, str, dict]:
    """The community, day (?day=, today by default) and round progress a request names."""
    db = get_db()
    place = require_place_in_scope(db, current_user, place_id)
    if place["kind"] != "community":
        raise ApiError(404, "not_found")
    day = _requested_day() if request.args.get("day") else \
        today(current_app.config["TIMEZONE"]).isoformat()
    return place, day, round_progress(db, place, day)


@bp.get("/api/places/<int:place_id>/round-progress")
@require_role("leader", "committee", "admin")
def place_round_progress(place_id: int):
    place, _, progress = _progress_request(place_id)
    return jsonify({"place": {k: place[k] for k in ("id", "name", "kind")}, **progress})


@bp.get("/api/places/<int:place_id>/round-progress.csv", defaults={"fmt": "csv"})
@bp.get("/api/places/<int:place_id>/round-progress.xlsx", defaults={"fmt": "xlsx"})
@require_role("committee", "admin")
def place_round_progress_file(place_id: int, fmt: str):
    """Round progress per grid and per cadre, then the households still to screen: the
    list a committee prints for its cadres."""
    place, day, progress = _progress_request(place_id)
    rows = [["网格", g["grid"]["name"], "", g["households"], g["screened"]]
            for g in progress["grids"]]
    rows += [["干部", c["user"]["name"], "", c["households"], c["screened"]]
             for c in progress["cadres"]]
    rows += [["待排查户", h["address"], h["grid"], "", ""] for h in progress["remaining"]]
    name = progress["round"]["name"] if progress["round"] else ""
    return download(fmt, f"排查进度 {name}", ["类别", "名称/地址", "网格", "应排查户数",
                                            "已排查户数"], rows,
                    f"round-progress-{place['id']}-{day}", place["id"])


def _sorted_work_records(place_id: int) -> tuple[dict, str, str, list[dict]]:
    db = get_db()
    place = require_place_in_scope(db, current_user, place_id)
    first, last = _period()
    records = work_records(db, place, first, last, current_app.config["TIMEZONE"])
    key = request.args.get("sort", "days_reported")
    if key not in dict(WORK_FIELDS):
        raise ApiError(422, "invalid", fields=[{"path": "/sort", "rule": "enum",
                                                "message": ", ".join(dict(WORK_FIELDS))}])
    records.sort(key=lambda r: (-r[key], r["user"]["name"]))
    if request.args.get("order") == "asc":
        records.reverse()
    return place, first, last, records


@bp.get("/api/places/<int:place_id>/work-records")
@require_role("committee", "admin")
def place_work_records(place_id: int):
    place, first, last, records = _sorted_work_records(place_id)
    return jsonify({"place": {k: place[k] for k in ("id", "name", "kind")}, "from": first,
                    "to": last, "fields": [{"key": k, "title": t} for k, t in WORK_FIELDS],
                    "records": records})


@bp.get("/api/places/<int:place_id>/work-records.csv", defaults={"fmt": "csv"})
@bp.get("/api/places/<int:place_id>/work-records.xlsx", defaults={"fmt": "xlsx"})
@require_role("committee", "admin")
def place_work_records_file(place_id: int, fmt: str):
    place, first, last, records = _sorted_work_records(place_id)
    header = ["姓名", "工作单位", "下沉社区", *(title for _, title in WORK_FIELDS)]
    rows = [[r["user"]["name"], r["user"]["home_unit"], r["places"],
             *(r[k] for k, _ in WORK_FIELDS)] for r in records]
    return download(fmt, f"一线考察 {first}", header, rows,
                    f"work-records-{place_id}-{first}-{last}", place_id)


# --- pictures ---------------------------------------------------------------------------------

TREND_SERIES = [("households_answered", "已排查户"), ("residents_fever_or_symptoms", "发热/症状"),
                ("cases_active", "在管隔离"), ("cadres_reported", "干部报到")]


@bp.get("/api/places/<int:place_id>/trend.svg")
@require_role("committee", "admin")
def trend_svg(place_id: int):
    """The main numbers over the 14 local days up to today (or ?days=N, at most 60; ?to=day)."""
    db = get_db()
    place = require_place_in_scope(db, current_user, place_id)
    if place["kind"] == "grid":
        raise ApiError(404, "not_found")
    zone = current_app.config["TIMEZONE"]
    days = min(max(query_int("days", 14), 2), 60)
    last = date.fromisoformat(_requested_day("to")) if request.args.get("to") else today(zone)
    report = tally_report(db, place, (last - timedelta(days=days - 1)).isoformat(),
                          last.isoformat(), zone)
    labels = [t["day"] for t in report["totals"]]
    series = [(title, [t[key] for t in report["totals"]]) for key, title in TREND_SERIES]
    title = f"{place['name']} 近{days}日" if last == today(zone) else (
        f"{place['name']} {labels[0]} 至 {labels[-1]}")
    svg = charts.line_chart(title, labels, series)
    return Response(svg, mimetype="image/svg+xml")


@bp.get("/api/places/<int:place_id>/progress.svg")
@require_role("committee", "admin")
def progress_svg(place_id: int):
    """Communities below the node by screening progress in their current round."""
    db = get_db()
    place = require_place_in_scope(db, current_user, place_id)
    day = today(current_app.config["TIMEZONE"]).isoformat()
    communities = places.subtree(db, place["path"], "community")
    ids = [c["id"] for c in communities]
    screened, households = round_screened(db, ids, day), household_counts(db, ids)
    bars = []
    for community in communities:  # as round_progress counts, from the summaries
        done = screened.get(community["id"])
        total = households.get(community["id"], 0) if done is not None else 0
        bars.append((community["name"], (done or 0) / total if total else 0.0,
                     f"{done or 0}/{total}"))
    bars.sort(key=lambda bar: bar[1])
    return Response(charts.bar_chart("排查进度（本轮）", bars), mimetype="image/svg+xml")
