"""The decision under server states: drain, maintenance, down, full, weight 0,
backups, fallbacks and redispatch, as ``--live`` would apply them
(``live.apply_rows``), without a running director."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from explain_helpers import mint_cookie

from l7lb.config.load import load_config
from l7lb.explain.decision import PoolStates
from l7lb.explain.explanation import explain
from l7lb.explain.live import LiveRow, apply_rows
from l7lb.explain.request import build_from_url
from l7lb.explain.vip import choose_vip

CONFIG = """
persistence_secret = "a test secret of more than 16 bytes"

[[vip]]
name = "v"
listen = ["127.0.0.1:8080"]
  [[vip.route]]
  pool = "web"

[pool.web]
scheduler = "{scheduler}"
redispatch = {redispatch}
fallback = "sorry"
queue_timeout = "{queue}"
  [pool.web.persistence]
  mode = "cookie"
  [[pool.web.server]]
  name = "a"
  address = "10.0.0.1:80"
  max_conn = 10
  [[pool.web.server]]
  name = "b"
  address = "10.0.0.2:80"
  max_conn = 10
  [[pool.web.server]]
  name = "spare"
  address = "10.0.0.3:80"
  backup = true

[pool.sorry]
fallback = {{ status = 503, body = "later" }}
  [[pool.sorry.server]]
  name = "s"
  address = "10.0.0.9:80"
"""


@pytest.fixture
def cfg(inline: Callable[[str], Path]) -> Callable[..., Path]:
    def make(redispatch: bool = True, queue: str = "0s", scheduler: str = "rr") -> Path:
        text = CONFIG.format(redispatch=str(redispatch).lower(), queue=queue, scheduler=scheduler)
        return inline(text)

    return make


def run(
    path: Path, rows: list[tuple[str, str, int, str, int]], cookie_for: str | None = None
) -> dict[str, Any]:
    config = load_config(str(path))
    cookies = []
    if cookie_for is not None:
        cookies = [f"L7LB={mint_cookie(path, 'web', cookie_for, 60, 60)}"]
    req = build_from_url("http://127.0.0.1:8080/x", cookies=cookies, source="198.51.100.1")
    states = PoolStates(config)
    notes = apply_rows(states, [LiveRow(*row) for row in rows])
    assert notes == [], notes
    choice = choose_vip(config, req.destination, None)
    return explain(config, req, choice, states, now=time.time(), loop_now=time.monotonic())


def rows(**states: str) -> list[tuple[str, str, int, str, int]]:
    """rows(a="drain", b="up:0") -> every server's row; "STATE:WEIGHT" or "full"."""
    out = []
    for pool, name in (("web", "a"), ("web", "b"), ("web", "spare"), ("sorry", "s")):
        spec = states.get(name, "up")
        state, _, weight = spec.partition(":")
        active = 10 if state == "full" else 0
        out.append((pool, name, int(weight or 1), "up" if state == "full" else state, active))
    return out


def eligible(out: dict[str, Any]) -> dict[str, bool]:
    return {s["name"]: s["eligible"] for s in out["decision"]["servers"]}


def test_a_drained_server_keeps_its_stuck_clients_but_gets_no_new_ones(
    cfg: Callable[..., Path],
) -> None:
    path = cfg()
    out = run(path, rows(a="drain"), cookie_for="a")
    assert out["decision"]["how"] == "stuck" and out["decision"]["server"] == "a"
    assert any("drains, but keeps" in s for s in out["decision"]["steps"])
    assert eligible(out) == {"a": False, "b": True, "spare": True}
    out = run(path, rows(a="drain"))
    assert out["decision"]["server"] == "b"
    # weight 0 is a drain too
    out = run(path, rows(a="up:0"), cookie_for="a")
    assert out["decision"]["server"] == "a"
    assert run(path, rows(a="up:0"))["decision"]["server"] == "b"


def test_stuck_server_in_maintenance_or_down_redispatch(cfg: Callable[..., Path]) -> None:
    path = cfg()
    for state in ("maint", "down"):
        out = run(path, rows(a=state), cookie_for="a")
        d = out["decision"]
        assert d["how"] == "scheduled" and d["server"] == "b", state
        assert f"persistence (cookie) names server a: {state}" in d["steps"]
        # the client gets a fresh cookie for its new server
        assert out["response_headers"][0][1].startswith("L7LB=")


def test_redispatch_off_answers_503(cfg: Callable[..., Path]) -> None:
    out = run(cfg(redispatch=False), rows(a="maint"), cookie_for="a")
    assert out["decision"]["how"] == "answered"
    assert out["answer"] == {
        "by": "l7lb",
        "status": 503,
        "summary": "the client's server is maint and redispatch is off: 503",
    }
    assert out["backend"] is None


def test_stuck_server_full_waits_in_the_queue(cfg: Callable[..., Path]) -> None:
    out = run(cfg(queue="2s"), rows(a="full"), cookie_for="a")
    assert out["decision"]["how"] == "queued"
    assert "queue_timeout (2s)" in out["decision"]["reason"]


def test_backup_then_fallback_pool_then_fallback_response(cfg: Callable[..., Path]) -> None:
    path = cfg()
    out = run(path, rows(a="down", b="maint"))
    assert out["decision"]["server"] == "spare"
    out = run(path, rows(a="down", b="maint", spare="down"))
    d = out["decision"]
    assert (d["pool"], d["server"]) == ("sorry", "s")
    assert "fallback pool sorry" in d["steps"][-2]
    assert out["backend"]["pool"] == "sorry"
    out = run(path, rows(a="down", b="maint", spare="down", s="down"))
    assert out["answer"]["status"] == 503
    assert "fallback response" in out["answer"]["summary"]


def test_every_primary_full_queues_when_queue_timeout_is_set(cfg: Callable[..., Path]) -> None:
    out = run(cfg(queue="1s"), rows(a="full", b="full", spare="down"))
    assert out["decision"]["how"] == "queued"
    out = run(cfg(), rows(a="full", b="full", spare="down"))
    assert out["decision"]["pool"] == "sorry"  # no queue: straight to the fallback


def test_live_rows_that_do_not_fit_are_reported(cfg: Callable[..., Path]) -> None:
    config = load_config(str(cfg()))
    states = PoolStates(config)
    notes = apply_rows(
        states,
        [LiveRow("web", "a", 1, "up", 0), LiveRow("web", "zz", 1, "up", 0)],
    )
    assert "live server web/zz is not in this file" in notes[0]
    assert any("server web/b of this file is not on the running director" in n for n in notes)


def test_wrr_shares_count_only_eligible_servers(cfg: Callable[..., Path]) -> None:
    out = run(cfg(scheduler="wrr"), rows(b="up:3"))
    assert out["decision"]["server"] == "b"
    assert "(shares: a 25%, b 75%)" in out["decision"]["scheduler_note"]
    out = run(cfg(scheduler="wrr"), rows(a="drain", b="up:3"))
    assert "(shares: b 100%)" in out["decision"]["scheduler_note"]
