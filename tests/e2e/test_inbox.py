"""Notices on the phone: the inbox (bell, urgent banner, read marks through the outbox, offline)
and the service worker's push and notification-click handlers.

Uses the demo cadres of the fourth community (13800000016-20) and its committee (13900000104),
which the other browser tests leave alone. Every demo cadre starts with one unread notice (the
automatic "new assignment" one), so counts are taken relative to the server's own inbox.
"""

from __future__ import annotations

import json
import os
import re
import socket
import sqlite3
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from browser_helpers import api_login, get, outbox_records, stop_server, ui_login, wait_until
from playwright.sync_api import expect

ROOT = Path(__file__).resolve().parents[2]

CADRE = "13800000017"
CLICK_CADRE = "13800000018"
COMMITTEE = "13900000104"


def send_notice(office, csrf, **body):
    response = office.request.post("/api/notices", headers={"X-CSRFToken": csrf}, data=body)
    assert response.status == 201, response.text()
    return response.json()["notice"]


def read_at(office, notice_id, user_id):
    report = get(office, f"/api/notices/{notice_id}")["notice"]
    return next(r for r in report["recipients"] if r["user"]["id"] == user_id)["read_at"]


def test_inbox_bell_banner_and_read_marks_online_and_offline(phone):
    office = phone()
    staff = api_login(office, COMMITTEE)
    csrf = staff["csrf_token"]

    context = phone()
    page = context.new_page()
    ui_login(page, CADRE)
    me = get(context, "/api/session")["user"]
    unread = get(context, "/api/inbox")["unread"]
    bell = page.get_by_test_id("inbox-bell")
    expect(bell).to_have_attribute("data-count", str(unread))

    # 1. A notice from the committee to its community, with a link into the app.
    plain = send_notice(office, csrf, title="明早八点核酸检测", body="请各网格干部七点半到社区集合。",
                        link="/#/tasks")
    assert any(r["user"]["id"] == me["id"] for r in plain["recipients"])
    bell.click()  # opening the inbox fetches it
    expect(page.get_by_test_id("inbox-view")).to_be_visible()
    expect(bell).to_have_attribute("data-count", str(unread + 1))
    row = page.locator(f'[data-testid="inbox-row"][data-id="{plain["id"]}"]')
    expect(row).to_have_attribute("data-read", "false")
    expect(row).to_contain_text("明早八点核酸检测")
    expect(row).to_contain_text("请各网格干部七点半到社区集合。")
    expect(row).to_contain_text(staff["user"]["name"])  # the sender
    expect(page.get_by_test_id("inbox-row").first).to_have_attribute("data-read", "false")
    expect(page.get_by_test_id("inbox-banner")).to_be_hidden()  # not urgent
    # Push is off on the demo server: the card says so instead of offering a button that fails.
    expect(page.get_by_test_id("push-card")).to_have_attribute("data-state", "server_off")
    expect(page.get_by_test_id("push-enable")).to_be_hidden()

    # 2. An urgent notice: fetched when the app becomes visible again; a banner on every screen.
    urgent = send_notice(office, csrf, title="紧急：封控通知", body="3号楼即刻封控，值守干部到岗。",
                         urgency="high")
    page.goto("/#/tasks")
    page.evaluate("document.dispatchEvent(new Event('visibilitychange'))")
    banner = page.get_by_test_id("inbox-banner")
    expect(banner).to_be_visible()
    expect(banner).to_have_attribute("data-id", urgent["id"])
    expect(banner).to_contain_text("紧急：封控通知")
    expect(bell).to_have_attribute("data-count", str(unread + 2))
    page.goto("/#/outbox")
    expect(banner).to_be_visible()
    page.screenshot(path="/tmp/inbox-banner.png")

    # Opening it from the banner marks it read (on the server too) and shows it in the inbox.
    page.get_by_test_id("inbox-banner-open").click()
    expect(page).to_have_url(re.compile(rf"#/inbox/{urgent['id']}$"))
    expect(banner).to_be_hidden()
    expect(bell).to_have_attribute("data-count", str(unread + 1))
    wait_until(page, lambda: read_at(office, urgent["id"], me["id"]), message="urgent read mark")

    # 3. Tapping the plain one marks it read and follows its link.
    page.screenshot(path="/tmp/inbox-list.png")
    row.get_by_test_id("inbox-open").click()
    expect(page).to_have_url(re.compile(r"#/tasks$"))
    expect(bell).to_have_attribute("data-count", str(unread))
    wait_until(page, lambda: read_at(office, plain["id"], me["id"]), message="plain read mark")

    # 4. Offline: the inbox opens from the phone's copy; a read mark waits in the outbox.
    later = send_notice(office, csrf, title="物资发放安排", body="下午两点在社区门口发放蔬菜包。")
    page.get_by_test_id("inbox-bell").click()
    last = page.locator(f'[data-testid="inbox-row"][data-id="{later["id"]}"]')
    expect(last).to_have_attribute("data-read", "false")
    context.set_offline(True)
    page.reload()
    expect(page.get_by_test_id("inbox-view")).to_be_visible()
    expect(last).to_have_attribute("data-read", "false")
    last.get_by_test_id("inbox-open").click()
    expect(last).to_have_attribute("data-read", "true")
    expect(last.get_by_test_id("inbox-read")).to_contain_text("待发送")
    expect(last.get_by_test_id("inbox-body")).to_have_class(re.compile(r"\bopen\b"))
    expect(bell).to_have_attribute("data-count", str(unread))
    records = outbox_records(page)
    assert [(r["type"], r["data"]) for r in records] == [("notice_read", {"notice_id": later["id"]})]
    expect(page.get_by_test_id("outbox-badge")).to_have_attribute("data-count", "1")
    assert read_at(office, later["id"], me["id"]) is None

    context.set_offline(False)  # the `online` event sends the outbox
    expect(page.get_by_test_id("outbox-badge")).to_be_hidden(timeout=20000)
    assert outbox_records(page) == []
    wait_until(page, lambda: read_at(office, later["id"], me["id"]), message="offline read mark")
    # Still read after the server's copy comes back.
    page.get_by_test_id("inbox-refresh").click()
    expect(last).to_have_attribute("data-read", "true")
    expect(last.get_by_test_id("inbox-read")).not_to_contain_text("待发送")


