"""The one API error helper, and validation of request bodies against schemas/.

Every API error has the shape
{"error": {"code": "...", "message": "...", "fields": [{"path": "/json/pointer", "message": "..."}]}}
"""

from __future__ import annotations

import functools
import json
import re
import sqlite3
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import fastjsonschema
from flask import Flask, current_app, jsonify, request
from flask.json.provider import DefaultJSONProvider
from flask_login import current_user
from flask_wtf.csrf import CSRFError
from jsonschema import Draft202012Validator, FormatChecker
from werkzeug.exceptions import HTTPException

from .i18n import t
from .timeutil import parse_time, today

SCHEMAS_DIR = Path(__file__).resolve().parent.parent / "schemas"


class ApiError(Exception):
    """Raised anywhere under a request; answered as the error shape with `status`."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str | None = None,
        fields: list[dict] | None = None,
        headers: dict | None = None,
        extra: dict | None = None,
        **params: object,
    ):
        super().__init__(code)
        self.status = status
        self.code = code
        self.message = message if message is not None else t(code, **params)
        self.fields = fields or []
        self.headers = headers or {}
        self.extra = extra or {}
        self.params = params

    def response(self):
        body: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.fields:
            body["fields"] = self.fields
        body.update(self.extra)
        return jsonify({"error": body}), self.status, self.headers


def field_error(path: str, key: str, rule: str, **params) -> dict:
    """One field of an error: its JSON pointer, the message of `key`, the rule it broke."""
    return {"path": path, "message": t(key, **params), "rule": rule}


def fail(status: int, code: str, path: str, rule: str | None = None) -> ApiError:
    """An ApiError pointing at one field, with the message of `code`."""
    return ApiError(status, code, fields=[field_error(path, code, rule or code)])


def raise_if(errors: list[dict]) -> None:
    """A 422 naming every field in `errors`, if there are any."""
    if errors:
        raise ApiError(422, "invalid", fields=errors)


FORMATS = FormatChecker()


@FORMATS.checks("date-time", raises=ValueError)
def _is_datetime_with_offset(value: object) -> bool:
    """jsonschema only checks date-time when an optional package is present: check it here."""
    if not isinstance(value, str):
        return True
    return parse_time(value) is not None


@functools.cache
def _validator(name: str) -> Draft202012Validator:
    schema = json.loads((SCHEMAS_DIR / f"{name}.json").read_text(encoding="utf-8"))
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema, format_checker=FORMATS)


# The same format checks as FORMATS, for the compiled validator below.
def _format_check(name: str):
    check, raises = FORMATS.checkers[name]

    def passes(value: object) -> bool:
        try:
            return not isinstance(value, str) or bool(check(value))
        except raises:
            return False
    return passes


_FAST_FORMATS = {name: _format_check(name) for name in ("date", "date-time", "uuid")}
_CANONICAL_UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-"
                             r"[0-9a-fA-F]{12}")
_uuid_as_jsonschema = _FAST_FORMATS["uuid"]


def _uuid_format(value: object) -> bool:
    """A phone's canonical UUID by a regex; anything else as jsonschema decides (it builds a
    uuid.UUID for each: a twentieth of a synced record's time)."""
    if isinstance(value, str) and _CANONICAL_UUID.fullmatch(value):
        return True
    return _uuid_as_jsonschema(value)


_FAST_FORMATS["uuid"] = _uuid_format


@functools.cache
def _fast_check(name: str):
    """schemas/<name>.json compiled to Python by fastjsonschema: ~5x faster than jsonschema,
    but it stops at the first error and names it poorly, so it only answers "valid?"; the
    errors of an invalid document come from jsonschema. Our schemas use only keywords that
    mean the same in draft-07 (fastjsonschema's newest); tests/test_schemas.py checks that both
    validators agree on generated valid and broken documents of every schema."""
    schema = json.loads((SCHEMAS_DIR / f"{name}.json").read_text(encoding="utf-8"))
    schema["$schema"] = "http://json-schema.org/draft-07/schema#"
    return fastjsonschema.compile(schema, formats=_FAST_FORMATS, use_default=False)


def fast_valid(name: str, document: Any) -> bool:
    try:
        _fast_check(name)(document)
    except fastjsonschema.JsonSchemaValueException:
        return False
    return True


def _pointer(parts) -> str:
    return "".join("/" + str(p).replace("~", "~0").replace("/", "~1") for p in parts)


