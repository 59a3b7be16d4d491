"""Tables in and out of the server: the CSV/XLSX files committees upload (cadres, households)
and the CSV/XLSX downloads of the tallies and lists.

A base module: it imports no feature, so every feature may use it.
"""

from __future__ import annotations

import codecs
import csv
import io
import re
import time
import zipfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import date, datetime

from flask import Response
from openpyxl import Workbook, load_workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE
from openpyxl.packaging.manifest import Manifest
from openpyxl.xml.constants import ARC_CONTENT_TYPES, SHARED_STRINGS
from openpyxl.xml.functions import fromstring

from .audit import audit
from .db import get_db
from .errors import ApiError, field_error
from .i18n import t

# Yes/no cells of an uploaded table as people fill them in (the party column says 党员/群众).
YES = {"1", "是", "y", "yes", "true", "党员", "中共党员"}
NO = {"", "0", "否", "n", "no", "false", "群众"}


MIB = 1024 * 1024


@dataclass(frozen=True)
class Limits:
    """What one uploaded table may hold (docs/screening-api.md#import-files-and-limits). A
    spreadsheet's declared size is a promise, not a fact: these are checked on what is read."""

    rows: int = 50_000              # rows with content, the header included
    columns: int = 64               # up to a row's last filled cell
    cell: int = 1_000               # characters in one cell
    seconds: float = 30             # for reading the file; the import's writes come after
    unzipped: int = 128 * MIB       # an XLSX's parts together, as its zip directory states them
    shared_strings: int = 16 * MIB  # openpyxl holds the whole string table in memory
    other_part: int = 4 * MIB       # styles, workbook, relations: parsed whole as well

    @classmethod
    def of(cls, config) -> Limits:
        """The limits a deployment set (BAODAO_IMPORT_MAX_ROWS, BAODAO_IMPORT_MAX_SECONDS)."""
        seconds = float(config["IMPORT_MAX_SECONDS"])
        return cls(rows=int(config["IMPORT_MAX_ROWS"]),
                   seconds=int(seconds) if seconds.is_integer() else seconds)  # "30 秒", not 30.0


class TableError(ApiError):
    """A file refused whole, before anything of it is stored: the limit it passed or why it
    cannot be read, with the line, in the user's language. 413 for a limit of size or time,
    422 for a file that is not a readable table."""

    def __init__(self, status: int, rule: str, **params: object):
        super().__init__(status, "too_large" if status == 413 else "invalid",
                         message=t(f"table_{rule}", **params),
                         fields=[field_error("/file", f"table_{rule}", rule, **params)],
                         extra={"rule": rule, **params})
        self.rule, self.table_params = rule, params

    def text(self, lang: str) -> str:
        """The message in `lang` (the CLI prints both)."""
        return t(f"table_{self.rule}", lang, **self.table_params)


XLS_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"  # Excel 97-2003, and encrypted workbooks
ZIP_MAGIC = b"PK\x03\x04"


def decode_csv(raw: bytes) -> str:
    """The text of a CSV or TXT upload as Excel and WPS save it: UTF-8 with or without BOM,
    UTF-16 with its BOM (Excel's "Unicode text"), else GB18030 (GBK's superset: Excel in
    China saves CSV as GBK). Anything else: TableError naming the encodings that work."""
    if raw.startswith(codecs.BOM_UTF8):
        encodings: tuple[str, ...] = ("utf-8-sig",)
    elif raw.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        encodings = ("utf-16",)
    elif b"\x00" in raw[:4096]:
        # UTF-16 without its BOM: each ASCII character leaves a NUL on one side of its pair
        head = raw[:4096]
        encodings = ("utf-16-le" if head[1::2].count(0) > head[::2].count(0) else "utf-16-be",)
    else:
        encodings = ("utf-8", "gb18030")
    for encoding in encodings:
        try:
            text = raw.decode(encoding)
        except UnicodeDecodeError:
            continue
        if "\x00" not in text:
            return text
    raise TableError(422, "encoding")


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


