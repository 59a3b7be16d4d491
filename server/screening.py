"""Door-to-door screening (入户排查): grids, households, residents, rounds and screening visits.

Households and residents are registries several people edit: every edit names the `version` it
was based on; a stale edit is kept in `registry_history` and answered "conflict" with the
server's copy. Screening visits are captured events, append-only, de-duplicated by the phone's
UUID. `store_household`, `store_resident` and `store_screening_visit` are the one path for those
records, live or through /api/sync.
"""

from __future__ import annotations

import json
import sqlite3
import uuid
from dataclasses import dataclass, field
from datetime import date

import sqlite_utils
from flask import Blueprint, current_app, jsonify, request
from flask_login import current_user

from . import places, records
from .audit import audit
from .db import first_row, get_db, write_transaction
from .deliveries import raise_deliveries
from .errors import ApiError, fail, field_error, json_body, query_int, raise_if
from .households import address, household_for, household_json, masked, resident_json
from .idcard import parse_id_card
from .notices import alert_committee
from .records import Earlier, Incoming, answer, record_body
from .rules import future_date_errors, health_reasons, temperature_errors
from .scope import (
    User,
    assigned_community_ids,
    can_work_grid,
    forbidden_at,
    grid_ids_of,
    in_staff_scope,
    require_place_in_scope,
    require_role,
    sees_full,
)
from .summaries import count_screening_visit
from .tables import NO, YES, Limits, read_table
from .timeutil import local_day, now_utc, today, utc_text

bp = Blueprint("screening", __name__)

HOUSEHOLD_FIELDS = ("grid_id", "building", "unit", "door", "head_name", "phone", "residents_count",
                    "is_rental", "landlord", "landlord_phone", "tenants", "notes")
RESIDENT_FIELDS = ("household_id", "name", "sex", "birth_date", "birth_year", "id_type",
                   "id_number", "phone", "hukou_place", "came_from", "occupation", "return_date",
                   "travel_mode", "travel_number", "companions", "vaccine_doses", "elderly_alone",
                   "chronic", "pregnant", "notes")


# --- registry edits ---------------------------------------------------------------------------

def _row(db: sqlite_utils.Database, table: str, row_id: str) -> dict | None:
    # first_row: twice per registry edit, and db.query's own savepoint cost imports a third
    return first_row(db, f"SELECT * FROM {table} WHERE id = ?", [row_id])


def _history(db: sqlite_utils.Database, user: User, entity: str, record: dict, status: str,
             base: int, new_version: int | None, fields: dict, source: str, digest: str,
             device_id: str | None) -> None:
    db.execute(
        """INSERT INTO registry_history (id, entity, entity_id, status, base_version,
               new_version, fields, source, user_id, recorded_at, received_at, device_id,
               payload_hash) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)""",
        [record["id"], entity, record[f"{entity}_id"], status, base, new_version,
         json.dumps(fields, ensure_ascii=False, sort_keys=True), source, user.id,
         record["recorded_at"], utc_text(now_utc()), device_id, digest])


def _apply_edit(db: sqlite_utils.Database, user: User, entity: str, record: dict,
                fields: dict, device_id: str | None, source: str,
                check) -> tuple[str, dict]:
    """The registry rule for households and residents; returns (status, stored row).

    `check(current, merged)` enforces permissions and rules (raises ApiError).
    """
    table = {"household": "households", "resident": "residents"}[entity]
    incoming = Incoming.of(user.id, record, device_id)

    def create() -> tuple[str, dict]:
        key, base = record[f"{entity}_id"], record["base_version"]
        current = _row(db, table, key)
        if current is not None and current["deleted_at"] is not None:
            current = None
        if current is None and base != 0:
            raise fail(404, f"{entity}_unknown", f"/{entity}_id", "exists")
        merged = {**(current or {}), **fields}
        check(current, merged)
        if current is not None and base != current["version"]:
            # Stale: kept for the record, never applied, and the phone gets the server's copy.
            _history(db, user, entity, record, "conflict", base, None, fields, source,
                     incoming.digest, device_id)
            return "conflict", current
        stamp = utc_text(now_utc())
        if current is None:
            columns = {**fields, "id": key, "version": 1, "created_at": stamp,
                       "updated_at": stamp, "updated_by": user.id}
            if entity == "household":
                columns["community_id"] = merged["community_id"]
            sql = (f"INSERT INTO {table} ({', '.join(columns)}) "
                   f"VALUES ({', '.join('?' * len(columns))})")
            params = list(columns.values())
            new_version = 1
        else:
            new_version = current["version"] + 1
            changes = {**fields, "version": new_version, "updated_at": stamp,
                       "updated_by": user.id}
            if entity == "household" and "community_id" in merged:
                changes["community_id"] = merged["community_id"]
            sql = f"UPDATE {table} SET {', '.join(f'{k} = ?' for k in changes)} WHERE id = ?"
            params = [*changes.values(), key]
        try:
            db.execute(sql, params)
        except sqlite3.IntegrityError:
            raise fail(409, "address_taken", "/door", "unique") from None
        _history(db, user, entity, record, "applied", base, new_version, fields, source,
                 incoming.digest, device_id)
        return "created", _row(db, table, key)

    return records.store(db, incoming,
                         records.earlier_edit(entity, lambda db, key: _row(db, table, key)), create)


