"""server/schema.sql is the schema the migrations make, and the rules SQL holds are rules.py's.

The file is documentation: the test runs it into a file of its own and compares every object
with those of a freshly migrated database, ignoring `--` comments and layout. The rules are read
from the migrated database's SQL (sqlite_master), not from the Python source.
"""

from __future__ import annotations

import re
import sqlite3
from pathlib import Path

import pytest

from server import rules
from server.db import init_db

SCHEMA_SQL = Path(__file__).resolve().parents[1] / "server" / "schema.sql"
REGENERATE = ("To regenerate: `python scripts/dump_schema.py {names}` prints them as migrated; paste "
              "them over (or into) server/schema.sql, drop objects the migrations do not make, and "
              "keep the -- comments (this test ignores them). `python scripts/dump_schema.py` alone "
              "prints the whole schema.")
OBJECTS = """SELECT type, name, tbl_name, sql FROM sqlite_master
             WHERE sql IS NOT NULL AND name NOT LIKE 'sqlite_%' ORDER BY type, name"""

# SQL in tokens: string literals and quoted names whole, comments, runs of space, words, others.
TOKEN = re.compile(r"""'(?:[^']|'')*'|"(?:[^"]|"")*"|--[^\n]*|/\*.*?\*/|\s+|\w+|.""", re.S)
TIGHT = {"(", ")", ",", ";"}  # no space needed on either side of these

NUMBER = r"(-?\d+(?:\.\d+)?)"
OPERATOR = r"(>=|<=|<>|!=|==|=|>|<)"
TEMPERATURE = r"\b(?:\w+\.)?temperature\b"
TEMPERATURE_LEFT = re.compile(rf"{TEMPERATURE}\s*{OPERATOR}\s*{NUMBER}", re.I)
TEMPERATURE_RIGHT = re.compile(rf"{NUMBER}\s*{OPERATOR}\s*{TEMPERATURE}", re.I)
FLIPPED = {">=": "<=", "<=": ">=", ">": "<", "<": ">"}
LITERAL = re.compile(r"'((?:[^']|'')*)'")

# The CHECK (column IN (...)) lists that rules.py holds too.
STATUS_CHECKS = [
    ("isolation_cases", "status", "CASE_STATUSES"),
    ("isolation_cases", "end_outcome", "CASE_END_OUTCOMES"),
    ("problem_tickets", "status", "TICKET_STATUSES"),
    ("ticket_updates", "status", "TICKET_STATUSES"),
    ("deliveries", "status", "DELIVERY_STATUSES"),
    ("screening_visits", "outcome", "SCREENING_OUTCOMES"),
]


def normalised(sql: str) -> str:
    """The statement without comments, each run of space as one, none around ( ) , ;."""
    out: list[str] = []
    spaced = False
    for token in TOKEN.findall(sql):
        if token.isspace() or token.startswith(("--", "/*")):
            spaced = True
            continue
        if spaced and out and out[-1] not in TIGHT and token not in TIGHT:
            out.append(" ")
        out.append(token)
        spaced = False
    return "".join(out).rstrip(";")


def objects(path: Path) -> dict[str, tuple[str, str, str]]:
    """{name: (type, tbl_name, sql)} of a database file's tables, indexes, triggers and views."""
    conn = sqlite3.connect(path)
    try:
        return {name: (kind, table, sql) for kind, name, table, sql in conn.execute(OBJECTS)}
    finally:
        conn.close()


def differences(migrated: dict, documented: dict) -> dict[str, str]:
    """What server/schema.sql has wrong: {object name: how}, in name order."""
    lines = {}
    for name in sorted(migrated.keys() | documented.keys()):
        if name not in documented:
            lines[name] = f"{migrated[name][0]} {name}: missing from server/schema.sql"
        elif name not in migrated:
            lines[name] = (f"{documented[name][0]} {name}: in server/schema.sql, not made by the "
                           "migrations")
        elif migrated[name][:2] != documented[name][:2]:
            lines[name] = (f"{name}: is {migrated[name][0]} on {migrated[name][1]}, "
                           f"server/schema.sql has {documented[name][0]} on {documented[name][1]}")
        else:
            want, have = normalised(migrated[name][2]), normalised(documented[name][2])
            if want != have:
                at = next((i for i, (a, b) in enumerate(zip(want, have, strict=False)) if a != b),
                          min(len(want), len(have)))
                lines[name] = (f"{migrated[name][0]} {name} differs at ...{want[max(at - 30, 0):at + 50]}"
                               f"... (server/schema.sql: ...{have[max(at - 30, 0):at + 50]}...)")
    return lines


def fever_mismatches(migrated: dict) -> list[str]:
    """Each temperature compared with a number in a trigger or view that is not
    `temperature >= rules.FEVER` (server/rules.py: FEVER, "at or above")."""
    found = []
    for name, (kind, _, sql) in sorted(migrated.items()):
        if kind not in ("trigger", "view"):
            continue
        text = normalised(sql)
        comparisons = [(m.group(0), m.group(1), m.group(2)) for m in TEMPERATURE_LEFT.finditer(text)]
        comparisons += [(m.group(0), FLIPPED.get(m.group(2), m.group(2)), m.group(1))
                        for m in TEMPERATURE_RIGHT.finditer(text)]
        found += [f"{kind} {name}: {seen!r}" for seen, operator, number in comparisons
                  if operator != ">=" or float(number) != rules.FEVER]
    return found


