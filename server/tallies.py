"""Today's picture for committees and admins: who reported, who is on watch, who has not.

A day is the jurisdiction's local day (config TIMEZONE, Asia/Shanghai by default).
"""

from __future__ import annotations

import csv
import io
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import sqlite_utils
from flask import Blueprint, Response, current_app, jsonify, render_template, request
from flask_login import current_user

from . import places
from .audit import audit
from .auth import mask_phone, require_place_in_scope, require_role, scope_paths
from .checkins import checkin_json, get_checkin
from .db import get_db
from .errors import ApiError
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
]
FEVER = 37.3


def day_bounds_utc(day: str, zone: str) -> tuple[datetime, datetime]:
    """The UTC start and end of a local day: compare stored UTC texts against these."""
    start = datetime.combine(date.fromisoformat(day), datetime.min.time(), ZoneInfo(zone))
    return start.astimezone(UTC), (start + timedelta(days=1)).astimezone(UTC)


def _scalar(db: sqlite_utils.Database, sql: str, params) -> int:
    return db.execute(sql, params).fetchone()[0] or 0


def _checkpoint_hours(db, community_id: int, lo: datetime, hi: datetime) -> tuple[float, float]:
    """Hours of the day each checkpoint had someone on watch (overlaps counted once), summed,
    and the hours it had nobody. Only the part of the day that has passed counts."""
    hi = min(hi, now_utc())
    covered = uncovered = 0.0
    for checkpoint in places.checkpoints_of(db, community_id):
        intervals = []
        for start, end in db.execute(
                """SELECT c.recorded_utc, o.recorded_utc FROM checkins c
                   LEFT JOIN checkouts o ON o.checkin_id = c.id
                   WHERE c.checkpoint_id = ? AND c.recorded_utc < ? AND c.recorded_utc >= ?""",
                [checkpoint["id"], utc_text(hi), utc_text(lo - MAX_SHIFT)]):
            begin = datetime.fromisoformat(start.replace("Z", "+00:00"))
            finish = (datetime.fromisoformat(end.replace("Z", "+00:00")) if end
                      else begin + MAX_SHIFT)  # an open shift counts until its limit
            begin, finish = max(begin, lo), min(finish, hi)
            if finish > begin:
                intervals.append((begin, finish))
        total = timedelta()
        current_start = current_end = None
        for begin, finish in sorted(intervals):
            if current_end is None or begin > current_end:
                if current_end is not None:
                    total += current_end - current_start
                current_start, current_end = begin, finish
            else:
                current_end = max(current_end, finish)
        if current_end is not None:
            total += current_end - current_start
        covered += total.total_seconds() / 3600
        uncovered += max(hi - lo, timedelta()).total_seconds() / 3600 - total.total_seconds() / 3600
    return round(covered, 2), round(max(uncovered, 0.0), 2)


def daily_tally(db: sqlite_utils.Database, community_id: int, day: str, zone: str,
                now: datetime | None = None) -> dict:
    """Every number of one community's local day, counted from the records themselves."""
    from .isolation import schedule, visits_of

    now = now or now_utc()
    lo, hi = day_bounds_utc(day, zone)
    c = community_id
    # A correction replaces the visit it corrects in every count.
    live_visits = """screening_visits v WHERE v.community_id = ? AND v.local_day = ?
                     AND NOT EXISTS (SELECT 1 FROM screening_visits x WHERE x.corrects_id = v.id)"""
    outcomes = dict(db.execute(
        f"SELECT v.outcome, count(DISTINCT v.household_id) FROM {live_visits} GROUP BY v.outcome",
        [c, day]).fetchall())
    residents = db.execute(
        f"""SELECT count(*), sum(r.temperature >= {FEVER} OR r.symptoms NOT IN ('[]', ''))
            FROM screening_visit_residents r WHERE r.present = 1
            AND r.visit_id IN (SELECT v.id FROM {live_visits})""", [c, day]).fetchone()
    in_round = _scalar(db, """SELECT count(*) FROM households h WHERE h.community_id = ?
        AND h.deleted_at IS NULL AND EXISTS (SELECT 1 FROM screening_rounds r
        WHERE r.community_id = h.community_id AND r.starts_on <= ? AND r.ends_on >= ?)""",
        [c, day, day])
    due = done = overdue = 0
    for case in db.query("""SELECT * FROM isolation_cases WHERE community_id = ?
                            AND starts_on <= ? AND (ended_on IS NULL OR ended_on >= ?)""",
                         [c, day, day]):
        for entry in schedule(case, visits_of(db, case["id"]), now, zone):
            if entry["day"] == day:
                due += 1
                done += entry["status"] == "done"
                overdue += entry["status"] == "overdue"
    hours_covered, hours_uncovered = _checkpoint_hours(db, c, lo, hi)
    return {
        "households_in_round": in_round,
        "households_answered": outcomes.get("answered", 0),
        "households_nobody_home": outcomes.get("nobody_home", 0),
        "households_refused": outcomes.get("refused", 0),
        "residents_screened": residents[0] or 0,
        "residents_fever_or_symptoms": residents[1] or 0,
        "cases_new": _scalar(db, "SELECT count(*) FROM isolation_cases WHERE community_id = ? "
                                 "AND starts_on = ?", [c, day]),
        "cases_active": _scalar(db, """SELECT count(*) FROM isolation_cases WHERE community_id = ?
            AND starts_on <= ? AND (ended_on IS NULL OR ended_on > ?)""", [c, day, day]),
        "cases_released": _scalar(db, """SELECT count(*) FROM isolation_cases WHERE
            community_id = ? AND ended_on = ? AND end_outcome = 'released'""", [c, day]),
        "cases_transferred": _scalar(db, """SELECT count(*) FROM isolation_cases WHERE
            community_id = ? AND ended_on = ? AND end_outcome = 'transferred'""", [c, day]),
        "isolation_visits_due": due,
        "isolation_visits_done": done,
        "isolation_visits_overdue": overdue,
        "deliveries_raised": _scalar(db, """SELECT count(*) FROM deliveries WHERE community_id = ?
            AND raised_at >= ? AND raised_at < ?""", [c, utc_text(lo), utc_text(hi)]),
        "deliveries_done": _scalar(db, """SELECT count(*) FROM deliveries WHERE community_id = ?
            AND delivered_at >= ? AND delivered_at < ?""", [c, utc_text(lo), utc_text(hi)]),
        "cadres_assigned": _scalar(db, """SELECT count(DISTINCT user_id) FROM assignments
            WHERE community_id = ? AND starts_on <= ? AND (ends_on IS NULL OR ends_on >= ?)""",
            [c, day, day]),
        "cadres_reported": _scalar(db, """SELECT count(DISTINCT user_id) FROM checkins
            WHERE community_id = ? AND local_day = ?""", [c, day]),
        "cadres_on_watch": _scalar(db, """SELECT count(DISTINCT user_id) FROM checkins
            WHERE community_id = ? AND local_day = ? AND checkpoint_id IS NOT NULL""", [c, day]),
        "checkpoint_hours_covered": hours_covered,
        "checkpoint_hours_uncovered": hours_uncovered,
        "checkins_flagged": _scalar(db, """SELECT count(*) FROM checkins WHERE community_id = ?
            AND local_day = ? AND outside_assignment = 1""", [c, day]),
    }


