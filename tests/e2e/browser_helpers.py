"""What the browser tests share: logging in (by the API or the form), JSON reads, waiting
through the page, the phone's outbox, and the no-sideways-scrolling check."""

from __future__ import annotations

import contextlib
import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import expect

ROOT = Path(__file__).resolve().parents[2]

DEMO_PASSWORD = "demo1234"
OUTBOX = "import('/outbox.js')"  # the PWA's own outbox module, evaluated in the page


def api_login(context, phone):
    response = context.request.post("/api/session",
                                    data={"phone": phone, "password": DEMO_PASSWORD})
    assert response.ok, response.text()
    return response.json()


def get(context, url):
    response = context.request.get(url)
    assert response.ok, response.text()
    return response.json()


def ui_login(page, phone):
    """Log in through the form on the app's start page, as a user would."""
    page.goto("/")
    page.get_by_test_id("login-phone").fill(phone)
    page.get_by_test_id("login-password").fill(DEMO_PASSWORD)
    page.get_by_test_id("login-submit").click()
    expect(page.get_by_test_id("user-name")).to_be_visible()


def wait_until(page, check, timeout=15.0, message="condition"):
    """Polls check(); waits through the page so Playwright keeps handling events (routes)."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {message}")
        page.wait_for_timeout(200)


def outbox_records(page):
    return page.evaluate(f"{OUTBOX}.then((m) => m.list())")


def offline_copy(page, name):
    return page.evaluate(f"{OUTBOX}.then((m) => m.getOffline('{name}'))")


def fits(page, width=360):
    """Nothing wider than the phone's screen (no sideways scrolling)."""
    assert page.evaluate("document.documentElement.scrollWidth") <= width


def go_offline(page):
    """Cuts the phone's network and waits until the page itself knows it: Chromium tells the
    renderer a moment after set_offline returns, and a record put in meanwhile is sent."""
    page.context.set_offline(True)
    page.wait_for_function("() => navigator.onLine === false")


def stop_server(process) -> None:
    """SIGTERM, then SIGKILL if gunicorn's graceful stop (which waits for open keep-alive
    connections) outlasts 30 s, as it can on a loaded machine once the tests are done."""
    process.terminate()
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def demo_server(data: Path, **env: str) -> Iterator[str]:
    """`python run.py --demo` (one worker) on a free port with its data in `data` and the
    BAODAO_* settings in `env`; yields the base URL once /healthz says ok, stops it after."""
    port = free_port()
    log = open(data / "server.log", "w")  # noqa: SIM115 - closed below
    process = subprocess.Popen(
        [sys.executable, "run.py", "--demo", "--port", str(port), "--workers", "1"],
        cwd=ROOT, env={**os.environ, "BAODAO_DATA": str(data), **env}, stdout=log,
        stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    try:
        while True:
            try:
                with urllib.request.urlopen(base + "/healthz", timeout=2) as response:
                    if json.load(response)["status"] == "ok":
                        break
            except OSError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                pytest.fail("server did not start:\n" + (data / "server.log").read_text())
            time.sleep(0.3)
        yield base
    finally:
        stop_server(process)
        log.close()
