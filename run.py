"""Baodao command line: serve the app, fill demo data, create users, import cadres.

    python run.py [--host 127.0.0.1] [--port 8000] [--https] [--demo]   serve (gunicorn)
    python run.py create-user --phone ... --name ... --role ... [--place ...]
    python run.py create-user --role enterprise --enterprise 金穗面粉厂 [--place 柳树村] ...
    python run.py import-cadres cadres.csv|.xlsx [--password ...] [--starts-on YYYY-MM-DD]
    python run.py backup [--to FILE]        online, while the server runs
    python run.py restore FILE              with the server stopped
    python run.py vapid-keys [--rotate]     show (or make anew) the Web Push key pair
    python run.py push-worker               the push delivery worker alone (serve starts one)
    python run.py retention [--days N]      anonymise what is N days past its purpose
"""

from __future__ import annotations

import argparse
import getpass
import logging
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

from gunicorn.app.base import BaseApplication

from server import create_app, data_dir
from server.auth import create_user
from server.backup import backup, restore
from server.cadres import import_cadres
from server.db import connect, init_db
from server.demo import DEMO_PASSWORD, seed
from server.enterprises import create_enterprise
from server.places import find_place
from server.push import PUBLIC_KEY_FILE, ensure_keys, run_worker
from server.retention import anonymise
from server.tables import Limits, TableError, read_table
from server.timeutil import today
from server.tls import ensure_certificate


def _app_and_db():
    app = create_app()
    return app, connect(app.config["DATABASE"])


def cmd_serve(args) -> int:
    os.environ.setdefault("BAODAO_DATA", str(data_dir()))
    if args.https:
        os.environ["BAODAO_HTTPS"] = "true"
    app, db = _app_and_db()
    if args.demo:
        with app.app_context(), db.atomic():
            logins = seed(db, today(app.config["TIMEZONE"]).isoformat())
        if logins is None:
            print("demo: the database already has data; nothing added")
        else:
            print(f"demo logins (password {DEMO_PASSWORD} for all):")
            for role, phone, name in logins:
                print(f"  {phone}  {role:<24} {name}")
    db.close()
    scheme = "https" if args.https else "http"
    print(f"Baodao on {scheme}://{args.host}:{args.port}/  (data in {app.config['DATA_DIR']})",
          flush=True)
    options = {
        "bind": f"{args.host}:{args.port}",
        "workers": args.workers,
        "worker_class": "gthread",
        "threads": args.threads,
        "timeout": 60,
        "accesslog": "-" if args.access_log else None,
        "control_socket_disable": True,  # one shared socket path would clash between servers
    }
    if args.https:
        extra_hosts = os.environ.get("BAODAO_TLS_HOSTS", "").split(",")
        cert, key = ensure_certificate(Path(app.config["DATA_DIR"]),
                                       [h.strip() for h in extra_hosts if h.strip()])
        options.update(certfile=str(cert), keyfile=str(key))
        print(f"TLS certificate: {cert} (self-signed; accept it once on each phone)")
    worker = None if args.no_push_worker else _start_push_worker()
    try:
        _run_gunicorn(options)
    finally:
        if worker is not None:
            worker.terminate()
            worker.wait(timeout=30)
    return 0


def _start_push_worker():
    """The push delivery worker as one process beside gunicorn (not one per gunicorn worker):
    it drains the queue table and runs the periodic checks; it exits when we do."""
    return subprocess.Popen([sys.executable, str(Path(__file__).resolve()), "push-worker"],
                            env=os.environ.copy())


def cmd_push_worker(args) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s push-worker %(message)s")
    run_worker(create_app())
    return 0


