"""Cadres (下沉干部): assignments to communities (下沉), teams (工作队), and the CSV/XLSX import."""

from __future__ import annotations

from dataclasses import dataclass, field

import sqlite_utils

from . import places
from .auth import PHONE_RE, create_user, new_initial_password
from .notices import notify_assignment
from .tables import NO, YES
from .timeutil import now_utc, utc_text

# Column names accepted in the import file, Chinese or English.
COLUMNS = {
    "name": ("name", "姓名"),
    "phone": ("phone", "手机号", "手机", "电话"),
    "home_unit": ("home_unit", "工作单位", "单位"),
    "specialty": ("specialty", "专业特长", "特长"),
    "party_member": ("party_member", "党员", "是否党员"),
    "community": ("community", "下沉社区", "社区", "社区/村"),
}


def assign(db: sqlite_utils.Database, user_id: int, community_id: int, starts_on: str,
           ends_on: str | None = None, team_id: int | None = None,
           role_in_team: str = "member") -> int:
    """Assign a cadre to a community for a period (ends_on None: until further notice); the
    cadre gets a notice."""
    place = places.get_place(db, community_id)
    if place is None or place["kind"] != "community":
        raise ValueError("cadres are assigned to a community")
    if ends_on is not None and ends_on < starts_on:
        raise ValueError("an assignment cannot end before it starts")
    with db.atomic():
        assignment_id = db.execute(
            """INSERT INTO assignments (user_id, community_id, team_id, role_in_team, starts_on,
                   ends_on, created_at) VALUES (?,?,?,?,?,?,?)""",
            [user_id, community_id, team_id, role_in_team, starts_on, ends_on,
             utc_text(now_utc())]).lastrowid
        notify_assignment(db, assignment_id, user_id, place, starts_on)  # tells the cadre
    return assignment_id


def create_team(db: sqlite_utils.Database, community_id: int, name: str,
                leader_id: int | None = None, party_branch: bool = False) -> int:
    """A work team (工作队) in a community; party_branch marks a temporary party branch."""
    return db.execute(
        "INSERT INTO teams (community_id, name, leader_id, party_branch) VALUES (?,?,?,?)",
        [community_id, name, leader_id, int(party_branch)]).lastrowid


@dataclass
class ImportReport:
    created: list[tuple[int, str, str]] = field(default_factory=list)  # line, phone, password
    unchanged: list[int] = field(default_factory=list)                 # lines
    assigned: list[int] = field(default_factory=list)                  # existing cadre, new place
    errors: list[tuple[int, str]] = field(default_factory=list)        # line, reason


def _header_map(header: list[str]) -> dict[str, int]:
    found = {}
    for index, title in enumerate(header):
        title = title.strip().lower()
        for key, names in COLUMNS.items():
            if title in names:
                found[key] = index
    return found


def _community(db: sqlite_utils.Database, name: str) -> dict | None:
    """A community by its name; 'town/community' when the name alone is ambiguous."""
    if "/" in name:
        town_name, name = (part.strip() for part in name.split("/", 1))
        town = places.find_place(db, town_name, "town")
        if town is None:
            return None
        rows = list(db.query("SELECT * FROM places WHERE parent_id = ? AND name = ?",
                             [town["id"], name]))
        return rows[0] if rows else None
    return places.find_place(db, name, "community")


def import_cadres(db: sqlite_utils.Database, table: list[tuple[int, list[str]]], starts_on: str,
                  initial_password: str | None = None) -> ImportReport:
    """Import cadres from a table read by tables.read_table (CSV or XLSX, within its limits):
    good rows go in, bad rows are reported by line number.

    Re-importing the same file changes nothing: a known phone with the same name is left as
    it is, and only gets an assignment if it does not have one to that community yet.
    """
    report = ImportReport()
    if not table:
        report.errors.append((1, "empty file / 文件为空"))
        return report
    header_line, header = table[0]
    columns = _header_map(header)
    missing = [k for k in ("name", "phone", "community") if k not in columns]
    if missing:
        report.errors.append((header_line, f"missing columns / 缺少列: {', '.join(missing)}"))
        return report
    seen_phones: dict[str, int] = {}
    for line, row in table[1:]:
        if not any(cell.strip() for cell in row):
            continue

        def cell(key: str, row=row) -> str:
            index = columns.get(key)
            return row[index].strip() if index is not None and index < len(row) else ""

        name, phone, community_name = cell("name"), cell("phone"), cell("community")
        party = cell("party_member").lower()
        problem = None
        community = _community(db, community_name) if community_name else None
        if not name:
            problem = "name is empty / 姓名为空"
        elif not PHONE_RE.match(phone):
            problem = f"phone {phone!r} is not a mainland mobile number / 手机号格式不正确"
        elif phone in seen_phones:
            problem = f"phone repeats line {seen_phones[phone]} / 手机号与第{seen_phones[phone]}行重复"
        elif community is None:
            problem = f"unknown community {community_name!r} / 找不到社区"
        elif party not in YES and party not in NO:
            problem = f"party_member {party!r} is not yes/no / 党员一栏应为 是 或 否"
        if problem:
            report.errors.append((line, problem))
            continue
        seen_phones[phone] = line
        existing = db.execute("SELECT id, name, role FROM users WHERE phone = ?",
                              [phone]).fetchone()
        if existing and existing[1] != name:
            report.errors.append(
                (line, f"phone {phone} belongs to {existing[1]} / 手机号已属于{existing[1]}"))
            continue
        with db.atomic():
            if existing:
                user_id = existing[0]
            else:
                password = initial_password or new_initial_password()
                user_id = create_user(db, phone, name, password, "cadre",
                                      home_unit=cell("home_unit"), specialty=cell("specialty"),
                                      party_member=party in YES)
            has_assignment = db.execute(
                """SELECT 1 FROM assignments WHERE user_id = ? AND community_id = ?
                   AND (ends_on IS NULL OR ends_on >= ?)""",
                [user_id, community["id"], starts_on]).fetchone()
            if not has_assignment:
                assign(db, user_id, community["id"], starts_on)
        if not existing:
            report.created.append((line, phone, password))
        elif has_assignment:
            report.unchanged.append(line)
        else:
            report.assigned.append(line)
    return report
