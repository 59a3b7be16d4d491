"""Uploaded tables that cannot exhaust the server, and the files Excel and WPS really save
(docs/screening-api.md#import-files-and-limits): the household import (the API) and the cadre
import (run.py import-cadres) read them alike, and a refused file changes nothing."""

from __future__ import annotations

import io
import json
import resource
import struct
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from server.tables import Limits, TableError, read_table

ROOT = Path(__file__).resolve().parents[1]
HOUSEHOLDS = ("网格,楼栋,单元,门牌,户主,姓名,性别\n"
              "甲一网格,7,1,701,马力,马力,男\n甲一网格,7,1,701,马力,马兰,女\n")
CADRES = "姓名,手机号,工作单位,党员,下沉社区\n赵一,13700000001,区粮食局,是,甲社区\n"


def upload(api, community_id, name, data):
    return api.client.post(f"/api/places/{community_id}/households/import",
                           data={"file": (io.BytesIO(data), name)},
                           headers={"X-CSRFToken": api.csrf}, content_type="multipart/form-data")


def stored(db) -> tuple:
    return db.execute("SELECT (SELECT count(*) FROM households), (SELECT count(*) FROM residents), "
                      "(SELECT count(*) FROM registry_history)").fetchone()


def workbook(rows: list[list]) -> bytes:
    from openpyxl import Workbook

    book = Workbook()
    for row in rows:
        book.active.append(row)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def with_part(xlsx: bytes, name: str, writer) -> bytes:
    """The workbook with part `name` replaced by what writer(file) writes, streamed."""
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(xlsx)) as source, \
            zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target:
        for info in source.infolist():
            if info.filename != name:
                target.writestr(info, source.read(info))
        with target.open(name, "w", force_zip64=True) as part:
            writer(part)
    return out.getvalue()


def refusal(response, status: int, rule: str) -> dict:
    assert response.status_code == status, response.json
    error = response.json["error"]
    assert error["fields"][0]["path"] == "/file" and error["fields"][0]["rule"] == rule, error
    assert error["rule"] == rule
    return error


# --- the declared dimension and zip bombs ---------------------------------------------------

DIMENSION_BOMB = """<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">\
<dimension ref="A1:XFD1048576"/><sheetData>\
<row r="1"><c r="A1" t="inlineStr"><is><t>门牌</t></is></c></row>\
<row r="1048576"><c r="XFD1048576" t="inlineStr"><is><t>x</t></is></c></row>\
</sheetData></worksheet>"""


def dimension_bomb() -> bytes:
    """1.5 KB that declares 16,384 x 1,048,576 cells, with one cell at XFD1048576."""
    return with_part(workbook([["门牌"]]), "xl/worksheets/sheet1.xml",
                     lambda part: part.write(DIMENSION_BOMB.encode()))


# Run in a child process under an address-space cap: on a reader that pads to the declared
# dimension it dies of MemoryError (or the timeout) instead of taking the test runner to 4 GB.
BOMB_CHILD = """
import json, sys, time
def hwm():  # the peak resident memory of this process (ru_maxrss carries the parent's)
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
sys.path[:0] = [{root!r}, {tests!r}]
from helpers import PHONES, Api
from server import create_app
app = create_app({{"TESTING": True, "DATA_DIR": {data!r}, "SECRET_KEY": "test-secret"}})
api = Api(app)
assert api.login(PHONES["committee_A"]).status_code == 200
data = open({bomb!r}, "rb").read()
open("/proc/self/clear_refs", "w").write("5")  # the peak from here on
before = hwm()
start = time.monotonic()
import io
response = api.client.post("/api/places/{community}/households/import",
                           data={{"file": (io.BytesIO(data), "bomb.xlsx")}},
                           headers={{"X-CSRFToken": api.csrf}}, content_type="multipart/form-data")
print(json.dumps({{"status": response.status_code, "error": response.json["error"],
                  "seconds": time.monotonic() - start, "size": len(data),
                  "peak_kb": hwm(),
                  "before_kb": before}}))
"""


