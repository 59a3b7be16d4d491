"""Docs that check themselves (as sqlite-utils' test_commands_are_documented does): every
deployer setting, command of run.py and sync record type is documented, and the code's
pointers into docs/ lead somewhere inside this repository."""

from __future__ import annotations

import argparse
import json
import os
import re
from pathlib import Path

import pytest
from flask import Flask
from helpers import new_id, shanghai_time

import run
from server import create_app
from server.i18n import t
from server.sync import RECORD_TYPES

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
CONFIGURATION = DOCS / "configuration.md"
SYNC_DOC = DOCS / "sync.md"

# Keys of app.config that no deployer sets, with the reason. Every other key create_app sets
# beyond Flask's own defaults is a BAODAO_<KEY> variable and must be in docs/configuration.md.
NOT_FOR_DEPLOYERS = {
    "DATA_DIR": "set by BAODAO_DATA (documented); BAODAO_DATA_DIR would not move the database",
    "DATABASE": "derived: DATA_DIR/baodao.db",
    "DEBUG": "Flask's own (FLASK_DEBUG), never on in a deployment",
    "TESTING": "tests only",
    "PWA_DIR": "tests serve a changed copy of pwa/",
    "PERMANENT_SESSION_LIFETIME": "fixed: cadres stay logged in on their phone",
    "REMEMBER_COOKIE_SECURE": "derived from HTTPS",
}
NOT_FOR_DEPLOYERS_PREFIXES = {
    "SESSION_COOKIE_": "Flask's session cookie, fixed by the app (Secure follows HTTPS)",
    "WTF_CSRF_": "Flask-WTF's CSRF protection, fixed by the app",
}

# Where outside pointers must not be, and docs/ paths must exist. server/ is left out while
# others rewrite it; the pointers into docs/field-lessons.md are checked there too.
OWN_SOURCES = ["server", "pwa", "tests", "bench", "docs", "scripts", "run.py", "README.md", "CHANGELOG.md",
               "pyproject.toml"]
TEXT_SUFFIXES = {".py", ".js", ".md", ".toml", ".html", ".css", ".json", ".webmanifest"}
OUTSIDE = re.compile(r"PITFALLS|\.\./shared|DESIGN\.md|\b[Tt]raps? \d|\b[Ii]ssues? #?\d"
                     r"|\b[\w.-]+#\d+\b")
DOCS_PATH = re.compile(r"\bdocs/[\w./-]*\w(?:#[\w-]+)?")
MD_LINK = re.compile(r"\]\(([\w./-]*\.md)?(#[\w-]+)?\)")
VARIABLE = re.compile(r"\bBAODAO_[A-Z][A-Z0-9_]*")
ROW = re.compile(r"^\| `BAODAO_([A-Z0-9_]+)` \| (.*?) \| (.*) \|$", re.MULTILINE)
TYPE_ROW = re.compile(r"^\| `(\w+)` \| .*? \| `(schemas/[\w.]+)` \| .*\|$", re.MULTILINE)


def for_deployers(app: Flask) -> list[str]:
    """The keys create_app sets beyond Flask's defaults, less NOT_FOR_DEPLOYERS."""
    flask = Flask.default_config
    return sorted(key for key, value in app.config.items()
                  if (key not in flask or flask[key] != value)
                  and key not in NOT_FOR_DEPLOYERS
                  and not key.startswith(tuple(NOT_FOR_DEPLOYERS_PREFIXES)))


def documented_settings() -> dict[str, str]:
    """docs/configuration.md's table rows: KEY → its default cell."""
    rows = ROW.findall(CONFIGURATION.read_text(encoding="utf-8"))
    keys = [key for key, _, _ in rows]
    assert len(keys) == len(set(keys)), "a variable has two rows in docs/configuration.md"
    return {key: default for key, default, _ in rows}


def shown(value: object) -> str | None:
    """How docs/configuration.md writes a default: `true`, `30`, `Asia/Shanghai`; None: unset."""
    if value is None or value == "":
        return None
    return value if isinstance(value, str) else json.dumps(value)


