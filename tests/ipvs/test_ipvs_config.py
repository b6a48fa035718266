"""The [ipvs] section: what it parses to, and every mistake it refuses, with
the key path and the fix (l7lb/config/ipvs.py)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from ipvs_helpers import POLICIES, POOLS, VIPS, config, errors

from l7lb.config.check import check_main
from l7lb.config.ipvs import (
    Bundle,
    DirectorCheck,
    Endpoint,
    IpvsMethod,
    IpvsScheduler,
    IpvsSettings,
    LocalVip,
    Vrrp,
    parse_ipvs_table,
)
from l7lb.config.load import ConfigError, parse_config

FRONT = '[ipvs]\ndirectors = ["10.0.0.11", "10.0.0.12"]\nhealth_port = 8081\n'


def test_no_section_means_no_settings() -> None:
    assert parse_config(VIPS + POOLS).ipvs is None


def test_defaults() -> None:
    ipvs = config(FRONT).ipvs
    assert ipvs == IpvsSettings(
        endpoints=(
            Endpoint("192.0.2.10", 80, "www-http"),
            Endpoint("192.0.2.10", 443, "www-https"),
            Endpoint("192.0.2.11", 443, "api"),
        ),
        directors=("10.0.0.11", "10.0.0.12"),
        vip_addresses=("192.0.2.10", "192.0.2.11"),
        scheduler=IpvsScheduler.WLC,
        method=IpvsMethod.DR,
        bundle=Bundle.NONE,
        fwmark=1,
        persistence_timeout=0,
        check=DirectorCheck(port=8081, path="/healthz", tls=False, interval=2, timeout=2),
        vrrp=None,
        local_vips=(),
    )
    assert not ipvs.local_l7lb


def test_every_key() -> None:
    ipvs = config(
        FRONT
        + """
vips = ["www-https", "www-http"]
scheduler = "mh"
method = "dr"
bundle = "fwmark"
fwmark = 10
persistence_timeout = "5m"
health_path = "/ready"
health_tls = true
health_interval = "500ms"
health_timeout = 1
health_retries = 3
[ipvs.vrrp]
interface = "ens3"
virtual_router_id = 51
priority = 90
nodes = { lvs1 = 150, lvs2 = 100 }
advert_int = "2s"
nopreempt = false
track_process = "python3"
"""
    ).ipvs
    assert isinstance(ipvs, IpvsSettings)
    # vips gives the order too
    assert [e.vip for e in ipvs.endpoints] == ["www-https", "www-http"]
    assert (ipvs.scheduler, ipvs.method, ipvs.bundle) == (
        IpvsScheduler.MH,
        IpvsMethod.DR,
        Bundle.FWMARK,
    )
    assert (ipvs.fwmark, ipvs.persistence_timeout) == (10, 300)
    assert ipvs.check == DirectorCheck(8081, "/ready", True, 0.5, 1.0, 3)
    assert ipvs.vrrp == Vrrp("ens3", 51, 90, (("lvs1", 150), ("lvs2", 100)), 2.0, False, "python3")
    assert ipvs.vip_addresses == ("192.0.2.10",)


@pytest.mark.parametrize("directors", [[], ["127.0.0.1"], ["127.0.0.1", "10.0.0.12"]])
def test_track_process_defaults_on_where_l7lb_runs_with_keepalived(directors: list[str]) -> None:
    front = f"directors = {directors!r}\nhealth_port = 8081\n" if directors else ""
    text = f'[ipvs]\n{front}[ipvs.vrrp]\ninterface = "eth0"\nvirtual_router_id = 7\n'
    ipvs = config(text.replace("'", '"')).ipvs
    assert ipvs.local_l7lb
    assert ipvs.vrrp.track_process == "l7lb"


def test_track_process_defaults_off_on_a_separate_ipvs_director() -> None:
    """keepalived on hosts without l7lb would stay in FAULT if it tracked it."""
    ipvs = config(FRONT + '[ipvs.vrrp]\ninterface = "eth0"\nvirtual_router_id = 7\n').ipvs
    assert ipvs.vrrp.track_process == ""
    explicit = FRONT + '[ipvs.vrrp]\ninterface = "eth0"\nvirtual_router_id = 7\n'
    explicit += 'track_process = "l7lb"\n'
    assert config(explicit).ipvs.vrrp.track_process == "l7lb"


def test_a_wildcard_listen_takes_the_addresses() -> None:
    vips = VIPS.replace('"192.0.2.11:443"', '"0.0.0.0:8443"')
    ipvs = config(FRONT + 'addresses = ["192.0.2.20", "192.0.2.21"]\n', vips=vips).ipvs
    assert [(e.address, e.port, e.vip) for e in ipvs.endpoints] == [
        ("192.0.2.10", 80, "www-http"),
        ("192.0.2.10", 443, "www-https"),
        ("192.0.2.20", 8443, "api"),
        ("192.0.2.21", 8443, "api"),
    ]


def test_nat_with_wildcard_listens() -> None:
    vips = VIPS.replace('"192.0.2.10:', '"0.0.0.0:').replace("192.0.2.11:443", "0.0.0.0:8443")
    text = FRONT + 'method = "NAT"\naddresses = ["192.0.2.10"]\n'
    ipvs = config(text, vips=vips).ipvs
    assert ipvs.method is IpvsMethod.NAT
    assert [(e.address, e.port) for e in ipvs.endpoints] == [
        ("192.0.2.10", 80),
        ("192.0.2.10", 443),
        ("192.0.2.10", 8443),
    ]


def test_nat_to_the_local_l7lb_only_keeps_the_vip_listen() -> None:
    """A loopback real server is delivered locally: the destination stays the VIP."""
    text = '[ipvs]\ndirectors = ["127.0.0.1"]\nhealth_port = 8081\nmethod = "NAT"\n'
    assert config(text).ipvs.method is IpvsMethod.NAT


def test_local_vip() -> None:
    pools = (
        POOLS + '[pool.lvs.health]\ncheck = "tcp"\n[[pool.lvs.server]]\naddress = "192.0.2.60:80"\n'
    )
    text = """
