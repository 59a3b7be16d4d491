"""Print the schema as server/migrations.py leaves it: every table, index, trigger and view of
an empty database file after all migrations have run, one statement each.

    python scripts/dump_schema.py              # the whole schema
    python scripts/dump_schema.py NAME ...     # only these objects (tests/test_schema_sql.py
                                               # names the ones server/schema.sql has wrong)

server/schema.sql is this output grouped by domain, with `--` comments kept by hand: paste a
changed or new object over (or into) its place there, and keep the comments around it.
Tables come in the order they were made, each followed by its indexes and triggers.
"""

from __future__ import annotations

import sqlite3
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from server.db import init_db  # noqa: E402 (scripts/ is not a package)

# A migrated schema's objects, as tests/test_schema_sql.py reads them (no sqlite_% internals).
OBJECTS = """SELECT type, name, tbl_name, sql FROM sqlite_master
             WHERE sql IS NOT NULL AND name NOT LIKE 'sqlite_%' ORDER BY rowid"""


def migrated_objects() -> list[tuple[str, str, str, str]]:
    """(type, name, tbl_name, sql) of every object of a freshly migrated temporary database,
    in the order they were made."""
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "schema.db"
        init_db(path)
        conn = sqlite3.connect(path)
        try:
            return conn.execute(OBJECTS).fetchall()
        finally:
            conn.close()


def readable(sql: str) -> str:
    """The statement with trailing spaces cut, its continuation lines indented by 4 from the
    least indented one (a closing parenthesis at the margin), and a closing semicolon."""
    first, *rest = [line.rstrip() for line in sql.strip().splitlines()]
    body = [line.lstrip() for line in rest]
    margin = min((len(line) - len(text) for line, text in zip(rest, body, strict=True)
                  if text and text[0] not in "),"), default=0)
    lines = [first]
    for line, text in zip(rest, body, strict=True):
        indented = line[margin:] if line[:margin].isspace() else text
        lines.append(text if text.startswith(")") else "    " + indented if text else "")
    return "\n".join(lines) + ";"


def dump(names: list[str]) -> str:
    """The statements of the named objects (all when `names` is empty), each table followed
    by its indexes and triggers, views last."""
    objects = migrated_objects()
    unknown = set(names) - {name for _, name, _, _ in objects}
    if unknown:
        raise ValueError(f"no such object after the migrations: {', '.join(sorted(unknown))}")
    tables = {name: n for n, (kind, name, _, _) in enumerate(objects) if kind == "table"}
    rank = {"table": 0, "index": 1, "trigger": 2, "view": 3}
    ordered = sorted(objects, key=lambda o: (tables.get(o[2], len(objects)), rank[o[0]]))
    return "\n\n".join(readable(sql) for _, name, _, sql in ordered if not names or name in names)


def main(argv: list[str]) -> int:
    try:
        print(dump(argv))
    except ValueError as error:
        print(error, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