def test_dimension_bomb_is_refused_with_bounded_memory(app, world, db, tmp_path):
    bomb = tmp_path / "bomb.xlsx"
    bomb.write_bytes(dimension_bomb())
    before = stored(db)
    cap = 2 * 1024 ** 3

    def limit_memory():
        resource.setrlimit(resource.RLIMIT_AS, (cap, cap))

    script = BOMB_CHILD.format(root=str(ROOT), tests=str(ROOT / "tests"),
                               data=app.config["DATA_DIR"], bomb=str(bomb), community=world["A"])
    child = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                           timeout=300, preexec_fn=limit_memory)
    assert child.returncode == 0, child.stderr[-2000:]
    result = json.loads(child.stdout.strip().splitlines()[-1])
    print(f"dimension bomb ({result['size']} bytes): answered {result['status']} in "
          f"{result['seconds']:.2f} s, peak RSS {result['peak_kb'] / 1024:.1f} MB, "
          f"{(result['peak_kb'] - result['before_kb']) / 1024:.1f} MB above the logged-in app")
    assert result["status"] == 413
    error = result["error"]
    assert error["rule"] == "max_columns" and error["line"] == 1048576 and error["limit"] == 64
    assert "1048576" in error["fields"][0]["message"]
    # generous: the refusal itself needs a few MB; the padding reader needed gigabytes
    assert result["peak_kb"] - result["before_kb"] < 200 * 1024
    assert stored(db) == before


