"""Push only to push services: a subscription's endpoint is a URL a user chose, and without these
rules the push worker POSTed wherever it pointed, inside the server's own network too (SSRF).

docs/push.md#where-pushes-may-go is the rule; each test here is one way around it.
"""

from __future__ import annotations

import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from helpers import Api, new_id
from test_push import FCM, FakePushService, browser_subscription, rows, send_notice

from server import create_app, push
from server.i18n import MESSAGES


class Recorder:
    """A server on 127.0.0.1 that notes every connection made to it (an HTTP request, a TLS
    hello or a bare connect alike) and answers 201: what an internal service would see."""

    def __init__(self):
        self.hits: list[tuple] = []
        recorder = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                self.send_response(201)
                self.send_header("Content-Length", "0")
                self.end_headers()

            do_GET = do_POST

            def log_message(self, *args):
                pass

        class Server(ThreadingHTTPServer):
            daemon_threads = True

            def verify_request(self, request, client_address):
                recorder.hits.append(client_address)
                return True

            def handle_error(self, request, client_address):
                pass  # a TLS hello is no HTTP request: counted, and that is enough

        self.server = Server(("127.0.0.1", 0), Handler)
        self.port = self.server.server_port
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def recorder():
    made = Recorder()
    yield made
    made.close()


@pytest.fixture
def push_app(app, monkeypatch):
    for name in ("HTTPS_PROXY", "HTTP_PROXY", "ALL_PROXY", "https_proxy", "http_proxy",
                 "all_proxy"):
        monkeypatch.delenv(name, raising=False)  # a proxy would connect for the worker
    app.config.update(PUSH_RETRY_BASE_SECONDS=0.01, PUSH_MAX_ATTEMPTS=2, PUSH_THREADS=4)
    return app


@pytest.fixture
def dns(monkeypatch):
    """Names the test makes resolve where it wants (a resolver is an outside service)."""
    answers: dict[str, list[str]] = {}
    real = socket.getaddrinfo

    def getaddrinfo(host, port, family=0, type=0, proto=0, flags=0):
        if host not in answers:
            return real(host, port, family, type, proto, flags)
        return [(socket.AF_INET6, socket.SOCK_STREAM, 6, "", (a, port, 0, 0)) if ":" in a
                else (socket.AF_INET, socket.SOCK_STREAM, 6, "", (a, port))
                for a in answers[host]]

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    return answers


def subscribe(api: Api, endpoint: str):
    """From a device of its own, so no subscription replaces another."""
    return api.post("/api/push/subscriptions", json=browser_subscription(endpoint, new_id())[0])


def count(db) -> int:
    return db.execute("SELECT count(*) FROM push_subscriptions").fetchone()[0]


# --- refused when a phone subscribes ------------------------------------------------------------

REFUSED = [
    ("https://127.0.0.1:8443/push", "push_address"),
    ("https://localhost/push", "push_service"),
    ("https://localhost:8443/push", "push_service"),
    ("https://[::1]/push", "push_address"),
    ("https://[::ffff:127.0.0.1]/push", "push_address"),
    ("https://[::ffff:7f00:1]/push", "push_address"),
    ("https://2130706433/push", "push_address"),          # 127.0.0.1 as one decimal number
    ("https://0x7f.1/push", "push_address"),              # hex, shortened
    ("https://0x7f000001/push", "push_address"),
    ("https://0177.0.0.1/push", "push_address"),          # octal
    ("https://127.1/push", "push_address"),
    ("https://10.0.0.8/push", "push_address"),
    ("https://192.168.1.1/push", "push_address"),
    ("https://169.254.169.254/latest/meta-data/", "push_address"),  # a cloud's metadata
    ("https://[fe80::1]/push", "push_address"),
    ("https://224.0.0.1/push", "push_address"),
    ("https://8.8.8.8/push", "push_address"),             # public, but no push service's name
    ("https://metadata.google.internal/computeMetadata/v1/", "push_service"),
    ("https://push.example.net/send/1", "push_service"),  # any other host
    ("https://fcm.googleapis.com.evil.example/x", "push_service"),
    ("https://evil.example/fcm.googleapis.com/fcm/send/x", "push_service"),
    ("https://x.notify.windows.com.evil.example/x", "push_service"),
    ("https://push.apple.com/x", "push_service"),         # *.push.apple.com is below it
    ("https://fcm.googleapis.com:8443/fcm/send/x", "push_service"),  # a push service's port
    ("https://fcm.googleapis.com@127.0.0.1/fcm/send/x", "push_service"),
    ("https://user:pw@fcm.googleapis.com/fcm/send/x", "push_service"),
    ("https://fcm.googleapis.com\\@127.0.0.1/x", "https"),  # parsers disagree on the host
    ("http://fcm.googleapis.com/fcm/send/x", "https"),
    ("http://127.0.0.1:8080/push", "https"),
]


