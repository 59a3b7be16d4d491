"""Load benchmark: the real server (run.py, gunicorn) driven from another process on loopback.

    python bench/load.py [--seconds 10] [--phones 200] [--concurrency 32]

(a) check-ins from simulated phones vs a trivial route (GET /api/time: no login, no database)
    of the same app, same load;
(b) sync batches of 100 records from 20 phones vs raw sqlite-utils insert_all of the same rows
    into the same schema, in the same run: all rows in one transaction (the raw ceiling), and
    100 rows per committed transaction (what acknowledging each batch durably costs by itself);
(c) the server's memory (RSS of gunicorn's master and workers) under (a) and (b).
It prints each figure and the ratios. The numbers move with the machine; the ratios much less.
"""

from __future__ import annotations

import argparse
import http.client
import json
import multiprocessing
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path
from queue import Empty

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
SHANGHAI = timezone(timedelta(hours=8))
BENCH_PASSWORD = "bench-password"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def prepare(data: Path, phones: int) -> None:
    """Demo data plus `phones` bench cadres (cheap password hashes: this measures check-ins)."""
    from werkzeug.security import generate_password_hash

    from server import cadres
    from server.db import connect, init_db
    from server.demo import seed

    init_db(data / "baodao.db")
    db = connect(data / "baodao.db")
    with db.atomic():
        seed(db, datetime.now(SHANGHAI).date().isoformat())
        community = db.execute("SELECT id FROM places WHERE kind = 'community'").fetchone()[0]
        cheap = generate_password_hash(BENCH_PASSWORD, method="pbkdf2:sha256:1000")
        for n in range(phones):
            user_id = db.execute(
                "INSERT INTO users (phone, name, password_hash, role, created_at) "
                "VALUES (?, ?, ?, 'cadre', '2026-01-01')", [f"166{n:08d}", f"压测{n}", cheap]
            ).lastrowid
            cadres.assign(db, user_id, community, "2026-01-01")
    db.close()


class Session:
    """One phone: a keep-alive connection, its cookie and CSRF token."""

    def __init__(self, port: int, phone: str, password: str = BENCH_PASSWORD):
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        self.cookies: dict[str, str] = {}
        self.csrf = ""
        status, body = self.call("POST", "/api/session", {"phone": phone, "password": password})
        assert status == 200, body
        self.csrf = body["csrf_token"]

    def call(self, method, path, body=None):
        cookie = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        headers = {"Content-Type": "application/json", "Cookie": cookie, "X-CSRFToken": self.csrf}
        self.conn.request(method, path, body=json.dumps(body) if body is not None else None,
                          headers=headers)
        response = self.conn.getresponse()
        data = response.read()
        for name, value in response.getheaders():  # the session and the login device cookie
            if name.lower() == "set-cookie":
                key, _, rest = value.split(";", 1)[0].partition("=")
                self.cookies[key] = rest
        return response.status, json.loads(data) if data else None


def drive(port, phones, concurrency, seconds, kind, token, queue):
    """In a separate process: `concurrency` threads share `phones` sessions for `seconds`."""
    sessions = [Session(port, f"166{n:08d}") for n in range(phones)]
    latencies: list[float] = []
    errors = [0]
    stored = [0]
    lock = threading.Lock()
    deadline = time.monotonic() + seconds
    start = datetime.now(SHANGHAI)

    def worker(index):
        mine = sessions[index::concurrency]  # each thread its own phones: no shared connection
        step = 0
        while time.monotonic() < deadline:
            session = mine[step % len(mine)]
            step += 1
            # 31 minutes apart per phone: every check-in is a new one, not a repeat scan.
            when = (start - timedelta(minutes=31 * (step * concurrency + index))).isoformat()
            began = time.perf_counter()
            try:
                ok = request(session, kind, when, step, index)
            except (OSError, http.client.HTTPException):
                ok = False
                session.conn.close()
            elapsed = time.perf_counter() - began
            with lock:
                latencies.append(elapsed)
                if ok:
                    stored[0] += 100 if kind == "sync" else 1
                else:
                    errors[0] += 1

    def request(session, kind, when, step, index) -> bool:
        if kind == "trivial":
            status, _ = session.call("GET", "/api/time")
            ok = status == 200
        elif kind == "checkin":
            status, _ = session.call("POST", "/api/checkins", {
                "id": str(uuid.uuid4()), "token": token, "recorded_at": when})
            ok = status == 201
        else:  # sync batch of 100 records, each on its own half hour
            records = [{"id": str(uuid.uuid4()), "type": "checkin", "data": {"token": token},
                        "recorded_at": (start - timedelta(minutes=31 * (step * 1000 + i)
                                                          + index * 10_000_000)).isoformat()}
                       for i in range(100)]
            status, body = session.call("POST", "/api/sync", {"device_id": "bench",
                                                               "records": records})
            ok = status == 200 and all(r["status"] == "created" for r in body["results"])
        return ok

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(concurrency)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    queue.put({"requests": len(latencies), "errors": errors[0], "stored": stored[0],
               "seconds": seconds, "latencies": sorted(latencies)})


def rss_mb(pid: int) -> float:
    """Resident memory of the process and its children (gunicorn workers), in MB."""
    total = 0
    pids = [pid] + [int(p) for p in subprocess.run(
        ["pgrep", "-P", str(pid)], capture_output=True, text=True).stdout.split()]
    for p in pids:
        try:
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
        except FileNotFoundError:
            pass
    return total / 1024


