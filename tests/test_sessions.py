"""Sessions the server can end, login throttling that keeps owners in, the password rule.

Each attack: a copied cookie replayed after logout, after a password change, after staff end
the sessions; an attacker failing logins to lock the owner (or a village's NAT) out; guessable
passwords (docs/deploy.md#sessions, #login-throttling, #passwords).
"""

from __future__ import annotations

import time

import pytest
from helpers import PASSWORD, PHONES, Api, new_id, shanghai_time

from server.auth import COMMON_PASSWORDS, create_user, new_initial_password, password_problem


def replay(app, cookie: str, csrf: str):
    """A second browser holding a copy of the session cookie (and the page's CSRF token)."""
    thief = app.test_client()
    thief.set_cookie("session", cookie)
    mine = thief.get("/api/checkins/mine")
    sync = thief.post("/api/sync", json={"device_id": "phone-1", "records": []},
                      headers={"X-CSRFToken": csrf})
    who = thief.get("/api/session").json["user"]
    return mine.status_code, sync.status_code, who


def cookie_of(api: Api) -> str:
    return api.client.get_cookie("session").value


# --- sessions ------------------------------------------------------------------------------------

def test_copied_cookie_is_dead_after_logout(app, as_user):
    api = as_user("cadre_A")
    cookie = cookie_of(api)
    assert replay(app, cookie, api.csrf)[:2] == (200, 200)  # the copy works while logged in
    assert api.delete("/api/session").status_code == 200
    mine, sync, who = replay(app, cookie, api.csrf)
    assert (mine, sync, who) == (401, 401, None)


def test_password_change_ends_the_other_sessions_only(app, as_user):
    here, lost_phone = as_user("cadre_A"), as_user("cadre_A")
    copied = cookie_of(lost_phone)
    changed = here.post("/api/session/password",
                        json={"old_password": PASSWORD, "new_password": "new-password-1"})
    assert changed.status_code == 200
    assert here.get("/api/checkins/mine").status_code == 200  # this session survives
    assert lost_phone.get("/api/checkins/mine").status_code == 401
    assert replay(app, copied, lost_phone.csrf) == (401, 401, None)


def test_staff_in_scope_end_all_sessions(app, as_user, db, world):
    phones = [as_user("cadre_A2"), as_user("cadre_A2")]
    copied = cookie_of(phones[0])
    url = f"/api/users/{world['cadre_A2']}/sessions/end"
    for outsider in ("committee_B", "town2_admin", "cadre_A"):
        assert as_user(outsider).post(url).status_code == 403
    assert phones[1].get("/api/checkins/mine").status_code == 200  # refused: nothing ended
    answer = as_user("committee_A").post(url)
    assert answer.status_code == 200 and answer.json == {"ended": 2}
    assert [p.get("/api/checkins/mine").status_code for p in phones] == [401, 401]
    assert replay(app, copied, phones[0].csrf)[0] == 401
    audited = db.execute("SELECT user_id FROM audit_log WHERE action = 'end_sessions' AND object = ?",
                         [f"user:{world['cadre_A2']}"]).fetchall()
    assert audited == [(world["committee_A"],)]
    assert as_user("admin").post(f"/api/users/{2**40}/sessions/end").status_code == 404
    assert as_user("cadre_A2").get("/api/checkins/mine").status_code == 200  # logs in again


def test_ending_ones_own_sessions_keeps_the_current_one(as_user, world):
    admin, other = as_user("admin"), as_user("admin")
    assert admin.post(f"/api/users/{world['admin']}/sessions/end").json == {"ended": 1}
    assert admin.get("/api/session").json["user"]["id"] == world["admin"]
    assert other.get("/api/session").json["user"] is None


def test_session_unseen_for_its_lifetime_is_over(app, as_user, db):
    api = as_user("cadre_A")
    db.execute("UPDATE sessions SET seen_at = '2000-01-01T00:00:00.000000Z'")
    db.conn.commit()
    assert api.get("/api/checkins/mine").status_code == 401


def test_cookie_without_a_session_row_is_logged_out(app, world):
    """A signed cookie naming a user but no server session (one from before migration 10, or
    forged with a leaked secret key) is not a login."""
    client = app.test_client()
    with client.session_transaction() as session:
        session["_user_id"] = str(world["cadre_A"])
        session["sid"] = "made-up"
    assert client.get("/api/checkins/mine").status_code == 401


