"""Shared test helpers (imported as `helpers`; `conftest` names clash between test folders)."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta, timezone

PASSWORD = "secret-pass-1"
SHANGHAI = timezone(timedelta(hours=8))


def build_world(db) -> dict:
    """District D → towns T1, T2 → communities A (2 checkpoints), B (in T1), C (in T2)."""
    from server import cadres, places
    from server.auth import create_user

    ids: dict = {}
    ids["district"] = places.create_place(db, "测试区", "district")
    ids["town1"] = places.create_place(db, "一号街道", "town", ids["district"])
    ids["town2"] = places.create_place(db, "二号镇", "town", ids["district"])
    ids["A"] = places.create_place(db, "甲社区", "community", ids["town1"])
    ids["B"] = places.create_place(db, "乙社区", "community", ids["town1"])
    ids["C"] = places.create_place(db, "丙村", "community", ids["town2"])
    ids["gridA"] = places.create_place(db, "甲一网格", "grid", ids["A"])
    ids["gateA"] = places.create_checkpoint(db, ids["A"], "南门卡口")
    ids["gateA2"] = places.create_checkpoint(db, ids["A"], "北门卡口")
    users = {
        "admin": ("13900000001", "区管理员", "admin", ids["district"]),
        "town2_admin": ("13900000002", "二号镇管理员", "admin", ids["town2"]),
        "committee_A": ("13900000011", "甲社区居委会", "committee", ids["A"]),
        "committee_B": ("13900000012", "乙社区居委会", "committee", ids["B"]),
        "cadre_A": ("13800000001", "王建国", "cadre", None),
        "cadre_A2": ("13800000002", "李丽华", "cadre", None),
        "cadre_B": ("13800000003", "张志强", "cadre", None),
        "leader_A": ("13800000004", "刘队长", "leader", None),
    }
    for key, (phone, name, role, place_id) in users.items():
        ids[key] = create_user(db, phone, name, PASSWORD, role, place_id=place_id,
                               home_unit="区粮食局")
    day = "2026-01-01"
    cadres.assign(db, ids["cadre_A"], ids["A"], day)
    cadres.assign(db, ids["cadre_A2"], ids["A"], day)
    cadres.assign(db, ids["leader_A"], ids["A"], day)
    cadres.assign(db, ids["cadre_B"], ids["B"], day)
    cadres.create_team(db, ids["A"], "甲社区工作队", leader_id=ids["leader_A"], party_branch=True)
    build_households(db, ids)
    build_enterprises(db, ids)
    return ids


def build_enterprises(db, ids: dict) -> None:
    """Mobilisation: flour mill E in community A with its contact (role enterprise), and the
    grain bureau handling raw-material problems."""
    from server import enterprises
    from server.auth import create_user

    ids["mill"] = enterprises.create_enterprise(db, "甲面粉厂", ids["A"], "粮食加工")
    ids["mill_contact"] = create_user(db, PHONES["mill_contact"], "面粉厂赵经理", PASSWORD,
                                      "enterprise", enterprise_id=ids["mill"])
    enterprises.set_category_departments(db, "materials", ["区粮食局"])


# Valid 18-digit ID numbers (GB 11643 checksums) for the test world's residents.
ID_NUMBERS = ["11010519491231002X", "440524188001010014", "110101199003074477"]


def build_households(db, ids: dict) -> None:
    """Screening: grid 甲一 (cadre_A's) with two households, grid 乙一 with one, open rounds."""
    from server import places

    ids["gridB"] = places.create_place(db, "乙一网格", "grid", ids["B"])
    stamp = "2026-01-01T00:00:00.000000Z"
    db.execute("INSERT INTO grid_assignments (grid_id, user_id, created_at) VALUES (?, ?, ?)",
               [ids["gridA"], ids["cadre_A"], stamp])
    households = [("hhA1", "A", "gridA", "1", "1", "101", "赵大伟", "13912345678"),
                  ("hhA2", "A", "gridA", "1", "1", "102", "钱小红", "13987654321"),
                  ("hhB1", "B", "gridB", "5", "2", "301", "孙立", "13711112222")]
    for key, community, grid, building, unit, door, head, phone in households:
        ids[key] = str(uuid.uuid4())
        db.execute("""INSERT INTO households (id, community_id, grid_id, building, unit, door,
                          head_name, phone, residents_count, created_at, updated_at)
                      VALUES (?,?,?,?,?,?,?,?,2,?,?)""",
                   [ids[key], ids[community], ids[grid], building, unit, door, head, phone,
                    stamp, stamp])
    residents = [("resA1", "hhA1", "赵大伟", "male", ID_NUMBERS[1], "13912345678"),
                 ("resA2", "hhA1", "赵丽", "female", ID_NUMBERS[0], ""),
                 ("resA3", "hhA2", "钱小红", "female", "", "13987654321"),
                 ("resB1", "hhB1", "孙立", "male", ID_NUMBERS[2], "13711112222")]
    for key, household, name, sex, number, phone in residents:
        ids[key] = str(uuid.uuid4())
        db.execute("""INSERT INTO residents (id, household_id, name, sex, id_type, id_number,
                          phone, created_at, updated_at) VALUES (?,?,?,?,?,?,?,?,?)""",
                   [ids[key], ids[household], name, sex, "id_card" if number else "",
                    number, phone, stamp, stamp])
    for community in ("A", "B"):
        ids[f"round{community}"] = db.execute(
            """INSERT INTO screening_rounds (community_id, name, starts_on, ends_on, created_at)
               VALUES (?, '第一轮', '2026-01-01', '2099-12-31', ?)""",
            [ids[community], stamp]).lastrowid
    ids["policy8"], ids["policy9"] = [r[0] for r in db.execute(
        "SELECT id FROM isolation_policies WHERE place_id IS NULL ORDER BY id LIMIT 2")]


class Api:
    """A test client that logs in and sends the CSRF token, as the PWA does."""

    def __init__(self, app, lang: str | None = None):
        self.client = app.test_client()
        if lang:
            self.client.set_cookie("lang", lang)
        self.csrf = self.client.get("/api/session").json["csrf_token"]

    def login(self, phone: str, password: str = PASSWORD):
        response = self.client.post("/api/session", json={"phone": phone, "password": password})
        if response.status_code == 200:
            self.csrf = response.json["csrf_token"]
        return response

    def _headers(self, headers):
        return {"X-CSRFToken": self.csrf, **(headers or {})}

    @staticmethod
    def _read(response):
        # Read and close: an unread file response would leak its handle (ResourceWarning).
        response.get_data()
        response.close()
        return response

    def get(self, url, **kw):
        return self._read(self.client.get(url, **kw))

    def post(self, url, json=None, headers=None, **kw):
        return self._read(self.client.post(url, json=json, headers=self._headers(headers), **kw))

    def delete(self, url, headers=None, **kw):
        return self._read(self.client.delete(url, headers=self._headers(headers), **kw))


PHONES = {
    "admin": "13900000001", "town2_admin": "13900000002", "committee_A": "13900000011",
    "committee_B": "13900000012", "cadre_A": "13800000001", "cadre_A2": "13800000002",
    "cadre_B": "13800000003", "leader_A": "13800000004", "mill_contact": "13500000001",
}


def new_id() -> str:
    return str(uuid.uuid4())


def shanghai_time(moment: datetime | None = None) -> str:
    return (moment or datetime.now(SHANGHAI)).astimezone(SHANGHAI).isoformat()