def _field_error(error) -> dict:
    """One jsonschema error as {path, message, rule} in the user's language."""
    path = list(error.absolute_path)
    rule = error.validator
    if rule == "required":
        # error.message is "'name' is a required property": point at the missing field itself.
        missing = error.message.split("'")[1] if "'" in error.message else ""
        path.append(missing)
        message = t("rule_required")
    elif rule == "additionalProperties":
        extras = sorted(set(error.instance) - set(error.schema.get("properties", {})))
        path.append(extras[0] if extras else "")
        message = t("rule_additionalProperties")
    elif rule == "type":
        message = t("rule_type", expected=error.validator_value)
    elif rule in ("minLength", "maxLength", "minimum", "maximum"):
        message = t(f"rule_{rule}", limit=error.validator_value)
    elif rule == "enum":
        message = t("rule_enum", options=", ".join(map(str, error.validator_value)))
    elif rule == "format" and error.validator_value == "date-time":
        message = t("rule_date_time")
    elif rule == "format":
        message = t("rule_format", format=error.validator_value)
    elif rule == "pattern":
        message = t("rule_pattern")
    else:
        message = t("rule_other", rule=rule)
    return {"path": _pointer(path), "message": message, "rule": rule}


def _unstorable(node: Any, path: list) -> list[tuple[list, str]]:
    """(path, rule) of what SQLite cannot store: strings (keys too) holding a lone UTF-16
    surrogate ("\\ud83d" cut from an emoji: JSON lets it through as an escape, but it is not
    text) and integers beyond 64 bits."""
    if isinstance(node, str):
        return [] if node.isascii() or not _SURROGATE.search(node) else [(path, "text")]
    if isinstance(node, bool):
        return []
    if isinstance(node, int):
        return [(path, "maximum" if node > 0 else "minimum")] if not -2**63 <= node < 2**63 else []
    if isinstance(node, dict):
        found = []
        for key, value in node.items():
            if _SURROGATE.search(key):
                found.append((path + [key], "text"))
            found += _unstorable(value, path + [key])
        return found
    if isinstance(node, list):
        return [bad for i, value in enumerate(node) for bad in _unstorable(value, path + [i])]
    return []


def _unstorable_error(path: list, rule: str) -> dict:
    message = t("rule_text") if rule == "text" else \
        t(f"rule_{rule}", limit=2**63 - 1 if rule == "maximum" else -2**63)
    return {"path": _pointer(path), "message": message, "rule": rule}


_SURROGATE = re.compile("[\ud800-\udfff]")


def validation_errors(schema_name: str, document: Any, prefix: str = "") -> list[dict]:
    """All schema errors of `document`, JSON pointers prefixed by `prefix` (e.g. '/records/3')."""
    unstorable = _unstorable(document, [])
    if not unstorable and fast_valid(schema_name, document):
        return []  # the common case, without building jsonschema's error objects
    errors = sorted(_validator(schema_name).iter_errors(document), key=lambda e: list(e.path))
    fields = [_field_error(e) for e in errors]
    fields += [_unstorable_error(path, rule) for path, rule in unstorable]
    for f in fields:
        f["path"] = prefix + f["path"]
    return fields


def validate(schema_name: str, document: Any) -> dict:
    """Raise a 422 ApiError naming every bad field; return the document when it is valid."""
    fields = validation_errors(schema_name, document)
    if fields:
        raise ApiError(422, "invalid", fields=fields)
    return document


# The deepest nesting a JSON body may have. Ours need 6 levels (a sync batch, its records, a
# record's data, its residents, one resident, its symptoms). The checks that walk a body
# (_unstorable, the schemas) recurse once per level: 500 levels stopped them with a
# RecursionError, 200,000 stopped the parser itself, and both answered 500.
MAX_JSON_DEPTH = 32


def _too_deep(document: Any) -> bool:
    """Nested past MAX_JSON_DEPTH, found level by level without recursing."""
    level, depth = [document], 0
    while level:
        depth += 1
        if depth > MAX_JSON_DEPTH:
            return True
        level = [child for node in level
                 for child in (node.values() if isinstance(node, dict) else node)
                 if isinstance(child, (dict, list))]
    return False


def _too_deep_error() -> ApiError:
    return ApiError(400, "invalid_json", t("json_too_deep", limit=MAX_JSON_DEPTH),
                    fields=[field_error("", "rule_maxDepth", "maxDepth", limit=MAX_JSON_DEPTH)])


class BoundedJSON(DefaultJSONProvider):
    """Flask's JSON, whose loads (every request.get_json) refuses a body nested past
    MAX_JSON_DEPTH with 400 invalid_json, once for every route."""

    def loads(self, s: str | bytes, **kwargs: Any) -> Any:
        try:
            document = super().loads(s, **kwargs)
        except RecursionError:
            raise _too_deep_error() from None
        if isinstance(document, (dict, list)) and _too_deep(document):
            raise _too_deep_error()
        return document


