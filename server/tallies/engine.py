"""Every number of a community's local day (TALLY_FIELDS), and the report over a period.

community_tallies counts each kind of record once for all the communities and days asked:
the screening and check-in numbers and the households from the summary tables
(summaries.py), the rest by the counters in counters.py. tally_report adds up the
communities below a town or district.
"""

from __future__ import annotations

import json
from bisect import bisect_left, bisect_right
from datetime import date, datetime, timedelta
from operator import itemgetter
from zoneinfo import ZoneInfo

import sqlite_utils

from .. import places
from ..errors import period_days
from ..summaries import (
    CHECKIN_COLUMNS,
    household_counts,
    summary_rows,
    zone_summaries_current,
)
from ..summaries import COLUMNS as SCREENING_COLUMNS
from ..timeutil import now_utc
from .counters import (
    IN_IDS,
    count_cadres_assigned,
    count_deliveries,
    count_isolation,
    count_watch_hours,
    day_bounds_utc,
)

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
                WHERE community_id {IN_IDS} AND starts_on <= :last AND ends_on >= :first""", args):
        for day in days[bisect_left(days, starts_on):bisect_right(days, ends_on)]:
            numbers[community_id, day]["households_in_round"] = households.get(community_id, 0)
    count_isolation(db, numbers, community_ids, days, args, now.astimezone(ZoneInfo(zone)))
    # deliveries raised and done on their local days: kept by the write path (summaries.py)
    bounds = [day_bounds_utc(d, zone)[0] for d in days] + [day_bounds_utc(last, zone)[1]]
    summarised = zone_summaries_current(db, zone)
    count_deliveries(db, numbers, days, zone, args, bounds, summarised)
    count_cadres_assigned(db, numbers, community_ids, days, args)
    # cadres reported and on watch, check-ins flagged: the summary table, kept by triggers
    put(summary_rows(db, "daily_checkin_counts", CHECKIN_COLUMNS, args), *CHECKIN_COLUMNS)
    count_watch_hours(db, numbers, community_ids, days, args, bounds, now, summarised)
    # mobilisation: tickets of enterprises in the community, raised / confirmed solved that day
    for key, column in (("problems_raised", "raised_on"), ("problems_solved", "confirmed_on")):
        put(db.execute(
            f"""SELECT e.community_id, k.{column}, count(*) FROM problem_tickets k
                JOIN enterprises e ON e.id = k.enterprise_id
                WHERE e.community_id {IN_IDS} AND k.{column} BETWEEN :first AND :last
                GROUP BY e.community_id, k.{column}""", args), key)
    return numbers


def daily_tally(db: sqlite_utils.Database, community_id: int, day: str, zone: str,
                now: datetime | None = None) -> dict:
    """Every number of one community's local day."""
    return community_tallies(db, [community_id], [day], zone, now)[community_id, day]


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
    count_deliveries(db, numbers, days, zone, args, bounds, summarised=False)
    count_watch_hours(db, numbers, community_ids, days, args, bounds, now, summarised=False)
    return numbers


RECORDS_URL = "/api/places/{community_id}/tally/records?day={day}&metric={metric}"


def tally_report(db: sqlite_utils.Database, node: dict, first: str, last: str, zone: str,
                 now: datetime | None = None) -> dict:
    """Rows per community and day below `node`, totals per day, and the day before `first`
    for comparison. Town and district figures are sums of their communities."""
    communities = places.subtree(db, node["path"], "community")
    towns = {p["id"]: p["name"] for p in places.subtree(db, node["path"], "town")}
    days = period_days(first, last)
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


def report_table(report: dict) -> tuple[list[str], list[list]]:
    """The report as one header row and data rows, with Chinese headers, for CSV and XLSX."""
    header = ["日期", "街道/乡镇", "社区/村"] + [f["title"] for f in report["fields"]]
    keys = [f["key"] for f in report["fields"]]
    rows = [[r["day"], r["town"], r["community"]["name"], *(r[k] for k in keys)]
            for r in report["rows"]]
    rows += [[t["day"], "", "合计", *(t[k] for k in keys)] for t in report["totals"]]
    return header, rows
