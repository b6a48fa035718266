"""Sans-IO pieces: SNI map, settings parser, ticket key ring, session LRU and keys."""

from __future__ import annotations

from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from l7lb.tls.check import check_tls
from l7lb.tls.clienthello import ClientHello
from l7lb.tls.counters import resumption_kind
from l7lb.tls.sessions import SessionCache, prefetch_keys, session_key
from l7lb.tls.settings import TlsSettings, parse_tls_table
from l7lb.tls.sni import SniMap
from l7lb.tls.ticketkeys import TicketKeyRing


def test_sni_exact_beats_wildcard() -> None:
    m: SniMap[str] = SniMap()
    m.add(["*.example.com", "example.com"], "wild")
    m.add(["www.example.com"], "exact")
    assert m.lookup("www.example.com") == "exact"
    assert m.lookup("WWW.Example.COM") == "exact"
    assert m.lookup("shop.example.com") == "wild"
    assert m.lookup("example.com") == "wild"
    assert m.lookup("a.b.example.com") is None  # one label only (RFC 6125)
    assert m.lookup("example.org") is None
    assert m.add(["www.example.com"], "again") == ["www.example.com"]
    assert m.lookup("www.example.com") == "exact"


def test_settings_defaults_and_values() -> None:
    s, issues = parse_tls_table(
        {
            "certificates": [{"cert": "a.pem", "key": "a.key"}, {"cert": "b.pem", "key": "b.key"}],
            "default_certificate": "b.pem",
            "strict_sni": True,
            "min_version": "1.3",
            "tickets": False,
            "session_lifetime": 60,
        },
        "vip.web.tls",
    )
    assert issues == []
    assert isinstance(s, TlsSettings)
    assert s.default_certificate == 1 and s.strict_sni and s.min_version == "1.3"
    assert not s.tickets and s.session_cache and s.session_lifetime == 60.0
    assert s.ticket_rotation == 3600.0 and s.handshake_timeout == 5.0


def test_settings_issues_name_key_paths() -> None:
    s, issues = parse_tls_table(
        {
            "certificates": [{"cert": "a.pem"}],
            "min_version": "1.0",
            "tickets": "yes",
            "session_lifetime": -1,
            "bogus": 1,
        },
        "vip.web.tls",
    )
    assert s is None
    paths = {p for p, _, _ in issues}
    assert {
        "vip.web.tls.certificates[0].key",
        "vip.web.tls.min_version",
        "vip.web.tls.tickets",
        "vip.web.tls.session_lifetime",
        "vip.web.tls.bogus",
    } <= paths
    assert parse_tls_table({}, "t")[0] is None


@given(st.dictionaries(st.text(max_size=20), st.none() | st.booleans() | st.integers() | st.text()))
def test_settings_never_raise(table: dict[str, object]) -> None:
    s, issues = parse_tls_table(table, "t")
    assert s is None or isinstance(s, TlsSettings)
    assert all(isinstance(i, tuple) and len(i) == 3 for i in issues)


def test_ticket_ring_rotation_keeps_previous_and_publishes_next() -> None:
    r0 = TicketKeyRing.generate(1000.0)
    assert r0.accepted() == (r0.current, r0.next)
    assert not r0.due(1500.0, 3600) and r0.due(4600.0, 3600)
    r1 = r0.rotated(4600.0)
    assert r1.current == r0.next and r1.previous == r0.current
    assert r1.next not in (r0.current, r0.next)
    r2 = r1.rotated(8200.0)
    assert r0.current not in r2.accepted()  # two periods old: forgotten
    assert TicketKeyRing.from_bytes(r2.to_bytes()) == r2
    assert "secret" not in repr(r2.current) and r2.current.secret.hex() not in repr(r2)


