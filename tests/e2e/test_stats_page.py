"""End-to-end: the stats page in a real browser (headless Chromium driven by Selenium through
Debian's chromedriver), from a running demo-like l7lb.

The page must show the servers and their states, count requests as they happen (it refreshes
itself), and with the token drain a server through the POST API. A screenshot is saved
(``L7LB_STATS_SCREENSHOT=PATH`` copies it there: that is how docs/stats-page.png is made).
"""

from __future__ import annotations

import http.client
import json
import os
import shutil
import socket
import ssl
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from procs import Backend, free_port, start_proxy, wait_port

from l7lb.tls.certtool import certs_main

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
TOKEN = "stats-page-token-0123456789abcdef"

webdriver: Any = None
try:
    from selenium import webdriver  # type: ignore[no-redef]
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By
except ImportError:  # pragma: no cover - the test extra installs it
    pass


def _browser_missing() -> str:
    if webdriver is None:
        return "selenium is not installed (pip install -e '.[test]')"
    for path in (CHROMIUM, CHROMEDRIVER):
        if not os.access(path, os.X_OK):
            return f"{path} is missing (apt-get install chromium chromium-driver)"
    return ""


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[Any]:
    missing = _browser_missing()
    if missing:
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI must run the browser test: {missing}")
        pytest.skip(missing)
    options = Options()
    options.binary_location = CHROMIUM
    for arg in (
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--window-size=1500,900",
        f"--user-data-dir={tmp_path / 'chromium-profile'}",
    ):
        options.add_argument(arg)
    # the driver is Debian's: Selenium must not look for (or download) one of its own
    os.environ["SE_OFFLINE"] = "true"
    driver = webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(30)
    try:
        yield driver
    finally:
        driver.quit()


def wait_for(what: str, check: Callable[[], Any], timeout: float = 20.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        try:
            result = check()
        except Exception:  # the DOM is rebuilt every refresh: an element may go stale
            result = None
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.2)


def demo_config(port: int, tls_port: int, admin: int, backends: list[Backend], tmp: Path) -> str:
    token = tmp / "admin.token"
    token.write_text(TOKEN + "\n")
    token.chmod(0o600)
    base = tmp / "localhost"
    assert certs_main(["new", "--cn", "localhost", "--self-signed", "--out", str(base)]) == 0
    servers = "".join(
        f'[[pool.demo.server]]\nname = "{b.name}"\naddress = "{b.address}"\n'
        + ("weight = 2\n" if i == 0 else "")
        for i, b in enumerate(backends)
    )
    return f"""
[admin]
listen = "127.0.0.1:{admin}"
token_file = "{token}"
[[vip]]
name = "http"
listen = ["127.0.0.1:{port}"]
[[vip.route]]
pool = "demo"
[[vip]]
name = "https"
listen = ["127.0.0.1:{tls_port}"]
tls = {{ certificates = [{{ cert = "{base}.pem", key = "{base}.key" }}] }}
[[vip.route]]
pool = "demo"
[pool.demo]
scheduler = "wrr"
[pool.demo.persistence]
mode = "cookie"
secret = "stats-page-test-secret-0123456789"
[pool.demo.health]
check = "http"
interval = "1s"
{servers}"""


def cell(driver: Any, selector: str) -> str:
    return str(driver.find_element(By.CSS_SELECTOR, selector).text)


def api_state(admin: int, server: str) -> str:
    c = http.client.HTTPConnection("127.0.0.1", admin, timeout=10)
    try:
        c.request("GET", "/api/servers")
        rows = json.loads(c.getresponse().read())["servers"]
    finally:
        c.close()
    return str(next(r["state"] for r in rows if r["server"] == server))