def _db_values(fields: dict) -> dict:
    return {k: int(v) if isinstance(v, bool) else v for k, v in fields.items()}


def _household_check(db: sqlite_utils.Database, user: User):
    def check(current: dict | None, merged: dict) -> None:
        if current is not None:
            household_for(db, user, current["id"])
        if current is None or merged["grid_id"] != current["grid_id"]:
            grid = places.get_place(db, merged["grid_id"])
            if grid is None or grid["kind"] != "grid":
                raise fail(422, "grid_unknown", "/grid_id", "exists")
            merged["community_id"] = grid["parent_id"]
            if not can_work_grid(db, user, grid["id"], grid["parent_id"]):
                raise forbidden_at("/grid_id")
    return check


def edit_household(db: sqlite_utils.Database, user: User, record: dict,
                   device_id: str | None = None, source: str = "phone") -> tuple[str, dict]:
    fields = _db_values({k: record[k] for k in HOUSEHOLD_FIELDS if k in record})
    return _apply_edit(db, user, "household", record, fields, device_id, source,
                       _household_check(db, user))


def store_household(db: sqlite_utils.Database, user: User, record: dict,
                    device_id: str | None) -> tuple[str, dict]:
    """A household registry edit (new when base_version is 0)."""
    status, row = edit_household(db, user, record, device_id)
    return status, household_json(db, row, user, with_residents=False)


def _resident_rules(fields: dict, merged: dict, prefix: str = "") -> list[dict]:
    """ID checksum (filling birth date and sex from the number) and no future dates."""
    errors = []
    number = merged.get("id_number") or ""
    if number and "id_type" not in fields and not merged.get("id_type"):
        fields["id_type"] = merged["id_type"] = "id_card"
    if number and merged.get("id_type") == "id_card":
        try:
            born, sex = parse_id_card(number)
        except ValueError:
            errors.append(field_error(f"{prefix}/id_number", "id_checksum", "id_checksum"))
        else:
            fields["id_number"] = number.upper()
            for key, value in (("birth_date", born.isoformat()), ("sex", sex),
                               ("birth_year", born.year)):
                if not merged.get(key):
                    fields[key] = value
    errors += future_date_errors({f"{prefix}/birth_date": fields.get("birth_date"),
                                  f"{prefix}/return_date": fields.get("return_date")})
    return errors


def edit_resident(db: sqlite_utils.Database, user: User, record: dict,
                  device_id: str | None = None, source: str = "phone") -> tuple[str, dict]:
    fields = _db_values({k: record[k] for k in RESIDENT_FIELDS if k in record})

    def check(current: dict | None, merged: dict) -> None:
        if current is not None:
            household_for(db, user, current["household_id"], "/resident_id")
        if current is None or merged["household_id"] != current["household_id"]:
            household_for(db, user, merged["household_id"])
        raise_if(_resident_rules(fields, merged))

    return _apply_edit(db, user, "resident", record, fields, device_id, source, check)


def store_resident(db: sqlite_utils.Database, user: User, record: dict,
                   device_id: str | None) -> tuple[str, dict]:
    """A resident registry edit (new when base_version is 0)."""
    status, row = edit_resident(db, user, record, device_id)
    household = _row(db, "households", row["household_id"])
    full = sees_full(db, user, household)
    if full:
        audit(db, "read_full", f"resident:{row['id']}")
    return status, resident_json(row, full)


def delete_household(db: sqlite_utils.Database, household_id: str) -> None:
    with db.atomic():
        stamp = utc_text(now_utc())
        db.execute("UPDATE households SET deleted_at = ? WHERE id = ?", [stamp, household_id])
        db.execute("UPDATE residents SET deleted_at = ? WHERE household_id = ? "
                   "AND deleted_at IS NULL", [stamp, household_id])
        audit(db, "delete", f"household:{household_id}")


def history_of(db: sqlite_utils.Database, entity: str, entity_id: str,
               full: bool) -> list[dict]:
    """Every edit of one household or resident, its phones and ID numbers masked unless `full`
    (as the household page, households.masked)."""
    rows = list(db.query(
        """SELECT h.*, u.name AS user_name FROM registry_history h
           LEFT JOIN users u ON u.id = h.user_id
           WHERE entity = ? AND entity_id = ? ORDER BY received_at""", [entity, entity_id]))
    return [{"id": r["id"], "status": r["status"], "base_version": r["base_version"],
             "new_version": r["new_version"], "fields": masked(json.loads(r["fields"]), full),
             "source": r["source"], "user": {"id": r["user_id"], "name": r["user_name"]},
             "recorded_at": r["recorded_at"], "received_at": r["received_at"]} for r in rows]


