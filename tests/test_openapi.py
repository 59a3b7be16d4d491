"""The OpenAPI document covers every /api/ route of the app (as sqlite-utils' docs test does)."""

import json
import re
from pathlib import Path

import pytest

from server.errors import SCHEMAS_DIR

DOC = json.loads((SCHEMAS_DIR / "openapi.json").read_text(encoding="utf-8"))


def api_routes(app):
    for rule in app.url_map.iter_rules():
        if rule.rule.startswith("/api/"):
            path = re.sub(r"<(?:[a-z]+:)?([a-z_]+)>", r"{\1}", rule.rule)
            for method in rule.methods - {"HEAD", "OPTIONS"}:
                yield path, method.lower()


def test_every_api_route_is_documented(app):
    routes = set(api_routes(app))
    missing = sorted(f"{m.upper()} {p}" for p, m in routes if m not in DOC["paths"].get(p, {}))
    assert missing == []
    documented = {(p, m) for p, ops in DOC["paths"].items() for m in ops}
    assert sorted(documented - routes) == []  # and nothing documented that is gone


def test_request_schemas_exist_and_are_valid():
    from jsonschema import Draft202012Validator

    refs = re.findall(r'"\$ref": "/schemas/([a-z_]+\.json)"', json.dumps(DOC))
    assert refs
    for name in refs:
        Draft202012Validator.check_schema(json.loads((SCHEMAS_DIR / name).read_text()))


@pytest.mark.parametrize("path", sorted(Path(SCHEMAS_DIR).glob("*.json")), ids=lambda p: p.name)
def test_every_schema_file_is_valid_json_schema(path):
    from jsonschema import Draft202012Validator

    document = json.loads(path.read_text(encoding="utf-8"))
    if path.name != "openapi.json":
        Draft202012Validator.check_schema(document)


def test_document_is_served(anon):
    response = anon.get("/api/openapi.json")
    assert response.status_code == 200
    assert response.json["openapi"].startswith("3.1")