def read_table(filename: str, raw: bytes,
               limits: Limits | None = None) -> list[tuple[int, list[str]]]:
    """(line number, cells) of each row with content of a CSV/TXT file (comma or tab
    separated, encodings as decode_csv) or of an XLSX file's first sheet, header first,
    trailing empty cells dropped.

    Streamed and checked row by row against `limits`: past one, TableError, before the caller
    has stored anything. The kind of file is told by its first bytes, not by its name."""
    limits = limits or Limits()
    deadline = time.monotonic() + limits.seconds
    if raw.startswith(XLS_MAGIC):
        raise TableError(422, "old_xls")
    if raw.startswith(ZIP_MAGIC):
        rows = _xlsx_rows(raw, limits)
    elif filename.lower().endswith((".xlsx", ".xlsm")):
        raise TableError(422, "format")
    else:
        rows = _csv_rows(decode_csv(raw))
    try:
        return list(_bounded(rows, limits, deadline))
    finally:
        rows.close()  # a refusal mid-file closes the workbook now, not when collected


def _bounded(rows: Iterable[tuple[int, list[str]]], limits: Limits,
             deadline: float) -> Iterator[tuple[int, list[str]]]:
    filled = 0
    for line, cells in rows:
        if time.monotonic() > deadline:
            raise TableError(413, "max_seconds", limit=limits.seconds, line=line)
        end = len(cells)
        while end and not cells[end - 1]:
            end -= 1
        if not end:
            continue
        if end > limits.columns:
            raise TableError(413, "max_columns", limit=limits.columns, line=line, count=end)
        cells = cells[:end]
        for column, cell in enumerate(cells, 1):
            if len(cell) > limits.cell:
                raise TableError(422, "max_cell_length", limit=limits.cell, line=line,
                                 column=column)
        filled += 1
        if filled > limits.rows:
            raise TableError(413, "max_rows", limit=limits.rows, line=line)
        yield line, cells


def _csv_rows(text: str) -> Iterator[tuple[int, list[str]]]:
    """Comma separated, or tab separated when the first line has more tabs than commas (what
    Excel saves as "Unicode text" or "Text (tab delimited)")."""
    first = text[:65536].partition("\n")[0]
    delimiter = "\t" if first.count("\t") > first.count(",") else ","
    reader = csv.reader(io.StringIO(text), delimiter=delimiter)
    while True:
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error:
            # broken quoting, or a field past the csv module's own cap (131,072 characters)
            raise TableError(422, "csv_syntax", line=reader.line_num) from None
        yield reader.line_num, [cell.strip() for cell in row]


def _xlsx_rows(raw: bytes, limits: Limits) -> Iterator[tuple[int, list[str]]]:
    """The first sheet's rows, streamed by openpyxl's read-only mode with the sheet's declared
    dimension ignored: openpyxl pads every row to it, and A1:XFD1048576 is 17 billion cells."""
    try:
        with zipfile.ZipFile(io.BytesIO(raw)) as archive:
            _check_unzipped(archive, limits)
        book = load_workbook(io.BytesIO(raw), read_only=True, data_only=True)
    except TableError:
        raise
    except Exception:  # a corrupt or foreign zip: openpyxl raises many kinds
        raise TableError(422, "format") from None
    try:
        sheet = book.worksheets[0]
        sheet.reset_dimensions()
        rows = sheet.iter_rows(values_only=True)
        line = 0
        while True:
            try:
                values = next(rows)
            except StopIteration:
                return
            except Exception:  # broken sheet XML, or a part cut short (bad CRC)
                raise TableError(422, "format") from None
            line += 1
            end = len(values)
            while end and values[end - 1] is None:
                end -= 1
            yield line, [_cell_text(v) for v in values[:end]]
    finally:
        book.close()


