"""Playbooks for persistence: each mode's decision, what the backend and the client see, and
what other workers are told."""

from __future__ import annotations

import re

from l7lb.persistence.cookie import CookieCodec
from tests.proxy.playbook import WALL0, Play, pool_config

SECRET = "0123456789abcdef0123456789abcdef"
COOKIE = f'  mode = "cookie"\n  name = "SRV"\n  secret = "{SECRET}"\n  indirect = true'
OK = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"


def get(extra: bytes = b"", target: bytes = b"/") -> bytes:
    return b"GET " + target + b" HTTP/1.1\r\nHost: h\r\n" + extra + b"\r\n"


def set_cookie(data: bytes) -> bytes | None:
    m = re.search(rb"\r\nset-cookie: SRV=([^;\r]+)", data)
    return m.group(1) if m else None


def mint(server: str, pools: dict[str, list[str]]) -> bytes:
    codec = CookieCodec(SECRET.encode(), pools)
    return codec.encode("web", server, int(WALL0), int(WALL0)).encode()


def test_new_client_gets_a_cookie_returning_client_sticks_without_one() -> None:
    play = Play(pool_config(3, persistence=COOKIE + "\n  nocache = true"))
    play.client(get(b"Cookie: app=1\r\n"))
    b1 = play.current()
    play.backend(OK)
    first = play.client_got()
    value = set_cookie(first)
    assert value is not None
    # nocache: a response that sets the cookie must not be stored by a shared cache
    assert b"\r\ncache-control: private\r\n" in first
    assert b"; Path=/; HttpOnly\r\n" in first  # the defaults
    # the returning client goes to the same server, and (indirect) never sees it re-sent
    for _ in range(3):
        play.client(get(b"Cookie: app=1; SRV=" + value + b"\r\n"))
        assert play.current().server == b1.server
        # indirect: the backend never sees l7lb's cookie (the field, rewritten, moves last)
        assert play.backend_got().endswith(b"\r\ncookie: app=1\r\n\r\n")
        play.backend(OK)
        assert set_cookie(play.client_got()) is None
    assert {r.server for r in play.records} == {b1.server}


def test_forged_or_foreign_cookie_is_scheduled_and_replaced() -> None:
    play = Play(pool_config(2, persistence=COOKIE))
    play.client(get(b"Cookie: SRV=AAAAforged\r\n"))
    assert b"SRV" not in play.backend_got()  # l7lb's cookie is stripped, valid or not
    play.backend(OK)
    assert set_cookie(play.client_got()) is not None  # a fresh one


def test_stuck_server_down_redispatches_and_resticks() -> None:
    names = {"web": ["s1", "s2"]}
    play = Play(pool_config(2, persistence=COOKIE))
    play.rt.pools["web"].state.mark_down("s1")
    play.client(get(b"Cookie: SRV=" + mint("s1", names) + b"\r\n"))
    assert play.current().server == "s2"
    play.backend(OK)
    new = set_cookie(play.client_got())
    assert new is not None and new != mint("s1", names)


def test_stuck_server_down_without_redispatch_is_a_503() -> None:
    names = {"web": ["s1", "s2"]}
    play = Play(pool_config(2, pool="redispatch = false", persistence=COOKIE))
    play.rt.pools["web"].state.mark_down("s1")
    play.client(get(b"Cookie: SRV=" + mint("s1", names) + b"\r\n"))
    got = play.client_got()
    assert got.startswith(b"HTTP/1.1 503 Service Unavailable\r\n")
    assert got.endswith(b"the client's server is down\n")
    assert play.backends == []


def test_draining_server_keeps_its_stuck_clients_but_no_new_ones() -> None:
    names = {"web": ["s1", "s2"]}
    play = Play(pool_config(2, persistence=COOKIE))
    play.rt.pools["web"].state.set_admin("s1", "drain")
    play.client(get(b"Cookie: SRV=" + mint("s1", names) + b"\r\n"))
    assert play.current().server == "s1"
    play.backend(OK)
    other = play.another()
    for _ in range(3):
        other.client(get())
        assert other.current().server == "s2"
        other.backend(OK)


