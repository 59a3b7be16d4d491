"""Web Push end to end, without the internet: a local HTTP server plays the push service.

It checks the VAPID Authorization header (ES256 signature against k, aud, exp, sub) and decrypts
the body with the subscription's private key (http_ece, aes128gcm), as a browser's push
service and the browser would (docs/field-lessons.md#web-push).
"""

from __future__ import annotations

import base64
import json
import os
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

import http_ece
import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from helpers import PHONES, Api

from server import create_app, push

SUB = "mailto:ops@baodao-test.cn"
FCM = "https://fcm.googleapis.com/fcm/send/"  # a push service's endpoint; nothing is sent there


def b64d(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def browser_subscription(endpoint: str, device_id: str = "phone-1"):
    """What PushManager.subscribe() gives a page: a P-256 key pair and a 16-byte auth secret."""
    private_key = ec.generate_private_key(ec.SECP256R1())
    auth = os.urandom(16)
    body = {"endpoint": endpoint, "device_id": device_id, "expirationTime": None,
            "keys": {"p256dh": push.public_key_of(private_key), "auth": push.b64url(auth)}}
    return body, private_key, auth


def verify_vapid(header: str, endpoint: str, sub: str) -> tuple[dict, str]:
    """What a push service checks: `vapid t=<jwt>, k=<key>`, ES256 over the JWT by k."""
    assert header.startswith("vapid "), header
    params = dict(part.strip().split("=", 1) for part in header[len("vapid "):].split(","))
    token, key = params["t"], params["k"]
    head, claims_part, signature = token.split(".")
    assert json.loads(b64d(head)) == {"typ": "JWT", "alg": "ES256"}
    public = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), b64d(key))
    raw = b64d(signature)
    assert len(raw) == 64
    public.verify(encode_dss_signature(int.from_bytes(raw[:32], "big"),
                                       int.from_bytes(raw[32:], "big")),
                  f"{head}.{claims_part}".encode(), ec.ECDSA(hashes.SHA256()))
    claims = json.loads(b64d(claims_part))
    parts = urlsplit(endpoint)
    assert claims["aud"] == f"{parts.scheme}://{parts.netloc}"
    assert time.time() < claims["exp"] <= time.time() + 24 * 3600
    assert claims["sub"] == sub
    return claims, key


class FakePushService:
    """A push service on 127.0.0.1: answers per path from a script (default 201), decrypts what
    it can, and keeps every request for the test to look at. `hold`: an event each answer
    waits for (a send that takes as long as the test wants)."""

    def __init__(self, sub: str = SUB, delay: float = 0.0, hold: threading.Event | None = None):
        self.sub, self.delay, self.hold = sub, delay, hold
        self.received: list[dict] = []
        self.script: dict[str, list[tuple[int, dict]]] = {}
        self.keys: dict[str, tuple] = {}
        self.lock = threading.Lock()
        service = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                endpoint = service.url(self.path)
                entry = {"path": self.path, "headers": dict(self.headers), "size": len(body)}
                try:
                    entry["claims"], entry["k"] = verify_vapid(
                        self.headers.get("Authorization", ""), endpoint, service.sub)
                    if self.path in service.keys:
                        private_key, auth = service.keys[self.path]
                        entry["message"] = json.loads(http_ece.decrypt(
                            body, private_key=private_key, auth_secret=auth,
                            version="aes128gcm"))
                except Exception as error:  # recorded, and answered as a service would
                    entry["error"] = repr(error)
                with service.lock:
                    service.received.append(entry)
                    answers = service.script.get(self.path) or []
                    status, headers = answers.pop(0) if answers else (201, {})
                if "error" in entry:
                    status, headers = 400, {}
                if service.delay:
                    time.sleep(service.delay)
                if service.hold is not None:
                    service.hold.wait(30)
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.server.server_port}{path}"

    def allow(self, app) -> FakePushService:
        """Let `app` push here: the test mode exempts this one loopback origin from the
        push-service and address rules (docs/push.md#where-pushes-may-go)."""
        origins = app.config["PUSH_TEST_SERVICE_ORIGINS"] or []
        app.config["PUSH_TEST_SERVICE_ORIGINS"] = [*origins, self.url("")]
        return self

    def subscribe(self, api: Api, path: str, device_id: str = "phone-1") -> dict:
        """A browser's subscription at `path`, registered with the app by `api`'s user."""
        body, private_key, auth = browser_subscription(self.url(path), device_id)
        self.keys[path] = (private_key, auth)
        response = api.post("/api/push/subscriptions", json=body)
        assert response.status_code in (200, 201), response.json
        return body

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def push_app(app):
    app.config.update(PUSH_RETRY_BASE_SECONDS=0.05, PUSH_THREADS=4)
    return app


