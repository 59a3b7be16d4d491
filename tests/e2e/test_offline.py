"""The phone without a network: records go to the IndexedDB outbox first and reach the server once.

Each test logs in a different demo cadre of 和平社区, because the live server is shared by the
whole session and a second check-in at the same place within 30 minutes is a repeat scan.
"""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime, timedelta

from browser_helpers import DEMO_PASSWORD, OUTBOX, api_login, go_offline, outbox_records, wait_until
from playwright.sync_api import expect

COMMITTEE = "13900000101"  # 和平社区居委会
HERE = {"latitude": 39.9087, "longitude": 116.3975}  # no 5-second wait for a position


def heping_posters(phone):
    """The posters of 和平社区, as its committee prints them: (community poster, checkpoint posters)."""
    office = phone()
    me = api_login(office, COMMITTEE)
    posters = office.request.get(f"/api/places/{me['user']['place']['id']}/posters").json()["posters"]
    community = next(p for p in posters if p["checkpoint"] is None)
    gates = [p for p in posters if p["checkpoint"] is not None]
    return community, gates


def new_phone(phone):
    context = phone(permissions=["geolocation"], geolocation=HERE)
    return context, context.new_page()


def ui_login(page, number):
    page.get_by_test_id("login-phone").fill(number)
    page.get_by_test_id("login-password").fill(DEMO_PASSWORD)
    page.get_by_test_id("login-submit").click()


def my_checkins(context):
    response = context.request.get("/api/checkins/mine")
    assert response.ok, response.text()
    return response.json()["checkins"]


def csrf(context):
    return context.request.get("/api/session").json()["csrf_token"]


def install_for_offline(page):
    """One visit online: the service worker takes the page and the posters are on the phone."""
    page.evaluate("navigator.serviceWorker.ready.then(() => true)")
    page.reload()
    page.wait_for_function("navigator.serviceWorker.controller !== null")
    wait_until(page, lambda: page.evaluate(
        f"{OUTBOX}.then((m) => m.getOffline('posters')).then((c) => (c ? c.items.length : 0))") >= 3,
        message="the posters cached on the phone")


def test_offline_checkins_are_saved_and_sent_once_back_online(phone):
    community, gates = heping_posters(phone)
    context, page = new_phone(phone)
    page.goto("/")
    ui_login(page, "13800000004")
    expect(page.get_by_test_id("my-checkins")).to_be_visible()
    install_for_offline(page)

    context.set_offline(True)
    page.reload()
    expect(page.get_by_test_id("user-name")).to_be_visible()  # the app opens, logged in
    # The network is really gone for the page: a file outside the shell cannot be fetched.
    assert page.evaluate("fetch('/poster.css').then(() => 'online', () => 'offline')") == "offline"

    page.goto(community["url"])
    expect(page.get_by_test_id("place-name")).to_contain_text("和平社区")
    expect(page.get_by_test_id("offline-place")).to_be_visible()
    page.get_by_test_id("checkin-button").click()
    expect(page.get_by_test_id("saved-offline")).to_be_visible()
    expect(page.get_by_test_id("checkin-success")).to_have_count(0)

    # The manual code works offline too, against the posters the phone knows.
    gate = gates[0]
    page.goto("/#/")
    page.get_by_test_id("manual-code").fill(gate["manual_code"])
    page.get_by_test_id("manual-code-submit").click()
    expect(page.get_by_test_id("checkpoint-name")).to_contain_text(gate["checkpoint"]["name"])
    page.get_by_test_id("checkin-button").click()
    expect(page.get_by_test_id("saved-offline")).to_be_visible()

    badge = page.get_by_test_id("outbox-badge")
    expect(badge).to_have_attribute("data-count", "2")
    # "我的记录" lists the cached history plus the two waiting check-ins, marked.
    page.get_by_test_id("home-link").click()
    expect(page.get_by_test_id("checkin-row")).to_have_count(2)
    expect(page.get_by_test_id("badge-pending")).to_have_count(2)

    # A poster the phone does not know still opens through the cached shell, "verified online".
    page.goto("/c/not-a-known-token")
    expect(page.get_by_test_id("verify-later")).to_be_visible()

    badge.click()
    expect(page.get_by_test_id("outbox-view")).to_be_visible()
    rows = page.get_by_test_id("outbox-row")
    expect(rows).to_have_count(2)
    for i in range(2):
        expect(rows.nth(i)).to_have_attribute("data-state", "waiting")
    waiting = sorted(r["id"] for r in outbox_records(page))
    assert len(waiting) == 2

    context.set_offline(False)  # the `online` event sends
    expect(badge).to_be_hidden(timeout=20000)
    expect(rows).to_have_count(0)
    assert outbox_records(page) == []
    stored = my_checkins(context)
    assert sorted(c["id"] for c in stored) == waiting
    assert {c["checkpoint"]["name"] if c["checkpoint"] else None for c in stored} \
        == {None, gate["checkpoint"]["name"]}

    # Sending again changes nothing: the outbox is empty and the server still holds exactly two.
    page.get_by_test_id("outbox-send-now").click()
    expect(page.get_by_test_id("outbox-count")).to_contain_text("所有记录都已发送")
    assert len(my_checkins(context)) == 2