SW = "navigator.serviceWorker"


def service_worker(context, page):
    page.evaluate(f"{SW}.ready.then(() => true)")
    page.reload()
    page.wait_for_function(f"{SW}.controller !== null")
    workers = [w for w in context.service_workers if w.url.endswith("/sw.js")]
    assert workers, "no service worker"
    return workers[0]


def test_service_worker_push_and_notification_click(phone):
    office = phone()
    csrf = api_login(office, COMMITTEE)["csrf_token"]
    context = phone(permissions=["notifications"])
    page = context.new_page()
    ui_login(page, CLICK_CADRE)
    me = get(context, "/api/session")["user"]
    sw = service_worker(context, page)

    # A push with no payload (or one that cannot be read) still shows a notification.
    shown = sw.evaluate("""async () => {
        for (const n of await self.registration.getNotifications()) n.close();
        self.dispatchEvent(new PushEvent('push'));  // the listener itself, as the browser would
        for (let i = 0; i < 50; i++) {
            const list = await self.registration.getNotifications();
            const seen = list.map((n) => ({title: n.title, body: n.body, icon: n.icon, data: n.data}));
            if (seen.length) return seen;
            await new Promise((r) => setTimeout(r, 100));
        }
        return [];
    }""")
    assert len(shown) == 1
    assert shown[0]["title"] == "您有新通知"
    assert shown[0]["icon"].endswith("/icons/icon-192.png")
    assert shown[0]["data"]["link"] == "/#/inbox"
    shown = sw.evaluate("""async () => {
        for (const n of await self.registration.getNotifications()) n.close();
        await self.baodaoPush.onPush(new PushEvent('push', {data: 'not json {'}));
        return (await self.registration.getNotifications()).map((n) => n.title);
    }""")
    assert shown == ["您有新通知"]

    # A real notice's payload (as server/push.py builds it): its title, body and link.
    notice = send_notice(office, csrf, title="今晚值守调整", body="南门卡口改为两人一班。",
                         link="/#/outbox")
    payload = {"id": notice["id"], "title": notice["title"], "body": notice["body"],
               "link": notice["link"], "urgency": "normal"}
    shown = sw.evaluate("""async (payload) => {
        for (const n of await self.registration.getNotifications()) n.close();
        await self.baodaoPush.onPush(new PushEvent('push', {data: JSON.stringify(payload)}));
        return (await self.registration.getNotifications()).map((n) => ({
            title: n.title, body: n.body, icon: n.icon, tag: n.tag, data: n.data}));
    }""", payload)
    assert len(shown) == 1
    assert shown[0]["title"] == "今晚值守调整" and shown[0]["body"] == "南门卡口改为两人一班。"
    assert shown[0]["data"] == {"id": notice["id"], "link": "/#/outbox", "urgency": "normal"}
    assert shown[0]["icon"].endswith("/icons/icon-192.png")

    # A click focuses the open window and takes it to the link; the notice is marked read.
    page.goto("/#/tasks")
    expect(page.get_by_test_id("user-name")).to_be_visible()
    remaining = sw.evaluate("""async () => {
        const [n] = await self.registration.getNotifications();
        const click = new NotificationEvent('notificationclick', {notification: n});
        await self.baodaoPush.onNotificationClick(click);
        return (await self.registration.getNotifications()).length;
    }""")
    assert remaining == 0  # closed
    expect(page).to_have_url(re.compile(r"/#/outbox$"))
    expect(page.get_by_test_id("outbox-count")).to_be_visible()
    wait_until(page, lambda: read_at(office, notice["id"], me["id"]), message="read by click")

    # Links are paths in this app only: anything else opens the inbox at the notice.
    links = sw.evaluate("""() => ['https://evil.example/', '//evil.example', '/\\\\evil', 'javascript:x',
                                  '/', '/#/tasks', null].map((l) => self.baodaoPush.inAppLink(l, 'n1'))""")
    assert links == ["/#/inbox/n1"] * 5 + ["/#/tasks", "/#/inbox/n1"]