@pytest.fixture
def service(push_app):
    fake = FakePushService().allow(push_app)
    yield fake
    fake.close()


def send_notice(as_user, world, **extra) -> dict:
    body = {"title": "明早七点全员核酸", "body": "请到社区广场集合。", "urgency": "high",
            "link": "/#/dashboard/1", "target": {"place_id": world["A"]}, **extra}
    response = as_user("committee_A").post("/api/notices", json=body)
    assert response.status_code == 201, response.json
    return response.json["notice"]


def rows(db, sql, params=()):
    return list(db.query(sql, list(params)))


# --- keys and the `sub` -------------------------------------------------------------------------

def test_key_is_made_served_and_matches_the_private_key(app, anon):
    folder = app.config["DATA_DIR"]
    served = anon.get("/api/push/key").json
    assert served["enabled"] is True and served["reason"] is None
    assert served["public_key"] == push.derived_public_key(
        push.Path(folder) / push.PRIVATE_KEY_FILE)
    assert len(b64d(served["public_key"])) == 65
    assert oct(os.stat(f"{folder}/{push.PRIVATE_KEY_FILE}").st_mode & 0o777) == "0o600"
    health = anon.get("/healthz").json["push"]
    assert health["enabled"] is True and health["reason"] is None
    # A second start keeps the same pair.
    again = create_app({"TESTING": True, "DATA_DIR": folder, "SECRET_KEY": "x", "VAPID_SUB": SUB})
    assert push.push_config(again).public_key == served["public_key"]


@pytest.mark.parametrize("sub", [
    None, "", "mailto:ops@localhost", "mailto:ops@baodao.localhost", "https://localhost",
    "https://localhost:8443/", "ops@baodao.cn", "mailto:mailto:ops@baodao.cn",
    "http://baodao.cn", "mailto:ops@127.0.0.1", "https://10.0.0.8", "mailto:ops",
    "mailto:@baodao.cn", " mailto:ops@baodao.cn"])
def test_bad_sub_disables_push(tmp_path, sub):
    assert push.sub_problem(sub) is not None
    app = create_app({"TESTING": True, "DATA_DIR": str(tmp_path), "SECRET_KEY": "x",
                      "VAPID_SUB": sub})
    anon = Api(app)
    served = anon.get("/api/push/key").json
    assert served["enabled"] is False and served["public_key"] is None and served["reason"]
    assert anon.get("/healthz").json["push"]["enabled"] is False


@pytest.mark.parametrize("sub", ["mailto:ops@baodao.gov.cn", "mailto:zhang.san@qu.example.cn",
                                 "https://baodao.example.cn/contact"])
def test_good_sub_accepted(sub):
    assert push.sub_problem(sub) is None


def test_subscribing_while_push_is_off_is_refused(tmp_path, world_template):
    import shutil

    shutil.copy(world_template[0], tmp_path / "baodao.db")
    app = create_app({"TESTING": True, "DATA_DIR": str(tmp_path), "SECRET_KEY": "x",
                      "VAPID_SUB": "mailto:ops@localhost"})
    api = Api(app)
    api.login(PHONES["cadre_A"])
    body, _, _ = browser_subscription(FCM + "x")
    response = api.post("/api/push/subscriptions", json=body)
    assert response.status_code == 409 and response.json["error"]["code"] == "push_disabled"
    assert api.get("/api/inbox").status_code == 200  # the inbox works without push


def test_key_mismatch_is_detected(app, tmp_path):
    other = push.public_key_of(ec.generate_private_key(ec.SECP256R1()))
    (tmp_path / push.PUBLIC_KEY_FILE).write_text(other)
    again = create_app({"TESTING": True, "DATA_DIR": str(tmp_path), "SECRET_KEY": "x",
                        "VAPID_SUB": SUB})
    config = push.push_config(again)
    assert config.enabled is False and "mismatch" in config.reason
    assert Api(again).get("/api/push/key").json["public_key"] is None


