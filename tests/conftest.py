"""Fixtures: a real app on a real SQLite file per test, and clients logged in as each role.

Password hashing (scrypt) costs ~0.1 s, so the small world below is built once per session in a
template file, and each test gets its own copy of that file.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from helpers import PHONES, Api, build_world

from server import create_app, push
from server.db import connect, init_db


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
    app = create_app({"TESTING": True, "DATA_DIR": str(tmp_path), "SECRET_KEY": "test-secret",
                      "VAPID_SUB": "mailto:ops@baodao-test.cn"})  # push on (nothing is sent)
    yield app


@pytest.fixture
def db(app):
    handle = connect(app.config["DATABASE"])
    yield handle
    handle.close()


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


@pytest.fixture
def worker(push_app):
    """worker() → a push DeliveryWorker of the module's `push_app` fixture, closed after."""
    made = []

    def make():
        made.append(push.DeliveryWorker(push_app))
        return made[-1]
    yield make
    for w in made:
        w.close()