def add_records(page, records):
    """Puts records straight into the outbox, as captures would, without sending them."""
    return page.evaluate(
        """async (records) => {
            const [m, a] = await Promise.all([import('/outbox.js'), import('/api.js')]);
            for (const r of records) {
                await m.add({ id: r.id || a.uuid(), type: r.type, recorded_at: r.recorded_at || a.localIso(),
                              data: r.data, user_id: a.state.user.id, meta: { place_name: r.place || '' } });
            }
            return (await m.list()).map((r) => r.id);
        }""", records)


def test_mixed_batch_keeps_exactly_the_bad_records(phone):
    community, gates = heping_posters(phone)
    context, page = new_phone(phone)
    page.goto("/")
    ui_login(page, "13800000005")
    expect(page.get_by_test_id("my-checkins")).to_be_visible()

    # An earlier record of this cadre, already on the server (sent from another phone, say).
    earlier_id = str(uuid.uuid4())
    earlier_at = (datetime.now(UTC) - timedelta(hours=2)).isoformat(timespec="seconds")
    answer = context.request.post("/api/sync", headers={"X-CSRFToken": csrf(context)}, data={
        "device_id": "other-phone", "records": [{
            "id": earlier_id, "type": "checkin", "recorded_at": earlier_at,
            "data": {"token": gates[1]["token"]}}]})
    assert answer.json()["results"][0]["status"] == "created", answer.text()

    page.goto("/#/outbox")
    go_offline(page)  # nothing is sent while the three are put in
    valid_id = str(uuid.uuid4())
    forged_id = str(uuid.uuid4())
    add_records(page, [
        {"id": valid_id, "type": "checkin", "data": {"token": community["token"]}, "place": "和平社区"},
        {"id": forged_id, "type": "checkin", "data": {"token": "forged-token"}, "place": "?"},
        # The same id as the stored record, other content: a conflict, never an overwrite.
        {"id": earlier_id, "type": "checkin", "data": {"token": gates[0]["token"]}, "place": "南门"},
    ])
    expect(page.get_by_test_id("outbox-badge")).to_have_attribute("data-count", "3")
    context.set_offline(False)
    page.get_by_test_id("outbox-send-now").click()

    rows = page.get_by_test_id("outbox-row")
    expect(rows).to_have_count(2)
    expect(page.get_by_test_id("outbox-badge")).to_have_attribute("data-count", "2")
    invalid = page.locator(f'[data-testid="outbox-row"][data-id="{forged_id}"]')
    conflict = page.locator(f'[data-testid="outbox-row"][data-id="{earlier_id}"]')
    expect(invalid).to_have_attribute("data-state", "invalid")
    expect(conflict).to_have_attribute("data-state", "conflict")
    kept = {r["id"]: r for r in outbox_records(page)}
    assert set(kept) == {forged_id, earlier_id}
    message = kept[forged_id]["errors"][0]["message"]
    assert message
    expect(invalid.get_by_test_id("outbox-errors")).to_contain_text(message)
    # Both versions side by side: the phone's place and the server's.
    expect(conflict.get_by_test_id("conflict-phone")).to_contain_text("南门")
    expect(conflict.get_by_test_id("conflict-server")).to_contain_text(gates[1]["checkpoint"]["name"])

    stored = {c["id"]: c for c in my_checkins(context)}
    assert set(stored) == {valid_id, earlier_id}
    assert stored[earlier_id]["checkpoint"]["name"] == gates[1]["checkpoint"]["name"]  # untouched

    # Rejected records leave only when the user discards them, one at a time, after a question.
    page.once("dialog", lambda dialog: dialog.dismiss())
    invalid.get_by_test_id("outbox-discard").click()
    expect(rows).to_have_count(2)
    page.once("dialog", lambda dialog: dialog.accept())
    invalid.get_by_test_id("outbox-discard").click()
    expect(rows).to_have_count(1)
    expect(conflict).to_be_visible()
    # A send now neither removes nor re-sends the conflicting one.
    page.get_by_test_id("outbox-send-now").click()
    expect(page.get_by_test_id("outbox-status")).to_contain_text("发送完成")
    expect(conflict).to_have_attribute("data-state", "conflict")