def cmd_vapid_keys(args) -> int:
    folder = data_dir()
    _, public = ensure_keys(folder, rotate=args.rotate)
    if args.rotate:
        # Subscriptions were made with the old key: push services refuse our new tokens for
        # them. Phones re-subscribe on their next start (they compare the served key).
        init_db(folder / "baodao.db")
        db = connect(folder / "baodao.db")
        with db.atomic():
            dropped = db.execute("DELETE FROM push_subscriptions").rowcount
        db.close()
        print(f"new VAPID key pair written; {dropped} subscriptions dropped. "
              "Restart the server so it signs with the new key.")
    print(f"public key ({folder / PUBLIC_KEY_FILE}):\n{public}")
    return 0


def _run_gunicorn(options: dict) -> None:
    class Server(BaseApplication):
        def load_config(self):
            for key, value in options.items():
                if value is not None:
                    self.cfg.set(key, value)

        def load(self):
            # One line per request with its id (server/pwa.py), beside gunicorn's own log.
            logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
            return create_app()  # each worker opens its own connections

    Server().run()


def cmd_create_user(args) -> int:
    app, db = _app_and_db()
    place_id = enterprise_id = new_enterprise_in = None
    if args.role == "enterprise" or args.enterprise:
        found = _enterprise_for_contact(db, args)
        if isinstance(found, str):
            print(found, file=sys.stderr)
            return 2
        enterprise_id, new_enterprise_in = found
    elif args.place:
        kind = {"committee": "community"}.get(args.role, args.kind)
        place = find_place(db, args.place, kind)
        if place is None:
            print(f"no single {kind} named {args.place!r}", file=sys.stderr)
            return 2
        place_id = place["id"]
    password = args.password or getpass.getpass("password: ")
    try:
        with db.atomic():  # a new enterprise only with its contact
            if new_enterprise_in is not None:
                enterprise_id = create_enterprise(db, args.enterprise, new_enterprise_in)
                print(f"enterprise {enterprise_id} added: {args.enterprise}")
            user_id = create_user(db, args.phone, args.name, password, args.role,
                                  place_id=place_id, enterprise_id=enterprise_id)
    except (ValueError, sqlite3.IntegrityError) as error:  # bad value, phone taken
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(f"user {user_id} created: {args.phone} {args.role}")
    return 0


def _enterprise_for_contact(db, args) -> tuple[int | None, int | None] | str:
    """(enterprise id, None) for the enterprise named by --enterprise (in the community
    --place, if given); (None, community id) when it is to be made there; or an error message."""
    if args.role != "enterprise":
        return "error: --enterprise is for --role enterprise"
    if not args.enterprise:
        return "error: an enterprise contact needs --enterprise NAME"
    community = None
    if args.place:
        community = find_place(db, args.place, "community")
        if community is None:
            return f"no single community named {args.place!r}"
    sql, params = "SELECT id FROM enterprises WHERE name = ?", [args.enterprise]
    if community is not None:
        sql, params = sql + " AND community_id = ?", [*params, community["id"]]
    rows = db.execute(sql, params).fetchall()
    if len(rows) == 1:
        return rows[0][0], None
    if rows:
        return f"several enterprises named {args.enterprise!r}: give --place COMMUNITY"
    if community is None:
        return f"no enterprise named {args.enterprise!r}: give --place COMMUNITY to add it"
    return None, community["id"]


def cmd_import_cadres(args) -> int:
    app, db = _app_and_db()
    starts_on = args.starts_on or today(app.config["TIMEZONE"]).isoformat()
    with app.app_context():
        try:  # the upload's limits and encodings (docs/screening-api.md#import-files-and-limits)
            table = read_table(args.file, Path(args.file).read_bytes(), Limits.of(app.config))
        except TableError as error:
            print(f"ERROR {error.text('zh')} / {error.text('en')}", file=sys.stderr)
            return 1
        report = import_cadres(db, table, starts_on, initial_password=args.password)
    for line, phone, password in report.created:
        print(f"line {line}: created {phone} initial password {password}")
    for line in report.assigned:
        print(f"line {line}: existing cadre assigned")
    for line, reason in report.errors:
        print(f"line {line}: ERROR {reason}")
    print(f"created {len(report.created)}, assigned {len(report.assigned)}, "
          f"unchanged {len(report.unchanged)}, errors {len(report.errors)}")
    return 1 if report.errors else 0