def test_vapid_keys_command_and_rotation(app, as_user, db, tmp_path, monkeypatch, capsys):
    import run

    monkeypatch.setenv("BAODAO_DATA", str(tmp_path))
    monkeypatch.setenv("BAODAO_VAPID_SUB", SUB)
    before = as_user("cadre_A").get("/api/push/key").json["public_key"]
    body, _, _ = browser_subscription(FCM + "one")
    assert as_user("cadre_A").post("/api/push/subscriptions", json=body).status_code == 201
    assert run.main(["vapid-keys"]) == 0
    assert before in capsys.readouterr().out
    assert run.main(["vapid-keys", "--rotate"]) == 0
    after = (tmp_path / push.PUBLIC_KEY_FILE).read_text()
    assert after != before
    assert after == push.derived_public_key(tmp_path / push.PRIVATE_KEY_FILE)
    assert db.execute("SELECT count(*) FROM push_subscriptions").fetchone()[0] == 0
    # A phone still holding a subscription made with the old key is told to subscribe again.
    fresh = create_app({"TESTING": True, "DATA_DIR": str(tmp_path), "SECRET_KEY": "test-secret"})
    api = Api(fresh)
    api.login(PHONES["cadre_A"])
    response = api.post("/api/push/subscriptions", json={**body, "key": before})
    assert response.status_code == 409
    assert response.json["error"]["public_key"] == after


def test_token_reused_per_origin_with_fresh_claims(app):
    signer = push.VapidSigner(push.push_config(app).private_key_path, SUB)
    first = signer.authorization("https://fcm.googleapis.com/fcm/send/a")
    assert signer.authorization("https://fcm.googleapis.com/fcm/send/b") == first
    other = signer.authorization("https://web.push.apple.com/x")
    assert other != first
    claims, _ = verify_vapid(other, "https://web.push.apple.com/x", SUB)
    assert claims["exp"] <= time.time() + 12 * 3600 + 1
    # Near its expiry a token is renewed.
    audience = "https://web.push.apple.com"
    signer._tokens[audience] = (other, time.time() + 60)
    assert signer.authorization("https://web.push.apple.com/y") != other


def test_payload_stays_under_2kb(app):
    long = {"id": "n" * 36, "title": "通知" * 100, "body": "很长的正文" * 500,
            "link": "/#/dashboard/1", "urgency": "normal"}
    payload = push.payload_of(long)
    assert len(payload) <= push.MAX_PAYLOAD
    message = json.loads(payload)
    assert set(message) == {"id", "title", "body", "link", "urgency"}
    key = ec.generate_private_key(ec.SECP256R1())
    pusher = push.WebPusher({"endpoint": "https://x.cn/", "keys": {
        "p256dh": push.public_key_of(key), "auth": push.b64url(os.urandom(16))}})
    assert len(pusher.encode(payload, content_encoding="aes128gcm")["body"]) <= 2048


# --- subscriptions ------------------------------------------------------------------------------

def test_subscriptions_register_update_and_leave(push_app, as_user, db):
    api = as_user("cadre_A")
    body, _, _ = browser_subscription(FCM + "a", "phone-1")
    assert api.post("/api/push/subscriptions", json=body).status_code == 201
    renewed, _, _ = browser_subscription(FCM + "a", "phone-1")
    assert api.post("/api/push/subscriptions", json=renewed).status_code == 200  # same endpoint
    stored = rows(db, "SELECT * FROM push_subscriptions")
    assert len(stored) == 1 and stored[0]["p256dh"] == renewed["keys"]["p256dh"]
    tablet, _, _ = browser_subscription(FCM + "b", "tablet")
    assert api.post("/api/push/subscriptions", json=tablet).status_code == 201
    # The same device subscribing anew: its old endpoint is dead and goes.
    moved, _, _ = browser_subscription(FCM + "c", "phone-1")
    assert api.post("/api/push/subscriptions", json=moved).status_code == 201
    assert sorted(r["endpoint"][-1] for r in rows(db, "SELECT * FROM push_subscriptions")) == \
        ["b", "c"]
    bad = {**moved, "keys": {"p256dh": "AAAA", "auth": moved["keys"]["auth"]}}
    assert api.post("/api/push/subscriptions", json=bad).status_code == 422
    plain, _, _ = browser_subscription("http://fcm.googleapis.com/fcm/send/d")
    assert api.post("/api/push/subscriptions", json=plain).status_code == 422
    # Logging out on the phone removes the phone's subscription, not the tablet's.
    assert api.delete("/api/session?device_id=phone-1").status_code == 200
    assert [r["device_id"] for r in rows(db, "SELECT * FROM push_subscriptions")] == ["tablet"]
    api = as_user("cadre_A")
    response = api.delete(f"/api/push/subscriptions?endpoint={FCM}b")
    assert response.json == {"deleted": 1}
    assert rows(db, "SELECT * FROM push_subscriptions") == []


# --- delivery end to end ------------------------------------------------------------------------

