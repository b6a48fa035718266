"""End-to-end: drain with a deadline, on a real l7lb with two workers and 200 cookie clients.

Before the deadline the clients stuck to the drained server keep it and no new client goes
there; after it, each of them is moved to another server by its next request, with a fresh
cookie and no error, and its next request lands on the new server. ``show servers`` shows
the sticky clients and the time left.
"""

from __future__ import annotations

import http.client
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

from procs import ROOT, Backend, free_port, start_proxy

CLIENTS = 200
DEADLINE = 5.0


class Client:
    """A cookie jar with one cookie: l7lb's."""

    def __init__(self) -> None:
        self.cookie = ""
        self.server = ""

    def get(self, port: int) -> tuple[int, str, bool]:
        """One request on a new connection: (status, server, whether a cookie was set)."""
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        try:
            headers = {"Cookie": self.cookie} if self.cookie else {}
            c.request("GET", "/", headers=headers)
            r = c.getresponse()
            body = r.read().decode().strip()
            set_cookie = r.getheader("Set-Cookie")
        finally:
            c.close()
        if set_cookie:
            self.cookie = set_cookie.split(";", 1)[0]
        self.server = body
        return r.status, body, set_cookie is not None


def admin(sock: Path, *command: str) -> str:
    out = subprocess.run(
        [sys.executable, "-m", "l7lb", "admin", "-s", str(sock), *command],
        capture_output=True,
        text=True,
        timeout=20,
        cwd=ROOT,
    )
    assert out.returncode == 0, out.stderr
    return out.stdout


def row(table: str, server: str) -> list[str]:
    for line in table.splitlines():
        words = line.split()
        if words[:2] == ["->", server]:
            return words
    raise AssertionError(f"no row for {server}:\n{table}")


def test_drain_deadline_moves_200_sticky_clients_after_it_and_not_before(
    tmp_path: Path, backends: list[Backend]
) -> None:
    port = free_port()
    sock = tmp_path / "admin.sock"
    servers = "".join(
        f'[[pool.web.server]]\nname = "{b.name}"\naddress = "{b.address}"\n' for b in backends
    )
    config = f"""
admin_socket = "{sock}"
[[vip]]
name = "www"
listen = ["127.0.0.1:{port}"]
[[vip.route]]
pool = "web"
[pool.web]
scheduler = "rr"
redispatch = false
[pool.web.persistence]
mode = "cookie"
secret = "drain-deadline-test-secret-0123456789"
{servers}"""
    proxy = start_proxy(tmp_path, config, port, workers=2)
    errors: list[str] = []
    try:
        clients = [Client() for _ in range(CLIENTS)]
        for c in clients:
            status, _, cookie = c.get(port)
            if status != 200 or not cookie:
                errors.append(f"first request: {status}, cookie {cookie}")
        spread = Counter(c.server for c in clients)
        drained = spread.most_common(1)[0][0]
        stuck = [c for c in clients if c.server == drained]
        assert len(stuck) >= CLIENTS // 4, spread

        # the deadline is set between t0 and t1 (the admin command takes its time to start)
        t0 = time.monotonic()
        answer = admin(sock, "drain", "web", drained, "--deadline", f"{DEADLINE:g}s")
        t1 = time.monotonic()
        assert answer == f"pool web server {drained}: drain, sticky clients move in 5s\n"

        # before the deadline: the stuck clients keep their server; new ones never get it
        rounds = 0
        while time.monotonic() - t0 < DEADLINE - 1.0:
            for c in stuck:
                status, server, _ = c.get(port)
                if status != 200:
                    errors.append(f"before the deadline: {status}")
                assert server == drained, "a stuck client moved before the deadline"
                if time.monotonic() - t0 >= DEADLINE - 1.0:
                    break
            for _ in range(5):
                status, server, _ = Client().get(port)
                assert status == 200 and server != drained, "a new client got the drained server"
            rounds += 1
        assert rounds >= 1
        table = admin(sock, "show", "servers")
        words = row(table, drained)
        assert words[4] == "drain", table
        sticky, left = int(words[8]), words[9]
        assert sticky >= 1, table
        assert left.endswith("s") and 0 < int(left.rstrip("s")) <= DEADLINE, table

        # after the deadline: every stuck client moves, with a fresh cookie and no error
        time.sleep(max(0.0, DEADLINE + 0.5 - (time.monotonic() - t1)))
        moved_to: dict[int, str] = {}
        for i, c in enumerate(stuck):
            old_cookie = c.cookie
            status, server, cookie = c.get(port)
            if status != 200:
                errors.append(f"after the deadline: {status}")
            assert server != drained, "a stuck client stayed after the deadline"
            assert cookie and c.cookie != old_cookie, "no fresh cookie"
            moved_to[i] = server
        for i, c in enumerate(stuck):
            status, server, _ = c.get(port)
            if status != 200:
                errors.append(f"next request: {status}")
            assert server == moved_to[i], "the fresh cookie did not hold"
        assert set(moved_to.values()) == {b.name for b in backends} - {drained}
        table = admin(sock, "show", "servers")
        words = row(table, drained)
        assert words[4] == "drain" and words[8] == "0" and words[9] == "0s", table
        assert errors == []
    finally:
        proxy.stop()