# --- Web Push subscription: a server with push on, and a browser whose push service is faked ---
# Headless Chromium here has no push service (no FCM), so PushManager.subscribe is replaced by a
# fake that keeps its subscription in localStorage, as a browser keeps it across app starts. The
# keys are a real P-256 pair, so the server accepts them as it would a phone's.

FAKE_PUSH = """(() => {
  const KEYS = %s;
  const b64 = (bytes) => btoa(String.fromCharCode(...new Uint8Array(bytes)))
    .replace(/\\+/g, '-').replace(/\\//g, '_').replace(/=+$/, '');
  const raw = (s) => Uint8Array.from(atob(s.replace(/-/g, '+').replace(/_/g, '/')), (c) => c.charCodeAt(0));
  const log = (what) => {
    const l = JSON.parse(localStorage.getItem('fake.push.log') || '[]');
    l.push(what);
    localStorage.setItem('fake.push.log', JSON.stringify(l));
  };
  const sub = (saved) => saved && {
    endpoint: saved.endpoint,
    options: { userVisibleOnly: true, applicationServerKey: raw(saved.key).buffer },
    toJSON() { return { endpoint: saved.endpoint, expirationTime: null, keys: KEYS }; },
    unsubscribe() {
      log('unsubscribe');
      localStorage.removeItem('fake.push.sub');
      return Promise.resolve(true);
    },
  };
  PushManager.prototype.subscribe = function (options) {
    const saved = { endpoint: 'https://fcm.googleapis.com/fcm/send/' + Math.random().toString(36).slice(2),
                    key: b64(options.applicationServerKey) };
    localStorage.setItem('fake.push.sub', JSON.stringify(saved));
    log('subscribe:' + saved.key);
    return Promise.resolve(sub(saved));
  };
  PushManager.prototype.getSubscription = function () {
    return Promise.resolve(sub(JSON.parse(localStorage.getItem('fake.push.sub') || 'null')));
  };
})();"""


def _browser_keys() -> dict:
    import base64

    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    def b64(data: bytes) -> str:
        return base64.urlsafe_b64encode(data).rstrip(b"=").decode()

    point = ec.generate_private_key(ec.SECP256R1()).public_key().public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)
    return {"p256dh": b64(point), "auth": b64(os.urandom(16))}