def test_session_cache_lru_and_lifetime() -> None:
    now = [0.0]
    c = SessionCache(max_entries=2, lifetime=10, clock=lambda: now[0])
    published = []
    c.publish = lambda k, b, ttl: published.append((k, ttl))
    c.put(b"a", b"1")
    c.put_local(b"b", b"2")
    assert c.get(b"a") == b"1"  # a is now most recent
    c.put(b"c", b"3")
    assert c.get(b"b") is None and c.get(b"a") == b"1"
    assert published == [(b"a", 10), (b"c", 10)]  # put_local is not published
    now[0] = 10.5
    assert c.get(b"a") is None and len(c) == 1
    c.put_local(b"x" * 600, b"1")  # key too long: ignored
    c.put_local(b"k", b"")  # empty blob: ignored
    assert len(c) == 1


def test_session_keys_bind_vip_and_name() -> None:
    keys = {
        session_key("web", "a.test", b"id"),
        session_key("web", "b.test", b"id"),
        session_key("api", "a.test", b"id"),
        session_key("web", "", b"id"),
    }
    assert len(keys) == 4


def _hello(**kw: object) -> ClientHello:
    base: dict[str, object] = dict(
        legacy_version=0x303,
        session_id=b"S" * 32,
        server_name="a.test",
        alpn=(),
        supported_versions=(),
        psk_identities=(),
        session_ticket=None,
    )
    base.update(kw)
    return ClientHello(**base)  # type: ignore[arg-type]


def test_prefetch_keys_ignore_tls13_random_session_ids() -> None:
    tls12 = _hello()
    assert prefetch_keys("web", tls12) == [session_key("web", "a.test", b"S" * 32)]
    tls13 = _hello(supported_versions=(0x304, 0x303), psk_identities=(b"P" * 32, b"T" * 200))
    assert prefetch_keys("web", tls13) == [session_key("web", "a.test", b"P" * 32)]
    assert prefetch_keys("web", _hello(supported_versions=(0x304,))) == []


def test_resumption_kind() -> None:
    assert resumption_kind(_hello(), "TLSv1.2") == "session_id"
    assert resumption_kind(_hello(session_ticket=b"t" * 100), "TLSv1.2") == "ticket"
    assert resumption_kind(_hello(psk_identities=(b"t" * 150,)), "TLSv1.3") == "tls13_ticket"
    assert resumption_kind(_hello(psk_identities=(b"t" * 32,)), "TLSv1.3") == "tls13_stateful"


def test_check_tls_reports_coverage_and_problems(make_cert: Any) -> None:
    good = make_cert("www.check.test", "*.check.test", days=10)
    bad_key = make_cert("other.check2.test")
    settings, issues = parse_tls_table(
        {"certificates": [{"cert": good[0], "key": good[1]}, {"cert": bad_key[0], "key": good[1]}]},
        "vip.web.tls",
    )
    assert settings is not None, issues
    report = check_tls(
        settings, "vip.web.tls", ["www.check.test", "*.check.test", "api.elsewhere.test"]
    )
    assert report.covers[0] == (good[0], ("www.check.test", "*.check.test"))
    assert [p for p, _, _ in report.errors] == ["vip.web.tls.certificates[1]"]
    assert "does not match" in report.errors[0][1]
    messages = " ".join(m for _, m, _ in report.warnings)
    assert "expires in 9 days" in messages or "expires in 10 days" in messages
    assert "api.elsewhere.test" in messages and "'*.check.test'" not in messages


def test_tickets_per_handshake_setting() -> None:
    certs = [{"cert": "a.pem", "key": "a.key"}]
    s, issues = parse_tls_table({"certificates": certs}, "vip.web.tls")
    assert issues == [] and s is not None and s.tickets_per_handshake == 1
    for n in (0, 2, 8):
        s, issues = parse_tls_table({"certificates": certs, "tickets_per_handshake": n}, "v")
        assert issues == [] and s is not None and s.tickets_per_handshake == n
    for bad in (-1, 9, True, "2", 1.0, None):
        s, issues = parse_tls_table(
            {"certificates": certs, "tickets_per_handshake": bad}, "vip.web.tls"
        )
        assert s is None
        assert [p for p, _, _ in issues] == ["vip.web.tls.tickets_per_handshake"], bad
        assert "0 to 8" in issues[0][1] and "parallel" in issues[0][2]