def test_logged_out_phone_keeps_its_outbox_for_the_next_login(as_user, poster_token):
    """The 401 is login_required, which pwa/sender.js answers by keeping the record and
    asking for a login (docs/sync.md); after the login the same record is accepted."""
    phone, other = as_user("cadre_A"), as_user("cadre_A")
    other.post("/api/session/password",
               json={"old_password": PASSWORD, "new_password": "new-password-1"})
    record = {"id": new_id(), "type": "checkin", "recorded_at": shanghai_time(),
              "data": {"token": poster_token("A")}}
    body = {"device_id": "phone-1", "records": [record]}
    refused = phone.post("/api/sync", json=body)
    assert refused.status_code == 401 and refused.json["error"]["code"] == "login_required"
    assert phone.login(PHONES["cadre_A"], "new-password-1").status_code == 200
    assert phone.post("/api/sync", json=body).json["results"][0]["status"] == "created"


# --- throttling ----------------------------------------------------------------------------------

def login_from(app, address: str, phone: str, password: str = PASSWORD, client=None):
    client = client or app.test_client()
    return client.post("/api/session", json={"phone": phone, "password": password},
                       environ_base={"REMOTE_ADDR": address})


def test_owner_logs_in_from_elsewhere_while_the_attacker_is_refused(app):
    for _ in range(app.config["LOGIN_MAX_PER_PAIR"]):
        assert login_from(app, "10.6.6.6", PHONES["committee_A"], "guess-1").status_code == 401
    attacker = login_from(app, "10.6.6.6", PHONES["committee_A"], "guess-2")
    assert attacker.status_code == 429 and int(attacker.headers["Retry-After"]) > 0
    assert login_from(app, "10.0.0.2", PHONES["committee_A"]).status_code == 200


def test_owner_behind_the_attackers_nat_gets_in_on_a_known_phone(app):
    owner = app.test_client()
    assert login_from(app, "10.1.1.1", PHONES["cadre_A"], client=owner).status_code == 200
    owner.delete("/api/session", headers={"X-CSRFToken": owner.get("/api/session").json[
        "csrf_token"]})
    for _ in range(app.config["LOGIN_MAX_PER_PAIR"] + 1):
        login_from(app, "10.1.1.1", PHONES["cadre_A"], "guess-x")
    assert login_from(app, "10.1.1.1", PHONES["cadre_A"]).status_code == 429  # a new browser
    assert login_from(app, "10.1.1.1", PHONES["cadre_A"], client=owner).status_code == 200


def add_failures(db, key: str, count: int, ago: float = 0.0) -> None:
    """Failures an attacker spread over many addresses would leave (faster than HTTP)."""
    at = time.time() - ago
    db.conn.executemany("INSERT INTO login_failures (key, at) VALUES (?, ?)", [(key, at)] * count)
    db.conn.commit()


def test_account_under_a_spread_attack_is_slowed_not_locked(app, db):
    limit = app.config["LOGIN_MAX_PER_ACCOUNT"]
    add_failures(db, f"phone:{PHONES['cadre_A']}", limit + 3)  # delay 2^3 = 8 s
    slowed = login_from(app, "10.2.2.2", PHONES["cadre_A"])
    assert slowed.status_code == 429 and slowed.json["error"]["code"] == "login_slowed"
    assert 0 < int(slowed.headers["Retry-After"]) <= app.config["LOGIN_MAX_DELAY_SECONDS"]
    assert "秒后再试" in slowed.json["error"]["message"]
    db.execute("DELETE FROM login_failures")
    add_failures(db, f"phone:{PHONES['cadre_A']}", limit + 3, ago=60)  # the delay has passed
    assert login_from(app, "10.2.2.2", PHONES["cadre_A"]).status_code == 200


def test_village_nat_never_keeps_a_known_phone_out(app, db):
    """Failures of other accounts from the village's one address slow new browsers there for
    at most LOGIN_MAX_DELAY_SECONDS, and never a phone that logged in before."""
    villager = app.test_client()
    assert login_from(app, "10.3.3.3", PHONES["cadre_B"], client=villager).status_code == 200
    add_failures(db, "addr:10.3.3.3", app.config["LOGIN_MAX_PER_ADDRESS"] + 40)
    newcomer = login_from(app, "10.3.3.3", PHONES["cadre_A"])
    assert newcomer.status_code == 429
    assert int(newcomer.headers["Retry-After"]) <= app.config["LOGIN_MAX_DELAY_SECONDS"]
    assert login_from(app, "10.3.3.3", PHONES["cadre_B"], client=villager).status_code == 200