# --- grids and rounds -------------------------------------------------------------------------

def assign_grid(db: sqlite_utils.Database, grid_id: int, user_id: int) -> None:
    grid = places.get_place(db, grid_id)
    if grid is None or grid["kind"] != "grid":
        raise ValueError("cadres are assigned to a grid")
    db.execute("INSERT OR IGNORE INTO grid_assignments (grid_id, user_id, created_at) "
               "VALUES (?, ?, ?)", [grid_id, user_id, utc_text(now_utc())])


def grids_of_community(db: sqlite_utils.Database, community_id: int) -> list[dict]:
    result = []
    for grid in db.query("SELECT * FROM places WHERE parent_id = ? AND kind = 'grid' ORDER BY name",
                         [community_id]):
        cadres = [{"id": r["id"], "name": r["name"]} for r in db.query(
            """SELECT u.id, u.name FROM grid_assignments g JOIN users u ON u.id = g.user_id
               WHERE g.grid_id = ? ORDER BY u.name""", [grid["id"]])]
        count = db.execute("SELECT count(*) FROM households WHERE grid_id = ? "
                           "AND deleted_at IS NULL", [grid["id"]]).fetchone()[0]
        result.append({"id": grid["id"], "name": grid["name"], "community_id": community_id,
                       "cadres": cadres, "households": count})
    return result


def create_round(db: sqlite_utils.Database, community_id: int, name: str, starts_on: str,
                 ends_on: str, user_id: int | None = None) -> int:
    if ends_on < starts_on:
        raise fail(422, "end_before_start", "/ends_on", "order")
    return db.execute(
        """INSERT INTO screening_rounds (community_id, name, starts_on, ends_on, created_by,
               created_at) VALUES (?,?,?,?,?,?)""",
        [community_id, name, starts_on, ends_on, user_id, utc_text(now_utc())]).lastrowid


def current_round(db: sqlite_utils.Database, community_id: int, day: str) -> dict | None:
    rows = list(db.query(
        """SELECT * FROM screening_rounds WHERE community_id = ? AND starts_on <= ?
           AND ends_on >= ? ORDER BY starts_on DESC, id DESC LIMIT 1""",
        [community_id, day, day]))
    return rows[0] if rows else None


def households_to_screen(db: sqlite_utils.Database, user_id: int, day: str) -> list[dict]:
    """Households of the user's grids with no answered visit in their community's current round.

    A door left with nobody home (or refused) stays on the list.
    """
    rows = list(db.query(
        """SELECT h.*, r.id AS round_id, r.name AS round_name,
             (SELECT v.outcome FROM screening_visits v WHERE v.household_id = h.id
                AND v.round_id = r.id ORDER BY v.recorded_utc DESC LIMIT 1) AS last_outcome
           FROM grid_assignments g JOIN households h ON h.grid_id = g.grid_id
           JOIN screening_rounds r ON r.id = (
               SELECT r2.id FROM screening_rounds r2 WHERE r2.community_id = h.community_id
               AND r2.starts_on <= :day AND r2.ends_on >= :day
               ORDER BY r2.starts_on DESC, r2.id DESC LIMIT 1)
           WHERE g.user_id = :user AND h.deleted_at IS NULL
           AND NOT EXISTS (SELECT 1 FROM screening_visits v WHERE v.household_id = h.id
                           AND v.round_id = r.id AND v.outcome = 'answered')
           ORDER BY h.grid_id, h.building, h.unit, h.door""", {"day": day, "user": user_id}))
    return [{**household_json(db, r, None, with_residents=False),
             "round": {"id": r["round_id"], "name": r["round_name"]},
             "last_outcome": r["last_outcome"]} for r in rows]


# --- screening visits -------------------------------------------------------------------------

def get_visit(db: sqlite_utils.Database, visit_id: str) -> dict | None:
    rows = list(db.query(
        """SELECT v.*, u.name AS user_name FROM screening_visits v
           JOIN users u ON u.id = v.user_id WHERE v.id = ?""", [visit_id]))
    return rows[0] if rows else None


