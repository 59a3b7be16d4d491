"""Fault test: the real server (run.py, gunicorn) is SIGKILLed while phones sync, and while
they check in live (through group commit).

Every record the server acknowledged is there after the restart (docs/field-lessons.md#durability),
the phones' retries double nothing (docs/field-lessons.md#retries-after-a-lost-answer), and the
database file passes integrity_check.
"""

from __future__ import annotations

import http.client
import http.cookiejar
import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
import uuid
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from helpers import SHANGHAI

# What a phone sees when the server dies under it: refused or reset connections, or an answer
# cut off mid-body (IncompleteRead, truncated JSON). Each means "keep the batch, retry".
CUT_OFF = (OSError, http.client.HTTPException, ValueError)

ROOT = Path(__file__).resolve().parents[1]
CADRES = ["13800000001", "13800000002", "13800000003", "13800000004", "13800000005"]
COMMITTEE = "13900000101"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    def __init__(self, data: Path, port: int):
        self.data, self.port, self.process = data, port, None

    def start(self):
        env = {**os.environ, "BAODAO_DATA": str(self.data)}
        self.process = subprocess.Popen(
            [sys.executable, "run.py", "--demo", "--port", str(self.port), "--workers", "2"],
            cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            start_new_session=True)  # its own process group: kill master and workers at once
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/healthz", timeout=2):
                    return
            except OSError:
                time.sleep(0.2)
        raise RuntimeError("server did not start")

    def kill(self):
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait()

    def stop(self):
        if self.process and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:  # a graceful stop slowed by a loaded machine
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()


class Phone:
    """A phone's session: cookie jar, CSRF token, and an outbox it empties by sync."""

    def __init__(self, base: str, phone: str):
        self.base, self.phone = base, phone
        self.opener = urllib.request.build_opener(
            urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))
        self.csrf = None

    def call(self, method: str, path: str, body=None):
        headers = {"Content-Type": "application/json"}
        if self.csrf:
            headers["X-CSRFToken"] = self.csrf
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(self.base + path, data=data, method=method,
                                         headers=headers)
        try:
            with self.opener.open(request, timeout=10) as response:
                return response.status, json.load(response)
        except urllib.error.HTTPError as error:
            return error.code, json.load(error)

    def login(self):
        status, body = self.call("POST", "/api/session", {"phone": self.phone,
                                                          "password": "demo1234"})
        assert status == 200, body
        self.csrf = body["csrf_token"]


def send(phone: Phone, mode: str, batch: list[dict]) -> tuple[int, dict[str, str]]:
    """One batch by sync, or one record (a batch of one) by the live check-in route, which
    goes through group commit; returns the HTTP status and {record id: status}."""
    if mode == "sync":
        status, body = phone.call("POST", "/api/sync", {"device_id": phone.phone,
                                                        "records": batch})
        return status, ({r["id"]: r["status"] for r in body["results"]} if status == 200 else {})
    (record,) = batch
    status, body = phone.call("POST", "/api/checkins", {"id": record["id"],
                                                        "recorded_at": record["recorded_at"],
                                                        **record["data"]})
    return status, ({record["id"]: body["status"]} if status in (200, 201) else {})


@pytest.mark.parametrize("mode", ["sync", "checkins"])
def test_kill_during_sync_loses_and_doubles_nothing(tmp_path, mode):
    server = Server(tmp_path, _free_port())
    server.start()
    base = f"http://127.0.0.1:{server.port}"
    try:
        # run.py started the push worker beside gunicorn; /healthz sees its heartbeat.
        alive_by = time.monotonic() + 20
        while True:
            with urllib.request.urlopen(base + "/healthz", timeout=5) as response:
                if json.load(response)["push"]["worker_alive"]:
                    break
            assert time.monotonic() < alive_by, "the push worker never reported alive"
            time.sleep(0.5)
        office = Phone(base, COMMITTEE)
        office.login()
        _, me = office.call("GET", "/api/session")
        _, posters = office.call("GET", f"/api/places/{me['user']['place']['id']}/posters")
        token = posters["posters"][0]["token"]

        # Each phone has 80 check-ins, 31 minutes apart (no repeat-scan merging): 8 sync
        # batches of 10, or (mode "checkins") 40 live check-ins of one record each.
        now = datetime.now(SHANGHAI)
        outboxes = {}
        count, size = (80, 10) if mode == "sync" else (40, 1)
        for phone in CADRES:
            records = [{"id": str(uuid.uuid4()), "type": "checkin",
                        "recorded_at": (now - timedelta(minutes=31 * k)).isoformat(),
                        "data": {"token": token}} for k in range(count)]
            outboxes[phone] = [records[i:i + size] for i in range(0, count, size)]
        acknowledged: set[str] = set()
        lock = threading.Lock()

        def run_phone(phone_number):
            phone = Phone(base, phone_number)
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline:
                try:
                    phone.login()
                    break
                except (*CUT_OFF, AssertionError):
                    time.sleep(0.2)
            for batch in outboxes[phone_number]:
                while time.monotonic() < deadline:
                    try:
                        status, statuses = send(phone, mode, batch)
                    except CUT_OFF:  # refused, reset or cut off mid-answer: keep it, retry
                        time.sleep(0.2)
                        continue
                    if status == 401:
                        try:
                            phone.login()
                        except (*CUT_OFF, AssertionError):
                            time.sleep(0.2)
                        continue
                    if not statuses:  # 503 while the server comes back: keep it, retry
                        time.sleep(0.2)
                        continue
                    assert set(statuses.values()) <= {"created", "duplicate"}, statuses
                    with lock:
                        acknowledged.update(statuses)
                    break

        threads = [threading.Thread(target=run_phone, args=(p,)) for p in CADRES]
        for thread in threads:
            thread.start()
        # Kill once some records are in and others are in flight.
        wait_until = time.monotonic() + 60
        while len(acknowledged) < 60:
            assert time.monotonic() < wait_until, "the phones never got going"
            time.sleep(0.01)
        server.kill()
        acknowledged_before_kill = set(acknowledged)
        time.sleep(0.5)
        server.start()
        for thread in threads:
            thread.join()

        # A phone that lost the answers sends everything again: all duplicates.
        phone = Phone(base, CADRES[0])
        phone.login()
        for batch in outboxes[CADRES[0]]:
            _, statuses = send(phone, mode, batch)
            assert set(statuses.values()) == {"duplicate"}
    finally:
        server.stop()

    all_ids = {r["id"] for batches in outboxes.values() for batch in batches for r in batch}
    db = sqlite3.connect(tmp_path / "baodao.db")
    stored = [row[0] for row in db.execute("SELECT id FROM checkins")]
    assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    assert len(acknowledged_before_kill) < len(all_ids)  # the kill really cut syncing short
    assert acknowledged_before_kill <= set(stored)  # nothing acknowledged was lost
    assert len(stored) == len(set(stored)) == len(all_ids)  # each exactly once
    assert set(stored) == all_ids == acknowledged
