"""The mapping from a configuration to IPVS services, real servers and checks
(l7lb/ipvs/plan.py), and how each rendering spells it."""

from __future__ import annotations

import pytest
from ipvs_helpers import POOLS, VIPS, config

from l7lb.config.ipvs import IpvsMethod, IpvsScheduler
from l7lb.config.load import parse_config
from l7lb.ipvs.ipvsadm import render_ipvsadm
from l7lb.ipvs.keepalived import render_keepalived
from l7lb.ipvs.plan import (
    Check,
    HttpGet,
    Mark,
    NoIpvsSection,
    Plan,
    RealServer,
    TcpConnect,
    VirtualService,
    plan,
)
from l7lb.ipvs.sysctl import render_sysctl

FRONT = '[ipvs]\ndirectors = ["10.0.0.11", "10.0.0.12"]\nhealth_port = 8081\n'
DIRECTOR_CHECK = Check(HttpGet(8081, "/healthz", False, ("200",)), 2.0, 2.0, 1)


def _rules(text: str) -> list[str]:
    return [line for line in text.splitlines() if line and not line.startswith("#")]


def test_no_ipvs_section() -> None:
    with pytest.raises(NoIpvsSection):
        plan(parse_config(VIPS + POOLS), "f.toml")


def test_one_service_per_address_and_port() -> None:
    p = plan(config(FRONT), "f.toml")
    directors = (RealServer("10.0.0.11", 80), RealServer("10.0.0.12", 80))
    assert p.services[0] == VirtualService(
        title='192.0.2.10:80, vip "www-http"',
        endpoints=(("192.0.2.10", 80),),
        scheduler=IpvsScheduler.WLC,
        method=IpvsMethod.DR,
        real_servers=directors,
        check=DIRECTOR_CHECK,
    )
    assert [(s.endpoints, [rs.port for rs in s.real_servers]) for s in p.services] == [
        ((("192.0.2.10", 80),), [80, 80]),
        ((("192.0.2.10", 443),), [443, 443]),
        ((("192.0.2.11", 443),), [443, 443]),
    ]
    assert p.marks == () and p.vrrp is None and p.vrrp_addresses == ()
    assert _rules(render_ipvsadm(p)) == [
        "-A -t 192.0.2.10:80 -s wlc",
        "-a -t 192.0.2.10:80 -r 10.0.0.11:80 -g -w 1",
        "-a -t 192.0.2.10:80 -r 10.0.0.12:80 -g -w 1",
        "-A -t 192.0.2.10:443 -s wlc",
        "-a -t 192.0.2.10:443 -r 10.0.0.11:443 -g -w 1",
        "-a -t 192.0.2.10:443 -r 10.0.0.12:443 -g -w 1",
        "-A -t 192.0.2.11:443 -s wlc",
        "-a -t 192.0.2.11:443 -r 10.0.0.11:443 -g -w 1",
        "-a -t 192.0.2.11:443 -r 10.0.0.12:443 -g -w 1",
    ]
    text = render_keepalived(p)
    assert text.count("virtual_server ") == 3
    assert "virtual_server 192.0.2.10 80 {" in text
    assert "    real_server 10.0.0.11 443 {" in text


def test_fwmark_bundles_the_ports_of_each_address() -> None:
    text = FRONT + 'bundle = "fwmark"\nfwmark = 7\npersistence_timeout = 600\n'
    p = plan(config(text), "f.toml")
    assert [(s.fwmark, s.endpoints) for s in p.services] == [
        (7, (("192.0.2.10", 80), ("192.0.2.10", 443))),
        (8, (("192.0.2.11", 443),)),
    ]
    assert p.marks == (Mark("192.0.2.10", (80, 443), 7), Mark("192.0.2.11", (443,), 8))
    # port 0: IPVS keeps the port the client asked for
    assert {rs.port for s in p.services for rs in s.real_servers} == {0}
    assert p.services[0].title == (
        '192.0.2.10 ports 80, 443 (vip "www-http", vip "www-https"), firewall mark 7'
    )
    assert _rules(render_ipvsadm(p)) == [
        "-A -f 7 -s wlc -p 600",
        "-a -f 7 -r 10.0.0.11 -g -w 1",
        "-a -f 7 -r 10.0.0.12 -g -w 1",
        "-A -f 8 -s wlc -p 600",
        "-a -f 8 -r 10.0.0.11 -g -w 1",
        "-a -f 8 -r 10.0.0.12 -g -w 1",
    ]
    keepalived = render_keepalived(p)
    assert "virtual_server fwmark 7 {" in keepalived
    assert "    persistence_timeout 600\n" in keepalived
    assert "protocol TCP" not in keepalived  # keepalived warns about it on fwmark services
    assert "    real_server 10.0.0.11 {" in keepalived