@pytest.mark.parametrize(("endpoint", "rule"), REFUSED)
def test_internal_and_foreign_endpoints_are_refused_when_subscribing(as_user, db, endpoint,
                                                                     rule):
    response = subscribe(as_user("cadre_A"), endpoint)
    assert response.status_code == 422, endpoint
    assert response.json["error"]["fields"] == [
        {"path": "/endpoint", "rule": rule, "message": MESSAGES[f"rule_{rule}"][0]}]
    assert count(db) == 0


def test_the_refusal_speaks_english_on_request(as_user):
    api = as_user("cadre_A", lang="en")
    [field] = subscribe(api, "https://127.0.0.1/push").json["error"]["fields"]
    assert field["message"] == MESSAGES["rule_push_address"][1]
    [field] = subscribe(api, "https://localhost/push").json["error"]["fields"]
    assert "push service" in field["message"]


@pytest.mark.parametrize("endpoint", [
    FCM + "dXkkOsW5QMY:APA91bGhyzUl2o8ZkNdxF6T1e6sLC0i9sP8SbF3pH6tWmF2wQ",
    "https://android.googleapis.com/gcm/send/eAf2bk3xX4Q:APA91bHq",
    "https://updates.push.services.mozilla.com/wpush/v2/gAAAAABl8Y2kR0E5t4y3",
    "https://updates-autopush.stage.push.services.mozilla.com/wpush/v2/gAAAAAB",
    "https://web.push.apple.com/QGf0jUZ0r2xhBk8oF7mN3t_bH1pZKf4Jg",
    "https://api.push.apple.com/3/device/abc",
    "https://wns2-par02p.notify.windows.com/w/?token=BQYAAADf3k%2b8",
])
def test_push_service_endpoints_are_accepted(as_user, db, endpoint):
    assert subscribe(as_user("cadre_A"), endpoint).status_code == 201
    assert count(db) == 1


def test_a_deployer_adds_push_services_by_name(app, as_user, db):
    app.config["PUSH_ALLOWED_HOSTS"] = "push.example.cn, *.push.example.org"
    api = as_user("cadre_A")
    assert subscribe(api, "https://push.example.cn/send/1").status_code == 201
    assert subscribe(api, "https://eu.push.example.org/send/2").status_code == 201
    for endpoint in ("https://push.example.org/send/3",  # "*." is below the name only
                     "https://push.example.cn:8443/send/4", "http://push.example.cn/send/5"):
        assert subscribe(api, endpoint).status_code == 422, endpoint
    app.config["PUSH_ALLOWED_HOSTS"] = ["push.example.cn:8443"]  # a list works too
    assert subscribe(api, "https://push.example.cn:8443/send/6").status_code == 201
    assert count(db) == 3


@pytest.mark.parametrize("hosts", [["10.0.0.5"], "127.0.0.1:9000", ["localhost"], ["*.0x7f.1"],
                                   ["push.example.cn:99999"], ["https://push.example.cn"]])
def test_an_address_cannot_be_configured_as_a_push_service(tmp_path, hosts):
    with pytest.raises(RuntimeError, match="BAODAO_PUSH_ALLOWED_HOSTS"):
        create_app({"TESTING": True, "DATA_DIR": str(tmp_path), "SECRET_KEY": "x",
                    "PUSH_ALLOWED_HOSTS": hosts})


def test_the_test_mode_opens_only_loopback_origins_it_names(app, as_user, db):
    api = as_user("cadre_A")
    app.config["PUSH_TEST_SERVICE_ORIGINS"] = ["http://10.0.0.5:8080", "http://127.0.0.1:9001"]
    assert subscribe(api, "http://10.0.0.5:8080/push").status_code == 422
    assert subscribe(api, "http://127.0.0.1:9002/push").status_code == 422  # another port
    assert subscribe(api, "http://127.0.0.1:9001/push").status_code == 201
    assert count(db) == 1


# --- refused again by the worker ----------------------------------------------------------------

