"""The stats page's JSON document, from rows, summed metrics and the supervisor's view."""

from __future__ import annotations

from l7lb.admin.commands import ServerRow
from l7lb.admin.stats import stats_document
from l7lb.metrics.aggregate import View
from l7lb.metrics.exposition import Director, ServerInfo


def test_document() -> None:
    view = View(
        counters={
            "vips": {"www": {"responses": [0, 8, 0, 0, 2, 0], "bytes_in": 5, "bytes_out": 6}},
            "servers": {"web": {"s1": {"responses": [0, 3, 0, 0, 2, 0]}}},
            "tls": {"www": {"full": 1, "resumed": {"session_id": 2, "tls13_ticket": 1}}},
        },
        gauges={"connections": {"www": 4}, "queue": {"web": 1}},
        workers=2,
    )
    director = Director(
        vips=["www"],
        pools={
            "web": {
                "s1": ServerInfo(1, up=True, checks=3, last_check=1000.0, check_reason="HTTP 200"),
                "s2": ServerInfo(2, "drain"),
            }
        },
        reloads=1,
    )
    rows = [
        ServerRow("web", "s1", "10.0.0.1:80", 1, "up", active=1, requests=9),
        ServerRow("web", "s2", "10.0.0.2:80", 2, "drain", sticky=4, left=30.0),
    ]
    doc = stats_document(rows, view, director, 1002.0)
    assert doc["time"] == 1002.0 and doc["workers"] == 2 and doc["reloads"] == 1
    (vip,) = doc["vips"]
    assert vip["requests"] == 10 and vip["responses"]["5xx"] == 2 and vip["connections"] == 4
    assert vip["tls"]["handshakes"] == 4
    assert vip["tls"]["resumed_id"] == 2 and vip["tls"]["resumed_ticket"] == 1
    assert vip["tls"]["resumption_ratio"] == 0.75
    (pool,) = doc["pools"]
    assert pool["queue"] == 1
    s1, s2 = pool["servers"]
    assert (s1["requests"], s1["responses_5xx"], s1["active"]) == (5, 2, 1)
    assert s1["health"] == {
        "up": True,
        "last_check": 1000.0,
        "reason": "HTTP 200",
        "checks": 3,
        "failures": 0,
    }
    assert s2["health"] is None and s2["state"] == "drain"
    assert (s2["sticky"], s2["left"]) == (4, 30.0)
    assert doc["store"] == {"configured": False}


def test_a_plain_vip_has_no_tls_and_an_empty_view_is_zeros() -> None:
    director = Director(vips=["www"], pools={"web": {"s1": ServerInfo(1)}})
    doc = stats_document([], View(), director, 0.0)
    assert doc["vips"][0]["tls"] is None and doc["vips"][0]["requests"] == 0
    assert doc["pools"][0]["servers"][0]["state"] == "unknown"
