"""Group commit on a real SQLite file: what a group stores, what one failure undoes, and that
an answer comes only after the data is committed."""

from __future__ import annotations

import os
import sqlite3
import threading
import time

import pytest

from server import group_commit
from server.db import connect


@pytest.fixture
def path(tmp_path):
    file = tmp_path / "g.db"
    db = connect(file)
    db.enable_wal()
    db.execute("CREATE TABLE parent (id INTEGER PRIMARY KEY)")
    db.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, parent_id INTEGER "
               "REFERENCES parent(id) DEFERRABLE INITIALLY DEFERRED)")
    db.close()
    yield str(file)
    group_commit.forget()


def insert(value, parent=None):
    def work(db):
        db.execute("INSERT INTO t (id, parent_id) VALUES (?, ?)", [value, parent])
        return value
    return work


def stored(path) -> list[int]:
    conn = sqlite3.connect(path)
    try:
        return [row[0] for row in conn.execute("SELECT id FROM t ORDER BY id")]
    finally:
        conn.close()


def hold_writer(path):
    """Occupies the writer until released, so that the jobs queued meanwhile form one group."""
    started, release = threading.Event(), threading.Event()

    def work(db):
        started.set()
        release.wait(10)
        db.execute("INSERT INTO t (id) VALUES (0)")
    thread = threading.Thread(target=group_commit.run, args=(path, work, connect))
    thread.start()
    assert started.wait(10)
    return release, thread


def run_all(path, works):
    """Runs each work from its own thread; returns [(result, error)] in order."""
    outcomes = [None] * len(works)

    def one(index):
        try:
            outcomes[index] = (group_commit.run(path, works[index], connect), None)
        except Exception as error:  # noqa: BLE001 - the test looks at it
            outcomes[index] = (None, error)
    threads = [threading.Thread(target=one, args=(i,)) for i in range(len(works))]
    for thread in threads:
        thread.start()
    return threads, outcomes


def wait_queued(count):
    writer = group_commit._writers[os.getpid()]
    deadline = time.monotonic() + 10
    while writer.jobs.qsize() < count:
        assert time.monotonic() < deadline, "jobs never queued"
        time.sleep(0.01)


def test_an_answer_comes_after_the_commit(path):
    assert group_commit.run(path, insert(1), connect) == 1
    assert stored(path) == [1]  # another connection sees it the moment run() returns


def test_one_failing_job_rolls_back_alone_in_its_group(path):
    release, holder = hold_writer(path)
    works = [insert(1), insert(2), insert(2), insert(3)]  # the second 2 breaks the primary key
    threads, outcomes = run_all(path, works)
    wait_queued(4)
    release.set()
    for thread in [holder, *threads]:
        thread.join(10)
    assert stored(path) == [0, 1, 2, 3]
    errors = [error for _, error in outcomes]
    assert sum(isinstance(e, sqlite3.IntegrityError) for e in errors) == 1
    assert sorted(result for result, error in outcomes if error is None) == [1, 2, 3]


def test_a_failed_commit_fails_every_job_of_the_group_and_stores_none(path):
    release, holder = hold_writer(path)
    # A deferred foreign key is checked at COMMIT: the whole group's commit fails.
    works = [insert(1), insert(2, parent=99), insert(3)]
    threads, outcomes = run_all(path, works)
    wait_queued(3)
    release.set()
    for thread in [holder, *threads]:
        thread.join(10)
    assert stored(path) == [0]  # the holder was a group alone; of the three, nothing
    assert all(isinstance(error, sqlite3.IntegrityError) for _, error in outcomes)
    # The writer lives on: the next job commits.
    assert group_commit.run(path, insert(4), connect) == 4
    assert stored(path) == [0, 4]


def test_forget_lets_the_file_be_replaced(path, tmp_path):
    group_commit.run(path, insert(1), connect)
    group_commit.forget()
    fresh = sqlite3.connect(tmp_path / "other.db")
    fresh.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, parent_id INTEGER)")
    fresh.commit()
    fresh.close()
    for suffix in ("-wal", "-shm"):
        (tmp_path / f"g.db{suffix}").unlink(missing_ok=True)
    (tmp_path / "other.db").replace(path)
    group_commit.run(path, insert(7), connect)
    assert stored(path) == [7]


def test_the_writer_waits_out_another_process_lock_and_gives_up_in_time(path, monkeypatch):
    """begin_immediate: tried again while another connection (another gunicorn worker) holds
    the write lock; after the busy timeout the error reaches the request (a 503)."""
    from server import db as db_module

    other = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    other.execute("BEGIN IMMEDIATE")
    threading.Timer(0.2, other.execute, args=("COMMIT",)).start()
    began = time.monotonic()
    assert group_commit.run(path, insert(1), connect) == 1  # waited for the other commit
    assert 0.15 < time.monotonic() - began < 5
    monkeypatch.setattr(db_module, "BUSY_TIMEOUT_MS", 300)
    other.execute("BEGIN IMMEDIATE")
    try:
        with pytest.raises(sqlite3.OperationalError, match="locked"):
            group_commit.run(path, insert(2), connect)
    finally:
        other.execute("ROLLBACK")
        other.close()
    assert group_commit.run(path, insert(3), connect) == 3  # and lives on
    assert stored(path) == [1, 3]