def test_zip_bomb_in_shared_strings_is_refused_before_unpacking(as_user, world, db):
    text = workbook([["门牌"], ["x"]])
    huge = 17 * 1024 * 1024  # past Limits.shared_strings (16 MiB); it packs to ~17 KB

    def strings(part):
        part.write(b'<sst xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
                   b'<si><t>')
        for _ in range(huge // (1 << 20)):
            part.write(b"A" * (1 << 20))
        part.write(b"</t></si></sst>")

    bomb = with_part(text, "xl/sharedStrings.xml", strings)
    assert len(bomb) < 100_000
    before = stored(db)
    error = refusal(upload(as_user("committee_A"), world["A"], "h.xlsx", bomb), 413,
                    "max_unzipped")
    assert error["part"] == "xl/sharedStrings.xml" and error["limit"] == 16
    assert "xl/sharedStrings.xml" in error["message"]
    assert stored(db) == before


def test_zip_bomb_in_the_sheet_is_refused_before_unpacking():
    def sheet(part):
        part.write(b'<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
                   b"<sheetData>")
        for _ in range(3):
            part.write(b" " * (1 << 20))
        part.write(b"</sheetData></worksheet>")

    bomb = with_part(workbook([["门牌"]]), "xl/worksheets/sheet1.xml", sheet)
    with pytest.raises(TableError) as refused:
        read_table("h.xlsx", bomb, Limits(unzipped=2 * 1024 * 1024))
    assert refused.value.status == 413 and refused.value.rule == "max_unzipped"
    assert refused.value.table_params["part"] == "xl/worksheets/sheet1.xml"


def test_a_part_that_understates_its_size_is_cut_short_not_inflated():
    """A sheet whose zip entries claim 2,000 bytes passes the size check, and zipfile stops
    inflating it there and fails its CRC check: the claimed sizes bound what is read."""
    def sheet(part):
        part.write(DIMENSION_BOMB.replace("<sheetData>", "<sheetData>" + " " * 5_000_000)
                   .encode())

    raw = bytearray(with_part(workbook([["门牌"]]), "xl/worksheets/sheet1.xml", sheet))
    name = b"xl/worksheets/sheet1.xml"
    for signature, size_at, name_at in ((b"PK\x03\x04", 22, 30), (b"PK\x01\x02", 24, 46)):
        at = raw.find(signature)
        while at >= 0:
            if raw[at + name_at:at + name_at + len(name)] == name:
                struct.pack_into("<I", raw, at + size_at, 2000)  # local header, directory
            at = raw.find(signature, at + 1)
    with zipfile.ZipFile(io.BytesIO(bytes(raw))) as archive:
        assert archive.getinfo("xl/worksheets/sheet1.xml").file_size == 2000
    with pytest.raises(TableError) as refused:
        read_table("h.xlsx", bytes(raw))
    assert refused.value.status == 422 and refused.value.rule == "format"


# --- rows, columns, cells, time -------------------------------------------------------------

def test_too_many_rows_is_refused_whole_naming_the_limit_and_line(app, as_user, world, db):
    app.config["IMPORT_MAX_ROWS"] = 5
    rows = "".join(f"甲一网格,8,1,{800 + n},户主{n},居民{n},男\n" for n in range(5))
    data = "网格,楼栋,单元,门牌,户主,姓名,性别\n\n" + rows  # an empty line does not count
    before = stored(db)
    error = refusal(upload(as_user("committee_A"), world["A"], "h.csv", data.encode()), 413,
                    "max_rows")
    assert error["limit"] == 5 and error["line"] == 7
    assert "5 行" in error["message"] and "第 7 行" in error["message"]
    english = upload(as_user("committee_A", "en"), world["A"], "h.csv", data.encode()).json
    assert english["error"]["fields"][0]["message"].startswith("The file has more than 5 rows")
    assert stored(db) == before  # the first five rows were not imported either
    app.config["IMPORT_MAX_ROWS"] = 6
    assert upload(as_user("committee_A"), world["A"], "h.csv", data.encode()).status_code == 200


def test_too_many_columns_and_too_long_a_cell(as_user, world, db):
    api = as_user("committee_A")
    before = stored(db)
    wide = "门牌," + ",".join(f"c{n}" for n in range(64)) + "\n701\n"
    error = refusal(upload(api, world["A"], "h.csv", wide.encode()), 413, "max_columns")
    assert (error["line"], error["count"], error["limit"]) == (1, 65, 64)
    long = HOUSEHOLDS + "甲一网格,7,1,702,马力," + "长" * 1001 + ",男\n"
    error = refusal(upload(api, world["A"], "h.csv", long.encode()), 422, "max_cell_length")
    assert (error["line"], error["column"], error["limit"]) == (4, 6, 1000)
    assert "第 4 行第 6 列" in error["message"]
    book = workbook([["门牌", "姓名"], ["701", "长" * 1001]])
    error = refusal(upload(api, world["A"], "h.xlsx", book), 422, "max_cell_length")
    assert (error["line"], error["column"]) == (2, 2)
    assert stored(db) == before


def test_trailing_empty_cells_do_not_count_as_columns():
    text = "门牌" + "," * 200 + "\n701" + "," * 300 + "\n"
    assert read_table("h.csv", text.encode()) == [(1, ["门牌"]), (2, ["701"])]


def test_reading_past_the_time_budget_is_refused(as_user, world, db, monkeypatch):
    import server.tables as tables

    ticks = iter(range(0, 10_000, 20))  # a clock that moves 20 s each time it is read

    class Clock:
        @staticmethod
        def monotonic():
            return next(ticks)

    monkeypatch.setattr(tables, "time", Clock)
    before = stored(db)
    error = refusal(upload(as_user("committee_A"), world["A"], "h.csv", HOUSEHOLDS.encode()),
                    413, "max_seconds")
    assert error["limit"] == 30 and error["line"] == 2
    assert stored(db) == before


# --- what Excel and WPS save ------------------------------------------------------------------

UNICODE_TEXT = HOUSEHOLDS.replace(",", "\t")  # Excel's "Unicode text": UTF-16, tabs


@pytest.mark.parametrize("data", [
    UNICODE_TEXT.encode("utf-16"),                   # with its BOM, as Excel saves it
    UNICODE_TEXT.encode("utf-16-be"),                # no BOM
    "\ufeff".encode("utf-16-be") + UNICODE_TEXT.encode("utf-16-be"),
    HOUSEHOLDS.encode("utf-8-sig"), HOUSEHOLDS.encode("utf-8"), HOUSEHOLDS.encode("gbk"),
    HOUSEHOLDS.encode("gb18030"), UNICODE_TEXT.encode("utf-8"),
], ids=["utf-16", "utf-16-be-no-bom", "utf-16-be", "utf-8-bom", "utf-8", "gbk", "gb18030",
        "utf-8-tabs"])
def test_household_import_reads_what_excel_and_wps_save(as_user, world, db, data):
    report = upload(as_user("committee_A"), world["A"], "住户.txt", data).json
    assert (report["households_created"], report["residents_created"], report["errors"]) == \
        (1, 2, [])
    names = db.execute("SELECT r.name FROM residents r JOIN households h ON h.id = r.household_id "
                       "WHERE h.door = '701' ORDER BY r.name").fetchall()
    assert names == [("马兰",), ("马力",)]


def test_rows_past_a_too_small_declared_dimension_are_read(as_user, world, db):
    """Some writers declare A1 whatever the sheet holds; the rows past it are not dropped."""
    book = workbook([["网格", "楼栋", "单元", "门牌", "姓名"], ["甲一网格", 7, 1, 701, "马力"],
                     ["甲一网格", 7, 1, 702, "马兰"]])
    with zipfile.ZipFile(io.BytesIO(book)) as archive:
        sheet = archive.read("xl/worksheets/sheet1.xml").decode()
    assert '<dimension ref="A1:E3" />' in sheet
    small = with_part(book, "xl/worksheets/sheet1.xml", lambda part: part.write(
        sheet.replace('<dimension ref="A1:E3" />', '<dimension ref="A1"/>').encode()))
    report = upload(as_user("committee_A"), world["A"], "h.xlsx", small).json
    assert report["households_created"] == 2 and report["errors"] == []


def test_an_xlsx_is_read_by_its_bytes_whatever_its_name(as_user, world):
    book = workbook([["网格", "楼栋", "单元", "门牌", "姓名"], ["甲一网格", 7, 1, 701, "马力"]])
    report = upload(as_user("committee_A"), world["A"], "住户.csv", book).json
    assert report["households_created"] == 1 and report["errors"] == []


@pytest.mark.parametrize("data, name, rule", [
    (b"\x80\x81\xff abc", "h.csv", "encoding"),         # neither UTF-8 nor GB18030
    (b"\xff\xfe\x41", "h.txt", "encoding"),              # UTF-16 cut in the middle of a pair
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(500), "h.xls", "old_xls"),
    (b"not a workbook", "h.xlsx", "format"),
    (b"PK\x03\x04broken", "h.xlsx", "format"),
    (b'\xe9\x97\xa8\xe7\x89\x8c\n"701\n' + b"x" * 140_000, "h.csv", "csv_syntax"),
], ids=["no-encoding", "utf-16-cut", "xls", "not-xlsx", "broken-zip", "open-quote"])
def test_an_unreadable_file_names_what_works(as_user, world, db, data, name, rule):
    before = stored(db)
    error = refusal(upload(as_user("committee_A"), world["A"], name, data), 422, rule)
    if rule in ("encoding", "format"):
        for works in ("UTF-8", "GBK", "UTF-16", ".xlsx"):
            assert works in error["message"]
    english = refusal(upload(as_user("committee_A", "en"), world["A"], name, data), 422, rule)
    assert ".xlsx" in english["message"] or "quote" in english["message"]
    assert stored(db) == before