def test_notice_pushed_end_to_end(push_app, as_user, world, db, service, worker):
    cadre = as_user("cadre_A")
    service.subscribe(cadre, "/push/cadre-a")
    served_key = cadre.get("/api/push/key").json["public_key"]
    notice = send_notice(as_user, world)
    # The request only queued the delivery: nothing was sent yet.
    queued = rows(db, "SELECT * FROM push_deliveries WHERE notice_id = ?", [notice["id"]])
    assert [(q["state"], q["attempts"]) for q in queued] == [("queued", 0)]
    assert service.received == []
    worker().run_until_idle()
    [request] = service.received
    assert "error" not in request, request["error"]
    assert request["k"] == served_key
    assert request["message"] == {"id": notice["id"], "title": "明早七点全员核酸",
                                  "body": "请到社区广场集合。", "link": "/#/dashboard/1",
                                  "urgency": "high"}
    headers = request["headers"]
    assert headers["Content-Encoding"] == "aes128gcm"
    assert headers["Urgency"] == "high"
    assert 0 < int(headers["TTL"]) <= 72 * 3600
    assert request["size"] <= 2048
    report = as_user("committee_A").get(f"/api/notices/{notice['id']}").json["notice"]
    by_name = {r["user"]["name"]: r for r in report["recipients"]}
    assert by_name["王建国"]["state"] == "sent" and by_name["王建国"]["via"] == ["push"]
    assert by_name["李丽华"]["state"] == "queued" and by_name["李丽华"]["via"] == []  # no device
    attempts = rows(db, "SELECT status FROM push_attempts")
    assert attempts == [{"status": 201}]


def test_gone_subscription_deleted_and_others_kept(push_app, as_user, world, db, service,
                                                   worker):
    cadre = as_user("cadre_A")
    service.subscribe(cadre, "/push/old-phone", "old-phone")
    service.subscribe(cadre, "/push/new-phone", "new-phone")
    service.script["/push/old-phone"] = [(410, {})]
    notice = send_notice(as_user, world)
    worker().run_until_idle()
    assert [r["device_id"] for r in rows(db, "SELECT * FROM push_subscriptions")] == \
        ["new-phone"]
    states = {r["endpoint"].rsplit("/", 1)[1]: r["state"] for r in rows(
        db, "SELECT * FROM push_deliveries WHERE notice_id = ?", [notice["id"]])}
    assert states == {"old-phone": "gone", "new-phone": "sent"}
    # With every subscription dead, the recipient shows 'gone' until the inbox fetches it.
    service.script["/push/new-phone"] = [(404, {})]
    second = send_notice(as_user, world)
    worker().run_until_idle()
    assert rows(db, "SELECT * FROM push_subscriptions") == []
    state = db.execute("SELECT state FROM notice_recipients WHERE notice_id = ? AND user_id = ?",
                       [second["id"], world["cadre_A"]]).fetchone()[0]
    assert state == "gone"
    cadre.get("/api/inbox")
    report = as_user("committee_A").get(f"/api/notices/{second['id']}").json["notice"]
    mine = next(r for r in report["recipients"] if r["user"]["id"] == world["cadre_A"])
    assert mine["state"] == "sent" and mine["via"] == ["inbox"]


def test_gone_does_not_delete_a_racing_resubscribe(push_app, as_user, world, db, service,
                                                   worker):
    cadre = as_user("cadre_A")
    service.subscribe(cadre, "/push/phone")
    service.script["/push/phone"] = [(410, {})]
    send_notice(as_user, world)
    w = worker()
    jobs = w.claim(10)
    service.subscribe(cadre, "/push/phone")  # same endpoint, new keys, while the send is out
    w.record([w.send_one(job) for job in jobs])
    assert len(rows(db, "SELECT * FROM push_subscriptions")) == 1


def test_429_retry_after_honoured_without_stalling_the_queue(push_app, as_user, world, db,
                                                             service, worker):
    service.subscribe(as_user("cadre_A"), "/push/busy")
    service.subscribe(as_user("cadre_A2"), "/push/fine")
    service.script["/push/busy"] = [(429, {"Retry-After": "1"})]
    notice = send_notice(as_user, world)
    w = worker()
    began = time.time()
    for _ in range(20):
        w.step(wait=0.2)
        if not w.in_flight:
            break
    states = {r["endpoint"].rsplit("/", 1)[1]: r for r in rows(
        db, "SELECT * FROM push_deliveries WHERE notice_id = ?", [notice["id"]])}
    assert states["fine"]["state"] == "sent"  # not held up behind the throttled one
    assert states["busy"]["state"] == "queued"
    assert states["busy"]["next_attempt_at"] >= began + 0.9
    w.run_until_idle()
    busy = db.execute("SELECT * FROM push_deliveries WHERE endpoint LIKE '%busy'").fetchone()
    attempts = rows(db, "SELECT status, retry_after FROM push_attempts WHERE delivery_id = ? "
                        "ORDER BY id", [busy[0]])
    assert attempts == [{"status": 429, "retry_after": 1.0}, {"status": 201, "retry_after": None}]
    assert db.execute("SELECT state, attempts FROM push_deliveries WHERE id = ?",
                      [busy[0]]).fetchone() == ("sent", 2)
    assert db.execute("SELECT state FROM notice_recipients WHERE notice_id = ? AND user_id = ?",
                      [notice["id"], world["cadre_A"]]).fetchone()[0] == "sent"