def _days(first: str, last: str) -> list[str]:
    start, end = date.fromisoformat(first), date.fromisoformat(last)
    if end < start or (end - start).days > 92:
        raise ApiError(422, "invalid", fields=[{"path": "/to", "rule": "range",
                                                "message": "from ≤ to, at most 93 days"}])
    return [(start + timedelta(days=n)).isoformat() for n in range((end - start).days + 1)]


def tally_report(db: sqlite_utils.Database, node: dict, first: str, last: str, zone: str) -> dict:
    """Rows per community and day below `node`, totals per day, and the day before `first`
    for comparison. Town and district figures are sums of their communities."""
    communities = places.subtree(db, node["path"], "community")
    towns = {p["id"]: p["name"] for p in places.subtree(db, node["path"], "town")}
    days = _days(first, last)
    previous = (date.fromisoformat(first) - timedelta(days=1)).isoformat()
    keys = [key for key, _ in TALLY_FIELDS]
    rows: list[dict] = []
    totals = {day: dict.fromkeys(keys, 0) for day in days}
    before = dict.fromkeys(keys, 0)
    for community in communities:
        for day in [previous, *days]:
            numbers = daily_tally(db, community["id"], day, zone)
            target = before if day == previous else totals[day]
            for key, value in numbers.items():
                target[key] = round(target[key] + value, 2)
            if day != previous:
                rows.append({"community": {"id": community["id"], "name": community["name"]},
                             "town": towns.get(community["parent_id"], ""), "day": day,
                             **numbers})
    return {"place": {k: node[k] for k in ("id", "name", "kind")}, "from": first, "to": last,
            "fields": [{"key": k, "title": title} for k, title in TALLY_FIELDS],
            "rows": rows, "totals": [{"day": d, **totals[d]} for d in days],
            "previous_day": {"day": previous, **before}}


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


@bp.get("/api/places/<int:place_id>/tally.csv")
@require_role("committee", "admin")
def place_tally_csv(place_id: int):
    report = _report_from_request(place_id)
    header, rows = _table(report)
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(header)
    writer.writerows(rows)
    audit(get_db(), "export", f"place:{place_id}", f"tally.csv {report['from']}..{report['to']}")
    name = f"tally-{place_id}-{report['from']}-{report['to']}.csv"
    # UTF-8 with a BOM: Excel in China opens it as UTF-8 instead of guessing GBK.
    return Response("\ufeff" + out.getvalue(), mimetype="text/csv",
                    headers={"Content-Disposition": f"attachment; filename={name}"})


@bp.get("/api/places/<int:place_id>/tally.xlsx")
@require_role("committee", "admin")
def place_tally_xlsx(place_id: int):
    from openpyxl import Workbook

    report = _report_from_request(place_id)
    header, rows = _table(report)
    book = Workbook(write_only=True)
    sheet = book.create_sheet(f"日报 {report['from']}")
    sheet.append(header)
    for row in rows:
        sheet.append(row)
    out = io.BytesIO()
    book.save(out)
    audit(get_db(), "export", f"place:{place_id}", f"tally.xlsx {report['from']}..{report['to']}")
    name = f"tally-{place_id}-{report['from']}-{report['to']}.xlsx"
    return Response(out.getvalue(), headers={"Content-Disposition": f"attachment; filename={name}"},
                    mimetype="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")


@bp.get("/reports/<int:place_id>/daily")
@require_role("committee", "admin")
def daily_report_page(place_id: int):
    """The printable daily report (日报) a committee or town sends up the chain."""
    report = _report_from_request(place_id)
    total = report["totals"][0]
    return render_template("daily_report.html", report=report, total=total,
                           previous=report["previous_day"], fields=report["fields"])
