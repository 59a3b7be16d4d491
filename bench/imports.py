"""Household import benchmark: a 40,000-row file into one community of the demo district.

    python bench/imports.py [--rows 40000] [--format csv|xlsx]

Times, in the same run, in-process (what POST /api/places/<id>/households/import does, without
HTTP): reading the file (tables.read_table, within its limits), the import (a registry edit per
household and per resident through the record protocol, 500 rows to a transaction), the same
import again (it changes nothing), and raw executemany inserts of the same households,
residents and history rows into a fresh copy of the schema, in one transaction. It prints the
ratio import / raw inserts, the peak RSS of the run, and what the XLSX dimension bomb costs to
refuse (docs/screening-api.md#import-files-and-limits). The numbers move with the machine; the
ratio much less.
"""

from __future__ import annotations

import argparse
import io
import json
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

SURNAMES = "王李张刘陈杨赵黄周吴徐孙胡朱高林何郭马罗"
HEADER = ["网格", "楼栋", "单元", "门牌", "户主", "联系电话", "出租房屋", "姓名", "性别", "证件号码",
          "来源地", "独居老人"]


def id_number(serial: int) -> str:
    from server.idcard import check_char

    first17 = f"420102{1950 + serial % 50}0{1 + serial % 9}1{serial % 9}{serial % 1000:03d}"
    return first17 + check_char(first17)


