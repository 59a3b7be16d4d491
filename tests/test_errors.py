"""Inputs the fuzzer found: broken text (lone UTF-16 surrogates) and integers beyond SQLite's.

Each gets a 422 naming the field and the rule, and nothing stored changes.
"""

from test_push import browser_subscription
from test_sync import checkin_record, count, sync

BROKEN = "门牌\ud83d"  # an emoji cut in half by a length limit: JSON carries it as "\\ud83d"


def test_broken_text_in_a_body_names_the_field(app, as_user, db):
    app.config.update(PUSH_ALLOW_HTTP=True)
    api = as_user("cadre_A")
    body, _, _ = browser_subscription("https://push.example.net/" + BROKEN)
    response = api.post("/api/push/subscriptions", json=body)
    assert response.status_code == 422
    assert {"path": "/endpoint", "rule": "text"}.items() <= response.json["error"]["fields"][0].items()
    assert "表情" in response.json["error"]["fields"][0]["message"]
    assert count(db, "push_subscriptions") == 0


def test_broken_text_in_a_device_id_is_refused_not_a_server_error(as_user):
    api = as_user("cadre_A")
    response = api.delete("/api/push/subscriptions", json={"device_id": BROKEN})
    assert response.status_code == 422
    assert response.json["error"]["fields"][0]["rule"] == "text"


def test_broken_text_rejects_only_its_own_record_in_a_batch(as_user, poster_token, db):
    api = as_user("cadre_A")
    good = checkin_record(poster_token("A"))
    broken = checkin_record(poster_token("A", "gateA") + BROKEN)
    response = sync(api, [broken, good])
    assert response.status_code == 200
    results = response.json["results"]
    assert [r["status"] for r in results] == ["invalid", "created"]
    assert results[0]["errors"][0]["path"] == "/data/token"
    assert results[0]["errors"][0]["rule"] == "text"
    assert count(db) == 1


def test_broken_text_in_the_batch_envelope_is_refused_whole(as_user, poster_token, db):
    response = sync(as_user("cadre_A"), [checkin_record(poster_token("A"))], device_id=BROKEN)
    assert response.status_code == 422
    assert response.json["error"]["fields"][0]["path"] == "/device_id"
    assert count(db) == 0


def test_query_integers_are_checked_and_named(as_user, app):
    admin = as_user("admin")
    for value, rule in (("-48307671374210007040", "minimum"), (str(2**63), "maximum"),
                        ("abc", "type"), ("1.5", "type")):
        response = admin.get(f"/api/audit?user_id={value}")
        assert response.status_code == 422, value
        assert response.json["error"]["fields"] == [
            {"path": "/query/user_id", "rule": rule,
             "message": response.json["error"]["fields"][0]["message"]}]
    assert admin.get(f"/api/audit?user_id={2**63 - 1}").json["entries"] == []
    cadre = as_user("cadre_A")
    response = cadre.get("/api/checkins/mine?limit=lots")  # was silently 50 before
    assert response.status_code == 422
    assert response.json["error"]["fields"][0]["path"] == "/query/limit"
    assert cadre.get("/api/checkins/mine?limit=3").status_code == 200


def test_errors_speak_english_on_request(as_user):
    api = as_user("admin", lang="en")
    response = api.get("/api/audit?before_id=x")
    assert response.json["error"]["fields"][0]["message"] == "must be of type integer"


def test_a_push_endpoint_that_is_no_url_is_refused_in_the_users_language(app, as_user, db):
    app.config.update(PUSH_ALLOW_HTTP=True)
    api = as_user("cadre_A")
    for endpoint in ("http://push[.example.net/a", "https://push.example.net:99999/a",
                     "https://push.example.net/\u00e9", "https:///nohost", "ftp://push.example.net/"):
        body, _, _ = browser_subscription(endpoint)
        response = api.post("/api/push/subscriptions", json=body)
        assert response.status_code == 422, endpoint
        [field] = response.json["error"]["fields"]
        assert field["path"] == "/endpoint" and not field["message"].isascii(), field
    assert count(db, "push_subscriptions") == 0


def test_body_integers_beyond_64_bits_name_the_field(as_user, db):
    admin = as_user("admin")
    before = count(db, "isolation_policies")
    body = {"name": "楼号", "place_id": 2**76, "edition": "1",
            "rules": {"phases": [{"kind": "home_isolation", "days": 14}], "slots": ["morning"]}}
    response = admin.post("/api/isolation/policies", json=body)
    assert response.status_code == 422
    assert {"path": "/place_id", "rule": "maximum"}.items() <= response.json["error"]["fields"][-1].items()
    response = admin.post("/api/isolation/policies", json={**body, "place_id": -(2**70)})
    assert response.json["error"]["fields"][-1]["rule"] == "minimum"
    assert count(db, "isolation_policies") == before