def visit_json(db: sqlite_utils.Database, row: dict) -> dict:
    residents = [{"resident_id": r["resident_id"], "name": r["name"],
                  "present": bool(r["present"]), "temperature": r["temperature"],
                  "symptoms": json.loads(r["symptoms"]),
                  "risk_travel_14d": bool(r["risk_travel_14d"]), "contact": bool(r["contact"]),
                  "health_code": r["health_code"], "nat_date": r["nat_date"],
                  "nat_result": r["nat_result"]}
                 for r in db.query(
                     """SELECT s.*, p.name FROM screening_visit_residents s
                        JOIN residents p ON p.id = s.resident_id WHERE s.visit_id = ?
                        ORDER BY p.created_at, p.name""", [row["id"]])]
    return {k: row[k] for k in ("id", "household_id", "round_id", "recorded_at", "received_at",
                                "local_day", "outcome", "result", "notes", "corrects_id")} | {
        "user": {"id": row["user_id"], "name": row["user_name"]}, "residents": residents}


def _earlier_visit(db: sqlite_utils.Database, visit_id: str) -> Earlier | None:
    row = get_visit(db, visit_id)
    if row is None:
        return None
    return Earlier(row["user_id"], row["payload_hash"], lambda: visit_json(db, row))


def store_screening_visit(db: sqlite_utils.Database, user: User, record: dict,
                          device_id: str | None) -> tuple[str, dict]:
    """Store a validated screening visit; return (created|duplicate|conflict, visit JSON)."""
    incoming = Incoming.of(user.id, record, device_id)
    recorded = incoming.trusted
    day = local_day(recorded, current_app.config["TIMEZONE"])

    def create() -> tuple[str, dict]:
        household = household_for(db, user, record["household_id"])
        errors: list[dict] = []
        if record.get("round_id") is not None:
            round_ = _row(db, "screening_rounds", record["round_id"])
            if round_ is None or round_["community_id"] != household["community_id"]:
                errors.append(field_error("/round_id", "round_unknown", "exists"))
        else:
            round_ = current_round(db, household["community_id"], day)
        if record.get("corrects_id"):
            corrected = get_visit(db, record["corrects_id"])
            if corrected is None or corrected["household_id"] != household["id"]:
                errors.append(field_error("/corrects_id", "visit_unknown", "exists"))
        known = {r[0] for r in db.execute(
            "SELECT id FROM residents WHERE household_id = ? AND deleted_at IS NULL",
            [household["id"]])}
        new_residents = record.get("new_residents", [])
        for index, resident in enumerate(new_residents):
            if _row(db, "residents", resident["id"]) is not None:
                errors.append(field_error(f"/new_residents/{index}/id", "conflict", "unique"))
            errors += _resident_rules(resident, dict(resident), f"/new_residents/{index}")
        known |= {r["id"] for r in new_residents}
        for index, entry in enumerate(record.get("residents", [])):
            path = f"/residents/{index}"
            if entry["resident_id"] not in known:
                errors.append(field_error(f"{path}/resident_id", "resident_not_in_household",
                                          "household"))
            errors += temperature_errors({f"{path}/temperature": entry.get("temperature")})
            errors += future_date_errors({f"{path}/nat_date": entry.get("nat_date")})
        raise_if(errors)
        stamp = utc_text(now_utc())
        for resident in new_residents:
            values = _db_values({k: v for k, v in resident.items() if k != "id"})
            columns = {**values, "id": resident["id"], "household_id": household["id"],
                       "version": 1, "created_at": stamp, "updated_at": stamp,
                       "updated_by": user.id}
            db.execute(f"INSERT INTO residents ({', '.join(columns)}) "
                       f"VALUES ({', '.join('?' * len(columns))})", list(columns.values()))
        db.execute(
            """INSERT INTO screening_visits (id, household_id, round_id, community_id, user_id,
                   recorded_at, recorded_utc, local_day, received_at, device_id, outcome, result,
                   notes, corrects_id, payload_hash) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)""",
            [record["id"], household["id"], round_["id"] if round_ else None,
             household["community_id"], user.id, record["recorded_at"], utc_text(recorded), day,
             stamp, device_id, record["outcome"], record.get("result"), record.get("notes", ""),
             record.get("corrects_id"), incoming.digest])
        for entry in record.get("residents", []):
            db.execute(
                """INSERT INTO screening_visit_residents (visit_id, resident_id, present,
                       temperature, symptoms, risk_travel_14d, contact, health_code, nat_date,
                       nat_result) VALUES (?,?,?,?,?,?,?,?,?,?)""",
                [record["id"], entry["resident_id"], int(entry.get("present", True)),
                 entry.get("temperature"), json.dumps(entry.get("symptoms", [])),
                 int(entry.get("risk_travel_14d", False)), int(entry.get("contact", False)),
                 entry.get("health_code"), entry.get("nat_date"), entry.get("nat_result")])
        count_screening_visit(db, record["id"])  # the tallies' summary, in this transaction
        raise_deliveries(db, user, household, record["id"], record.get("needs", []),
                         recorded, case_id=None)
        _alert_if_unwell(db, household, record)
        return "created", visit_json(db, get_visit(db, record["id"]))

    return records.store(db, incoming, _earlier_visit, create)


