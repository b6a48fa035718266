"""The demo's copies of the demo policy: moved ports, one per director with the shared store."""

from __future__ import annotations

import pytest

from l7lb.config.load import parse_config
from l7lb.demo.policy import (
    DemoPolicyError,
    demo_policy_text,
    director_policy,
    move_ports,
)

STORE = "redis://127.0.0.1:6390/0"


def listeners(text: str) -> set[str]:
    config = parse_config(text)
    return {str(a) for vip in config.vips for a in vip.listen}


def servers(text: str) -> list[str]:
    config = parse_config(text)
    return [str(s.address) for pool in config.pools.values() for s in pool.servers]


def test_the_unmoved_policy_is_the_demo_policy() -> None:
    text = demo_policy_text()
    assert move_ports(text) == text
    assert listeners(text) == {"127.0.0.1:8080", "127.0.0.1:8443"}


def test_two_directors_listen_apart_and_share_the_realservers() -> None:
    text = demo_policy_text()
    one, two = (director_policy(text, n, STORE) for n in (1, 2))
    assert listeners(one) == {"127.0.0.1:8080", "127.0.0.1:8443"}
    assert listeners(two) == {"127.0.0.1:8081", "127.0.0.1:8444"}
    assert servers(one) == servers(two) == servers(text)
    a, b = parse_config(one), parse_config(two)
    assert a.admin_socket != b.admin_socket
    for config in (a, b):
        assert config.store.url == STORE and config.store.shared
        assert config.store.namespace == "l7lb-demo"
        assert config.store.timeout == 0.1
    # what makes the cookie and the sessions work across them: the same secrets
    assert a.store.session_keys == b.store.session_keys
    assert a.pools["demo"].persistence == b.pools["demo"].persistence


def test_an_offset_moves_every_port_and_the_admin_socket() -> None:
    text = demo_policy_text()
    moved = move_ports(text, offset=1000)
    assert listeners(moved) == {"127.0.0.1:9080", "127.0.0.1:9443"}
    assert servers(moved) == [f"127.0.0.1:{p}" for p in (10001, 10002, 10003)]
    assert parse_config(moved).admin_socket == "/tmp/l7lb-demo-1000.sock"
    two = director_policy(text, 2, STORE, offset=1000)
    assert listeners(two) == {"127.0.0.1:9081", "127.0.0.1:9444"}
    assert parse_config(two).admin_socket == "/tmp/l7lb-demo-2-1000.sock"


def test_the_admin_listener_moves_per_director_too() -> None:
    """Director 2 must not try to bind director 1's admin HTTP listener."""
    assert str(parse_config(demo_policy_text()).admin.listen) == "127.0.0.1:9100"
    moved = parse_config(director_policy(demo_policy_text(), 2, STORE))
    assert str(moved.admin.listen) == "127.0.0.1:9101"


def test_a_listener_added_later_moves_per_director_too() -> None:
    """Any other 127.0.0.1 listener a later version of the demo adds moves as well."""
    text = demo_policy_text().replace(
        "[[vip]]", '[[vip]]\nname = "extra"\nlisten = ["127.0.0.1:9200"]\n'
        '  [[vip.route]]\n  pool = "demo"\n\n[[vip]]', 1
    )  # fmt: skip
    assert "127.0.0.1:9201" in listeners(director_policy(text, 2, STORE))


def test_a_policy_without_what_the_demo_needs_is_refused() -> None:
    text = demo_policy_text()
    with pytest.raises(DemoPolicyError, match="8443"):
        director_policy(text.replace("127.0.0.1:8443", "127.0.0.1:7443"), 2, STORE)
    with pytest.raises(DemoPolicyError, match="admin_socket"):
        move_ports(text.replace("admin_socket", "# admin_socket"), offset=1)