def test_prefix_mode_rewrites_the_application_cookie_both_ways() -> None:
    persistence = f'  mode = "prefix"\n  name = "PHPSESSID"\n  secret = "{SECRET}"'
    play = Play(pool_config(2, persistence=persistence))
    play.client(get())
    server = play.current().server
    play.backend(
        b"HTTP/1.1 200 OK\r\nSet-Cookie: PHPSESSID=abc; Path=/\r\nContent-Length: 0\r\n\r\n"
    )
    got = play.client_got()
    m = re.search(rb"\r\nset-cookie: PHPSESSID=([^;]+)~abc; Path=/\r\n", got)
    assert m is not None, got
    prefixed = m.group(1) + b"~abc"
    play.client(get(b"Cookie: PHPSESSID=" + prefixed + b"\r\n"))
    assert play.current().server == server
    # the backend sees its own session id again (the rewritten field moves to the end)
    got = play.backend_got()
    assert got.endswith(b"\r\ncookie: PHPSESSID=abc\r\n\r\n") and prefixed not in got


def test_jsessionid_route_suffix_picks_the_server() -> None:
    config = pool_config(2, persistence='  mode = "jsessionid"').replace(
        'name = "s2"', 'name = "s2"\n  route = "node2"'
    )
    play = Play(config)
    play.client(get(target=b"/cart;jsessionid=4F2A.node2"))
    assert play.current().server == "s2"
    assert play.backend_got().startswith(b"GET /cart;jsessionid=4F2A.node2 HTTP/1.1\r\n")


def test_jsessionid_learned_from_a_response_and_announced() -> None:
    play = Play(pool_config(2, persistence='  mode = "jsessionid"\n  learn = true'))
    play.client(get())
    server = play.current().server
    play.backend(
        b"HTTP/1.1 200 OK\r\nSet-Cookie: JSESSIONID=S3SS10N; Path=/\r\nContent-Length: 0\r\n\r\n"
    )
    assert [(u.table, u.key, u.server) for u in play.announced] == [("web", b"S3SS10N", server)]
    # the next request with that id sticks, with no claim to the supervisor
    play.client(get(b"Cookie: JSESSIONID=S3SS10N\r\n"))
    assert play.current().server == server and play.claims == []


def test_unknown_session_id_asks_the_supervisor_first() -> None:
    play = Play(pool_config(2, persistence='  mode = "jsessionid"\n  learn = true'))
    play.client(get(b"Cookie: JSESSIONID=FROM-OTHER-WORKER\r\n"))
    (claim,) = play.claims
    assert (claim.table, claim.key, claim.proposal) == ("web", b"FROM-OTHER-WORKER", None)
    assert play.backends == []  # nothing scheduled until the answer
    play.answer_claim("s2")
    assert play.current().server == "s2"


def test_claim_without_an_answer_schedules_normally() -> None:
    play = Play(pool_config(2, persistence='  mode = "jsessionid"\n  learn = true'))
    play.client(get(b"Cookie: JSESSIONID=NOBODY-KNOWS\r\n"))
    play.answer_claim(None)  # the supervisor's deadline passed
    assert play.current().server in ("s1", "s2")


def test_source_mode_proposes_a_server_and_the_first_claim_wins() -> None:
    play = Play(pool_config(2, persistence='  mode = "source"'))
    play.client(get())
    (claim,) = play.claims
    assert claim.table == "web" and claim.proposal in ("s1", "s2")
    # another worker claimed the address first: its server wins
    winner = "s2" if claim.proposal == "s1" else "s1"
    play.answer_claim(winner)
    assert play.current().server == winner
    play.backend(OK)
    # known now: the next request sticks without asking, and refreshes nothing yet
    play.client(get())
    assert play.current().server == winner and play.claims == []