def _alert_if_unwell(db: sqlite_utils.Database, household: dict, record: dict) -> None:
    """A fever (rules.FEVER) or a symptom alerts the community's committee."""
    found = []
    for entry in record.get("residents", []):
        reasons = health_reasons(entry.get("temperature"), entry.get("symptoms", []))
        if reasons:
            name = db.execute("SELECT name FROM residents WHERE id = ?",
                              [entry["resident_id"]]).fetchone()
            found.append(f"{name[0] if name else ''} {'、'.join(reasons)}".strip())
    if found:
        alert_committee(db, household["community_id"], address(household), found,
                        f"/#/dashboard/{household['community_id']}",
                        f"health:screening_visit:{record['id']}")


# --- import from CSV / XLSX -------------------------------------------------------------------

# Column names accepted in the import file, Chinese or English. One row per resident; rows
# with the same address are one household.
IMPORT_COLUMNS = {
    "grid": ("grid", "网格"),
    "building": ("building", "楼栋", "楼号"),
    "unit": ("unit", "单元"),
    "door": ("door", "门牌", "门牌号", "房号"),
    "head_name": ("head_name", "户主", "户主姓名"),
    "household_phone": ("household_phone", "联系电话", "户主电话"),
    "residents_count": ("residents_count", "居住人数", "人数"),
    "is_rental": ("is_rental", "出租房屋", "是否出租"),
    "landlord": ("landlord", "房东"),
    "tenants": ("tenants", "租户", "租户情况"),
    "name": ("name", "姓名"),
    "sex": ("sex", "性别"),
    "birth_date": ("birth_date", "出生日期"),
    "id_type": ("id_type", "证件类型"),
    "id_number": ("id_number", "证件号码", "身份证号", "身份证号码"),
    "phone": ("phone", "手机号", "本人电话"),
    "hukou_place": ("hukou_place", "户籍地"),
    "came_from": ("came_from", "来源地"),
    "occupation": ("occupation", "职业"),
    "return_date": ("return_date", "返回日期", "返乡日期"),
    "elderly_alone": ("elderly_alone", "独居老人"),
    "chronic": ("chronic", "慢性病"),
    "pregnant": ("pregnant", "孕妇"),
    "notes": ("notes", "备注"),
}
SEXES = {"男": "male", "male": "male", "m": "male", "女": "female", "female": "female",
         "f": "female", "": None}
ID_TYPE_NAMES = {"": None, "身份证": "id_card", "居民身份证": "id_card", "id_card": "id_card",
                 "护照": "passport", "passport": "passport", "港澳通行证": "hk_macau_permit",
                 "台胞证": "taiwan_permit", "其他": "other", "other": "other"}


@dataclass
class HouseholdImport:
    households_created: int = 0
    residents_created: int = 0
    updated: int = 0
    unchanged: list[int] = field(default_factory=list)         # lines
    errors: list[tuple[int, str]] = field(default_factory=list)  # line, reason

    def to_json(self) -> dict:
        return {"households_created": self.households_created,
                "residents_created": self.residents_created, "updated": self.updated,
                "unchanged": self.unchanged,
                "errors": [{"line": line, "message": message} for line, message in self.errors]}


def _import_row(cell, grids: dict[str, int]) -> tuple[dict, dict]:
    """(household fields, resident fields) of one row; ValueError with the reason."""
    grid_name = cell("grid")
    if grid_name not in grids:
        if grid_name or len(grids) != 1:
            raise ValueError(f"unknown grid {grid_name!r} / 找不到网格")
        grid_name = next(iter(grids))
    if not cell("door"):
        raise ValueError("door is empty / 门牌为空")
    flags = {}
    for key in ("is_rental", "elderly_alone", "chronic", "pregnant"):
        value = cell(key).lower()
        if value not in YES and value not in NO:
            raise ValueError(f"{key} {value!r} is not yes/no / 应为 是 或 否")
        flags[key] = int(value in YES)
    household = {"grid_id": grids[grid_name], "building": cell("building"), "unit": cell("unit"),
                 "door": cell("door"), "head_name": cell("head_name"),
                 "phone": cell("household_phone"), "is_rental": flags.pop("is_rental"),
                 "landlord": cell("landlord"), "tenants": cell("tenants")}
    if cell("residents_count"):
        if not cell("residents_count").isdigit():
            raise ValueError("residents_count is not a number / 居住人数应为数字")
        household["residents_count"] = int(cell("residents_count"))
    if not cell("name"):
        return household, {}
    sex = cell("sex").lower()
    if sex not in SEXES:
        raise ValueError(f"sex {sex!r} / 性别应为 男 或 女")
    if cell("id_type") not in ID_TYPE_NAMES:
        raise ValueError(f"id_type {cell('id_type')!r} / 证件类型不正确")
    resident = {"name": cell("name"), **flags,
                **{k: cell(k) for k in ("id_number", "phone", "hukou_place", "came_from",
                                        "occupation", "notes")}}
    for key, value in (("sex", SEXES[sex]), ("id_type", ID_TYPE_NAMES[cell("id_type")]),
                       ("birth_date", cell("birth_date") or None),
                       ("return_date", cell("return_date") or None)):
        if value:
            resident[key] = value
    for key in ("birth_date", "return_date"):
        if key in resident:
            try:
                date.fromisoformat(resident[key])
            except ValueError:
                raise ValueError(f"{key} {resident[key]!r} is not YYYY-MM-DD / "
                                 "日期格式应为 YYYY-MM-DD") from None
    return household, resident