[ipvs]
[[ipvs.local_vip]]
address = "192.0.2.60:80"
realservers = ["10.0.6.11", "10.0.6.12:8080"]
scheduler = "lc"
"""
    ipvs = config(text, pools=pools).ipvs
    assert ipvs.local_vips == (
        LocalVip(
            "192.0.2.60",
            80,
            (("10.0.6.11", 80), ("10.0.6.12", 8080)),
            IpvsScheduler.LC,
            IpvsMethod.NAT,
            "lvs",
        ),
    )
    assert ipvs.directors == () and ipvs.check is None
    assert ipvs.vip_addresses == ("192.0.2.10", "192.0.2.11", "192.0.2.60")


# ------------------------------------------------------------------ errors


def test_the_section_must_have_something_to_write() -> None:
    assert errors("[ipvs]\n") == [
        "ipvs: gives l7lb ipvs nothing to write (hint: list the l7lb hosts in directors, "
        "add [ipvs.vrrp] to move the VIPs, or a [[ipvs.local_vip]])"
    ]


def test_the_section_must_be_a_table() -> None:
    with pytest.raises(ConfigError) as info:
        parse_config("ipvs = 1\n" + VIPS + POOLS)
    assert [str(e) for e in info.value.errors] == [
        "ipvs: expected a table, got an integer (hint: write [ipvs] with directors = "
        '["10.0.0.11", "10.0.0.12"])'
    ]


def test_unknown_keys_are_named_with_the_closest_one() -> None:
    assert errors(FRONT + "schedular = 'rr'\n[ipvs.vrrp]\ninterfaces = 'eth0'\n")[:2] == [
        'ipvs schedular: unknown key (hint: did you mean "scheduler"?)',
        'ipvs vrrp interfaces: unknown key (hint: did you mean "interface"?)',
    ]


def test_directors() -> None:
    text = (
        '[ipvs]\ndirectors = ["10.0.0.11", "10.0.0.11", "10.0.0.12:443", "2001:db8::1", '
        '"dir3", "127.0.0.1", "127.0.0.2", 5, "0.0.0.0"]\nhealth_port = 8081\n'
    )
    assert errors(text) == [
        "ipvs directors 8: expected a string, got an integer",
        "ipvs directors 2: 10.0.0.11 is already director 1 (hint: list each director once)",
        'ipvs directors 3: "10.0.0.12:443": a director takes no port (hint: write the address '
        "only (10.0.0.12): the port is the VIP's port)",
        'ipvs directors 4: "2001:db8::1": IPv6 is not generated (hint: l7lb ipvs writes IPv4 '
        "only; leave IPv6 VIPs out of [ipvs] vips and write their IPVS rules by hand)",
        'ipvs directors 5: "dir3" is not an IPv4 address (hint: keepalived and ipvsadm need IP '
        "addresses, e.g. 10.0.0.11)",
        "ipvs directors 7: 127.0.0.2: director 6 is loopback too (hint: one loopback entry "
        "stands for the l7lb on the IPVS director itself)",
        'ipvs directors 9: "0.0.0.0" cannot be a director (hint: give a unicast address)',
    ]
    assert errors('[ipvs]\ndirectors = "10.0.0.11"\n')[0] == (
        'ipvs directors: expected an array of strings (hint: write directors = ["10.0.0.11"])'
    )


def test_health_port_is_required_with_directors() -> None:
    assert errors('[ipvs]\ndirectors = ["10.0.0.11"]\n') == [
        "ipvs health_port: is required with directors (hint: the port of [admin] listen on "
        "each director, where l7lb answers /healthz)"
    ]
    assert errors(FRONT.replace("8081", '"8081"')) == [
        'ipvs health_port: expected an integer, got a string ("8081") '
        "(hint: remove the quotes: health_port = 8081)"
    ]


def test_health_port_defaults_to_a_reachable_admin_listen_port(tmp_path: Path) -> None:
    token = tmp_path / "admin.token"
    token.write_text("ab" * 32)
    token.chmod(0o600)
    admin = f'[admin]\nlisten = "0.0.0.0:9100"\ntoken_file = "{token}"\n'
    cfg = config('[ipvs]\ndirectors = ["10.0.0.11", "10.0.0.12"]\n' + admin)
    assert cfg.ipvs is not None and cfg.ipvs.check is not None
    assert cfg.ipvs.check.port == 9100
    # an explicit one wins
    cfg = config(FRONT + admin)
    assert cfg.ipvs is not None and cfg.ipvs.check is not None
    assert cfg.ipvs.check.port == 8081


def test_a_loopback_admin_listen_is_no_default_for_health_port() -> None:
    admin = '[admin]\nlisten = "127.0.0.1:9100"\n'
    assert errors('[ipvs]\ndirectors = ["10.0.0.11", "10.0.0.12"]\n' + admin) == [
        "ipvs health_port: is required with directors: [admin] listen 127.0.0.1:9100 is "
        "loopback, which keepalived on the other directors cannot reach (hint: listen on "
        '"0.0.0.0:9100" (with a token_file) and leave health_port out, or set health_port to '
        "a port the directors can reach)"
    ]


def test_front_keys_need_directors() -> None:
    text = '[ipvs]\nbundle = "fwmark"\nhealth_port = 8081\n[ipvs.vrrp]\ninterface = "e"\n'
    text += "virtual_router_id = 1\n"
    hint = "(hint: list the l7lb directors in [ipvs] directors, or remove it)"
    assert errors(text) == [
        f"ipvs bundle: only applies with directors (IPVS in front of l7lb) {hint}",
        f"ipvs health_port: only applies with directors (IPVS in front of l7lb) {hint}",
    ]


def test_choices_suggest_the_closest() -> None:
    text = FRONT + 'scheduler = "wlcc"\nmethod = "tun"\nbundle = "fw"\n'
    assert errors(text) == [
        'ipvs scheduler: unknown value "wlcc" (hint: did you mean "wlc"? '
        '(one of "rr", "wrr", "lc", "wlc", "sh", "mh"))',
        'ipvs method: unknown value "tun" (hint: one of "DR", "NAT")',
        'ipvs bundle: unknown value "fw" (hint: did you mean "fwmark"? '
        '(one of "none", "fwmark", "group"))',
    ]


@pytest.mark.parametrize("scheduler", ["rr", "wrr", "lc", "wlc"])
def test_a_bundle_that_would_not_keep_a_client_on_one_director(scheduler: str) -> None:
    text = FRONT + f'scheduler = "{scheduler}"\n'
    (fwmark,) = errors(text + 'bundle = "fwmark"\n')
    assert fwmark.startswith(f'ipvs bundle: a fwmark service scheduled by "{scheduler}" without')
    assert 'hint: set persistence_timeout (e.g. "5m"), or scheduler = "sh" or "mh"' in fwmark
    (group,) = errors(text + 'bundle = "group"\npersistence_timeout = 300\n')
    assert group.startswith("ipvs bundle: IPVS schedules each member of a group alone")
    # persistence makes a fwmark bundle sticky, whatever the scheduler
    assert config(text + 'bundle = "fwmark"\npersistence_timeout = 60\n').ipvs.fwmark == 1


@pytest.mark.parametrize("scheduler", ["sh", "mh"])
def test_source_hashing_keeps_a_client_on_one_director(scheduler: str) -> None:
    for bundle in ("fwmark", "group"):
        ipvs = config(FRONT + f'scheduler = "{scheduler}"\nbundle = "{bundle}"\n').ipvs
        assert ipvs.bundle is Bundle(bundle)


def test_numbers_and_paths() -> None:
    text = FRONT + 'fwmark = 5\npersistence_timeout = "1.5s"\nhealth_path = "/a b"\n'
    text += "health_retries = 11\nhealth_interval = 0\n"
    assert errors(text) == [
        "ipvs persistence_timeout: 1500ms is not a whole number of seconds "
        '(hint: e.g. persistence_timeout = "2s")',
        'ipvs health_path: "/a b" is not a request path keepalived can send (hint: e.g. '
        '"/healthz" (no spaces, quotes, #, !, { or }))',
        "ipvs health_interval: 0s is out of range (hint: use 100ms to 1h)",
        "ipvs health_retries: 11 is out of range (hint: use an integer from 0 to 10)",
        'ipvs fwmark: only applies to bundle = "fwmark" (hint: remove fwmark)',
    ]


def test_vips_names() -> None:
    text = FRONT + 'vips = ["www-htps", "api", "api"]\n'
    assert errors(text) == [
        'ipvs vips 1: no vip named "www-htps" (hint: did you mean "www-https"?)',
        'ipvs vips 3: "api" is listed twice (hint: list it once)',
    ]


@pytest.mark.parametrize(
    ("listen", "message"),
    [
        ("127.0.0.1:443", "127.0.0.1:443 is a loopback address: IPVS cannot announce it"),
        ("api.internal:443", "api.internal:443: IPVS needs the VIP's IP address, not a host name"),
        ("[2001:db8::10]:443", "[2001:db8::10]:443: IPv6 is not generated"),
        ("0.0.0.0:8443", "0.0.0.0:8443 listens on every address: which one is the VIP?"),
    ],
)
def test_listen_addresses_ipvs_cannot_announce(listen: str, message: str) -> None:
    (error,) = errors(FRONT, vips=VIPS.replace("192.0.2.11:443", listen))
    assert error.startswith(f'vip "api" listen 1: {message} (hint: ')
    # ... unless that VIP is left out of [ipvs]
    ipvs = config(
        FRONT + 'vips = ["www-http", "www-https"]\n', vips=VIPS.replace("192.0.2.11:443", listen)
    ).ipvs
    assert {e.vip for e in ipvs.endpoints} == {"www-http", "www-https"}


def test_addresses_only_serve_wildcard_listens() -> None:
    assert errors(FRONT + 'addresses = ["192.0.2.99", "127.0.0.5", "2001:db8::1"]\n') == [
        "ipvs addresses 2: 127.0.0.5 is a loopback address (hint: give the VIP)",
        'ipvs addresses 3: "2001:db8::1": IPv6 is not generated (hint: l7lb ipvs writes IPv4 '
        "only; leave IPv6 VIPs out of [ipvs] vips and write their IPVS rules by hand)",
        "ipvs addresses: no chosen VIP listens on a wildcard address (0.0.0.0:PORT) (hint: "
        "remove addresses: the VIPs' own listen addresses are announced)",
    ]


def test_nat_refuses_a_socket_bound_to_the_vip() -> None:
    found = errors(FRONT + 'method = "nat"\nvips = ["api"]\n')
    assert found == [
        'vip "api" listen 1: with [ipvs] method = "NAT" IPVS sends 192.0.2.11:443 to each '
        "director's own address, which this socket does not receive (hint: listen on "
        '"0.0.0.0:443" and give [ipvs] addresses = ["192.0.2.11"], or use method = "DR")'
    ]


def test_vrrp() -> None:
    assert errors("[ipvs]\n[ipvs.vrrp]\n") == [
        "ipvs vrrp interface: is required (hint: the interface that carries the VIPs, e.g. "
        'interface = "eth0")',
        "ipvs vrrp virtual_router_id: is required (hint: a number from 1 to 255, different "
        "from every other VRRP router on this LAN)",
    ]
    text = """[ipvs]