V1_DATABASE = """async (records) => {
    // The database as the first outbox version left it: version 1, records without created_at.
    const db = await new Promise((resolve, reject) => {
        const req = indexedDB.open('baodao', 1);
        req.onupgradeneeded = () => {
            req.result.createObjectStore('outbox', { keyPath: 'id' });
            req.result.createObjectStore('offline', { keyPath: 'name' });
        };
        req.onsuccess = () => resolve(req.result);
        req.onerror = () => reject(req.error);
    });
    await new Promise((resolve, reject) => {
        const tx = db.transaction('outbox', 'readwrite');
        for (const r of records) tx.objectStore('outbox').put(r);
        tx.oncomplete = resolve;
        tx.onerror = () => reject(tx.error);
    });
    db.close();
    return db.version;
}"""

DB_LAYOUT = """() => new Promise((resolve, reject) => {
    const req = indexedDB.open('baodao');
    req.onsuccess = () => {
        const db = req.result;
        const out = { version: db.version, stores: [...db.objectStoreNames],
                      indexes: [...db.transaction('outbox').objectStore('outbox').indexNames] };
        db.close();
        resolve(out);
    };
    req.onerror = () => reject(req.error);
})"""


def test_outbox_survives_an_indexeddb_upgrade(phone):
    community, gates = heping_posters(phone)
    context, page = new_phone(phone)
    # A page of the origin where the app does not run: the old app version's database.
    page.goto("/manifest.webmanifest")
    now = datetime.now().astimezone()
    old = [
        {"id": str(uuid.uuid4()), "type": "checkin", "state": "waiting", "attempts": 1,
         "recorded_at": (now - timedelta(minutes=m)).isoformat(timespec="seconds"),
         "data": {"token": token}}
        for m, token in ((20, community["token"]), (10, gates[0]["token"]))]
    assert page.evaluate(V1_DATABASE, old) == 1

    # The new app version opens it: onupgradeneeded migrates 1 -> 2 and keeps every record.
    page.goto("/")
    expect(page.get_by_test_id("login-phone")).to_be_visible()
    layout = page.evaluate(DB_LAYOUT)
    assert layout["version"] == 2
    assert set(layout["stores"]) == {"outbox", "offline"}
    assert "created_at" in layout["indexes"]
    kept = outbox_records(page)
    assert sorted(r["id"] for r in kept) == sorted(r["id"] for r in old)
    assert all(r["state"] == "waiting" and r["created_at"] for r in kept)
    # WebKit drops IndexedDB connections under memory pressure: the next transaction reopens.
    page.evaluate(f"{OUTBOX}.then((m) => m._dropConnection())")
    assert len(outbox_records(page)) == 2

    ui_login(page, "13800000001")
    expect(page.get_by_test_id("user-name")).to_be_visible()
    wait_until(page, lambda: outbox_records(page) == [], timeout=20, message="the outbox sent after login")
    expect(page.get_by_test_id("outbox-badge")).to_be_hidden()
    assert sorted(c["id"] for c in my_checkins(context)) == sorted(r["id"] for r in old)

    # A newer version in another tab needs the database: this page lets go and asks for a reload.
    page.evaluate("""() => new Promise((resolve, reject) => {
        const req = indexedDB.open('baodao', 3);
        req.onsuccess = () => { req.result.close(); resolve(true); };
        req.onerror = () => reject(req.error);
        req.onblocked = () => reject(new Error('blocked: the app did not close its connection'));
    })""")
    expect(page.get_by_test_id("storage-reload")).to_be_visible()
    # After the reload this (older) app still uses the newer database rather than losing it.
    page.get_by_test_id("storage-reload").click()
    expect(page.get_by_test_id("my-checkins")).to_be_visible()
    assert page.evaluate(f"{OUTBOX}.then((m) => m.isDurable())") is True
    assert page.evaluate(DB_LAYOUT)["version"] == 3