def test_stats_page_in_chromium(browser: Any, tmp_path: Path, backends: list[Backend]) -> None:
    port, tls_port, admin = free_port(), free_port(), free_port()
    proxy = start_proxy(
        tmp_path, demo_config(port, tls_port, admin, backends, tmp_path), port, workers=2
    )
    try:
        wait_port(admin)
        browser.get(f"http://127.0.0.1:{admin}/")
        assert browser.title == "l7lb statistics"
        names = [b.name for b in backends]
        for name in names:  # every server, up once its first check passed
            wait_for(
                f"{name} up",
                lambda name=name: cell(browser, f'tr[data-server="{name}"] td.state') == "up",
            )
        assert cell(browser, 'tr[data-vip="https"] td.resumption') in ("-", "0.0 %")
        # no token: no actions
        assert browser.find_elements(By.CSS_SELECTOR, "button.drain") == []

        before = int(cell(browser, 'tr[data-vip="http"] td.requests').replace(",", ""))
        for _ in range(7):
            c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
            c.request("GET", "/")
            assert c.getresponse().status == 200
            c.close()
        wait_for(
            "the request counter to rise by 7",
            lambda: (
                int(cell(browser, 'tr[data-vip="http"] td.requests').replace(",", "")) == before + 7
            ),
        )
        per_server = sum(
            int(cell(browser, f'tr[data-server="{n}"] td.requests').replace(",", "")) for n in names
        )
        assert per_server >= before + 7
        assert cell(browser, f'tr[data-server="{names[0]}"] td.weight') == "2"
        assert cell(browser, f'tr[data-server="{names[0]}"] td.last-check').startswith("up, ")
        assert "none" in cell(browser, "#store")

        # TLS: 2 full handshakes, then 2 resumed by session id: a resumption ratio of 50 %
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.check_hostname, ctx.verify_mode = False, ssl.CERT_NONE
        ctx.maximum_version = ssl.TLSVersion.TLSv1_2
        ctx.options |= ssl.OP_NO_TICKET
        session = None
        for i in range(4):
            raw = socket.create_connection(("127.0.0.1", tls_port), timeout=10)
            with ctx.wrap_socket(raw, server_hostname="localhost", session=session) as t:
                t.sendall(b"GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
                while t.recv(65536):
                    pass
                assert t.session_reused == (i >= 2)
                if i == 1:
                    session = t.session
        wait_for(
            "the resumption ratio",
            lambda: cell(browser, 'tr[data-vip="https"] td.resumption') == "50.0 %",
        )
        assert cell(browser, 'tr[data-vip="https"] td.handshakes') == "4"

        # the token: action buttons appear; drain one server, with a deadline another
        browser.find_element(By.ID, "token").send_keys(TOKEN)
        browser.find_element(By.ID, "token-set").click()
        target, timed = names[1], names[2]
        wait_for(
            "the drain button",
            lambda: browser.find_elements(
                By.CSS_SELECTOR, f'tr[data-server="{target}"] button.drain'
            ),
        )
        browser.find_element(By.CSS_SELECTOR, f'tr[data-server="{target}"] button.drain').click()
        wait_for(
            f"{target} draining on the page",
            lambda: cell(browser, f'tr[data-server="{target}"] td.state') == "drain",
        )
        assert api_state(admin, target) == "drain"
        assert cell(browser, "#message") == f"pool demo server {target}: drain"

        deadline = browser.find_element(
            By.CSS_SELECTOR, f'tr[data-server="{timed}"] input.deadline'
        )
        deadline.send_keys("10m")
        browser.find_element(By.CSS_SELECTOR, f'tr[data-server="{timed}"] button.drain').click()
        wait_for(
            f"{timed} draining with a deadline",
            lambda: (
                cell(browser, f'tr[data-server="{timed}"] td.left') in ("10m00s", "9m59s", "9m58s")
            ),
        )
        assert api_state(admin, timed) == "drain"

        shot = tmp_path / "stats-page.png"
        assert browser.save_screenshot(str(shot)) and shot.stat().st_size > 10_000
        if os.environ.get("L7LB_STATS_SCREENSHOT"):
            shutil.copy(shot, os.environ["L7LB_STATS_SCREENSHOT"])

        # and back: ready from the page
        browser.find_element(By.CSS_SELECTOR, f'tr[data-server="{target}"] button.ready').click()
        wait_for(f"{target} ready", lambda: api_state(admin, target) == "up")
    finally:
        proxy.stop()