[ipvs.vrrp]
interface = "eth 0"
virtual_router_id = 256
priority = 255
nodes = { lvs1 = 100, lvs2 = 100, "a b" = 3, x = "1", y = 0 }
track_process = "/usr/bin/l7lb-supervisor"
advert_int = "0.5s"
"""
    assert errors(text) == [
        'ipvs vrrp interface: "eth 0" is not an interface name (hint: e.g. "eth0")',
        "ipvs vrrp virtual_router_id: 256 is out of range (hint: use an integer from 1 to 255)",
        "ipvs vrrp priority: 255 is out of range (hint: use an integer from 1 to 254)",
        'ipvs vrrp nodes "a b": "a b" is not a host name (hint: e.g. lvs1)',
        'ipvs vrrp nodes "x": expected an integer, got a string',
        'ipvs vrrp nodes "y": 0 is out of range (hint: use 1 to 254)',
        "ipvs vrrp nodes: two hosts have the same priority (hint: give each host its own "
        "priority, e.g. 150 and 100)",
        'ipvs vrrp track_process: "/usr/bin/l7lb-supervisor" is not a process name (hint: the '
        'name in /proc/PID/comm (at most 15 characters), e.g. "l7lb")',
        "ipvs vrrp advert_int: 500ms is not a whole number of seconds (hint: e.g. "
        'advert_int = "1s")',
    ]


def test_vrrp_needs_an_address_to_move() -> None:
    vips = VIPS.replace("192.0.2.10:80", "127.0.0.1:80").replace("192.0.2.10:443", "127.0.0.1:443")
    text = '[ipvs]\nvips = []\n[ipvs.vrrp]\ninterface = "eth0"\nvirtual_router_id = 1\n'
    assert errors(text, vips=vips) == [
        "ipvs vrrp: has no VIP address to move (hint: list a [[vip]] in [ipvs] vips)"
    ]


def test_local_vip_errors() -> None:
    assert errors('[ipvs]\n[[ipvs.local_vip]]\naddress = "192.0.2.60:80"\n') == [
        'ipvs local_vip 1 realservers: is required (hint: e.g. realservers = ["10.0.6.11", '
        '"10.0.6.12"])',
        "ipvs local_vip 1 address: no pool has a server at 192.0.2.60:80, so l7lb never sends "
        'to this IPVS VIP (hint: add a server with address = "192.0.2.60:80" to the pool that '
        "should go through IPVS)",
    ]
    text = """[ipvs]