def all_docs() -> str:
    return "\n".join(p.read_text(encoding="utf-8")
                     for p in [ROOT / "README.md", *sorted(DOCS.glob("*.md"))])


def variables_read_by_code() -> set[str]:
    """BAODAO_* names in the server and run.py: those read from the environment directly
    (BAODAO_DATA, BAODAO_WORKERS, ...) and those their messages mention."""
    files = [ROOT / "run.py", *sorted((ROOT / "server").rglob("*.py"))]
    return {name for f in files for name in VARIABLE.findall(f.read_text(encoding="utf-8"))}


def test_every_deployer_setting_is_documented(app):
    keys = for_deployers(app)
    assert {"SYNC_MAX_RECORDS", "SECRET_KEY", "MAX_CONTENT_LENGTH", "VAPID_SUB"} <= set(keys)
    missing = sorted(set(keys) - set(documented_settings()))
    assert not missing, ("add BAODAO_<KEY> rows to docs/configuration.md for "
                         f"{missing}, or the keys to NOT_FOR_DEPLOYERS with the reason")


def test_documented_defaults_are_the_codes(tmp_path, monkeypatch):
    """Each row's default is what create_app uses when the variable is unset."""
    for name in [n for n in os.environ if n.startswith("BAODAO_")]:
        monkeypatch.delenv(name)
    app = create_app({"DATA_DIR": str(tmp_path)})
    documented = documented_settings()
    wrong = {}
    for key in for_deployers(app):
        cell = documented.get(key, "")
        if key == "SECRET_KEY":
            if not cell.startswith("generated"):
                wrong[key] = (cell, "generated ...")
            continue
        expected = shown(app.config[key])
        first = re.match(r"`([^`]*)`", cell)
        if expected is None and not cell.startswith("unset"):
            wrong[key] = (cell, "unset ...")
        elif expected is not None and (first is None or first[1] != expected):
            wrong[key] = (cell, f"`{expected}` ...")
    assert not wrong, f"docs/configuration.md defaults (documented, code): {wrong}"


def test_every_variable_the_code_reads_is_documented():
    documented = {f"BAODAO_{key}" for key in documented_settings()}
    read = variables_read_by_code()
    assert {"BAODAO_DATA", "BAODAO_WORKERS", "BAODAO_TLS_HOSTS"} <= read
    assert not read - documented, f"not in docs/configuration.md: {sorted(read - documented)}"


def test_every_documented_variable_exists(app):
    """No doc names a variable that nothing reads (a typo, or a setting since removed)."""
    known = {f"BAODAO_{key}" for key in app.config} | variables_read_by_code()
    named = set(VARIABLE.findall(all_docs()))
    assert "BAODAO_SYNC_MAX_RECORDS" in named
    assert not named - known, f"documented but read by nothing: {sorted(named - known)}"


def test_readme_links_to_the_full_configuration():
    assert "docs/configuration.md" in (ROOT / "README.md").read_text(encoding="utf-8")


def subcommands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    """The subcommands of run.py's parser, by name."""
    found = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    assert len(found) == 1
    return dict(found[0].choices)


def test_every_command_is_documented():
    commands = subcommands(run.build_parser())
    assert {"backup", "restore", "retention"} <= set(commands)
    text = all_docs()
    missing = [name for name in commands if not re.search(rf"run\.py {name}(?![\w-])", text)]
    assert not missing, f"commands of run.py missing from README.md and docs/: {missing}"


def test_every_option_is_documented():
    parser = run.build_parser()
    text = all_docs()
    missing = [option
               for command in [parser, *subcommands(parser).values()]
               for action in command._actions
               for option in action.option_strings
               if option.startswith("--") and option != "--help"
               and not re.search(rf"{option}(?![\w-])", text)]
    assert not missing, f"options of run.py missing from README.md and docs/: {missing}"