def test_5xx_backs_off_then_fails(push_app, as_user, world, db, service, worker):
    push_app.config.update(PUSH_MAX_ATTEMPTS=3, PUSH_RETRY_BASE_SECONDS=0.01)
    service.subscribe(as_user("cadre_A"), "/push/broken")
    service.script["/push/broken"] = [(503, {})] * 5
    notice = send_notice(as_user, world)
    worker().run_until_idle()
    delivery = rows(db, "SELECT * FROM push_deliveries WHERE notice_id = ?", [notice["id"]])[0]
    assert (delivery["state"], delivery["attempts"], delivery["last_status"]) == \
        ("failed", 3, 503)
    assert len(rows(db, "SELECT * FROM push_attempts")) == 3
    assert db.execute("SELECT state FROM notice_recipients WHERE notice_id = ? AND user_id = ?",
                      [notice["id"], world["cadre_A"]]).fetchone()[0] == "failed"


def test_worker_runs_in_the_background(push_app, as_user, world, db, worker):
    slow = FakePushService(delay=0.5).allow(push_app)  # a slow network: not the request's
    try:
        slow.subscribe(as_user("cadre_A"), "/push/slow")
        w = worker()
        w.poll = 0.05
        thread = w.start()
        began = time.perf_counter()
        notice = send_notice(as_user, world)
        assert time.perf_counter() - began < 0.4
        deadline = time.time() + 10
        while time.time() < deadline and db.execute(
                "SELECT state FROM push_deliveries WHERE notice_id = ?",
                [notice["id"]]).fetchone()[0] != "sent":
            time.sleep(0.05)
        assert slow.received and slow.received[0]["message"]["id"] == notice["id"]
        w.stop()
        thread.join(5)
        assert not thread.is_alive()
    finally:
        slow.close()


def test_unsubscribed_before_sending_is_gone(push_app, as_user, world, db, service, worker):
    cadre = as_user("cadre_A")
    body = service.subscribe(cadre, "/push/left")
    notice = send_notice(as_user, world)
    cadre.delete(f"/api/push/subscriptions?endpoint={body['endpoint']}")
    worker().run_until_idle()
    assert service.received == []
    assert db.execute("SELECT state FROM push_deliveries WHERE notice_id = ?",
                      [notice["id"]]).fetchone()[0] == "gone"



# --- health -------------------------------------------------------------------------------------

def wait_for(condition, seconds: float = 10) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "timed out waiting"
        time.sleep(0.02)


def test_health_stays_alive_during_a_slow_delivery(push_app, as_user, world, db, anon, worker,
                                                   monkeypatch):
    """/healthz read "dead" while the worker delivered: the heartbeat was rewritten in place,
    so a read between the truncation and the write found no time in it, and that moment grew
    while the senders held the CPU. It is renamed into place now, by the worker's own loop."""
    monkeypatch.setattr(push, "HEARTBEAT_SECONDS", 0.0005)  # rewritten all the time
    gate = threading.Event()
    slow = FakePushService(hold=gate).allow(push_app)  # answers when the test says so
    w, thread = worker(), None
    w.poll = 0.05
    try:
        slow.subscribe(as_user("cadre_A"), "/push/slow")
        thread = w.start()
        notice = send_notice(as_user, world)
        wait_for(lambda: slow.received)  # the send is out, and held
        health = [anon.get("/healthz").json["push"] for _ in range(200)]
        assert all(h["worker_alive"] for h in health)
        assert health[-1]["queue_depth"] == 1  # still sending
        folder = push_app.config["DATA_DIR"]
        assert all(push.worker_alive(folder) for _ in range(3000))
        gate.set()
        wait_for(lambda: db.execute("SELECT state FROM push_deliveries WHERE notice_id = ?",
                                    [notice["id"]]).fetchone()[0] == "sent")
        w.stop()
        thread.join(5)
        assert not thread.is_alive()
        assert anon.get("/healthz").json["push"]["worker_alive"] is False  # stopped: says so
    finally:
        gate.set()
        w.stop()
        if thread is not None:
            thread.join(5)
        slow.close()
