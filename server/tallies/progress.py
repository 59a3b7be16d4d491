"""How far the work has got: a community's screening round (households screened of those to
screen, per grid and per cadre, and which remain) and each cadre's work record over a period
(一线考察), counted from the cadres' own records.
"""

from __future__ import annotations

import sqlite_utils

from ..households import address
from ..scope import mask_phone
from ..screening import current_round
from ..timeutil import utc_text
from .counters import day_bounds_utc
from .drilldown import LIVE_VISIT


def round_progress(db: sqlite_utils.Database, community: dict, day: str) -> dict:
    """The community's current round: per grid and per cadre, households screened (a door
    answered in the round) of households to screen, and which remain."""
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
                AND {LIVE_VISIT}) AS households_screened,  -- a corrected visit is replaced
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


def progress_table(progress: dict) -> tuple[list[str], list[list]]:
    """Round progress per grid and per cadre, then the households still to screen, as one
    header row and data rows for CSV and XLSX: the list a committee prints for its cadres."""
    rows = [["网格", g["grid"]["name"], "", g["households"], g["screened"]]
            for g in progress["grids"]]
    rows += [["干部", c["user"]["name"], "", c["households"], c["screened"]]
             for c in progress["cadres"]]
    rows += [["待排查户", h["address"], h["grid"], "", ""] for h in progress["remaining"]]
    return ["类别", "名称/地址", "网格", "应排查户数", "已排查户数"], rows


def work_table(records: list[dict]) -> tuple[list[str], list[list]]:
    """Work records as one header row and data rows, with Chinese headers, for CSV and XLSX."""
    header = ["姓名", "工作单位", "下沉社区", *(title for _, title in WORK_FIELDS)]
    rows = [[r["user"]["name"], r["user"]["home_unit"], r["places"],
             *(r[k] for k, _ in WORK_FIELDS)] for r in records]
    return header, rows