def cmd_backup(args) -> int:
    app = create_app()
    print(f"backup written to {backup(app.config['DATABASE'], args.to)}")
    return 0


def cmd_restore(args) -> int:
    database = data_dir() / "baodao.db"
    kept = restore(args.file, database)
    print(f"restored {args.file} into {database}; the previous database is kept as {kept}")
    return 0


def cmd_retention(args) -> int:
    app, db = _app_and_db()
    days = args.days or app.config["RETENTION_DAYS"]
    if not days:
        print("error: give --days or set BAODAO_RETENTION_DAYS", file=sys.stderr)
        return 2
    with app.app_context():
        done = anonymise(db, today(app.config["TIMEZONE"]), days)
    print(f"anonymised {done['households']} households and {done['residents']} residents "
          f"(purpose met more than {days} days ago)")
    return 0


def build_parser() -> argparse.ArgumentParser:
    """Serving (no command) and one subcommand per task; tests/test_docs.py checks that README.md
    or docs/ names each of them and their options."""
    parser = argparse.ArgumentParser(prog="run.py", description="Baodao (报到) server")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--https", action="store_true", help="serve TLS (self-signed)")
    parser.add_argument("--demo", action="store_true", help="fill an empty database with demo data")
    parser.add_argument("--workers", type=int, default=int(os.environ.get("BAODAO_WORKERS", 2)))
    parser.add_argument("--threads", type=int, default=int(os.environ.get("BAODAO_THREADS", 4)))
    parser.add_argument("--access-log", action="store_true")
    parser.add_argument("--no-push-worker", action="store_true",
                        help="do not start the push worker (run `run.py push-worker` elsewhere)")
    commands = parser.add_subparsers(dest="command")
    user = commands.add_parser("create-user", help="add an account")
    user.add_argument("--phone", required=True)
    user.add_argument("--name", required=True)
    user.add_argument("--role", required=True,
                      choices=["cadre", "leader", "committee", "admin", "enterprise"])
    user.add_argument("--place", help="community (committee, enterprise) or node name (admin)")
    user.add_argument("--enterprise", help="the enterprise of an enterprise contact (made in "
                                           "--place when it does not exist yet)")
    user.add_argument("--kind", default="district", help="kind of --place for an admin")
    user.add_argument("--password", help="asked for when not given")
    imp = commands.add_parser("import-cadres", help="import cadres from a CSV or XLSX file")
    imp.add_argument("file")
    imp.add_argument("--password", help="one initial password for all new cadres")
    imp.add_argument("--starts-on", help="assignment start day (default today)")
    back = commands.add_parser("backup", help="online backup of the database (server may run)")
    back.add_argument("--to", help="file to write (default data/backups/baodao-<time>.db)")
    rest = commands.add_parser("restore", help="replace the database by a backup (server stopped)")
    rest.add_argument("file")
    keys = commands.add_parser("vapid-keys", help="show the Web Push (VAPID) public key")
    keys.add_argument("--rotate", action="store_true", help="make a new pair (docs/push.md)")
    commands.add_parser("push-worker", help="run the push delivery worker in the foreground")
    keep = commands.add_parser("retention", help="anonymise personal data whose purpose is met")
    keep.add_argument("--days", type=int, help="default BAODAO_RETENTION_DAYS")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "retention":
        return cmd_retention(args)
    if args.command == "vapid-keys":
        return cmd_vapid_keys(args)
    if args.command == "push-worker":
        return cmd_push_worker(args)
    if args.command == "backup":
        return cmd_backup(args)
    if args.command == "restore":
        return cmd_restore(args)
    if args.command == "create-user":
        return cmd_create_user(args)
    if args.command == "import-cadres":
        return cmd_import_cadres(args)
    return cmd_serve(args)


if __name__ == "__main__":
    sys.exit(main())
