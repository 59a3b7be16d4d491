"""Push fan-out benchmark: one notice to N subscriptions, against a local fake push service.

    python bench/push.py [--subscriptions 5000] [--delay 0.05] [--rate 100] [--idle-seconds 10]

The real server (run.py: gunicorn plus its push worker process) serves a cheap route
(GET /healthz) to a paced client while the worker delivers; the same client is measured first
with nothing being sent. The fake service (its own process) decrypts nothing: it answers 201
after `--delay` seconds, as a distant push service would. It prints deliveries per second, the
cheap route's p50/p99 idle and during the fan-out, and their ratio. Targets:
>= 200 deliveries/s on 2 cores, p99 during the fan-out <= 1.5 x idle p99.
"""

from __future__ import annotations

import argparse
import http.client
import multiprocessing
import os
import shutil
import signal
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))
from load import Session, free_port  # noqa: E402 (bench/ is not a package)

PASSWORD = "bench-password"
ADMIN_PHONE = "13900000999"


def prepare(data: Path, count: int, service_port: int) -> None:
    """A district, one community, an admin, `count` cadres each with one subscription."""
    from cryptography.hazmat.primitives.asymmetric import ec
    from werkzeug.security import generate_password_hash

    from server import places
    from server.db import connect, init_db
    from server.push import b64url, public_key_of

    init_db(data / "baodao.db")
    db = connect(data / "baodao.db")
    key = public_key_of(ec.generate_private_key(ec.SECP256R1()))  # one browser key for all
    cheap = generate_password_hash(PASSWORD, method="pbkdf2:sha256:1000")
    with db.atomic():
        district = places.create_place(db, "压测区", "district")
        town = places.create_place(db, "压测街道", "town", district)
        community = places.create_place(db, "压测社区", "community", town)
        db.execute("INSERT INTO users (phone, name, password_hash, role, place_id, created_at) "
                   "VALUES (?, '压测管理员', ?, 'admin', ?, '2026-01-01')",
                   [ADMIN_PHONE, cheap, district])
        for n in range(count):
            user_id = db.execute(
                "INSERT INTO users (phone, name, password_hash, role, created_at) "
                "VALUES (?, ?, ?, 'cadre', '2026-01-01')", [f"136{n:08d}", f"压测{n}", cheap]
            ).lastrowid
            db.execute("INSERT INTO assignments (user_id, community_id, starts_on, created_at) "
                       "VALUES (?, ?, '2026-01-01', '2026-01-01')", [user_id, community])
            db.execute(
                """INSERT INTO push_subscriptions (user_id, device_id, endpoint, p256dh, auth,
                       created_at, updated_at) VALUES (?, 'bench', ?, ?, ?, '', '')""",
                [user_id, f"http://127.0.0.1:{service_port}/push/{n}", key,
                 b64url(os.urandom(16))])
    db.close()


def fake_service(port: int, delay: float, ready) -> None:
    """In its own process: answer every POST with 201 after `delay` (keep-alive, HTTP/1.1)."""

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self):
            self.rfile.read(int(self.headers.get("Content-Length", 0)))
            time.sleep(delay)
            self.send_response(201)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args):
            pass

    # It stands in for a push service on another continent: keep it from taking the CPU the
    # measured server would have (the push worker runs as SCHED_IDLE too).
    try:
        os.sched_setscheduler(0, os.SCHED_IDLE, os.sched_param(0))
    except (AttributeError, OSError):
        os.nice(10)
    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    server.daemon_threads = True
    server.request_queue_size = 256
    ready.set()
    server.serve_forever()


def pace(port: int, rate: float, seconds: float, stop, out) -> None:
    """In its own process: GET /healthz at `rate` req/s for `seconds` or until `stop` is set
    (4 keep-alive clients)."""
    latencies: list[float] = []
    slow: list[float] = []  # when requests over 50 ms happened
    errors = [0]
    lock = threading.Lock()
    clients = 4
    deadline = time.monotonic() + seconds

    def client(index: int):
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        interval = clients / rate
        next_at = time.monotonic() + index * interval / clients
        while True:
            now = time.monotonic()
            if now >= deadline or stop.is_set():
                return
            if next_at > now:
                time.sleep(next_at - now)
            next_at += interval
            began = time.perf_counter()
            try:
                conn.request("GET", "/healthz")
                response = conn.getresponse()
                response.read()
                ok = response.status == 200
            except (OSError, http.client.HTTPException):
                ok = False
                conn.close()
            with lock:
                if ok:
                    latencies.append(time.perf_counter() - began)
                    if latencies[-1] > 0.05:
                        slow.append(round(time.time(), 2))
                else:
                    errors[0] += 1

    threads = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    out.put({"latencies": sorted(latencies), "errors": errors[0], "slow": slow})


def percentiles(latencies: list[float]) -> tuple[float, float]:
    if not latencies:
        return 0.0, 0.0
    return (statistics.median(latencies) * 1000,
            latencies[max(0, int(len(latencies) * 0.99) - 1)] * 1000)


