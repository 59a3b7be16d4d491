"""The service worker's shell list and version come from the PWA's files (server/pwa.py), and the
domain rules reach the PWA from GET /api/rules (server/rules.py), not from a copy in its code."""

from __future__ import annotations

import json
import os
import re
import shutil

import pytest

from server import ROOT, create_app, rules

PWA = ROOT / "pwa"
SCHEMAS = ROOT / "schemas"
SHELL_LINE = re.compile(r"^const SHELL = (\[.*\]);$", re.M)
VERSION_LINE = re.compile(r"^const VERSION = (\".*\");$", re.M)


def served(client) -> tuple[list[str], str, str]:
    """(shell URLs, version, source) of the /sw.js the client gets."""
    response = client.get("/sw.js")
    assert response.status_code == 200
    assert response.mimetype == "text/javascript"
    assert response.headers["Cache-Control"] == "no-cache"
    source = response.get_data(as_text=True)
    return (json.loads(SHELL_LINE.search(source).group(1)),
            json.loads(VERSION_LINE.search(source).group(1)), source)


@pytest.fixture
def pwa_copy(tmp_path, world_template):
    """(folder, client): an app serving a copy of pwa/ that the test may change."""
    folder = tmp_path / "pwa"
    shutil.copytree(PWA, folder)
    shutil.copy(world_template[0], tmp_path / "baodao.db")
    app = create_app({"TESTING": True, "DATA_DIR": str(tmp_path), "SECRET_KEY": "test-secret",
                      "PWA_DIR": str(folder)})
    return folder, app.test_client()


def test_served_worker_lists_every_shell_file_and_nothing_else(anon):
    shell, version, source = served(anon)
    assert "/*SHELL*/" not in source and "/*VERSION*/" not in source
    assert re.fullmatch(r"baodao-shell-[0-9a-f]{16}", version)
    assert len(shell) == len(set(shell))
    app_files = {f"/{p.relative_to(PWA).as_posix()}" for p in PWA.rglob("*") if p.is_file()
                 and p.suffix in {".html", ".js", ".css", ".webmanifest", ".png", ".svg"}}
    # Not cached: the worker itself, and the printed pages' stylesheet (the e2e offline tests
    # prove it fails offline).
    assert "/sw.js" in app_files and "/poster.css" in app_files
    assert shell[-1] == "/api/rules"  # the offline forms' rules, precached with the shell
    assert {u for u in shell[:-1] if not u.startswith("/schemas/")} == \
        app_files - {"/sw.js", "/poster.css"}
    # The schemas are those the forms load, each one there.
    loaded = {m for p in PWA.rglob("*.js") for m in re.findall(r"loadSchema\('(\w+)'\)", p.read_text())}
    assert {"screening_visit", "isolation_visit", "isolation_case", "problem_ticket"} <= loaded
    assert {u for u in shell if u.startswith("/schemas/")} == {f"/schemas/{n}.json" for n in loaded}
    assert all((SCHEMAS / f"{n}.json").is_file() for n in loaded)


def test_every_listed_url_answers_200(anon):
    shell, _, _ = served(anon)
    assert "/index.html" in shell and "/icons/icon-192.png" in shell
    for url in shell:
        response = anon.get(url)
        assert response.status_code == 200, url
        assert response.data, url


def test_forms_name_their_schemas_literally():
    # The shell finds the schemas by loadSchema('name'); a computed name would not be cached.
    for path in PWA.rglob("*.js"):
        text = path.read_text()
        calls = len(re.findall(r"loadSchema\(", text)) - text.count("export function loadSchema(")
        assert calls == len(re.findall(r"loadSchema\('\w+'\)", text)), path


def test_version_follows_every_file_and_the_list_follows_the_folder(pwa_copy):
    folder, client = pwa_copy
    shell, first, _ = served(client)
    again = client.get("/sw.js")
    assert json.loads(VERSION_LINE.search(again.get_data(as_text=True)).group(1)) == first
    # Nothing changed: the browser's update check gets a 304.
    assert client.get("/sw.js", headers={"If-None-Match": again.headers["ETag"]}).status_code == 304

    versions = {first}
    app_js = folder / "app.js"
    app_js.write_text(app_js.read_text() + "// changed\n")
    _, version, _ = served(client)
    versions.add(version)
    # The same size, another byte: still a new version (an editor's save moves the time).
    icon = folder / "icons" / "icon.svg"
    data = icon.read_bytes()
    icon.write_bytes(data.replace(b"<svg", b"<SVG", 1))
    os.utime(icon, ns=(icon.stat().st_atime_ns, icon.stat().st_mtime_ns + 10**9))
    _, version, _ = served(client)
    versions.add(version)
    # The worker's own code counts too: a new worker gets a new cache.
    worker = folder / "sw.js"
    worker.write_text(worker.read_text() + "// changed\n")
    _, version, _ = served(client)
    versions.add(version)
    assert len(versions) == 4

    # A new view is in the shell; an editor's lock file and a removed file are not.
    (folder / "views" / "extra.js").write_text("export const x = 1;\n")
    (folder / ".#app.js").write_text("lock\n")
    (folder / "push.js").unlink()
    shell_now, version, _ = served(client)
    assert version not in versions
    assert set(shell_now) == (set(shell) | {"/views/extra.js"}) - {"/push.js"}
    with client.get("/views/extra.js") as response:  # a file response: closed, or it leaks
        assert response.status_code == 200


def test_a_schema_the_forms_start_loading_joins_the_shell(pwa_copy):
    folder, client = pwa_copy
    shell, first, _ = served(client)
    assert "/schemas/delivery.json" not in shell
    (folder / "views" / "extra.js").write_text("loadSchema('delivery'); loadSchema('no_such_schema');\n")
    shell_now, version, _ = served(client)
    assert version != first
    assert "/schemas/delivery.json" in shell_now
    assert not any("no_such_schema" in u for u in shell_now)  # a 404 would fail the whole install


def test_the_rules_are_precached_and_a_changed_rule_makes_a_new_version(anon, monkeypatch):
    shell, before, _ = served(anon)
    assert "/api/rules" in shell
    monkeypatch.setattr(rules, "FEVER", 37.5)
    _, after, _ = served(anon)
    assert after != before
    assert anon.get("/api/rules").json["fever"] == 37.5


def test_a_worker_without_its_slots_is_refused(pwa_copy):
    folder, client = pwa_copy
    worker = folder / "sw.js"
    worker.write_text(worker.read_text().replace("/*SHELL*/[]", "['/index.html']"))
    # Never a worker with an empty list: it would cache nothing and drop the old caches.
    assert client.get("/sw.js").status_code == 500


def test_rules_are_served_without_login(anon):
    response = anon.get("/api/rules")
    assert response.status_code == 200
    body = response.json
    assert body == rules.as_json()
    assert body["fever"] == rules.FEVER and body["temperature_range"] == list(rules.TEMPERATURE_RANGE)
    assert body["ticket_statuses"] == list(rules.TICKET_STATUSES)


def test_the_pwa_keeps_no_copy_of_the_rules():
    low, high = rules.TEMPERATURE_RANGE
    for path in PWA.rglob("*.js"):
        code = "\n".join(line for line in path.read_text().splitlines()
                         if not line.lstrip().startswith(("//", "*", "/*")))
        assert str(rules.FEVER) not in code, path
        assert not re.search(rf"\?\? *({low:g}|{high:g})\b", code), path  # a fallback range
        assert not re.search(r"\[\s*'open',\s*'coordinating'", code), path  # a status list
