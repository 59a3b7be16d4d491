"""Group commit: single writes that arrive together share one transaction and one fsync.

With `synchronous=FULL` every commit waits for the disk, and SQLite commits one at a time, so
under a morning's rush of check-ins the fsync, not Python, sets the pace (bench/load.py: the
same load with `synchronous=NORMAL` stored about twice as many). Here each process has one
writer thread with its own connection. A request hands it a function of the database and
waits; the writer takes every function queued meanwhile, runs each in its own savepoint
inside one BEGIN IMMEDIATE ... COMMIT, and only after the COMMIT has returned (the data is on
disk) wakes the requests. So a request is still answered only once its record is durable, a
failing function rolls back alone, and a failed COMMIT fails every request of the group (none
is acknowledged; the phones keep their records and send them again).

There is no added wait: when the writer is idle a function runs at once, alone. Groups form
only while a commit is in progress, exactly when waiting would happen anyway.

The functions run in the writer thread, outside the request: they get everything from their
arguments and the connection, never from flask's request, `g` or `current_user`.
"""

from __future__ import annotations

import os
import queue
import sqlite3
import threading
from collections.abc import Callable
from typing import Any

from .db import begin_immediate

MAX_GROUP = 64  # bounds the time the write lock is held and one group's loss on a failure
WAIT_SECONDS = 60  # a request never hangs: past this it fails (and the phone retries)


class _Job:
    __slots__ = ("path", "work", "done", "result", "error")

    def __init__(self, path: str, work: Callable[[Any], Any] | None):
        self.path, self.work = path, work
        self.done = threading.Event()
        self.result: Any = None
        self.error: BaseException | None = None


class _Writer:
    """One per process (gunicorn forks workers: each gets its own, started on first use)."""

    def __init__(self, connect: Callable[[str], Any]):
        self.connect = connect
        self.jobs: queue.SimpleQueue[_Job] = queue.SimpleQueue()
        self.db = None
        self.db_path: str | None = None
        self.thread = threading.Thread(target=self._loop, name="group-commit", daemon=True)
        self.thread.start()

    def _loop(self) -> None:
        while True:
            group = [self.jobs.get()]
            while len(group) < MAX_GROUP and group[-1].work is not None:
                try:
                    group.append(self.jobs.get_nowait())
                except queue.Empty:
                    break
            if group[-1].work is None:  # forget(): after the jobs before it, drop the connection
                *group, closing = group
            else:
                closing = None
            for path in dict.fromkeys(j.path for j in group):  # tests use many files
                try:
                    self._commit(path, [j for j in group if j.path == path])
                except BaseException as error:  # noqa: BLE001 - the writer must live on
                    self._close()
                    self._finish([j for j in group if j.path == path and not j.done.is_set()],
                                 error)
            if closing is not None:
                self._close()
                closing.done.set()

    def _close(self) -> None:
        if self.db is not None:
            try:
                self.db.close()
            except sqlite3.Error:
                pass
        self.db = self.db_path = None

    def _commit(self, path: str, group: list[_Job]) -> None:
        if self.db_path != path:
            self._close()
            self.db, self.db_path = self.connect(path), path
        conn = self.db.conn
        begin_immediate(conn)
        try:
            for number, job in enumerate(group):
                conn.execute(f"SAVEPOINT job_{number}")
                try:
                    job.result = job.work(self.db)
                except Exception as error:  # noqa: BLE001 - this request's own error
                    job.error = error
                    conn.execute(f"ROLLBACK TO SAVEPOINT job_{number}")
                conn.execute(f"RELEASE SAVEPOINT job_{number}")
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:  # nothing of the group is stored
                conn.rollback()
            raise
        self._finish(group)

    @staticmethod
    def _finish(group: list[_Job], error: BaseException | None = None) -> None:
        for job in group:
            if error is not None:  # each request raises its own copy, not one shared object
                job.result, job.error = None, _copy(error)
            job.done.set()


def _copy(error: BaseException) -> BaseException:
    try:
        twin = type(error)(*error.args)
    except Exception:  # noqa: BLE001 - an exception type that cannot be rebuilt
        twin = sqlite3.OperationalError(str(error))
    twin.__cause__ = error
    return twin


_writers: dict[int, _Writer] = {}
_lock = threading.Lock()


def _writer(connect: Callable[[str], Any]) -> _Writer:
    pid = os.getpid()
    writer = _writers.get(pid)
    if writer is None or not writer.thread.is_alive():
        with _lock:
            writer = _writers.get(pid)
            if writer is None or not writer.thread.is_alive():
                writer = _writers[pid] = _Writer(connect)
    return writer


def run(path: str, work: Callable[[Any], Any], connect: Callable[[str], Any]) -> Any:
    """work(db) in the next group transaction on the file at `path`; its result once the
    group is committed, or its exception (or the commit's) raised here."""
    job = _Job(str(path), work)
    _writer(connect).jobs.put(job)
    if not job.done.wait(WAIT_SECONDS):
        raise sqlite3.OperationalError("the writer did not answer in time")
    if job.error is not None:
        raise job.error
    return job.result


def forget() -> None:
    """This process's writer closes its connection (before a file is replaced or removed)."""
    writer = _writers.get(os.getpid())
    if writer is not None and writer.thread.is_alive():
        job = _Job("", None)
        writer.jobs.put(job)
        job.done.wait(WAIT_SECONDS)