def file_rows(count: int) -> list[list[str]]:
    """`count` residents, 2 or 3 to a household, over the community's two grids."""
    rows, household, left = [], 0, 0
    for n in range(count):
        if left == 0:
            household, left = household + 1, 2 + household % 2
        left -= 1
        head = SURNAMES[household % 20] + f"户{household}"
        rows.append(["第一网格" if household % 2 else "第二网格", str(1 + household // 400),
                     str(1 + household // 40 % 10), str(101 + household % 40), head,
                     f"139{household:08d}", "否", head if left == 1 else f"{head}家{left}",
                     "男" if n % 2 else "女", id_number(n), "本地", "否"])
    return rows


def encode(rows: list[list[str]], fmt: str) -> bytes:
    if fmt == "csv":
        lines = [",".join(HEADER)] + [",".join(row) for row in rows]
        return ("\n".join(lines) + "\n").encode("utf-8-sig")
    from openpyxl import Workbook

    book = Workbook(write_only=True)
    sheet = book.create_sheet()
    sheet.append(HEADER)
    for row in rows:
        sheet.append(row)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def prepare(folder: Path) -> None:
    from server.db import connect, init_db
    from server.demo import seed

    init_db(folder / "baodao.db")
    db = connect(folder / "baodao.db")
    with db.atomic():
        seed(db, "2026-11-26")
    db.close()


def raw_seconds(folder: Path, written: Path) -> tuple[float, float]:
    """executemany of the rows the import wrote (copied out of its database) into a copy of
    the demo database it started from: households, residents, registry_history, in one
    transaction."""
    from server.db import connect

    source = connect(written)
    tables = {t: list(source.execute(f"SELECT * FROM {t}"))
              for t in ("households", "residents", "registry_history")}
    columns = {t: [d[0] for d in source.execute(f"SELECT * FROM {t} LIMIT 0").description]
               for t in tables}
    source.close()
    db = connect(folder / "raw" / "baodao.db")
    for table, rows in tables.items():  # the demo's own rows are there already
        there = {r[0] for r in db.execute(f"SELECT id FROM {table}")}
        rows[:] = [r for r in rows if r[0] not in there]
    began, cpu = time.perf_counter(), time.process_time()
    db.conn.execute("BEGIN IMMEDIATE")
    for table, rows in tables.items():
        db.conn.executemany(f"INSERT INTO {table} ({', '.join(columns[table])}) "
                            f"VALUES ({', '.join('?' * len(columns[table]))})", rows)
    db.conn.execute("COMMIT")
    seconds = time.perf_counter() - began, time.process_time() - cpu
    db.close()
    return seconds


BOMB = """
import io, json, sys, time, zipfile
def hwm():  # the peak resident memory of this process (ru_maxrss carries the parent's)
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
sys.path.insert(0, {root!r})
from server.tables import TableError, read_table
sheet = ('<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
         '<dimension ref="A1:XFD1048576"/><sheetData><row r="1"><c r="A1" t="inlineStr">'
         '<is><t>x</t></is></c></row><row r="1048576"><c r="XFD1048576" t="inlineStr">'
         '<is><t>x</t></is></c></row></sheetData></worksheet>')
parts = {{"[Content_Types].xml": '<Types xmlns="http://schemas.openxmlformats.org/package/2006/'
          'content-types"><Default Extension="rels" ContentType="application/vnd.openxmlformats-'
          'package.relationships+xml"/><Override PartName="/xl/workbook.xml" ContentType="applicati'
          'on/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/><Override PartName="'
          '/xl/worksheets/sheet1.xml" ContentType="application/vnd.openxmlformats-officedocument.sp'
          'readsheetml.worksheet+xml"/></Types>',
          "_rels/.rels": '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relat'
          'ionships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument'
          '/2006/relationships/officeDocument" Target="xl/workbook.xml"/></Relationships>',
          "xl/workbook.xml": '<workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/'
          'main" xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships"><she'
          'ets><sheet name="S" sheetId="1" r:id="rId1"/></sheets></workbook>',
          "xl/_rels/workbook.xml.rels": '<Relationships xmlns="http://schemas.openxmlformats.org/pa'
          'ckage/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.or'
          'g/officeDocument/2006/relationships/worksheet" Target="worksheets/sheet1.xml"/></Relatio'
          'nships>',
          "xl/worksheets/sheet1.xml": sheet}}
out = io.BytesIO()
with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
    for name, text in parts.items():
        z.writestr(name, text)
open("/proc/self/clear_refs", "w").write("5")  # the peak from here on
before = hwm()
began = time.perf_counter()
try:
    read_table("bomb.xlsx", out.getvalue())
    refused = None
except TableError as error:
    refused = error.rule
print(json.dumps({{"bytes": len(out.getvalue()), "refused": refused,
                  "seconds": time.perf_counter() - began, "before_kb": before,
                  "peak_kb": hwm()}}))
"""


def bomb() -> dict:
    child = subprocess.run([sys.executable, "-c", BOMB.format(root=str(ROOT))],
                           capture_output=True, text=True, timeout=600, check=True)
    return json.loads(child.stdout)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=40_000)
    parser.add_argument("--format", choices=["csv", "xlsx"], default="csv")
    args = parser.parse_args()

    from server import create_app, screening
    from server.auth import load_user_by_id
    from server.db import connect, first_row
    from server.tables import Limits, read_table

    folder = Path(tempfile.mkdtemp())
    try:
        prepare(folder)
        (folder / "raw").mkdir()  # the same demo database, for the raw inserts
        shutil.copy(folder / "baodao.db", folder / "raw" / "baodao.db")
        app = create_app({"TESTING": True, "DATA_DIR": str(folder), "SECRET_KEY": "bench",
                          "IMPORT_MAX_ROWS": max(args.rows + 1, 50_000)})
        data = encode(file_rows(args.rows), args.format)
        db = connect(folder / "baodao.db")
        community = first_row(db, "SELECT * FROM places WHERE name = '和平社区'")
        committee = first_row(db, "SELECT id FROM users WHERE role = 'committee' "
                                  "AND place_id = ?", [community["id"]])
        with app.test_request_context():
            user = load_user_by_id(db, committee["id"])
            began = time.perf_counter()
            table = read_table(f"households.{args.format}", data, Limits.of(app.config))
            read = time.perf_counter() - began
            began, cpu = time.perf_counter(), time.process_time()
            report = screening.import_households(db, user, community, table)
            imported, imported_cpu = time.perf_counter() - began, time.process_time() - cpu
            began = time.perf_counter()
            again = screening.import_households(db, user, community, table)
            reimported = time.perf_counter() - began
        db.close()
        assert not report.errors, report.errors[:3]
        assert len(again.unchanged) == args.rows and not again.updated
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024
        raw, raw_cpu = raw_seconds(folder, folder / "baodao.db")
        print(f"file: {args.rows} rows, {args.format}, {len(data) / 1024:.0f} KiB "
              f"(BAODAO_MAX_CONTENT_LENGTH caps an upload at {app.config['MAX_CONTENT_LENGTH']})")
        print(f"read_table           {read:8.2f} s")
        print(f"import               {imported:8.2f} s  {args.rows / imported:8.0f} rows/s  "
              f"CPU {imported_cpu:.2f} s ({report.households_created} households, "
              f"{report.residents_created} residents)")
        print(f"re-import (no change){reimported:8.2f} s  {args.rows / reimported:8.0f} rows/s")
        print(f"raw inserts          {raw:8.2f} s  {args.rows / raw:8.0f} rows/s  "
              f"CPU {raw_cpu:.2f} s (the same households, residents and history rows, "
              "one transaction)")
        print(f"peak RSS of the run  {peak:8d} MB")
        refused = bomb()
        print(f"dimension bomb       {refused['seconds']:8.2f} s  {refused['bytes']} bytes refused "
              f"({refused['refused']}), peak RSS {refused['peak_kb'] / 1024:.1f} MB "
              f"(+{(refused['peak_kb'] - refused['before_kb']) / 1024:.1f} MB for the refusal)")
        print(f"RATIO import / raw inserts: {imported / raw:.2f}")
        print(f"RATIO import / raw inserts, CPU: {imported_cpu / raw_cpu:.2f}")
    finally:
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
