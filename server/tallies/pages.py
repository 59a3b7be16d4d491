"""The tallies as pages and pictures: the printable daily report (日报) and the SVG charts
(charts.py draws them) of the dashboard.
"""

from __future__ import annotations

from datetime import date, timedelta

from flask import Response, current_app, render_template, request
from flask_login import current_user

from .. import charts, places
from ..db import get_db
from ..errors import ApiError, query_day, query_int
from ..scope import require_place_in_scope, require_role
from ..summaries import household_counts, round_screened
from ..timeutil import today
from .blueprint import bp
from .engine import tally_report
from .routes import report_from_request


@bp.get("/reports/<int:place_id>/daily")
@require_role("committee", "admin")
def daily_report_page(place_id: int):
    """The printable daily report (日报) a committee or town sends up the chain."""
    report = report_from_request(place_id)
    # One report per day of the range, each beside the day before it, a page each on paper.
    befores = [report["previous_day"], *report["totals"][:-1]]
    pages = [{"day": total["day"], "total": total, "previous": before,
              "rows": [r for r in report["rows"] if r["day"] == total["day"]]}
             for total, before in zip(report["totals"], befores, strict=True)]
    return render_template("daily_report.html", report=report, pages=pages,
                           fields=report["fields"], zone=current_app.config["TIMEZONE"])


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
    last = date.fromisoformat(query_day("to")) if request.args.get("to") else today(zone)
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