def _changed(current: dict, fields: dict) -> dict:
    """The imported fields that differ from the stored row (empty cells never erase)."""
    return {k: v for k, v in fields.items() if v not in ("", None) and current.get(k) != v}


# Rows per transaction: a chunk's registry edits share one commit (one fsync, not one per row),
# and other writers (check-ins, sync) wait at most one chunk for the write lock.
IMPORT_CHUNK = 500


def import_households(db: sqlite_utils.Database, user: User, community: dict,
                      table: list[tuple[int, list[str]]]) -> HouseholdImport:
    """Import households and residents of one community; bad rows are reported by line.

    Households match by address, residents by ID number or else by name within the household.
    Re-importing the same file changes nothing; a changed value is applied as a registry edit
    (new version, with history), like any other edit. Written IMPORT_CHUNK rows to a
    transaction, each row in a savepoint of its own (household and resident together or not
    at all).
    """
    report = HouseholdImport()
    if not table:
        report.errors.append((1, "empty file / 文件为空"))
        return report
    columns = {}
    for index, title in enumerate(table[0][1]):
        for key, names in IMPORT_COLUMNS.items():
            if title.strip().lower() in names:
                columns[key] = index
    if "door" not in columns:
        report.errors.append((table[0][0], "missing column / 缺少列: door 门牌"))
        return report
    grids = {g["name"]: g["id"] for g in places.subtree(db, community["path"], "grid")}
    recorded_at = now_utc().isoformat()
    rows = []
    for line, row in table[1:]:
        if not any(row):
            continue

        def cell(key: str, row=row) -> str:
            index = columns.get(key)
            return row[index] if index is not None and index < len(row) else ""

        try:
            rows.append((line, *_import_row(cell, grids)))
        except ValueError as error:
            report.errors.append((line, str(error)))
    for start in range(0, len(rows), IMPORT_CHUNK):
        with write_transaction(db):
            _import_chunk(db, user, community, rows[start:start + IMPORT_CHUNK], recorded_at,
                          report)
    report.errors.sort()
    return report


def _import_chunk(db, user, community, rows, recorded_at, report: HouseholdImport) -> None:
    """One chunk in its transaction: the households and residents its rows name are read in a
    few queries, then each row is applied in its own savepoint."""
    households = _households_at(db, community["id"], {_address_key(h) for _, h, _ in rows})
    residents = _residents_of(db, [h["id"] for h in households.values()])
    for line, household_fields, resident_fields in rows:
        try:
            with write_transaction(db):
                counts, household, resident = _import_one(
                    db, user, households, residents, household_fields, resident_fields,
                    recorded_at)
        except ApiError as error:
            report.errors.append((line, "; ".join(
                f"{f['path'].lstrip('/')}: {f['message']}" for f in error.fields) or error.message))
            continue
        # what the row wrote, for the rows after it (only once its savepoint is released)
        households[_address_key(household)] = household
        if resident is not None:
            known = residents.setdefault(household["id"], [])
            known[:] = [r for r in known if r["id"] != resident["id"]] + [resident]
        report.households_created += counts[0]
        report.residents_created += counts[1]
        report.updated += counts[2]
        if not any(counts):
            report.unchanged.append(line)


def _address_key(household: dict) -> tuple[str, str, str]:
    return household["building"], household["unit"], household["door"]


def _households_at(db, community_id: int, addresses: set) -> dict[tuple, dict]:
    """The community's households at these addresses, by address."""
    found, addresses = {}, sorted(addresses)
    for start in range(0, len(addresses), 300):  # 3 parameters each, under SQLite's 999
        part = addresses[start:start + 300]
        # a join, not a row-value IN: SQLite then searches the whole address index
        sql = (f"SELECT h.* FROM (VALUES {', '.join(['(?, ?, ?)'] * len(part))}) AS v "
               "JOIN households h ON h.community_id = ? AND h.building = v.column1 "
               "AND h.unit = v.column2 AND h.door = v.column3 AND h.deleted_at IS NULL")
        for row in db.query(sql, [*(value for key in part for value in key), community_id]):
            found[_address_key(row)] = row
    return found