def run_load(port, phones, concurrency, seconds, kind, token, server_pid):
    queue = multiprocessing.Queue()
    process = multiprocessing.Process(target=drive, args=(port, phones, concurrency, seconds,
                                                          kind, token, queue))
    process.start()
    peak = 0.0
    while process.is_alive():
        peak = max(peak, rss_mb(server_pid))
        time.sleep(0.2)
        if not queue.empty():
            break
    try:  # before join(): a child blocks on exit until its queued result is read
        result = queue.get(timeout=30)
    except Empty:
        raise SystemExit(f"the {kind} load driver failed (exit code {process.exitcode})") from None
    process.join()
    lat = result["latencies"]
    result.update(
        rps=result["requests"] / seconds,
        p50=statistics.median(lat) * 1000 if lat else 0,
        p99=lat[int(len(lat) * 0.99) - 1] * 1000 if lat else 0,
        peak_rss=peak)
    return result


def raw_insert_rates(rows: int) -> tuple[float, float]:
    """sqlite-utils insert_all of the same check-in rows into the same schema, rows/s:
    all in one transaction, and 100 per transaction (each committed: one fsync per batch)."""
    from server.db import connect

    folder = Path(tempfile.mkdtemp())
    try:
        prepare(folder, 1)
        db = connect(folder / "baodao.db")
        community = db.execute("SELECT id FROM places WHERE kind = 'community'").fetchone()[0]
        db.execute("INSERT INTO posters (id, community_id, manual_code, issued_at) "
                   "VALUES ('p', ?, '00000000', '2026-01-01')", [community])
        now = datetime.now(SHANGHAI)

        def rows_of(count):
            # Spread over the days as the sync driver's records are: the check-in summary's
            # trigger recounts the row's community-day, so a pile on one day would be unfair.
            rows = []
            for n in range(count):
                moment = now - timedelta(minutes=31 * n + 31_000 * len(rows_done))
                rows.append({"id": str(uuid.uuid4()), "user_id": 1, "poster_id": "p",
                             "community_id": community, "recorded_at": moment.isoformat(),
                             "recorded_utc": moment.isoformat(),
                             "local_day": moment.date().isoformat(),
                             "received_at": now.isoformat(), "device_id": "bench",
                             "payload_hash": "x" * 64})
            rows_done.append(count)
            return rows
        rows_done: list[int] = []
        records = rows_of(rows)
        began = time.perf_counter()
        db["checkins"].insert_all(records, batch_size=100)  # one transaction
        one_transaction = rows / (time.perf_counter() - began)
        records = rows_of(rows)
        began = time.perf_counter()
        for start in range(0, rows, 100):
            db["checkins"].insert_all(records[start:start + 100], batch_size=100)
        per_batch = rows / (time.perf_counter() - began)
        return one_transaction, per_batch
    finally:
        shutil.rmtree(folder)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--phones", type=int, default=200)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--raw-rows", type=int, default=10_000,
                        help="at least this many rows for the raw insert baseline")
    args = parser.parse_args()
    data = Path(tempfile.mkdtemp(prefix="baodao-bench-"))
    prepare(data, args.phones)
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "run.py", "--port", str(port)], cwd=ROOT,
        env={**os.environ, "BAODAO_DATA": str(data)},
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        for _ in range(300):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                time.sleep(0.1)
        admin = Session(port, "13900000101", "demo1234")  # a demo committee: fetch a poster token
        _, me = admin.call("GET", "/api/session")
        _, posters = admin.call("GET", f"/api/places/{me['user']['place']['id']}/posters")
        token = posters["posters"][0]["token"]
        print(f"machine: {os.cpu_count()} cores; server: gunicorn 2 workers x 4 threads; "
              f"{args.phones} phones, {args.concurrency} concurrent, {args.seconds:.0f} s each")
        trivial = run_load(port, args.phones, args.concurrency, args.seconds, "trivial", token,
                           server.pid)
        checkin = run_load(port, args.phones, args.concurrency, args.seconds, "checkin", token,
                           server.pid)
        phones = min(20, args.phones)
        sync = run_load(port, phones, phones, args.seconds, "sync", token, server.pid)
        raw, raw_batched = raw_insert_rates(max(sync["stored"], args.raw_rows))
        for name, r in (("trivial GET /api/time", trivial), ("POST /api/checkins", checkin),
                        ("POST /api/sync x100", sync)):
            print(f"{name:22} {r['rps']:8.1f} req/s  p50 {r['p50']:7.1f} ms  "
                  f"p99 {r['p99']:7.1f} ms  errors {r['errors']}  peak RSS {r['peak_rss']:.0f} MB")
        sync_rate = sync["stored"] / args.seconds
        print(f"sync ingest            {sync_rate:8.0f} records/s stored")
        print(f"raw insert_all         {raw:8.0f} rows/s (same rows, same schema, one transaction)")
        print(f"raw insert_all x100    {raw_batched:8.0f} rows/s (100 rows per committed transaction)")
        print(f"RATIO check-ins / trivial route: {checkin['rps'] / trivial['rps']:.2f}")
        print(f"RATIO sync ingest / raw insert_all: {sync_rate / raw:.2f}")
        print(f"RATIO sync ingest / raw insert_all per 100-row transaction: "
              f"{sync_rate / raw_batched:.2f}")
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)
        shutil.rmtree(data, ignore_errors=True)


if __name__ == "__main__":
    main()