def measure(port: int, rate: float, seconds: float):
    """Start the paced client; returns (process, stop event, result queue)."""
    stop, out = multiprocessing.Event(), multiprocessing.Queue()
    process = multiprocessing.Process(target=pace, args=(port, rate, seconds, stop, out))
    process.start()
    return process, stop, out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--subscriptions", type=int, default=5000)
    parser.add_argument("--delay", type=float, default=0.05, help="fake service answer time, s")
    parser.add_argument("--rate", type=float, default=100, help="cheap-route requests per s")
    parser.add_argument("--idle-seconds", type=float, default=10)
    parser.add_argument("--threads", type=int, default=32, help="push worker senders")
    args = parser.parse_args()
    data = Path(tempfile.mkdtemp(prefix="baodao-push-bench-"))
    service_port, port = free_port(), free_port()
    print(f"machine: {os.cpu_count()} cores; server: gunicorn 2 workers x 4 threads + 1 push "
          f"worker ({args.threads} senders); fake push service answers 201 after "
          f"{args.delay * 1000:.0f} ms; cheap route paced at {args.rate:.0f} req/s")
    began = time.perf_counter()
    prepare(data, args.subscriptions, service_port)
    print(f"prepared {args.subscriptions} cadres with a subscription each in "
          f"{time.perf_counter() - began:.1f} s")
    ready = multiprocessing.Event()
    service = multiprocessing.Process(target=fake_service, args=(service_port, args.delay, ready),
                                      daemon=True)
    service.start()
    ready.wait(10)
    env = {**os.environ, "BAODAO_DATA": str(data), "BAODAO_VAPID_SUB": "mailto:ops@baodao.cn",
           "BAODAO_PUSH_TEST_SERVICE_ORIGINS": f"http://127.0.0.1:{service_port}",
           "BAODAO_PUSH_THREADS": str(args.threads),
           "BAODAO_PUSH_POLL_SECONDS": "0.2"}
    server = subprocess.Popen([sys.executable, "run.py", "--port", str(port)], cwd=ROOT, env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                              start_new_session=True)
    try:
        for _ in range(300):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                time.sleep(0.1)
        time.sleep(1)  # let the workers and the push worker settle
        process, _, out = measure(port, args.rate, args.idle_seconds)
        idle = out.get()
        process.join()

        db = sqlite3.connect(f"file:{data / 'baodao.db'}?mode=ro", uri=True)
        admin = Session(port, ADMIN_PHONE, PASSWORD)
        process, stop, out = measure(port, args.rate, 3600)  # until the fan-out ends
        time.sleep(0.5)
        sent_at, sent_wall = time.perf_counter(), time.time()
        status, body = admin.call("POST", "/api/notices", {
            "title": "全区紧急通知", "body": "今晚八点起全区实行封闭管理，请各下沉干部到岗。",
            "urgency": "high", "link": "/#/", "target": {}})
        request_ms = (time.perf_counter() - sent_at) * 1000
        assert status == 201, body
        notice_id = body["notice"]["id"]
        total = body["notice"]["summary"]["recipients"]
        done = 0
        while time.perf_counter() - sent_at < 600:
            time.sleep(0.25)
            done = db.execute("SELECT count(*) FROM push_deliveries WHERE notice_id = ? AND "
                              "state IN ('sent', 'failed', 'gone')", [notice_id]).fetchone()[0]
            if done >= total:
                break
        elapsed = time.perf_counter() - sent_at
        stop.set()
        busy = out.get()
        process.join()
        # Idle again after the fan-out: how much the machine's own noise moves the baseline.
        process, _, out = measure(port, args.rate, args.idle_seconds)
        after = out.get()
        process.join()
        states = dict(db.execute("SELECT state, count(*) FROM push_deliveries WHERE "
                                 "notice_id = ? GROUP BY state", [notice_id]).fetchall())
        span = db.execute("SELECT min(at), max(at) FROM push_attempts").fetchone()
        db.close()
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)
        service.terminate()
        shutil.rmtree(data, ignore_errors=True)
    print(f"sending request: {request_ms:.0f} ms for {total} recipients (queues only)")
    print(f"deliveries: {states} in {elapsed:.1f} s -> {done / elapsed:.0f} deliveries/s "
          f"(attempts from {span[0]} to {span[1]})")
    idle_p50, idle_p99 = percentiles(idle["latencies"])
    busy_p50, busy_p99 = percentiles(busy["latencies"])
    print(f"GET /healthz idle:          p50 {idle_p50:6.1f} ms  p99 {idle_p99:6.1f} ms  "
          f"({len(idle['latencies'])} requests, {idle['errors']} errors)")
    print(f"GET /healthz during fan-out: p50 {busy_p50:6.1f} ms  p99 {busy_p99:6.1f} ms  "
          f"({len(busy['latencies'])} requests, {busy['errors']} errors)")
    after_p50, after_p99 = percentiles(after["latencies"])
    print(f"GET /healthz idle after:    p50 {after_p50:6.1f} ms  p99 {after_p99:6.1f} ms  "
          f"({len(after['latencies'])} requests, {after['errors']} errors)")
    late = [round(t - sent_wall, 1) for t in busy["slow"]]
    print(f"requests over 50 ms during the fan-out, seconds after the send: {late}")
    print(f"RATIO deliveries/s / target 200: {done / elapsed / 200:.2f}")
    print(f"RATIO p99 during fan-out / idle p99: {busy_p99 / idle_p99:.2f} (target <= 1.5; "
          f"vs the idle run after it: {busy_p99 / after_p99:.2f})")

if __name__ == "__main__":
    main()
