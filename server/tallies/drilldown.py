"""The records behind one number of a community's day: the tally's links.

tally_records lists, for a TALLY_FIELDS key, the visits, cases, planned visits, deliveries,
check-ins, cadres or tickets that number counts, masked as in the tallies; flat_table makes
them one table for CSV and XLSX.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta

import sqlite_utils

from .. import summaries
from ..households import address
from ..idcard import mask_id_number
from ..rules import FEVER
from ..schedule import schedule, visits_of
from ..scope import mask_phone
from ..timeutil import now_utc, utc_text
from .counters import day_bounds_utc
from .engine import TALLY_FIELDS
from .today import user_json

# MAX_SHIFT is read as summaries.MAX_SHIFT, at call time, so a change of it reaches the
# summaries and the tallies alike (tests/test_tally_summary.py changes it).

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
# A visit a later one corrects is replaced by it: only live visits count (also work_records).
LIVE_VISIT = "NOT EXISTS (SELECT 1 FROM screening_visits x WHERE x.corrects_id = v.id)"


def _household(row: dict) -> dict:
    """A household as the records show it: id, address and grid."""
    return {"id": row["household_id"], "address": address(row), "grid": row["grid"]}


def _person(row: dict, prefix: str = "") -> dict:
    """A resident or cadre as the tallies show them: name, phone and ID number masked."""
    data = {"id": row[f"{prefix}id"], "name": row[f"{prefix}name"]}
    if f"{prefix}phone" in row:
        data["phone"] = mask_phone(row[f"{prefix}phone"]) if row[f"{prefix}phone"] else ""
    if f"{prefix}id_number" in row:
        data["id_number"] = mask_id_number(row[f"{prefix}id_number"])
    return data


def _screening_records(db: sqlite_utils.Database, c: int, day: str, metric: str) -> list[dict]:
    """The live visits of a households_* number, or the residents seen of a residents_* one."""
    if metric.startswith("households_"):
        rows = db.query(
            f"""SELECT v.id, v.recorded_at, v.outcome, v.result, v.corrects_id, {_HOUSEHOLD_COLUMNS},
                  u.id AS user_id, u.name AS user_name
                FROM screening_visits v JOIN households h ON h.id = v.household_id
                JOIN users u ON u.id = v.user_id
                WHERE v.community_id = ? AND v.local_day = ? AND v.outcome = ? AND {LIVE_VISIT}
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
            WHERE s.present = 1 AND v.community_id = ? AND v.local_day = ? AND {LIVE_VISIT}
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


def _case_records(db: sqlite_utils.Database, c: int, day: str, metric: str, zone: str,
                  now: datetime) -> list[dict]:
    """The cases of a cases_* number, or the planned visits of an isolation_visits_* one."""
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


def _checkin_records(db: sqlite_utils.Database, c: int, day: str, metric: str, zone: str) -> list[dict]:
    """The check-ins of a cadres_*/checkins_* number, or the watches of the checkpoint hours."""
    where = {"cadres_reported": "", "cadres_on_watch": " AND c.checkpoint_id IS NOT NULL",
             "checkins_flagged": " AND c.outside_assignment = 1"}
    if metric in where:
        sql = f"c.community_id = :c AND c.local_day = :day{where[metric]}"
    else:  # the watches that cover part of the day at the community's checkpoints
        lo, hi = day_bounds_utc(day, zone)
        sql = f"""c.checkpoint_id IN (SELECT id FROM checkpoints WHERE community_id = :c)
                  AND c.recorded_utc >= :before AND c.recorded_utc < :hi
                  AND min(coalesce(julianday(o.recorded_utc), 1e9),
                          julianday(c.recorded_utc) + {summaries.MAX_SHIFT / timedelta(days=1)})
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
            "lo": utc_text(lo), "hi": utc_text(hi), "before": utc_text(lo - summaries.MAX_SHIFT)})})
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
        return [{"type": "cadre", "user": user_json(r)} for r in rows]
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
    """{(owner, ..., field): value} of a nested record."""
    cells: dict[tuple, object] = {}
    for key, value in record.items():
        if isinstance(value, dict):
            cells.update(_flat(value, (*path, key)))
        else:
            cells[(*path, key)] = value
    return cells


def _cell(value: object) -> object:
    """A value as a spreadsheet cell: 是/否, a list joined with 、, nothing for None."""
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