def test_staff_in_scope_unlock(app, as_user, db, world):
    for _ in range(app.config["LOGIN_MAX_PER_PAIR"]):
        login_from(app, "10.4.4.4", PHONES["cadre_A2"], "guess-y")
    assert login_from(app, "10.4.4.4", PHONES["cadre_A2"]).status_code == 429
    url = f"/api/users/{world['cadre_A2']}/unlock"
    assert as_user("committee_B").post(url).status_code == 403
    assert login_from(app, "10.4.4.4", PHONES["cadre_A2"]).status_code == 429
    answer = as_user("admin").post(url)
    assert answer.status_code == 200
    assert answer.json["failures_cleared"] == 2 * app.config["LOGIN_MAX_PER_PAIR"]  # pair, account
    assert login_from(app, "10.4.4.4", PHONES["cadre_A2"]).status_code == 200
    assert db.execute("SELECT user_id FROM audit_log WHERE action = 'unlock'").fetchall() == [
        (world["admin"],)]


def test_committee_is_told_once_of_repeated_failures(app, as_user, db, world):
    app.config["LOGIN_NOTIFY_FAILURES"] = 3
    for address in ("10.5.5.1", "10.5.5.2"):
        for _ in range(app.config["LOGIN_MAX_PER_PAIR"]):
            assert login_from(app, address, PHONES["cadre_A"], "guess-z").status_code == 401
    inbox = as_user("committee_A").get("/api/inbox").json["notices"]
    told = [n for n in inbox if "多次登录失败" in n["title"]]
    assert len(told) == 1
    assert "王建国" in told[0]["title"] and "138****0001" in told[0]["body"]
    assert PHONES["cadre_A"] not in told[0]["body"]
    assert not any("多次登录失败" in n["title"]
                   for n in as_user("committee_B").get("/api/inbox").json["notices"])
    assert db.execute("SELECT count(*) FROM notices WHERE kind = 'login_failures'").fetchone()[0] == 1


# --- the password rule ---------------------------------------------------------------------------

WEAK = ["11111111", "12345678", "password", "qwertyui", "1qaz2wsx", "woaini1314", "abc12345678",
        PHONES["cadre_A"], PHONES["cadre_A"] + "a"]


@pytest.mark.parametrize("weak", WEAK)
def test_weak_new_password_refused(app, as_user, weak):
    api = as_user("cadre_A")
    answer = api.post("/api/session/password", json={"old_password": PASSWORD, "new_password": weak})
    assert answer.status_code == 422
    field = answer.json["error"]["fields"][0]
    assert field["path"] == "/new_password" and field["rule"] == "password_weak"
    assert "密码太简单" in field["message"]
    assert Api(app).login(PHONES["cadre_A"]).status_code == 200  # nothing changed
    assert api.get("/api/checkins/mine").status_code == 200


def test_weak_password_message_in_english(app):
    api = Api(app, lang="en")
    api.login(PHONES["cadre_A"])
    answer = api.post("/api/session/password",
                      json={"old_password": PASSWORD, "new_password": "password1"})
    assert "too easy to guess" in answer.json["error"]["fields"][0]["message"]


def test_weak_password_refused_at_account_creation(app, as_user, db, world):
    with pytest.raises(ValueError, match="密码太简单"):
        create_user(db, "13712340000", "新干部", "12345678", "cadre")
    with pytest.raises(ValueError, match="too easy"):
        create_user(db, "13712340000", "新干部", "13712340000", "cadre")
    answer = as_user("committee_A").post(
        f"/api/enterprises/{world['mill']}/contacts",
        json={"phone": "13712340001", "name": "副经理", "password": "11111111"})
    assert answer.status_code == 422
    assert answer.json["error"]["fields"][0]["path"] == "/password"
    assert db.execute("SELECT 1 FROM users WHERE phone = '13712340001'").fetchone() is None


def test_cli_refuses_a_weak_password(app, db, monkeypatch, capsys):
    import run

    monkeypatch.setenv("BAODAO_DATA", app.config["DATA_DIR"])
    assert run.main(["create-user", "--phone", "13712340002", "--name", "新人", "--role", "cadre",
                     "--password", "qwertyui"]) == 2
    assert "too easy to guess" in capsys.readouterr().err
    assert db.execute("SELECT 1 FROM users WHERE phone = '13712340002'").fetchone() is None


def test_rule_accepts_the_passwords_in_use():
    assert password_problem(PASSWORD) is None  # tests/helpers.py, created with the rule on
    assert all(password_problem(p) for p in COMMON_PASSWORDS if len(p) >= 8)
    assert all(password_problem(new_initial_password()) is None for _ in range(50))