def store_subscriptions(db, user_id: int, endpoints: list[str]) -> None:
    """Rows as a server before these rules stored them."""
    with db.atomic():
        for n, endpoint in enumerate(endpoints):
            body = browser_subscription(endpoint)[0]
            db.execute("INSERT INTO push_subscriptions (user_id, device_id, endpoint, p256dh, "
                       "auth, created_at, updated_at) VALUES (?, ?, ?, ?, ?, '', '')",
                       [user_id, f"old-{n}", endpoint, body["keys"]["p256dh"],
                        body["keys"]["auth"]])


def test_a_stored_internal_endpoint_is_never_contacted(push_app, as_user, world, db, worker,
                                                       recorder, dns):
    port = recorder.port
    push_app.config["PUSH_ALLOWED_HOSTS"] = [f"push.example.cn:{port}", f"mixed.example.cn:{port}",
                                             f"v6.example.cn:{port}"]
    dns["push.example.cn"] = ["127.0.0.1"]                 # an allowed name, resolving inside
    dns["mixed.example.cn"] = ["93.184.216.34", "127.0.0.1"]  # one address inside is enough
    dns["v6.example.cn"] = ["::ffff:127.0.0.1"]
    dns["fcm.googleapis.com"] = ["10.1.2.3"]               # a poisoned resolver
    endpoints = [f"https://127.0.0.1:{port}/a", f"http://127.0.0.1:{port}/b",
                 f"https://localhost:{port}/c", f"https://2130706433:{port}/d",
                 f"https://0x7f.1:{port}/e", f"https://[::ffff:127.0.0.1]:{port}/f",
                 f"https://push.example.cn:{port}/g", f"https://mixed.example.cn:{port}/h",
                 f"https://v6.example.cn:{port}/i", FCM + "j"]
    store_subscriptions(db, world["cadre_A"], endpoints)
    notice = send_notice(as_user, world)
    worker().run_until_idle()
    assert recorder.hits == []
    deliveries = rows(db, "SELECT endpoint, state, attempts, last_error FROM push_deliveries "
                          "WHERE notice_id = ?", [notice["id"]])
    assert len(deliveries) == len(endpoints)
    resolved = {d["endpoint"]: d["last_error"] for d in deliveries}
    for endpoint in endpoints[6:]:  # names allowed, refused for what they resolve to
        assert "resolves to" in resolved[endpoint], resolved[endpoint]
    for d in deliveries:  # failed at once, not retried, and the row says why
        assert (d["state"], d["attempts"]) == ("failed", 1), d
        assert d["last_error"].startswith("refused: "), d
    assert count(db) == 0  # a refused endpoint never becomes a push service: it goes
    recipient = db.execute("SELECT state FROM notice_recipients WHERE notice_id = ? AND "
                           "user_id = ?", [notice["id"], world["cadre_A"]]).fetchone()[0]
    assert recipient == "failed"


@pytest.mark.parametrize("status", [301, 302, 307, 308])
def test_a_redirecting_push_service_is_not_followed(push_app, as_user, world, db, worker,
                                                    recorder, status):
    service = FakePushService().allow(push_app)  # the explicit test mode, for this origin only
    try:
        service.subscribe(as_user("cadre_A"), "/push/moved")
        service.script["/push/moved"] = [(status, {"Location": recorder.url("/inside")})] * 5
        notice = send_notice(as_user, world)
        worker().run_until_idle()
    finally:
        service.close()
    assert len(service.received) == 1
    assert recorder.hits == []
    delivery = rows(db, "SELECT state, attempts, last_status, last_error FROM push_deliveries "
                        "WHERE notice_id = ?", [notice["id"]])[0]
    assert (delivery["state"], delivery["attempts"], delivery["last_status"]) == \
        ("failed", 1, status)
    assert "redirect not followed" in delivery["last_error"]


@pytest.mark.parametrize("address", [
    "127.0.0.1", "127.255.0.9", "0.0.0.0", "10.0.0.1", "172.16.5.4", "192.168.0.1",
    "100.64.0.1", "169.254.169.254", "224.0.0.1", "239.255.255.250", "240.0.0.1",
    "255.255.255.255", "192.0.2.1", "198.18.0.1", "::1", "::", "fe80::1", "fc00::1",
    "fec0::1", "ff02::1", "::ffff:127.0.0.1", "::ffff:10.0.0.1", "2002:7f00:1::1",
    "64:ff9b::a00:1", "2001:db8::1", "2001:0:4136:e378:8000:63bf:f5ff:fffe"])
def test_internal_addresses(address):
    assert push.internal_address(address)


@pytest.mark.parametrize("address", ["142.250.72.10", "17.253.144.10", "2a00:1450:4001::200a",
                                     "2607:f8b0:4005:80a::200a"])
def test_public_addresses(address):
    assert not push.internal_address(address)