@pytest.fixture(scope="module")
def push_server(tmp_path_factory):
    """`run.py --demo` with push turned on (a real contact address), its data folder."""
    data = tmp_path_factory.mktemp("push-data")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**os.environ, "BAODAO_DATA": str(data), "BAODAO_VAPID_SUB": "mailto:ops@baodao-demo.cn"}
    log = open(data / "server.log", "w")  # noqa: SIM115 - closed below
    process = subprocess.Popen(
        [sys.executable, "run.py", "--demo", "--port", str(port), "--workers", "1",
         "--no-push-worker"], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            with urllib.request.urlopen(base + "/api/push/key", timeout=2) as response:
                key = json.load(response)
                break
        except OSError:
            pass
        if process.poll() is not None or time.monotonic() > deadline:
            log.close()
            pytest.fail("server did not start:\n" + (data / "server.log").read_text())
        time.sleep(0.3)
    assert key["enabled"], key
    yield base, data, key["public_key"]
    stop_server(process)
    log.close()


def _subscriptions(data, user_id):
    with sqlite3.connect(data / "baodao.db") as db:
        return db.execute("SELECT device_id, endpoint FROM push_subscriptions WHERE user_id = ?",
                          [user_id]).fetchall()


def test_push_enable_reregister_key_change_and_logout(browser, push_server):
    base, data, public_key = push_server
    context = browser.new_context(base_url=base, viewport={"width": 360, "height": 740},
                                  is_mobile=True, has_touch=True, locale="zh-CN",
                                  permissions=["notifications"])
    try:
        context.add_init_script(FAKE_PUSH % json.dumps(_browser_keys()))
        page = context.new_page()
        ui_login(page, CADRE)
        me = get(context, "/api/session")["user"]
        fake_log = lambda: page.evaluate("JSON.parse(localStorage.getItem('fake.push.log') || '[]')")  # noqa: E731

        # Never asked on load: only the tap on 开启通知 subscribes.
        page.get_by_test_id("inbox-bell").click()
        card = page.get_by_test_id("push-card")
        expect(card).to_have_attribute("data-state", "off")
        assert fake_log() == [] and _subscriptions(data, me["id"]) == []
        page.get_by_test_id("push-enable").click()
        expect(card).to_have_attribute("data-state", "on")
        assert fake_log() == [f"subscribe:{public_key}"]
        device = page.evaluate("localStorage.getItem('baodao.device_id')")
        assert device and [s[0] for s in _subscriptions(data, me["id"])] == [device]

        # Every app start registers the same subscription again (no new one).
        with page.expect_response(lambda r: r.url.endswith("/api/push/subscriptions")
                                  and r.request.method == "POST") as answer:
            page.reload()
        assert answer.value.status == 200  # known endpoint: updated
        assert fake_log() == [f"subscribe:{public_key}"]

        # The server's key changed (rotated) while the page held the old one: 409
        # push_key_changed, then unsubscribe and subscribe again with the key the server names.
        page.evaluate("localStorage.removeItem('fake.push.log')")
        page.get_by_test_id("push-disable").click()
        expect(card).to_have_attribute("data-state", "off")
        assert _subscriptions(data, me["id"]) == []
        old_key = _browser_keys()["p256dh"]  # some other P-256 key, as a rotated-away one
        page.route("**/api/push/key", lambda route: route.fulfill(
            json={"enabled": True, "public_key": old_key, "reason": None}))
        statuses = []
        page.on("response", lambda r: statuses.append(r.status)
                if r.url.endswith("/api/push/subscriptions") else None)
        page.get_by_test_id("push-enable").click()
        expect(card).to_have_attribute("data-state", "on")
        assert statuses == [409, 201]
        assert fake_log() == ["unsubscribe", f"subscribe:{old_key}", "unsubscribe",
                              f"subscribe:{public_key}"]
        page.unroute("**/api/push/key")
        assert [s[0] for s in _subscriptions(data, me["id"])] == [device]

        # Logging out sends the device id: the server drops this phone's subscription.
        page.get_by_test_id("logout").click()
        expect(page.get_by_test_id("login-phone")).to_be_visible()
        assert _subscriptions(data, me["id"]) == []
    finally:
        context.close()
