"""StickTable expiry and bound; source_key masks against ipaddress."""

from __future__ import annotations

import ipaddress

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from l7lb.persistence.table import StickTable, source_key


def test_get_put_and_idle_expiry() -> None:
    t = StickTable(max_entries=10, idle_timeout=360)
    t.put(b"k", "s1", now=0)
    assert t.get(b"k", now=360) == "s1"  # exactly the timeout: still there
    assert t.get(b"k", now=720) == "s1"  # the hit at 360 refreshed it
    assert t.get(b"k", now=1081) is None
    assert len(t) == 0


def test_peek_does_not_refresh() -> None:
    t = StickTable(10, 10)
    t.put(b"k", "s1", 0)
    assert t.peek(b"k", 10) == "s1"
    assert t.get(b"k", 11) is None


def test_expire_drops_only_idle_entries() -> None:
    t = StickTable(100, 10)
    for i in range(5):
        t.put(b"k%d" % i, "s1", now=i)
    t.get(b"k0", now=6)  # k0 becomes the most recent
    assert t.expire(now=14) == 3  # k1, k2, k3 idle > 10; k4 exactly 10
    assert t.peek(b"k0", 14) == "s1" and t.peek(b"k4", 14) == "s1"
    assert len(t) == 2


def test_size_bound_evicts_least_recently_used() -> None:
    t = StickTable(max_entries=3, idle_timeout=1000)
    t.put(b"a", "s1", 0)
    t.put(b"b", "s1", 1)
    t.put(b"c", "s1", 2)
    t.get(b"a", 3)
    t.put(b"d", "s2", 4)
    assert len(t) == 3
    assert t.get(b"b", 5) is None
    assert [t.get(k, 5) for k in (b"a", b"c", b"d")] == ["s1", "s1", "s2"]


def test_replace_delete_forget_and_counts() -> None:
    t = StickTable(10, 100)
    t.put(b"a", "s1", 0)
    t.put(b"a", "s2", 1)
    t.put(b"b", "s2", 1)
    t.put(b"c", "s3", 1)
    assert t.get(b"a", 2) == "s2"
    assert t.count_by_server(2) == {"s2": 2, "s3": 1}
    assert t.forget_server("s2") == 2
    t.delete(b"c")
    t.delete(b"missing")
    assert len(t) == 0


def test_bad_table_arguments() -> None:
    with pytest.raises(ValueError):
        StickTable(0, 1)
    with pytest.raises(ValueError):
        StickTable(1, 0)


@settings(max_examples=100)
@given(ops=st.lists(st.tuples(st.integers(0, 20), st.integers(0, 3)), max_size=200))
def test_table_matches_model(ops: list[tuple[int, int]]) -> None:
    # A reference model: dict of key -> (server, last seen) with LRU eviction.
    bound, idle = 5, 7
    t = StickTable(bound, idle)
    model: dict[bytes, tuple[str, int]] = {}
    now = 0
    for step, (key_n, action) in enumerate(ops):
        now = step  # non-decreasing time
        key = b"%d" % key_n
        live = {k: v for k, v in model.items() if now - v[1] <= idle}
        if action == 0:
            model = {k: v for k, v in live.items() if k != key}
            model[key] = (f"s{key_n % 3}", now)
            while len(model) > bound:
                oldest = min(model, key=lambda k: model[k][1])
                del model[oldest]
            t.put(key, f"s{key_n % 3}", now)
        else:
            expected = live.get(key)
            got = t.get(key, now)
            assert got == (expected[0] if expected else None)
            model = live
            if expected:
                model[key] = (expected[0], now)
        assert len(t) <= bound


def test_source_key_v4() -> None:
    assert source_key("192.0.2.77") == bytes([192, 0, 2, 77])
    assert source_key("192.0.2.77", mask_v4=24) == bytes([192, 0, 2, 0])
    assert source_key("192.0.2.77", mask_v4=0) == bytes(4)
    assert source_key("::ffff:192.0.2.77", mask_v4=24) == bytes([192, 0, 2, 0])


def test_source_key_v6() -> None:
    key = source_key("2001:db8::1234:5678", mask_v6=64)
    assert key == ipaddress.ip_network("2001:db8::/64").network_address.packed
    assert source_key("fe80::1%eth0") == ipaddress.ip_address("fe80::1").packed


def test_source_key_rejects_garbage() -> None:
    for bad in ("", "1.2.3", "example.com", "1.2.3.4.5", "::g"):
        with pytest.raises(ValueError):
            source_key(bad)
    with pytest.raises(ValueError):
        source_key("1.2.3.4", mask_v4=33)


@settings(max_examples=200)
@given(addr=st.ip_addresses(), m4=st.integers(0, 32), m6=st.integers(0, 128))
def test_source_key_matches_ipaddress(
    addr: ipaddress.IPv4Address | ipaddress.IPv6Address, m4: int, m6: int
) -> None:
    if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped is not None:
        addr = addr.ipv4_mapped
    mask = m4 if addr.version == 4 else m6
    expected = ipaddress.ip_network(f"{addr}/{mask}", strict=False).network_address.packed
    assert source_key(str(addr), m4, m6) == expected