def json_body(schema_name: str) -> dict:
    """The request's JSON body, validated against schemas/<schema_name>.json."""
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise ApiError(400, "invalid_json")
    return validate(schema_name, body)


def query_int(name: str, default: int | None = None) -> int | None:
    """An integer from the query string; 422 naming /query/<name> when it is not one SQLite holds."""
    raw = request.args.get(name, "")
    if raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ApiError(422, "invalid", fields=[{"path": f"/query/{name}", "rule": "type",
                                                "message": t("rule_type", expected="integer")}]) from None
    for rule, limit, broken in (("minimum", -2**63, value < -2**63), ("maximum", 2**63 - 1, value >= 2**63)):
        if broken:
            raise ApiError(422, "invalid", fields=[{"path": f"/query/{name}", "rule": rule,
                                                    "message": t(f"rule_{rule}", limit=limit)}])
    return value


def query_day(name: str = "day") -> str:
    """A YYYY-MM-DD day from the query string, today in the configured TIMEZONE when it is
    absent; 422 naming /<name> when it is not a day."""
    value = request.args.get(name)
    if value is None:
        return today(current_app.config["TIMEZONE"]).isoformat()
    try:
        return date.fromisoformat(value).isoformat()
    except ValueError:
        raise ApiError(422, "invalid", fields=[{"path": f"/{name}", "rule": "format",
                                                "message": "YYYY-MM-DD"}]) from None


def period_days(first: str, last: str) -> list[str]:
    """The days from `first` to `last`; 422 naming /to unless first ≤ last, at most 93 days."""
    start, end = date.fromisoformat(first), date.fromisoformat(last)
    if end < start or (end - start).days > 92:
        raise ApiError(422, "invalid", fields=[{"path": "/to", "rule": "range",
                                                "message": "from ≤ to, at most 93 days"}])
    return [(start + timedelta(days=n)).isoformat() for n in range((end - start).days + 1)]


def query_period() -> tuple[str, str]:
    """?from= and ?to= (YYYY-MM-DD): by default the 30 days up to today; checked as period_days."""
    last = query_day("to") if request.args.get("to") else \
        today(current_app.config["TIMEZONE"]).isoformat()
    first = (query_day("from") if request.args.get("from")
             else (date.fromisoformat(last) - timedelta(days=29)).isoformat())
    period_days(first, last)
    return first, last


def _wants_json() -> bool:
    return request.path.startswith("/api/") or request.path == "/healthz"


def init_app(app: Flask) -> None:
    app.json = BoundedJSON(app)
    app.register_error_handler(ApiError, lambda e: e.response())

    @app.errorhandler(CSRFError)
    def csrf_error(e):
        if not current_user.is_authenticated:
            # No login to protect: the real problem is the missing login (an expired session
            # has lost its CSRF token too), and a 401 sends the phone to log in again.
            return ApiError(401, "login_required").response()
        return ApiError(400, "csrf", extra={"reason": e.description}).response()

    @app.errorhandler(HTTPException)
    def http_error(e: HTTPException):
        if not _wants_json():
            return e
        codes = {404: "not_found", 405: "method_not_allowed", 413: "too_large"}
        code = codes.get(e.code or 500)
        if code is None:
            return jsonify({"error": {"code": e.name.lower().replace(" ", "_"),
                                      "message": e.description}}), e.code
        extra = {}
        if code == "too_large":
            extra["limits"] = {"max_content_length": app.config["MAX_CONTENT_LENGTH"]}
        return ApiError(e.code, code, extra=extra).response()

    @app.errorhandler(UnicodeEncodeError)
    def broken_text(_e):
        # A lone surrogate that reached the database by a path no schema checks (a device id).
        return ApiError(422, "invalid", fields=[{"path": "", "rule": "text",
                                                 "message": t("rule_text")}]).response()

    @app.errorhandler(OverflowError)
    def number_out_of_range(_e):
        # A number beyond SQLite's 64 bits by a path no schema or query_int checks.
        return ApiError(422, "invalid", fields=[_unstorable_error([], "maximum")]).response()

    @app.errorhandler(sqlite3.OperationalError)
    def storage_error(e):
        # Disk full, read-only file, lock not granted in time: the phone must keep its outbox.
        app.logger.error("storage error: %s", e)
        if _wants_json():
            return ApiError(503, "storage_unavailable", headers={"Retry-After": "30"}).response()
        return t("storage_unavailable"), 503, {"Retry-After": "30"}

    @app.errorhandler(Exception)
    def unexpected(e):
        if isinstance(e, HTTPException):
            return http_error(e)
        app.logger.exception("unhandled error")
        if _wants_json():
            return ApiError(500, "server_error").response()
        return t("server_error"), 500