# --- the cadre import, from the CLI ---------------------------------------------------------

@pytest.fixture
def cli(app, monkeypatch):
    import run

    monkeypatch.setenv("BAODAO_DATA", app.config["DATA_DIR"])
    monkeypatch.setenv("BAODAO_SECRET_KEY", "cli-test-secret")
    return run


@pytest.mark.parametrize("kind", ["utf-16", "utf-16-le", "gbk", "utf-8-sig", "xlsx"])
def test_cadre_import_reads_what_excel_and_wps_save(cli, tmp_path, capsys, db, kind):
    path = tmp_path / ("cadres.xlsx" if kind == "xlsx" else "cadres.csv")
    if kind == "xlsx":
        path.write_bytes(workbook([row.split(",") for row in CADRES.splitlines()]))
    else:
        text = CADRES.replace(",", "\t") if kind.startswith("utf-16") else CADRES
        path.write_bytes(text.encode(kind))
    assert cli.main(["import-cadres", str(path), "--password", "initial-pw1"]) == 0
    assert "created 1, assigned 0, unchanged 0, errors 0" in capsys.readouterr().out
    assert db.execute("SELECT name, party_member FROM users WHERE phone = '13700000001'"
                      ).fetchone() == ("赵一", 1)
    assert cli.main(["import-cadres", str(path)]) == 0  # the same file again changes nothing
    assert "created 0, assigned 0, unchanged 1, errors 0" in capsys.readouterr().out