def schema_types() -> list[str]:
    schema = json.loads((ROOT / "schemas" / "sync_record.json").read_text(encoding="utf-8"))
    return schema["properties"]["type"]["enum"]


def test_the_sync_record_schema_names_exactly_the_record_types():
    types = schema_types()
    assert len(types) == len(set(types))
    assert sorted(types) == sorted(RECORD_TYPES), "schemas/sync_record.json's type enum"


def test_every_record_type_is_documented_with_its_schema():
    documented = dict(TYPE_ROW.findall(SYNC_DOC.read_text(encoding="utf-8")))
    expected = {name: f"schemas/{kind.schema}.json" for name, kind in RECORD_TYPES.items()}
    assert documented == expected, "docs/sync.md's table of record types"
    assert all((ROOT / path).is_file() for path in expected.values())


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_an_unknown_type_is_invalid_at_type_in_the_users_language(as_user, lang):
    api = as_user("cadre_A", lang)
    record = {"id": new_id(), "type": "teleport", "recorded_at": shanghai_time(), "data": {}}
    response = api.post("/api/sync", json={"device_id": "phone-1", "records": [record]})
    assert response.status_code == 200
    message = t("rule_enum", lang, options=", ".join(schema_types()))
    assert response.json["results"] == [{"id": record["id"], "status": "invalid", "errors": [
        {"path": "/type", "message": message, "rule": "enum"}]}]


def own_files() -> list[Path]:
    """The text files of OWN_SOURCES, this file left out (it names what it looks for)."""
    files = []
    for name in OWN_SOURCES:
        path = ROOT / name
        files += [path] if path.is_file() else sorted(
            p for p in path.rglob("*") if p.suffix in TEXT_SUFFIXES and "__pycache__" not in p.parts)
    return [f for f in files if f != Path(__file__).resolve()]


def test_nothing_points_outside_the_repository():
    found = [f"{f.relative_to(ROOT)}:{number}: {match[0]}"
             for f in own_files()
             for number, line in enumerate(f.read_text(encoding="utf-8").splitlines(), 1)
             for match in [OUTSIDE.search(line)] if match]
    assert not found, "point at docs/field-lessons.md (or another doc of ours) instead:\n" + \
        "\n".join(found)


def anchors(doc: Path) -> set[str]:
    """GitHub's anchors of a Markdown file's headings (lower case, punctuation dropped)."""
    headings = re.findall(r"^#+ (.+)$", doc.read_text(encoding="utf-8"), re.MULTILINE)
    slugs = [re.sub(r"[^\w\- ]", "", h.strip().lower()).replace(" ", "-") for h in headings]
    assert len(slugs) == len(set(slugs)), f"two headings of {doc.name} share an anchor"
    return set(slugs)


def broken(target: Path, anchor: str) -> bool:
    if not target.exists():
        return True
    return bool(anchor) and (target.suffix != ".md" or anchor[1:] not in anchors(target))


def test_pointers_into_docs_lead_somewhere():
    """docs/x.md#anchor in code and docs, and relative Markdown links inside docs/."""
    bad = []
    for f in own_files():
        text = f.read_text(encoding="utf-8")
        for pointer in DOCS_PATH.findall(text):
            path, _, anchor = pointer.partition("#")
            if broken(ROOT / path, anchor and "#" + anchor):
                bad.append(f"{f.relative_to(ROOT)}: {pointer}")
        if f.suffix == ".md":
            for path, anchor in MD_LINK.findall(text):
                if broken(f.parent / path if path else f, anchor):
                    bad.append(f"{f.relative_to(ROOT)}: ({path}{anchor})")
    for f in sorted((ROOT / "server").rglob("*.py")):
        for anchor in re.findall(r"docs/field-lessons\.md(#[\w-]+)",
                                 f.read_text(encoding="utf-8")):
            if broken(DOCS / "field-lessons.md", anchor):
                bad.append(f"{f.relative_to(ROOT)}: docs/field-lessons.md{anchor}")
    assert not bad, "pointers to nothing:\n" + "\n".join(bad)