def checked_values(table_sql: str, column: str) -> list[list[str]]:
    """The value lists of every CHECK (column IN (...)) of a CREATE TABLE."""
    pattern = re.compile(rf"CHECK\s*\(\s*{column}\s+IN\s*\(([^()]*)\)\s*\)", re.I)
    return [[v.replace("''", "'") for v in LITERAL.findall(m.group(1))]
            for m in pattern.finditer(normalised(table_sql))]


@pytest.fixture(scope="module")
def migrated_file(tmp_path_factory) -> tuple[Path, int]:
    """An empty database file after every migration (server/migrations.py), and its version."""
    path = tmp_path_factory.mktemp("migrated") / "baodao.db"
    return path, init_db(path)


@pytest.fixture(scope="module")
def migrated(migrated_file) -> dict[str, tuple[str, str, str]]:
    """The objects of the migrated file."""
    return objects(migrated_file[0])


def run_schema_sql(path: Path) -> None:
    """Run server/schema.sql into a database file, statement by statement, so an error names
    the line its statement starts on."""
    conn = sqlite3.connect(path)
    statement, first = "", 1
    try:
        for number, line in enumerate(SCHEMA_SQL.read_text(encoding="utf-8").splitlines(), 1):
            if not statement and (not line.strip() or line.lstrip().startswith("--")):
                continue  # between statements
            if not statement:
                first = number
            statement += line + "\n"
            if sqlite3.complete_statement(statement):
                try:
                    conn.execute(statement)
                except sqlite3.Error as error:
                    pytest.fail(f"server/schema.sql, the statement from line {first}: {error}")
                statement = ""
        assert not statement.strip(), f"server/schema.sql ends in an unfinished statement (line {first})"
    finally:
        conn.close()


def test_schema_sql_is_the_migrated_schema(migrated, tmp_path):
    documented_db = tmp_path / "schema_sql.db"
    run_schema_sql(documented_db)
    wrong = differences(migrated, objects(documented_db))
    names = " ".join(name for name in wrong if name in migrated) or "NAME ..."
    assert not wrong, ("server/schema.sql is not the schema the migrations make:\n  "
                       + "\n  ".join(wrong.values()) + "\n" + REGENERATE.format(names=names))


def test_schema_sql_names_the_migrated_version(migrated_file):
    stated = re.findall(r"^-- Schema as of PRAGMA user_version = (\d+)", SCHEMA_SQL.read_text(
        encoding="utf-8"), re.M)
    assert stated == [str(migrated_file[1])], (
        f"server/schema.sql's header states user_version {stated}, the migrations reach "
        f"{migrated_file[1]}: bring the file up to that version and change the line")


def test_fever_threshold_in_sql_is_rules_fever(migrated):
    # No stored trigger or view compares a temperature today (the 37.3 of migration v6's
    # backfill ran once; the screening numbers are counted in server/summaries.py): this holds
    # the next one to rules.FEVER.
    wrong = fever_mismatches(migrated)
    assert not wrong, f"not `temperature >= {rules.FEVER}` (server/rules.py: FEVER): {wrong}"


def test_fever_check_catches_another_threshold(migrated):
    planted = {
        "above": ("view", "above",
                  "CREATE VIEW above AS SELECT * FROM isolation_visits WHERE temperature > 37.3"),
        "lower": ("trigger", "lower", "CREATE TRIGGER lower AFTER INSERT ON isolation_visits "
                  "WHEN 37.0 <= NEW.temperature BEGIN SELECT 1; END"),
        "same": ("view", "same",
                 f"CREATE VIEW same AS SELECT * FROM t WHERE t.temperature >= {rules.FEVER}"),
    }
    assert fever_mismatches({**migrated, **planted}) == [
        "view above: 'temperature > 37.3'", "trigger lower: '37.0 <= NEW.temperature'"]


@pytest.mark.parametrize(("table", "column", "rule"), STATUS_CHECKS)
def test_status_check_lists_rules_values(migrated, table, column, rule):
    lists = checked_values(migrated[table][2], column)
    assert lists, f"{table}.{column} has no CHECK ({column} IN (...)) to hold rules.{rule}"
    expected = getattr(rules, rule)
    for values in lists:  # the same values; their order means nothing to a CHECK
        assert sorted(values) == sorted(expected), (
            f"{table}.{column}: CHECK lists {values}, server/rules.py: {rule} is {list(expected)}")


def test_outcomes_compared_in_triggers_are_rules_outcomes(migrated):
    compared = {(name, value) for name, (kind, _, sql) in migrated.items() if kind in ("trigger", "view")
                for value in re.findall(r"\boutcome\s*(?:=|!=|<>)\s*'([^']*)'", normalised(sql))}
    assert compared, "no trigger compares a screening outcome (round_screened_counts_* did)"
    wrong = sorted((n, v) for n, v in compared if v not in rules.SCREENING_OUTCOMES)
    assert not wrong, f"outcomes compared in SQL that server/rules.py: SCREENING_OUTCOMES lacks: {wrong}"
