from helpers import PASSWORD, PHONES, Api


def test_login_session_logout(app, anon):
    response = anon.login(PHONES["committee_A"])
    assert response.status_code == 200
    assert response.json["user"]["role"] == "committee"
    assert response.json["user"]["place"]["name"] == "甲社区"
    assert anon.get("/api/session").json["user"]["phone"] == PHONES["committee_A"]
    assert anon.delete("/api/session").status_code == 200
    assert anon.get("/api/session").json["user"] is None
    assert anon.get("/api/checkins/mine").status_code == 401


def test_wrong_password_and_unknown_phone_look_the_same(anon):
    wrong = anon.login(PHONES["cadre_A"], "not-the-password")
    unknown = anon.login("13712345678", PASSWORD)
    assert wrong.status_code == unknown.status_code == 401
    assert wrong.json == unknown.json
    assert wrong.json["error"]["code"] == "bad_credentials"
    assert wrong.json["error"]["message"] == "手机号或密码错误"


def test_english_on_request(app):
    api = Api(app, lang="en")
    response = api.login(PHONES["cadre_A"], "nope-nope")
    assert response.json["error"]["message"] == "Wrong phone number or password"


def test_pair_refused_after_repeated_failures(app, anon):
    """The (account, address) pair is refused; tests/test_sessions.py has the owner's side."""
    for _ in range(app.config["LOGIN_MAX_PER_PAIR"]):
        assert anon.login(PHONES["cadre_A"], "wrong-password").status_code == 401
    locked = anon.login(PHONES["cadre_A"], PASSWORD)  # this address waits, even if right
    assert locked.status_code == 429
    assert int(locked.headers["Retry-After"]) > 0
    assert locked.json["error"]["code"] == "too_many_attempts"
    # Another account from the same address is not affected.
    assert anon.login(PHONES["cadre_B"]).status_code == 200


def test_login_body_validated(anon):
    response = anon.client.post("/api/session", json={"phone": PHONES["cadre_A"]})
    assert response.status_code == 422
    assert response.json["error"]["fields"][0]["path"] == "/password"
    # A form post (what a cross-site page could send) is not read at all.
    form = anon.client.post("/api/session", data={"phone": PHONES["cadre_A"], "password": PASSWORD})
    assert form.status_code == 400
    assert form.json["error"]["code"] == "invalid_json"


def test_csrf_required_for_state_changes(as_user, poster_token):
    api = as_user("cadre_A")
    no_token = api.client.post("/api/checkins", json={})
    assert no_token.status_code == 400
    assert no_token.json["error"]["code"] == "csrf"
    bad_token = api.client.delete("/api/session", headers={"X-CSRFToken": "forged"})
    assert bad_token.status_code == 400
    assert api.get("/api/session").json["user"] is not None  # still logged in


def test_logged_out_state_change_without_token_is_401(anon):
    """An expired session has lost its CSRF token too: the answer sends the phone to log in."""
    response = anon.client.post("/api/sync", json={"records": []})
    assert response.status_code == 401 and response.json["error"]["code"] == "login_required"


def test_ids_out_of_range_are_unknown(as_user):
    admin = as_user("admin")
    assert admin.get(f"/api/places/{2**70}/today").status_code == 404
    assert admin.get("/api/places/-3/today").status_code == 404
    assert admin.get(f"/api/grids?community_id={2**70}").status_code == 422


def test_session_is_fresh_after_login(app, anon):
    with anon.client.session_transaction() as session:
        session["planted"] = "by an attacker"
    anon.login(PHONES["cadre_A"])
    with anon.client.session_transaction() as session:
        assert "planted" not in session


def test_cookie_flags(app, anon):
    response = anon.login(PHONES["cadre_A"])
    cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Secure" not in cookie


def test_cookie_secure_under_https(tmp_path, world_template):
    import shutil

    from server import create_app

    shutil.copy(world_template[0], tmp_path / "baodao.db")
    app = create_app({"TESTING": True, "DATA_DIR": str(tmp_path), "HTTPS": True,
                      "SECRET_KEY": "k"})
    client = app.test_client()
    response = client.post("/api/session", json={"phone": PHONES["cadre_A"], "password": PASSWORD},
                           base_url="https://localhost")
    assert "Secure" in response.headers["Set-Cookie"]
    assert "max-age" in response.headers["Strict-Transport-Security"]


