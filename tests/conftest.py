"""Fixtures: a real app on a real SQLite file per test, and clients logged in as each role.

Password hashing (scrypt) costs ~0.1 s, so the small world below is built once per session in a
template file, and each test gets its own copy of that file.
"""

from __future__ import annotations

import shutil
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from server import create_app
from server.db import connect, init_db

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
    return ids


@pytest.fixture(scope="session")
def world_template(tmp_path_factory) -> tuple[Path, dict]:
    folder = tmp_path_factory.mktemp("template")
    path = folder / "baodao.db"
    init_db(path)
    db = connect(path)
    with db.atomic():
        ids = build_world(db)
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    db.close()
    return path, ids


@pytest.fixture
def world(world_template) -> dict:
    return world_template[1]


@pytest.fixture
def app(tmp_path, world_template):
    shutil.copy(world_template[0], tmp_path / "baodao.db")
    app = create_app({"TESTING": True, "DATA_DIR": str(tmp_path), "SECRET_KEY": "test-secret"})
    yield app


@pytest.fixture
def db(app):
    handle = connect(app.config["DATABASE"])
    yield handle
    handle.close()


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
    "cadre_B": "13800000003", "leader_A": "13800000004",
}


@pytest.fixture
def as_user(app):
    """as_user('committee_A') → an Api logged in as that account of the test world."""
    def make(who: str, lang: str | None = None) -> Api:
        api = Api(app, lang)
        assert api.login(PHONES[who]).status_code == 200
        return api
    return make


@pytest.fixture
def anon(app) -> Api:
    return Api(app)


def new_id() -> str:
    return str(uuid.uuid4())


def shanghai_time(moment: datetime | None = None) -> str:
    return (moment or datetime.now(SHANGHAI)).astimezone(SHANGHAI).isoformat()


@pytest.fixture
def poster_token(app, world):
    """poster_token('A') or poster_token('A', 'gateA'): a live poster's token."""
    from server import posters

    def make(community: str, checkpoint: str | None = None) -> str:
        with app.test_request_context():
            handle = connect(app.config["DATABASE"])
            try:
                for poster in posters.live_posters_of(handle, world[community]):
                    if poster["checkpoint_id"] == (world[checkpoint] if checkpoint else None):
                        return posters.token_of(poster["id"])
            finally:
                handle.close()
        raise LookupError(community)
    return make