def test_cadre_import_reports_bad_xlsx_rows_by_line(cli, tmp_path, capsys):
    path = tmp_path / "cadres.xlsx"
    path.write_bytes(workbook([["姓名", "手机号", "下沉社区"], ["赵一", 13700000001, "甲社区"],
                               [None, None, None], ["钱二", 1370000, "甲社区"]]))
    assert cli.main(["import-cadres", str(path), "--password", "initial-pw1"]) == 1
    out = capsys.readouterr().out
    assert "line 2: created 13700000001" in out and "line 4: ERROR" in out


def test_cadre_import_refuses_an_unreadable_or_oversized_file_without_a_traceback(
        cli, tmp_path, capsys, db, monkeypatch):
    path = tmp_path / "cadres.csv"
    path.write_bytes(b"\x80\x81\xff abc")
    users = db.execute("SELECT count(*) FROM users").fetchone()
    assert cli.main(["import-cadres", str(path)]) == 1
    err = capsys.readouterr().err
    assert "UTF-8" in err and "GBK" in err and "UTF-16" in err and ".xlsx" in err
    assert "Traceback" not in err
    monkeypatch.setenv("BAODAO_IMPORT_MAX_ROWS", "1")
    path.write_bytes(CADRES.encode("utf-8"))
    assert cli.main(["import-cadres", str(path)]) == 1
    assert "第 2 行" in capsys.readouterr().err
    assert db.execute("SELECT count(*) FROM users").fetchone() == users


# --- large imports: chunks, per-line errors, re-import --------------------------------------

def test_a_large_import_is_written_in_chunks_and_a_reimport_changes_nothing(app, world, db):
    from server import screening
    from server.auth import load_user_by_id
    from server.db import get_db

    lines = ["网格,楼栋,单元,门牌,户主,姓名,证件号码"]
    for n in range(1200):  # three households a chunk boundary runs through (lines 500-502)
        lines.append(f"甲一网格,9,{n // 300},{n // 3},户主{n // 3},居民{n},")
    lines[700] = "甲一网格,9,2,233,户主233,居民699,440524188001010015"  # a bad ID number
    lines[900] = "无此网格,9,3,300,户主300,居民900,"
    table = read_table("h.csv", "\n".join(lines).encode())
    with app.test_request_context():
        handle = get_db()
        user = load_user_by_id(handle, world["committee_A"])
        community = dict(next(handle.query("SELECT * FROM places WHERE id = ?", [world["A"]])))
        statements: list[str] = []
        handle.conn.set_trace_callback(statements.append)
        report = screening.import_households(handle, user, community, table)
        handle.conn.set_trace_callback(None)
        assert statements.count("COMMIT") == 3  # 1,198 good rows, 500 to a transaction
        assert (report.households_created, report.residents_created) == (400, 1198)
        assert [line for line, _ in report.errors] == [701, 901]
        assert "id_number" in report.errors[0][1] and "网格" in report.errors[1][1]
        counts = stored(db)
        again = screening.import_households(handle, user, community, table)
    assert (again.households_created, again.residents_created, again.updated) == (0, 0, 0)
    assert len(again.unchanged) == 1198 and [line for line, _ in again.errors] == [701, 901]
    assert stored(db) == counts
    assert db.execute("SELECT count(*) FROM residents r JOIN households h "
                      "ON h.id = r.household_id WHERE h.door = '166'").fetchone() == (3,)


def test_a_changed_value_is_one_registry_edit(as_user, world, db):
    api = as_user("committee_A")
    upload(api, world["A"], "h.csv", HOUSEHOLDS.encode())
    changed = HOUSEHOLDS.replace("马力,马兰", "马力强,马兰")
    report = upload(api, world["A"], "h.csv", changed.encode()).json
    assert (report["updated"], report["unchanged"]) == (1, [2])
    assert db.execute("SELECT head_name, version FROM households WHERE door = '701'"
                      ).fetchone() == ("马力强", 2)