def test_change_password(as_user, app):
    api = as_user("cadre_A")
    wrong = api.post("/api/session/password",
                     json={"old_password": "nope", "new_password": "new-password-1"})
    assert wrong.status_code == 403
    assert wrong.json["error"]["fields"][0]["path"] == "/old_password"
    short = api.post("/api/session/password", json={"old_password": PASSWORD, "new_password": "x"})
    assert short.status_code == 422
    assert short.json["error"]["fields"][0]["path"] == "/new_password"
    ok = api.post("/api/session/password",
                  json={"old_password": PASSWORD, "new_password": "new-password-1"})
    assert ok.status_code == 200
    assert Api(app).login(PHONES["cadre_A"], PASSWORD).status_code == 401
    assert Api(app).login(PHONES["cadre_A"], "new-password-1").status_code == 200


def test_passwords_are_hashed(db):
    stored = db.execute("SELECT password_hash FROM users WHERE phone = ?",
                        [PHONES["cadre_A"]]).fetchone()[0]
    assert PASSWORD not in stored and stored.startswith(("scrypt:", "pbkdf2:"))


def test_placeholder_secret_refused(tmp_path, monkeypatch):
    import pytest

    from server import create_app

    with pytest.raises(RuntimeError, match="placeholder"):
        create_app({"DATA_DIR": str(tmp_path), "SECRET_KEY": "changeme"})


def test_secret_generated_once_and_kept(tmp_path):
    from server import create_app

    first = create_app({"DATA_DIR": str(tmp_path)}).config["SECRET_KEY"]
    second = create_app({"DATA_DIR": str(tmp_path)}).config["SECRET_KEY"]
    assert first == second and len(first) >= 32
    assert (tmp_path / "secret_key").stat().st_mode & 0o077 == 0


def test_security_headers(anon):
    response = anon.get("/")
    csp = response.headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp
    assert "frame-ancestors 'none'" in csp
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Referrer-Policy"] == "same-origin"


def test_api_errors_are_json(anon):
    response = anon.get("/api/nothing-here")
    assert response.status_code == 404
    assert response.json["error"]["code"] == "not_found"
    too_big = anon.client.post("/api/session", data="x" * (2 * 1024 * 1024),
                               content_type="application/json")
    assert too_big.status_code == 413
    assert too_big.json["error"]["limits"]["max_content_length"] == 1024 * 1024


def test_healthz(anon):
    response = anon.get("/healthz")
    assert response.status_code == 200
    assert response.json["status"] == "ok"


def test_healthz_reports_operations(app, anon, tmp_path):
    from server.backup import backup

    backup(app.config["DATABASE"])
    body = anon.get("/healthz").json
    assert body["push"]["queue_depth"] == 0
    assert body["push"]["worker_alive"] is False  # no worker process runs under pytest
    assert body["last_backup"].endswith("Z")


def test_request_id_is_passed_through(anon):
    assert anon.get("/healthz", headers={"X-Request-Id": "nginx-42"}).headers["X-Request-Id"] \
        == "nginx-42"
    assert len(anon.get("/healthz").headers["X-Request-Id"]) == 16


def test_client_address_through_a_trusted_proxy(app):
    from helpers import Api

    app.config["LOGIN_MAX_PER_PAIR"] = 2
    from werkzeug.middleware.proxy_fix import ProxyFix

    app.wsgi_app = ProxyFix(app.wsgi_app, x_for=1)  # what BAODAO_TRUSTED_PROXIES=1 sets up
    api = Api(app)
    for _ in range(2):
        api.client.post("/api/session", json={"phone": PHONES["cadre_A"], "password": "x"},
                        headers={"X-Forwarded-For": "10.0.0.1"})
    # The same account from another phone behind the same proxy is not refused.
    other = api.client.post("/api/session", json={"phone": PHONES["cadre_A"], "password": PASSWORD},
                            headers={"X-Forwarded-For": "10.0.0.2"})
    assert other.status_code == 200
    # (a fresh client: the login above gave api.client the device cookie of a known phone)
    same = app.test_client().post("/api/session",
                                  json={"phone": PHONES["cadre_A"], "password": PASSWORD},
                                  headers={"X-Forwarded-For": "10.0.0.1"})
    assert same.status_code == 429


def test_trusted_proxies_setting(tmp_path, world_template):
    import shutil

    from werkzeug.middleware.proxy_fix import ProxyFix

    from server import create_app

    shutil.copy(world_template[0], tmp_path / "baodao.db")
    app = create_app({"TESTING": True, "DATA_DIR": str(tmp_path), "SECRET_KEY": "k",
                      "TRUSTED_PROXIES": 1})
    assert isinstance(app.wsgi_app, ProxyFix)