def test_a_group_is_one_keepalived_service_and_several_ipvs_ones() -> None:
    p = plan(config(FRONT + 'bundle = "group"\nscheduler = "sh"\n'), "f.toml")
    assert [(s.group, s.endpoints) for s in p.services] == [
        ("l7lb-192.0.2.10", (("192.0.2.10", 80), ("192.0.2.10", 443))),
        ("l7lb-192.0.2.11", (("192.0.2.11", 443),)),
    ]
    keepalived = render_keepalived(p)
    assert (
        "virtual_server_group l7lb-192.0.2.10 {\n"
        "    192.0.2.10 80\n"
        "    192.0.2.10 443\n"
        "}\n"
        "virtual_server group l7lb-192.0.2.10 {\n"
        "    lvs_sched sh\n"
        "    sh-fallback\n"
    ) in keepalived
    assert _rules(render_ipvsadm(p))[:6] == [
        "-A -t 192.0.2.10:80 -s sh -b sh-fallback",
        "-a -t 192.0.2.10:80 -r 10.0.0.11:80 -g -w 1",
        "-a -t 192.0.2.10:80 -r 10.0.0.12:80 -g -w 1",
        "-A -t 192.0.2.10:443 -s sh -b sh-fallback",
        "-a -t 192.0.2.10:443 -r 10.0.0.11:443 -g -w 1",
        "-a -t 192.0.2.10:443 -r 10.0.0.12:443 -g -w 1",
    ]


@pytest.mark.parametrize(
    ("scheduler", "flags"),
    [
        ("rr", ()),
        ("wrr", ()),
        ("lc", ()),
        ("wlc", ()),
        ("sh", ("sh-fallback",)),
        ("mh", ("mh-fallback",)),
    ],
)
def test_schedulers(scheduler: str, flags: tuple[str, ...]) -> None:
    p = plan(config(FRONT + f'scheduler = "{scheduler}"\n'), "f.toml")
    assert {s.scheduler.value for s in p.services} == {scheduler}
    assert {s.scheduler_flags for s in p.services} == {flags}
    assert f"    lvs_sched {scheduler}\n" in render_keepalived(p)
    first = _rules(render_ipvsadm(p))[0]
    assert first == f"-A -t 192.0.2.10:80 -s {scheduler}" + (f" -b {flags[0]}" if flags else "")


def test_nat() -> None:
    vips = VIPS.replace('"192.0.2.10:', '"0.0.0.0:').replace("192.0.2.11:443", "0.0.0.0:8443")
    text = FRONT + 'method = "NAT"\naddresses = ["192.0.2.10"]\n'
    p = plan(config(text, vips=vips), "f.toml")
    assert {s.method for s in p.services} == {IpvsMethod.NAT}
    assert "    lvs_method NAT\n" in render_keepalived(p)
    assert "-a -t 192.0.2.10:8443 -r 10.0.0.12:8443 -m -w 1" in _rules(render_ipvsadm(p))


def test_the_local_l7lb_is_a_loopback_real_server() -> None:
    p = plan(config('[ipvs]\ndirectors = ["127.0.0.1", "10.0.0.12"]\nhealth_port = 8081\n'), "f")
    assert [rs.local for rs in p.services[0].real_servers] == [True, False]
    assert p.remote_directors == ("10.0.0.12",)
    assert "-a -t 192.0.2.10:80 -r 127.0.0.1:80 -g -w 1" in _rules(render_ipvsadm(p))


def test_the_director_check() -> None:
    text = FRONT + 'health_path = "/ready"\nhealth_tls = true\nhealth_interval = "500ms"\n'
    text += "health_timeout = 3\nhealth_retries = 0\n"
    p = plan(config(text), "f.toml")
    assert p.services[0].check == Check(HttpGet(8081, "/ready", True, ("200",)), 0.5, 3.0, 0)
    assert (
        "        SSL_GET {\n"
        "            url {\n"
        "                path /ready\n"
        "                status_code 200\n"
        "            }\n"
        "            connect_port 8081\n"
        "            connect_timeout 3\n"
        "            retry 0\n"
        "            delay_before_retry 1\n"
        "        }\n"
    ) in render_keepalived(p)
    assert "    delay_loop 0.5\n" in render_keepalived(p)


