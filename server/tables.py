"""Tables in and out of the server: the CSV/XLSX files committees upload (cadres, households)
and the CSV/XLSX downloads of the tallies and lists.

A base module: it imports no feature, so every feature may use it.
"""

from __future__ import annotations

import csv
import io
from datetime import date, datetime

from flask import Response
from openpyxl import Workbook, load_workbook

from .audit import audit
from .db import get_db

# Yes/no cells of an uploaded table as people fill them in (the party column says 党员/群众).
YES = {"1", "是", "y", "yes", "true", "党员", "中共党员"}
NO = {"", "0", "否", "n", "no", "false", "群众"}


def decode_csv(raw: bytes) -> str:
    """UTF-8 (with or without Excel's BOM), else GB18030: Excel in China saves CSV as GBK."""
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        return raw.decode("gb18030")


def _cell_text(value: object) -> str:
    """An XLSX cell as the text a CSV would hold: a date as YYYY-MM-DD, 12.0 as 12."""
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.date().isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()


def read_table(filename: str, raw: bytes) -> list[tuple[int, list[str]]]:
    """(line number, cells) of a CSV (UTF-8 or GBK) or XLSX file's first sheet, header first."""
    if filename.lower().endswith(".xlsx"):
        book = load_workbook(io.BytesIO(raw), read_only=True, data_only=True)
        try:
            return [(index, [_cell_text(v) for v in row])
                    for index, row in enumerate(book.worksheets[0].iter_rows(values_only=True), 1)]
        finally:
            book.close()
    reader = csv.reader(io.StringIO(decode_csv(raw)))
    return [(reader.line_num, [c.strip() for c in row]) for row in reader]


def download(fmt: str, title: str, header: list[str], rows: list[list], filename: str,
             place_id: int) -> Response:
    """A table as CSV (UTF-8 with a BOM, so Excel in China reads it as UTF-8) or XLSX; every
    export is written to the audit log."""
    audit(get_db(), "export", f"place:{place_id}", f"{filename}.{fmt}")
    disposition = {"Content-Disposition": f"attachment; filename={filename}.{fmt}"}
    if fmt == "csv":
        out = io.StringIO()
        writer = csv.writer(out)
        writer.writerow(header)
        writer.writerows(rows)
        return Response("\ufeff" + out.getvalue(), mimetype="text/csv", headers=disposition)
    book = Workbook(write_only=True)
    sheet = book.create_sheet(title[:31])  # Excel's limit for a sheet name
    sheet.append(header)
    for row in rows:
        sheet.append(row)
    out = io.BytesIO()
    book.save(out)
    return Response(out.getvalue(), headers=disposition,
                    mimetype="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")
