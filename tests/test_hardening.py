"""Small hardening: deeply nested JSON answered 400, not 500; answers with personal data kept
out of the browser's cache (shared phones, office PCs)."""

import pytest
from helpers import new_id, shanghai_time

DEEP = "[" * 200_000 + "]" * 200_000


@pytest.mark.parametrize("url", ["/api/sync", "/api/screening-visits", "/api/session"])
def test_deeply_nested_json_is_invalid_json_not_a_crash(as_user, url):
    api = as_user("cadre_A")
    response = api.post(url, data=DEEP, content_type="application/json")
    assert response.status_code == 400
    assert response.json["error"]["code"] == "invalid_json"


def test_nesting_deep_enough_to_parse_is_refused_before_anything_walks_it(as_user):
    """600 levels parse, but the checks that walk a body (unstorable values, the schemas)
    recursed past Python's limit: refused as invalid_json too, naming the rule, in the user's
    language."""
    api = as_user("cadre_A", lang="en")
    record = f'{{"id": "{new_id()}", "type": "screening_visit", "data": '
    body = '{"device_id": "x", "records": [' + record + "[" * 600 + "]" * 600 + "}]}"
    response = api.post("/api/sync", data=body, content_type="application/json")
    assert response.status_code == 400 and response.json["error"]["code"] == "invalid_json"
    assert "nested" in response.json["error"]["message"]
    assert response.json["error"]["fields"] == [
        {"path": "", "rule": "maxDepth", "message": "must be nested at most 32 levels deep"}]
    # a deep text is just text
    text = {"device_id": "x", "records": [{"id": new_id(), "type": "screening_visit",
                                           "data": {"notes": "[" * 900}}]}
    assert api.post("/api/sync", json=text).status_code == 200


def test_ordinary_bodies_still_parse(as_user, world):
    response = as_user("cadre_A").post("/api/screening-visits", json={
        "id": new_id(), "recorded_at": shanghai_time(), "household_id": world["hhA1"],
        "outcome": "answered", "result": "normal",
        "residents": [{"resident_id": world["resA1"], "temperature": 36.6,
                       "symptoms": ["cough"]}]})
    assert response.status_code == 201, response.json


def test_answers_with_personal_data_are_not_stored_by_the_browser(as_user, world):
    committee = as_user("committee_A")
    place = world["A"]
    for url in (f"/api/households/{world['hhA1']}",  # JSON
                f"/api/places/{place}/tally/records.csv?metric=cadres_assigned",
                f"/api/places/{place}/tally/records.xlsx?metric=cadres_assigned",
                f"/api/places/{place}/work-records.csv",
                f"/api/places/{place}/trend.svg",
                f"/reports/{place}/daily",  # the printable daily report, an HTML page
                "/c/not-a-poster"):  # an HTML error page
        response = committee.get(url)
        assert response.status_code < 500, url
        assert response.headers["Cache-Control"] == "no-store", url
    # what is meant to be kept says so itself: the shell (the service worker caches it) and
    # the API's description
    assert committee.get("/").headers["Cache-Control"] == "no-cache"
    assert committee.get("/api/openapi.json").headers["Cache-Control"] == "no-cache"
