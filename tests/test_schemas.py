"""The two validators agree: fastjsonschema's quick "valid?" never accepts what jsonschema refuses.

server/errors.py trusts the compiled check for the common case (a valid record) and asks
jsonschema for the named errors otherwise. Documents here are drawn from each schema itself,
on and around its limits (lengths, bounds, patterns, formats, required and extra keys), so
about half are valid and the rest break one rule or several.
"""

from __future__ import annotations

import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from server.errors import SCHEMAS_DIR, _unstorable, _validator, fast_valid, validation_errors

NAMES = sorted(p.stem for p in SCHEMAS_DIR.glob("*.json") if p.stem != "openapi")
SETTINGS = settings(max_examples=100, deadline=None, database=None, derandomize=True,
                    suppress_health_check=list(HealthCheck))
ANY_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=30),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=6)


FORMAT_SAMPLES = {
    "date": ["2026-11-26", "2026-02-30", "2026-1-5", "26-11-2026", ""],
    "date-time": ["2026-11-26T08:15:00+08:00", "2026-11-26T00:15:00Z", "2026-11-26T08:15:00",
                  "2026-13-26T08:15:00+08:00", "2026-11-26 08:15:00+08:00", "now"],
    "uuid": ["0f8fad5b-d9cb-469f-a165-70867728950e", "0f8fad5bd9cb469fa16570867728950e", "x"],
}


@st.composite
def near(draw, schema: dict):
    """Values of `schema` (on and just past its limits), now and then anything at all."""
    return draw(ANY_JSON if draw(st.integers(0, 31)) == 0 else value_of(schema))


@st.composite
def mostly(draw, valid, edge):
    """Usually a valid value; one time in eight one on or past the edge of the rule."""
    return draw(edge if draw(st.integers(0, 7)) == 0 else valid)


def value_of(schema: dict):
    if "const" in schema:
        return st.just(schema["const"])
    if "enum" in schema:
        return mostly(st.sampled_from(schema["enum"]), st.sampled_from(["", "其他", None]))
    kind = schema.get("type")
    if isinstance(kind, list):
        return st.one_of([value_of({**schema, "type": k}) for k in kind])
    if kind == "object" or "properties" in schema:
        return object_of(schema)
    if kind == "array":
        low, high = schema.get("minItems", 0), schema.get("maxItems", 4)
        unique = {"unique_by": lambda v: json.dumps(v, sort_keys=True)} \
            if schema.get("uniqueItems") else {}
        return mostly(st.lists(near(schema.get("items", {})), min_size=low, max_size=min(high, 5),
                               **unique),
                      st.lists(near(schema.get("items", {})), max_size=min(high + 1, 6)))
    if kind == "string":
        if "format" in schema:
            samples = FORMAT_SAMPLES[schema["format"]]
            return mostly(st.just(samples[0]), st.sampled_from(samples))
        low, high = schema.get("minLength", 0), schema.get("maxLength", 20)
        if "pattern" in schema:
            pattern = schema["pattern"]
            matching = st.from_regex(pattern, fullmatch=pattern.endswith("$"))
            if "minLength" in schema or "maxLength" in schema:
                matching = matching.filter(lambda v: low <= len(v) <= high)
            return mostly(matching, st.text(max_size=12))
        return mostly(st.text(min_size=low, max_size=min(high, 300)),
                      st.sampled_from(["", "a" * high, "a" * (high + 1), "门" * high]))
    if kind in ("integer", "number"):
        low, high = schema.get("minimum", -10**6), schema.get("maximum", 10**6)
        edges = [v + d for v in (low, high) for d in (-1, 0, 1)] + [True, 1.0, 0.5]
        valid = st.integers(int(low), int(high)) if kind == "integer" else \
            st.floats(low, high, allow_nan=False)
        return mostly(valid, st.sampled_from(edges))
    if kind == "boolean":
        return mostly(st.booleans(), st.sampled_from([0, 1, "true"]))
    return ANY_JSON


@st.composite
def object_of(draw, schema: dict):
    properties = schema.get("properties", {})
    # keys a conditional may ask for (if/then under allOf) are drawn like required ones
    required = set(schema.get("required", [])).union(
        *(part.get("then", {}).get("required", []) for part in schema.get("allOf", [])))
    document = {}
    for key, sub in properties.items():
        # required keys nearly always, optional ones half the time
        if draw(st.integers(0, 31)) < (31 if key in required else 16):
            document[key] = draw(near(sub))
    if draw(st.integers(0, 15)) == 0:
        document[draw(st.text(min_size=1, max_size=6))] = draw(ANY_JSON)
    return document


def schema_of(name: str) -> dict:
    return json.loads((SCHEMAS_DIR / f"{name}.json").read_text("utf-8"))


def agree(name: str, document) -> None:
    slow_valid = _validator(name).is_valid(document)
    if fast_valid(name, document):
        assert slow_valid, (name, document)  # the one disagreement that would let bad data in
    # validation_errors refuses what jsonschema refuses, and also what SQLite cannot store
    # (integers beyond 64 bits, lone surrogates) even where the schema allows any value
    storable = not _unstorable(document, [])
    assert (validation_errors(name, document) == []) == (slow_valid and storable)


@pytest.mark.parametrize("name", NAMES)
def test_the_quick_check_never_passes_what_jsonschema_refuses(name):
    seen = {"valid": 0, "invalid": 0}

    @SETTINGS
    @given(value_of(schema_of(name)))
    def check(document):
        agree(name, document)
        seen["valid" if _validator(name).is_valid(document) else "invalid"] += 1

    check()
    assert seen["invalid"] > 0  # the documents reach both sides of the rules
    if name not in ("sync",):  # a sync body is valid only with a list of records: rarely drawn
        assert seen["valid"] > 0, name


def test_the_quick_check_knows_our_formats():
    good = {"id": "0f8fad5b-d9cb-469f-a165-70867728950e", "token": "t",
            "recorded_at": "2026-11-26T08:00:00+08:00"}
    assert fast_valid("checkin", good)
    for recorded_at in ("2026-11-26T08:00:00", "2026-02-30T08:00:00+08:00", "yesterday"):
        assert not fast_valid("checkin", {**good, "recorded_at": recorded_at}), recorded_at
    assert not fast_valid("checkin", {**good, "extra": 1})
    assert not fast_valid("checkin", {**good, "location": {"lat": True, "lng": 1}})