def test_vrrp_moves_the_front_and_local_vip_addresses() -> None:
    pools = POOLS + '[[pool.web.server]]\naddress = "192.0.2.60:80"\n'
    text = FRONT + 'vips = ["api"]\n[[ipvs.local_vip]]\naddress = "192.0.2.60:80"\n'
    text += 'realservers = ["10.0.6.11"]\n[ipvs.vrrp]\ninterface = "eth1"\nvirtual_router_id = 9\n'
    text += "nodes = { a = 120, b = 110 }\n"
    p = plan(config(text, pools=pools), "f.toml")
    assert p.vrrp_addresses == ("192.0.2.11", "192.0.2.60")
    keepalived = render_keepalived(p)
    assert (
        "vrrp_instance l7lb_vips {\n"
        "    state BACKUP\n"
        "    interface eth1\n"
        "    virtual_router_id 9\n"
        "    priority 100\n"
        "@a priority 120\n"
        "@b priority 110\n"
        "    advert_int 1\n"
        "    nopreempt\n"
        "    virtual_ipaddress {\n"
        "        192.0.2.11/32\n"
        "        192.0.2.60/32\n"
        "    }\n"
        "}\n"
    ) in keepalived
    assert "track_process" not in keepalived  # l7lb does not run on these IPVS directors


def _local_plan(health: str) -> Plan:
    pools = POOLS + f'[pool.lvs]\n{health}\n[[pool.lvs.server]]\naddress = "192.0.2.60:80"\n'
    text = '[ipvs]\n[[ipvs.local_vip]]\naddress = "192.0.2.60:80"\n'
    text += 'realservers = ["10.0.6.11", "10.0.6.12:8080"]\n'
    return plan(config(text, pools=pools), "f.toml")


def _local(health: str) -> VirtualService:
    (service,) = _local_plan(health).services
    return service


def test_a_local_vip_is_checked_like_its_pool() -> None:
    health = '[pool.lvs.health]\ncheck = "http"\npath = "/up"\nhost = "www.example.com"\n'
    health += 'expect = "200,204,300-302"\nport = 8000\ntimeout = "3s"\ninterval = "4s"\n'
    health += "fall = 4\n"
    service = _local(health)
    assert service.real_servers == (RealServer("10.0.6.11", 80), RealServer("10.0.6.12", 8080))
    assert service.method is IpvsMethod.NAT and service.fwmark == 0
    assert service.check == Check(
        HttpGet(8000, "/up", False, ("200", "204", "300-302"), "www.example.com"), 4.0, 3.0, 3
    )
    assert service.notes == ()
    text = render_keepalived(_local_plan(health))
    assert "                status_code 200 204 300-302\n" in text
    assert "                virtualhost www.example.com\n" in text
    assert "            connect_port 8000\n" in text


def test_a_local_vip_check_keepalived_cannot_copy_is_said() -> None:
    health = '[pool.lvs.health]\ncheck = "http"\nmethod = "HEAD"\nbody = "ok"\n'
    assert _local(health).notes == (
        "keepalived sends GET where l7lb's check sends HEAD",
        "keepalived checks the status only; the body check stays l7lb's",
    )
    text = render_keepalived(_local_plan(health))
    assert "# note: keepalived sends GET where l7lb's check sends HEAD\n" in text


def test_a_local_vip_with_tcp_or_no_check() -> None:
    tcp = _local('[pool.lvs.health]\ncheck = "tcp"\nrise = 1\nfall = 1\n')
    assert tcp.check == Check(TcpConnect(0), 2.0, 1.0, 0)
    none = _local("")
    assert none.check is None
    assert none.notes == ('pool "lvs" has no [health] check: every realserver counts up',)


def test_names_cannot_break_out_of_a_comment() -> None:
    """A line break in a VIP name or a file name stays inside its comment line."""
    vips = VIPS.replace('name = "api"', 'name = "api\\nreal_server 6.6.6.6 {"')
    p = plan(config(FRONT, vips=vips), "/etc/l7lb/x\nrm -rf /tmp/x.toml")
    assert p.services[2].title == '192.0.2.11:443, vip "api\\x0areal_server 6.6.6.6 {"'
    for text in (render_keepalived(p), render_ipvsadm(p), render_sysctl(p)):
        assert "\nreal_server 6.6.6.6" not in text
        assert "\nrm -rf" not in text