def _residents_of(db, household_ids: list[str]) -> dict[str, list[dict]]:
    """The residents of these households, by household id."""
    found: dict[str, list[dict]] = {}
    for start in range(0, len(household_ids), 900):
        part = household_ids[start:start + 900]
        for row in db.query(f"SELECT * FROM residents WHERE deleted_at IS NULL AND household_id "
                            f"IN ({', '.join('?' * len(part))}) ORDER BY rowid", part):
            found.setdefault(row["household_id"], []).append(row)
    return found


def _import_one(db, user, households, residents, household_fields, resident_fields,
                recorded_at) -> tuple[list[int], dict, dict | None]:
    """Apply one row; ([households created, residents created, updated], the household row,
    the resident row written or None)."""
    counts = [0, 0, 0]
    current = households.get(_address_key(household_fields))
    household = current
    fields = _changed(current, household_fields) if current else household_fields
    if fields:
        record = {"id": str(uuid.uuid4()), "recorded_at": recorded_at,
                  "household_id": current["id"] if current else str(uuid.uuid4()),
                  "base_version": current["version"] if current else 0, **fields}
        household = edit_household(db, user, record, source="import")[1]
        counts[0 if current is None else 2] += 1
    written = None
    if resident_fields:
        number = resident_fields.get("id_number", "").upper()
        resident = next((r for r in residents.get(household["id"], [])
                         if (r["id_number"] == number if number
                             else r["name"] == resident_fields["name"])), None)
        fields = _changed(resident, resident_fields) if resident else resident_fields
        if fields:
            record = {"id": str(uuid.uuid4()), "recorded_at": recorded_at,
                      "resident_id": resident["id"] if resident else str(uuid.uuid4()),
                      "household_id": household["id"],
                      "base_version": resident["version"] if resident else 0, **fields}
            written = edit_resident(db, user, record, source="import")[1]
            counts[1 if resident is None else 2] += 1
    return counts, household, written


# --- routes -----------------------------------------------------------------------------------

def _community_in_scope(db, place_id: int) -> dict:
    place = require_place_in_scope(db, current_user, place_id)
    if place["kind"] != "community":
        raise ApiError(404, "not_found")
    return place


@bp.get("/api/grids")
@require_role("leader", "committee", "admin")
def list_grids():
    db = get_db()
    community = _community_in_scope(db, query_int("community_id", 0))
    return jsonify({"grids": grids_of_community(db, community["id"])})


@bp.post("/api/grids/<int:grid_id>/cadres")
@require_role("committee", "admin")
def add_grid_cadre(grid_id: int):
    db = get_db()
    grid = require_place_in_scope(db, current_user, grid_id)
    if grid["kind"] != "grid":
        raise ApiError(404, "not_found")
    body = json_body("grid_cadre")
    if db.execute("SELECT 1 FROM users WHERE id = ? AND active = 1",
                  [body["user_id"]]).fetchone() is None:
        raise fail(404, "not_found", "/user_id", "exists")
    with db.atomic():
        assign_grid(db, grid_id, body["user_id"])
        audit(db, "assign_grid", f"grid:{grid_id}", f"user:{body['user_id']}")
    return jsonify({"grids": grids_of_community(db, grid["parent_id"])})


@bp.delete("/api/grids/<int:grid_id>/cadres/<int:user_id>")
@require_role("committee", "admin")
def remove_grid_cadre(grid_id: int, user_id: int):
    db = get_db()
    grid = require_place_in_scope(db, current_user, grid_id)
    with db.atomic():
        db.execute("DELETE FROM grid_assignments WHERE grid_id = ? AND user_id = ?",
                   [grid_id, user_id])
        audit(db, "unassign_grid", f"grid:{grid_id}", f"user:{user_id}")
    return jsonify({"grids": grids_of_community(db, grid["parent_id"])})


@bp.get("/api/households")
@require_role()
def list_households():
    """Masked list: a cadre's grids, or a grid/community of a staff member's scope.

    ?q= filters by building, unit, door or head name. Full values: GET /api/households/<id>.
    """
    db = get_db()
    place_id = query_int("place_id")
    if place_id is None:
        grid_ids = grid_ids_of(db, current_user.id)
    else:
        place = require_place_in_scope(db, current_user, place_id)
        grid_ids = [g["id"] for g in places.subtree(db, place["path"], "grid")]
    sql = (f"SELECT * FROM households WHERE deleted_at IS NULL "
           f"AND grid_id IN ({','.join('?' * len(grid_ids)) or 'NULL'})")
    params: list = list(grid_ids)
    if request.args.get("q"):
        sql += " AND (building || '-' || unit || '-' || door || ' ' || head_name) LIKE ?"
        params.append(f"%{request.args['q']}%")
    rows = db.query(sql + " ORDER BY grid_id, building, unit, door LIMIT 1000", params)
    return jsonify({"households": [household_json(db, r, None, with_residents=False)
                                   for r in rows]})


