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

from . import charts, places
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
    # mobilisation (enterprises.py): problems of the community's enterprises
    ("problems_raised", "企业问题新增"),
    ("problems_solved", "企业问题解决(企业确认)"),
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
        # mobilisation: tickets of enterprises in the community, raised / confirmed solved today
        "problems_raised": _scalar(db, """SELECT count(*) FROM problem_tickets k JOIN enterprises e
            ON e.id = k.enterprise_id WHERE e.community_id = ? AND k.raised_on = ?""", [c, day]),
        "problems_solved": _scalar(db, """SELECT count(*) FROM problem_tickets k JOIN enterprises e
            ON e.id = k.enterprise_id WHERE e.community_id = ? AND k.confirmed_on = ?""", [c, day]),
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
    total = report["totals"][0]
    return render_template("daily_report.html", report=report, total=total,
                           previous=report["previous_day"], fields=report["fields"])


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
]


def work_records(db: sqlite_utils.Database, node: dict, first: str, last: str,
                 zone: str) -> list[dict]:
    """Per cadre assigned below `node` in the period: the work the organisation department
    weighs in its field evaluation, counted from the cadre's own records."""
    lo, _ = day_bounds_utc(first, zone)
    _, hi = day_bounds_utc(last, zone)
    lo_text, hi_text = utc_text(lo), utc_text(hi)
    rows = db.query(
        """SELECT u.id, u.name, u.phone, h.name AS home_unit, group_concat(DISTINCT p.name) AS places,
             (SELECT count(DISTINCT c.local_day) FROM checkins c WHERE c.user_id = u.id
                AND c.local_day BETWEEN :first AND :last) AS days_reported,
             (SELECT coalesce(sum(min(julianday(coalesce(o.recorded_utc, c.recorded_utc))
                                      - julianday(c.recorded_utc), 1.0)), 0) * 24
                FROM checkins c LEFT JOIN checkouts o ON o.checkin_id = c.id
                WHERE c.user_id = u.id AND c.checkpoint_id IS NOT NULL
                AND c.local_day BETWEEN :first AND :last) AS watch_hours,
             (SELECT count(*) FROM screening_visits v WHERE v.user_id = u.id
                AND v.outcome = 'answered' AND v.local_day BETWEEN :first AND :last)
                AS households_screened,
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
                AND i.local_day BETWEEN :first AND :last) AS inspections_absent
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


@bp.get("/api/places/<int:place_id>/round-progress")
@require_role("leader", "committee", "admin")
def place_round_progress(place_id: int):
    db = get_db()
    place = require_place_in_scope(db, current_user, place_id)
    if place["kind"] != "community":
        raise ApiError(404, "not_found")
    day = _requested_day() if request.args.get("day") else \
        today(current_app.config["TIMEZONE"]).isoformat()
    return jsonify({"place": {k: place[k] for k in ("id", "name", "kind")},
                    **round_progress(db, place, day)})


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
    """The main numbers over the last 14 local days (or ?days=N, at most 60)."""
    db = get_db()
    place = require_place_in_scope(db, current_user, place_id)
    if place["kind"] == "grid":
        raise ApiError(404, "not_found")
    zone = current_app.config["TIMEZONE"]
    days = min(max(request.args.get("days", 14, type=int), 2), 60)
    last = today(zone)
    report = tally_report(db, place, (last - timedelta(days=days - 1)).isoformat(),
                          last.isoformat(), zone)
    labels = [t["day"] for t in report["totals"]]
    series = [(title, [t[key] for t in report["totals"]]) for key, title in TREND_SERIES]
    svg = charts.line_chart(f"{place['name']} 近{days}日", labels, series)
    return Response(svg, mimetype="image/svg+xml")


@bp.get("/api/places/<int:place_id>/progress.svg")
@require_role("committee", "admin")
def progress_svg(place_id: int):
    """Communities below the node by screening progress in their current round."""
    db = get_db()
    place = require_place_in_scope(db, current_user, place_id)
    day = today(current_app.config["TIMEZONE"]).isoformat()
    bars = []
    for community in places.subtree(db, place["path"], "community"):
        progress = round_progress(db, community, day)
        total = sum(g["households"] for g in progress["grids"])
        done = sum(g["screened"] for g in progress["grids"])
        bars.append((community["name"], done / total if total else 0.0, f"{done}/{total}"))
    bars.sort(key=lambda bar: bar[1])
    return Response(charts.bar_chart("排查进度（本轮）", bars), mimetype="image/svg+xml")