[[ipvs.local_vip]]
address = "10.0.8.11:80"
realservers = ["10.0.6.11:8080", "10.0.6.12", "10.0.6.12:80"]
method = "DR"
[[ipvs.local_vip]]
address = "10.0.8.11:80"
realservers = ["10.0.6.13"]
[[ipvs.local_vip]]
realservers = ["10.0.6.13"]
[[ipvs.local_vip]]
address = "10.0.8.12"
realservers = []
"""
    assert errors(text) == [
        "ipvs local_vip 1 realservers 1: port 8080: direct routing cannot change the port "
        '(80) (hint: give the address only, or use method = "NAT")',
        "ipvs local_vip 1 realservers 3: 10.0.6.12:80 is listed twice (hint: list each "
        "realserver once)",
        "ipvs local_vip 2 address: 10.0.8.11:80 is already local_vip 1 (hint: list each local "
        "VIP once)",
        'ipvs local_vip 3 address: is required (hint: the local IPVS VIP, e.g. "192.0.2.60:80")',
        'ipvs local_vip 4 address: "10.0.8.12": a local VIP needs a port (hint: write '
        '"10.0.6.1:80")',
        'ipvs local_vip 4 realservers: is empty (hint: e.g. realservers = ["10.0.6.11", '
        '"10.0.6.12"])',
    ]


def test_local_vip_refuses_a_pool_check_keepalived_cannot_write() -> None:
    pools = POOLS + '[pool.web.health]\ncheck = "http"\npath = "/health#now"\n'
    text = '[ipvs]\n[[ipvs.local_vip]]\naddress = "10.0.8.11:80"\nrealservers = ["10.0.6.1"]\n'
    assert errors(text, pools=pools) == [
        'pool "web" health path: "/health#now" cannot be written to keepalived.conf for [ipvs] '
        "local_vip (hint: no spaces, quotes, #, !, { or })"
    ]


def test_every_problem_is_reported_at_once() -> None:
    text = '[ipvs]\ndirectors = ["x"]\nscheduler = "y"\n[ipvs.vrrp]\ninterface = "eth0"\n'
    assert [e.split(":")[0] for e in errors(text)] == [
        "ipvs directors 1",
        "ipvs scheduler",
        "ipvs vrrp virtual_router_id",
    ]


# --------------------------------------------------- never a crash (property)

_VALUES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**40), 2**40),
    st.floats(allow_nan=True),
    st.text(max_size=12),
    st.lists(st.one_of(st.text(max_size=16), st.integers()), max_size=4),
    st.dictionaries(st.text(max_size=8), st.integers(), max_size=3),
)
_KEYS = st.sampled_from(
    [
        "directors",
        "vips",
        "addresses",
        "scheduler",
        "method",
        "bundle",
        "fwmark",
        "persistence_timeout",
        "health_port",
        "health_path",
        "health_tls",
        "health_interval",
        "health_timeout",
        "health_retries",
        "vrrp",
        "local_vip",
        "other",
    ]
)


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(_KEYS, _VALUES, max_size=6))
def test_any_table_gives_settings_or_issues(table: dict[str, object]) -> None:
    cfg = parse_config(VIPS + POOLS)
    settings_, issues = parse_ipvs_table(table, cfg.vips, cfg.pools)
    assert (settings_ is None) == bool(issues)
    for path, message, _hint in issues:
        assert path.startswith(("ipvs", 'vip "')) and message


# --------------------------------------------------- l7lb check


def test_check_summarises_the_shipped_lvs_dr_policy(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`l7lb check` accepts the policy once its certificate exists, and says what
    `l7lb ipvs` will write."""
    if shutil.which("openssl") is None:
        pytest.skip("openssl is not installed")
    from l7lb.tls.certtool import certs_main

    out = ["new", "--cn", "www.example.com", "--self-signed", "--out", str(tmp_path / "www")]
    assert certs_main(out) == 0
    text = (POLICIES / "lvs-dr.toml").read_text().replace("/etc/l7lb/certs/", f"{tmp_path}/")
    policy = tmp_path / "lvs-dr.toml"
    policy.write_text(text)
    capsys.readouterr()
    assert check_main(str(policy)) == 0
    printed = capsys.readouterr().out
    assert (
        "ipvs: DR, wlc, to 2 directors 10.0.0.11, 10.0.0.12; persistence 5m\n"
        "  192.0.2.80 ports 80, 443 (firewall mark 1)\n"
        "  check HTTP_GET /healthz on port 8081 every 2s (must match [admin] listen)\n"
        "  vrrp on eth0, router id 80, priority 100 (lvs1 150, lvs2 100): 192.0.2.80\n"
    ) in printed
    assert printed.endswith("configuration OK\n")


def test_an_ipvs_key_at_the_top_level_is_sent_to_its_section() -> None:
    with pytest.raises(ConfigError) as info:
        parse_config('directors = ["10.0.0.11"]\n' + VIPS + POOLS)
    assert [str(e) for e in info.value.errors] == [
        'directors: unknown key (hint: "directors" belongs in [ipvs])'
    ]


def test_a_local_vip_where_l7lb_listens() -> None:
    pools = POOLS + '[pool.lvs]\n[[pool.lvs.server]]\naddress = "192.0.2.11:443"\n'
    text = '[ipvs]\n[[ipvs.local_vip]]\naddress = "192.0.2.11:443"\nrealservers = ["10.0.6.1"]\n'
    assert errors(text, pools=pools) == [
        'ipvs local_vip 1 address: 192.0.2.11:443 is where vip "api" listens: IPVS would take '
        "its connections (hint: give the local IPVS VIP another address or port)"
    ]


def test_a_repeated_director_is_named_by_its_position() -> None:
    text = '[ipvs]\ndirectors = ["x", "10.0.0.11", "10.0.0.11"]\nhealth_port = 1\n'
    assert errors(text)[1] == (
        "ipvs directors 3: 10.0.0.11 is already director 2 (hint: list each director once)"
    )
