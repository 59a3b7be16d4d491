"""The JSON and CSV/XLSX routes of the tallies: parse the request, check the place is in the
user's scope, call the domain function (today, engine, records, progress), answer.
"""

from __future__ import annotations

from flask import current_app, jsonify, request
from flask_login import current_user

from .. import places
from ..db import get_db
from ..errors import ApiError, query_day, query_int, query_period
from ..scope import require_place_in_scope, require_role, scope_paths
from ..tables import download
from ..timeutil import today
from .blueprint import bp
from .drilldown import MAX_RECORDS, RECORD_COUNTS, flat_table, tally_records
from .engine import TALLY_FIELDS, daily_tally, report_table, tally_report
from .progress import WORK_FIELDS, progress_table, round_progress, work_records, work_table
from .today import community_today, rollup_today

# --- today ------------------------------------------------------------------------------------

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
    day = query_day()
    if place["kind"] == "community":
        return jsonify(community_today(db, place, day))
    if place["kind"] == "grid":
        raise ApiError(404, "not_found")
    return jsonify(rollup_today(db, place, day))


# --- the daily tally (日报) --------------------------------------------------------------------

def report_from_request(place_id: int) -> dict:
    """The tally report a request names: the place, ?from= (today by default) and ?to= (from)."""
    db = get_db()
    place = require_place_in_scope(db, current_user, place_id)
    if place["kind"] == "grid":
        raise ApiError(404, "not_found")
    zone = current_app.config["TIMEZONE"]
    first = query_day("from") if request.args.get("from") else today(zone).isoformat()
    last = query_day("to") if request.args.get("to") else first
    return tally_report(db, place, first, last, zone)


@bp.get("/api/places/<int:place_id>/tally")
@require_role("committee", "admin")
def place_tally(place_id: int):
    return jsonify(report_from_request(place_id))


@bp.get("/api/places/<int:place_id>/tally.csv", defaults={"fmt": "csv"})
@bp.get("/api/places/<int:place_id>/tally.xlsx", defaults={"fmt": "xlsx"})
@require_role("committee", "admin")
def place_tally_file(place_id: int, fmt: str):
    report = report_from_request(place_id)
    header, rows = report_table(report)
    return download(fmt, f"日报 {report['from']}", header, rows,
                    f"tally-{place_id}-{report['from']}-{report['to']}", place_id)


# --- the records behind a number ---------------------------------------------------------------

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
    day = query_day()
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


# --- round progress and work records ----------------------------------------------------------

def _progress_request(place_id: int) -> tuple[dict, str, dict]:
    """The community, day (?day=, today by default) and round progress a request names."""
    db = get_db()
    place = require_place_in_scope(db, current_user, place_id)
    if place["kind"] != "community":
        raise ApiError(404, "not_found")
    day = query_day() if request.args.get("day") else \
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
    """Round progress as a spreadsheet (progress.progress_table)."""
    place, day, progress = _progress_request(place_id)
    header, rows = progress_table(progress)
    name = progress["round"]["name"] if progress["round"] else ""
    return download(fmt, f"排查进度 {name}", header, rows,
                    f"round-progress-{place['id']}-{day}", place["id"])


def _sorted_work_records(place_id: int) -> tuple[dict, str, str, list[dict]]:
    """The place, period (?from=, ?to=) and work records a request names, in its ?sort= and ?order=."""
    db = get_db()
    place = require_place_in_scope(db, current_user, place_id)
    first, last = query_period()
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
    header, rows = work_table(records)
    return download(fmt, f"一线考察 {first}", header, rows,
                    f"work-records-{place_id}-{first}-{last}", place_id)