def test_logged_out_mid_way_keeps_the_outbox_and_resumes_after_login(phone):
    community, gates = heping_posters(phone)
    context, page = new_phone(phone)
    page.goto("/")
    ui_login(page, "13800000003")
    expect(page.get_by_test_id("my-checkins")).to_be_visible()
    install_for_offline(page)

    context.set_offline(True)
    page.goto(gates[1]["url"])
    expect(page.get_by_test_id("checkpoint-name")).to_contain_text(gates[1]["checkpoint"]["name"])
    page.get_by_test_id("checkin-button").click()
    expect(page.get_by_test_id("saved-offline")).to_be_visible()
    waiting = [r["id"] for r in outbox_records(page)]
    assert len(waiting) == 1

    # The session ends on the server (expired, or logged out elsewhere) while the record waits.
    token = csrf(context)
    assert context.request.delete("/api/session", headers={"X-CSRFToken": token}).ok
    context.set_offline(False)
    overlay = page.get_by_test_id("login-overlay")
    expect(overlay).to_be_visible(timeout=20000)
    kept = outbox_records(page)
    assert [r["id"] for r in kept] == waiting and kept[0]["state"] == "waiting"
    expect(page.get_by_test_id("outbox-badge")).to_have_attribute("data-count", "1")

    overlay.get_by_test_id("login-phone").fill("13800000003")
    overlay.get_by_test_id("login-password").fill(DEMO_PASSWORD)
    overlay.get_by_test_id("login-submit").click()
    expect(overlay).to_have_count(0)
    expect(page.get_by_test_id("outbox-badge")).to_be_hidden(timeout=20000)
    assert waiting[0] in {c["id"] for c in my_checkins(context)}


def test_server_trouble_keeps_everything_and_a_lost_answer_is_not_doubled(phone):
    """503 + Retry-After, 413 (batch halved), and an answer lost after the server committed."""
    office = phone()
    me = api_login(office, "13900000102")  # 光明社区居委会
    posters = office.request.get(f"/api/places/{me['user']['place']['id']}/posters").json()["posters"]
    community = next(p for p in posters if p["checkpoint"] is None)
    gate = next(p for p in posters if p["checkpoint"] is not None)
    # No service worker here: page.route must see the page's own requests.
    context = phone(permissions=["geolocation"], geolocation=HERE, service_workers="block")
    page = context.new_page()

    calls = []

    def answer(route):
        calls.append((time.monotonic(), len(route.request.post_data_json["records"])))
        if len(calls) == 1:
            route.fulfill(status=503, headers={"Retry-After": "1"},
                          json={"error": {"code": "unavailable", "message": "busy"}})
        elif len(calls) == 2:
            route.fulfill(status=413, json={"error": {"code": "too_large", "limits": {"max_records": 1}}})
        elif len(calls) == 3:
            response = route.fetch()  # the server stores it...
            assert response.ok
            route.abort("connectionreset")  # ...and the answer never reaches the phone
        else:
            route.continue_()

    page.route("**/api/sync", answer)
    page.goto("/")
    ui_login(page, "13800000006")
    expect(page.get_by_test_id("my-checkins")).to_be_visible()
    page.goto("/#/outbox")
    # Offline while the three records are put in, so that one batch holds all of them.
    go_offline(page)
    first = str(uuid.uuid4())
    ids = add_records(page, [
        {"id": first, "type": "checkin", "data": {"token": community["token"]}, "place": "光明社区"},
        {"type": "checkin", "data": {"token": gate["token"]}, "place": "东门"},
        {"type": "checkout", "data": {"checkin_id": first}, "place": "光明社区"},
    ])
    expect(page.get_by_test_id("outbox-row")).to_have_count(3)
    assert calls == []
    context.set_offline(False)  # the `online` event sends

    wait_until(page, lambda: len(calls) >= 3, message="503, 413 and the lost answer")
    assert len(outbox_records(page)) == 3  # none of it removed
    wait_until(page, lambda: outbox_records(page) == [], timeout=20, message="the retry after back-off")
    sizes = [n for _, n in calls]
    assert sizes[:3] == [3, 3, 1]  # 413: the batch halved (to 1 here)
    assert calls[1][0] - calls[0][0] >= 0.9  # Retry-After honoured
    expect(page.get_by_test_id("outbox-badge")).to_be_hidden()

    stored = my_checkins(context)
    assert sorted(c["id"] for c in stored) == sorted(i for i in ids if i != ids[2])
    by_id = {c["id"]: c for c in stored}
    assert by_id[first]["checkout"]["id"] == ids[2]  # the check-out went through once, after its check-in
