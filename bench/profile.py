"""Where a check-in's and a sync batch's time goes: the real app in-process (Flask's test
client, no HTTP, no second process), under pyinstrument.

    python bench/profile.py [--kind sync|checkin] [--requests 40] [--html out.html]

It prints the rate reached in-process (without the profiler) beside raw sqlite-utils inserts of
the same rows and, for check-ins, beside the trivial route; then the profile's call tree of a
second, profiled run (frames under 2 % hidden). Needs `pip install pyinstrument`.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
import uuid
from datetime import datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from load import BENCH_PASSWORD, SHANGHAI, prepare, raw_insert_rates  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--kind", choices=["sync", "checkin"], default="sync")
    parser.add_argument("--requests", type=int, default=40)
    parser.add_argument("--html", help="also write pyinstrument's HTML view here")
    args = parser.parse_args()
    try:
        from pyinstrument import Profiler
    except ImportError:
        raise SystemExit("pip install pyinstrument") from None
    from server import create_app

    folder = Path(tempfile.mkdtemp())
    try:
        prepare(folder, 1)
        app = create_app({"DATA_DIR": str(folder), "SECRET_KEY": "bench", "TESTING": False})
        client = app.test_client()
        office = app.test_client()
        login = office.post("/api/session", json={"phone": "13900000101", "password": "demo1234"})
        place = login.get_json()["user"]["place"]["id"]
        token = office.get(f"/api/places/{place}/posters").get_json()["posters"][0]["token"]
        answer = client.post("/api/session", json={"phone": "16600000000",
                                                   "password": BENCH_PASSWORD})
        headers = {"X-CSRFToken": answer.get_json()["csrf_token"]}
        start = datetime.now(SHANGHAI)
        step = [0]

        def when() -> str:
            step[0] += 1  # 31 minutes apart: each a new check-in, not a repeat scan
            return (start - timedelta(minutes=31 * step[0])).isoformat()

        def one_request() -> int:
            if args.kind == "checkin":
                response = client.post("/api/checkins", headers=headers, json={
                    "id": str(uuid.uuid4()), "token": token, "recorded_at": when()})
                assert response.status_code == 201, response.get_data(as_text=True)
                return 1
            records = [{"id": str(uuid.uuid4()), "type": "checkin", "data": {"token": token},
                        "recorded_at": when()} for _ in range(100)]
            response = client.post("/api/sync", headers=headers,
                                   json={"device_id": "bench", "records": records})
            assert response.status_code == 200, response.get_data(as_text=True)
            assert all(r["status"] == "created" for r in response.get_json()["results"])
            return 100

        one_request()  # warm: imports, compiled schemas, the poster token cache

        def timed(profiler=None) -> float:
            stored = 0
            began = time.perf_counter()
            if profiler:
                profiler.start()
            for _ in range(args.requests):
                stored += one_request()
            if profiler:
                profiler.stop()
            return stored / (time.perf_counter() - began)

        plain = timed()
        began = time.perf_counter()
        for _ in range(300):
            assert client.get("/api/time").status_code == 200
        trivial = 300 / (time.perf_counter() - began)
        profiler = Profiler(interval=0.0005)
        timed(profiler)
        raw_one, raw_per_100 = raw_insert_rates(5000)
        print(f"{args.kind}: {plain:,.0f} records/s in-process, one thread, no HTTP")
        print(f"raw insert_all of the same rows: {raw_one:,.0f} rows/s in one transaction, "
              f"{raw_per_100:,.0f} rows/s at 100 per commit")
        print(f"ratio in-process / raw: {plain / raw_one:.2f} (one transaction), "
              f"{plain / raw_per_100:.2f} (100 per commit)")
        if args.kind == "checkin":
            print(f"trivial route GET /api/time: {trivial:,.0f}/s in-process; "
                  f"ratio check-ins / trivial {plain / trivial:.2f}")
        print(profiler.output_text(unicode=True, color=False, show_all=False,
                                   time="percent_of_total", flat=False))
        if args.html:
            Path(args.html).write_text(profiler.output_html())
    finally:
        shutil.rmtree(folder)


if __name__ == "__main__":
    main()