def _check_unzipped(archive: zipfile.ZipFile, limits: Limits) -> None:
    """Refuse a zip bomb before a part is inflated, from the sizes the zip directory states.
    zipfile never inflates a part past its stated size (one that claims less is cut short
    and fails its CRC check), so these sizes bound what openpyxl can be made to read."""
    strings = "xl/sharedStrings.xml"
    names = set(archive.namelist())
    if ARC_CONTENT_TYPES in names and \
            archive.getinfo(ARC_CONTENT_TYPES).file_size <= limits.other_part:
        found = Manifest.from_tree(fromstring(archive.read(ARC_CONTENT_TYPES))).find(SHARED_STRINGS)
        if found is not None:
            strings = found.PartName.lstrip("/")  # where openpyxl reads them from
    total = 0
    for part in archive.infolist():
        total += part.file_size
        if part.filename == strings:
            cap = limits.shared_strings
        elif part.filename.startswith("xl/worksheets/"):
            cap = limits.unzipped  # read row by row
        else:
            cap = limits.other_part
        if part.file_size > cap or total > limits.unzipped:
            raise TableError(413, "max_unzipped", part=part.filename,
                             limit=min(cap, limits.unzipped) // MIB)


XLSX_MIMETYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"

# A text that begins with one of these is a formula to Excel, WPS or LibreOffice (CSV
# injection, docs/deploy.md#browser-caches-and-exports); tab and line breaks too, and the
# full-width forms, which an East Asian spreadsheet may read as the ASCII ones. Leading spaces
# do not stop every program, so they are skipped before looking.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r", "\n", "＝", "＋", "－", "＠")


def formula_like(value: object) -> bool:
    return isinstance(value, str) and value.lstrip(" \u3000").startswith(FORMULA_STARTS)


def _csv_cell(value: object) -> object:
    """A user's text a spreadsheet would evaluate gets a leading quote (OWASP's rule); numbers
    the server counted stay numbers."""
    return "'" + value if formula_like(value) else value


def _xlsx_row(sheet, row: list) -> list:
    """Every text as a string cell, never a formula (openpyxl makes '=...' one); a text that
    looks like a formula is also quote-prefixed, so editing it in Excel keeps it text.
    Control characters, which openpyxl refuses, are dropped."""
    cells = []
    for value in row:
        if isinstance(value, str):
            cell = WriteOnlyCell(sheet, value=ILLEGAL_CHARACTERS_RE.sub("", value))
            cell.data_type = "s"
            if formula_like(cell.value):
                cell.quotePrefix = True
            value = cell
        cells.append(value)
    return cells


def _sheet_title(title: str) -> str:
    """A sheet name Excel takes: none of / \\ ? * : [ ] (a round's name may hold them), at
    most 31 characters."""
    name = re.sub(r"[\\/?*:\[\]]", " ", ILLEGAL_CHARACTERS_RE.sub("", title))
    return name[:31].strip(" '") or "-"


def download(fmt: str, title: str, header: list[str], rows: list[list], filename: str,
             place_id: int) -> Response:
    """A table as CSV (UTF-8 with a BOM, so Excel in China reads it as UTF-8) or XLSX, every
    text a user wrote written so no spreadsheet evaluates it; every export is written to the
    audit log."""
    audit(get_db(), "export", f"place:{place_id}", f"{filename}.{fmt}")
    disposition = {"Content-Disposition": f"attachment; filename={filename}.{fmt}"}
    if fmt == "csv":
        out = io.StringIO()
        writer = csv.writer(out)
        writer.writerow([_csv_cell(v) for v in header])
        writer.writerows([_csv_cell(v) for v in row] for row in rows)
        return Response("\ufeff" + out.getvalue(), mimetype="text/csv", headers=disposition)
    book = Workbook(write_only=True)
    sheet = book.create_sheet(_sheet_title(title))
    sheet.append(_xlsx_row(sheet, header))
    for row in rows:
        sheet.append(_xlsx_row(sheet, row))
    out = io.BytesIO()
    book.save(out)
    return Response(out.getvalue(), headers=disposition, mimetype=XLSX_MIMETYPE)