@bp.get("/api/households/<household_id>")
@require_role()
def household_detail(household_id: str):
    """One household with its residents and visits; full values only where sees_full."""
    db = get_db()
    household = household_for(db, current_user, household_id, "")
    data = household_json(db, household, current_user)
    data["visits"] = [visit_json(db, v) for v in db.query(
        """SELECT v.*, u.name AS user_name FROM screening_visits v JOIN users u ON u.id = v.user_id
           WHERE v.household_id = ? ORDER BY v.recorded_utc DESC LIMIT 20""", [household_id])]
    day = today(current_app.config["TIMEZONE"]).isoformat()
    data["current_round"] = current_round(db, household["community_id"], day)
    return jsonify({"household": data})


@bp.post("/api/households")
@require_role()
def create_household():
    body = record_body("household", base_version=0)
    return answer(*store_household(get_db(), current_user, body, body.get("device_id")),
                  "household")


@bp.post("/api/households/<household_id>")
@require_role()
def update_household(household_id: str):
    body = record_body("household", household_id=household_id)
    return answer(*store_household(get_db(), current_user, body, body.get("device_id")),
                  "household")


@bp.delete("/api/households/<household_id>")
@require_role("committee", "admin")
def remove_household(household_id: str):
    db = get_db()
    household_for(db, current_user, household_id, "")
    delete_household(db, household_id)
    return jsonify({"ok": True})


@bp.get("/api/households/<household_id>/history")
@require_role("committee", "admin")
def household_history(household_id: str):
    """Masked and audited as the household page (household_json): full values only where
    sees_full, and then each household and resident read in full is in the audit log."""
    db = get_db()
    household = household_for(db, current_user, household_id, "")
    full = sees_full(db, current_user, household)
    residents = [r[0] for r in db.execute("SELECT id FROM residents WHERE household_id = ?",
                                          [household_id])]
    history = {"household": history_of(db, "household", household_id, full),
               "residents": {r: history_of(db, "resident", r, full) for r in residents}}
    if full:
        audit(db, "read_full", f"household:{household_id}", "history")
        for resident, edits in history["residents"].items():
            if edits:
                audit(db, "read_full", f"resident:{resident}", "history")
    return jsonify(history)


@bp.post("/api/residents")
@require_role()
def create_resident():
    body = record_body("resident", base_version=0)
    return answer(*store_resident(get_db(), current_user, body, body.get("device_id")),
                  "resident")


@bp.post("/api/residents/<resident_id>")
@require_role()
def update_resident(resident_id: str):
    body = record_body("resident", resident_id=resident_id)
    return answer(*store_resident(get_db(), current_user, body, body.get("device_id")),
                  "resident")


@bp.post("/api/screening-visits")
@require_role()
def create_screening_visit():
    body = json_body("screening_visit")
    return answer(*store_screening_visit(get_db(), current_user, body, body.get("device_id")),
                  "visit")


@bp.get("/api/rounds")
@require_role()
def list_rounds():
    db = get_db()
    community_id = query_int("community_id")
    if community_id is None or (not in_staff_scope(db, current_user, community_id)
                                and community_id not in assigned_community_ids(db, current_user.id)):
        raise ApiError(403, "forbidden")
    rows = db.query("SELECT * FROM screening_rounds WHERE community_id = ? ORDER BY starts_on DESC",
                    [community_id])
    return jsonify({"rounds": list(rows)})


@bp.post("/api/rounds")
@require_role("committee", "admin")
def open_round():
    db = get_db()
    body = json_body("screening_round")
    _community_in_scope(db, body["community_id"])
    with db.atomic():
        try:
            round_id = create_round(db, body["community_id"], body["name"], body["starts_on"],
                                    body["ends_on"], current_user.id)
        except sqlite3.IntegrityError:
            raise fail(409, "conflict", "/name", "unique") from None
        audit(db, "create", f"round:{round_id}")
    return jsonify({"round": _row(db, "screening_rounds", round_id)}), 201


@bp.post("/api/places/<int:community_id>/households/import")
@require_role("committee", "admin")
def import_route(community_id: int):
    """multipart/form-data with `file` (.csv or .xlsx); answers the per-line report."""
    db = get_db()
    community = _community_in_scope(db, community_id)
    upload = request.files.get("file")
    if upload is None:
        raise fail(400, "invalid", "/file", "required")
    # read whole and checked against the limits before anything is written (413/422 naming
    # the limit and the line: tables.TableError)
    table = read_table(upload.filename or "", upload.read(), Limits.of(current_app.config))
    report = import_households(db, current_user, community, table)
    audit(db, "import", f"place:{community_id}",
          f"households+{report.households_created} residents+{report.residents_created} "
          f"updated {report.updated} errors {len(report.errors)}")
    return jsonify(report.to_json())

