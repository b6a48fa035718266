"""Playbooks for failures: backends that refuse, close or stall; full pools and fallbacks;
clients that stop sending or leave; and what the access record says about each."""

from __future__ import annotations

from tests.proxy.playbook import Play, pool_config

GET = b"GET / HTTP/1.1\r\nHost: h\r\n\r\n"
OK = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"


def status_line(data: bytes) -> bytes:
    return data.split(b"\r\n", 1)[0]


def test_connect_refused_redispatches_to_the_next_server() -> None:
    play = Play(pool_config(2))
    play.fail_next_connect("Connection refused")
    play.client(GET)
    # s1 refused: the request went to s2, the only connection made
    assert [b.server for b in play.backends] == ["s2"]
    play.backend(OK)
    assert status_line(play.client_got()) == b"HTTP/1.1 200 OK"
    assert play.records[0].server == "s2"
    state = play.rt.pools["web"].state
    assert state.by_name["s1"].active == state.by_name["s2"].active == 0


def test_every_server_refusing_is_a_502() -> None:
    play = Play(pool_config(2))
    play.fail_next_connect()
    play.fail_next_connect()
    play.client(GET)
    got = play.client_got()
    assert status_line(got) == b"HTTP/1.1 502 Bad Gateway"
    assert got.endswith(b"no realserver of this pool could be reached\n")
    assert play.closed == "closed"
    rec = play.records[0]
    assert (rec.status, rec.server, rec.backend_ms) == (502, "s2", -1.0)


def test_passive_failures_put_a_server_in_back_off() -> None:
    play = Play(pool_config(2, pool="  [pool.web.health]\n  passive_failures = 1"))
    play.fail_next_connect()
    play.client(GET)
    play.backend(OK)
    s1 = play.rt.pools["web"].state.by_name["s1"]
    assert s1.down_until > play.now  # in back-off: the scheduler skips it for now


def test_backend_closing_before_answering_is_a_502() -> None:
    play = Play(pool_config())
    play.client(GET)
    play.backend_closes()
    got = play.client_got()
    assert status_line(got) == b"HTTP/1.1 502 Bad Gateway"
    assert got.endswith(b"connection closed by server\n")
    assert play.records[0].status == 502


def test_a_reused_connection_closed_under_us_is_retried_once_fresh() -> None:
    play = Play(pool_config())
    play.client(GET)
    play.backend(OK)
    play.client_got()
    first = play.current()
    assert first.released == "reused"
    play.client(GET)  # goes out on the idle connection, which the server had closed
    play.backend_closes(first)
    assert len(play.backends) == 2 and play.backends[1].link.uses == 1
    assert play.backend_got().startswith(b"GET / HTTP/1.1\r\n")
    play.backend(OK)
    assert status_line(play.client_got()) == b"HTTP/1.1 200 OK"


def test_no_retry_for_a_request_with_a_body() -> None:
    play = Play(pool_config())
    play.client(GET)
    play.backend(OK)
    first = play.current()
    play.client(b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 1\r\n\r\nx")
    play.backend_closes(first)
    assert len(play.backends) == 1
    assert status_line(play.client_got().split(b"ok", 1)[1]) == b"HTTP/1.1 502 Bad Gateway"


def test_backend_closing_mid_body_resets_the_client() -> None:
    play = Play(pool_config())
    play.client(GET)
    play.backend(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc")
    play.backend_closes()
    assert play.closed == "reset"
    rec = play.records[0]
    assert (rec.status, rec.bytes_sent) == (200, 3)  # the status that went out, and the bytes


def test_an_invalid_response_is_a_502_and_the_connection_is_not_reused() -> None:
    play = Play(pool_config())
    play.client(GET)
    play.backend(b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n")
    assert status_line(play.client_got()) == b"HTTP/1.1 502 Bad Gateway"
    assert play.current().released == "aborted"


def test_backend_response_timeout_is_a_504_with_its_timing() -> None:
    play = Play(pool_config(top='[timeouts]\nbackend_response = "5s"'))
    play.client(GET)
    play.advance(4.0)
    assert play.client_got() == b""
    play.advance(1.5)
    got = play.client_got()
    assert status_line(got) == b"HTTP/1.1 504 Gateway Timeout"
    rec = play.records[0]
    assert rec.status == 504 and rec.backend_ms == -1.0 and 5000 <= rec.total_ms <= 5600


def test_backend_progress_pushes_the_response_timeout_back() -> None:
    play = Play(pool_config(top='[timeouts]\nbackend_response = "5s"'))
    play.client(GET)
    play.backend(b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nab")
    play.advance(4.0)
    play.backend(b"c")  # progress: the idle timeout starts over when it comes due
    play.advance(4.0)
    assert not play.closed
    play.backend(b"d")
    assert play.client_got().endswith(b"abcd")
    assert play.records[0].status == 200


def test_client_stopping_mid_body_is_a_408_without_backend_time() -> None:
    play = Play(pool_config(top='[timeouts]\nclient_idle = "3s"'))
    play.client(b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 10\r\n\r\nabc")
    play.advance(3.5)
    play.advance(3.5)
    assert play.closed == "reset"
    rec = play.records[0]
    # the head went out, the response never began: no backend time (it used to be the
    # raw monotonic clock of the send, in milliseconds)
    assert rec.status == 408 and rec.backend_ms == -1.0
    # client_idle is an idle timeout checked when it comes due: cut between 3 and 6 s
    assert 3000 <= rec.total_ms <= 7000
    assert play.current().released == "aborted"


def test_client_leaving_mid_exchange_is_a_499() -> None:
    play = Play(pool_config())
    play.client(GET)
    play.advance(0.25)
    play.client_lost()
    rec = play.records[0]
    assert (rec.status, rec.backend_ms) == (499, -1.0)
    assert abs(rec.total_ms - 250) < 1
    assert play.current().released == "aborted"
    assert play.rt.pools["web"].state.by_name["s1"].active == 0


def test_client_half_close_after_its_request_still_gets_the_answer() -> None:
    play = Play(pool_config())
    play.client(GET)
    assert play.client_eof() is True
    play.backend(OK)
    assert status_line(play.client_got()) == b"HTTP/1.1 200 OK"
    assert play.closed == "closed"


def test_request_head_timeout_is_a_408() -> None:
    play = Play(pool_config(top='[timeouts]\nrequest_head = "2s"'))
    play.client(b"GET / HTTP/1.1\r\nHo")
    play.advance(2.5)
    got = play.client_got()
    assert status_line(got) == b"HTTP/1.1 408 Request Timeout"
    assert play.closed == "closed"
    rec = play.records[0]
    assert (rec.status, rec.method, rec.target) == (408, b"-", b"-")


def test_idle_keep_alive_connection_is_closed_quietly() -> None:
    play = Play(pool_config(top='[timeouts]\nkeepalive = "2s"'))
    play.client(GET)
    play.backend(OK)
    play.client_got()
    play.advance(1.9)
    assert not play.closed
    play.advance(0.2)
    assert play.closed == "closed" and play.client_got() == b""


def test_malformed_request_gets_its_status_and_a_close() -> None:
    play = Play(pool_config())
    play.client(b"GET / HTTP/1.1\r\nHost: a, b\r\n\r\n")
    got = play.client_got()
    assert status_line(got) == b"HTTP/1.1 400 Bad Request"
    assert play.closed == "closed" and play.backends == []


def test_broken_chunked_body_after_the_head_went_out_closes_the_backend() -> None:
    play = Play(pool_config())
    play.client(b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n")
    assert play.backend_got().endswith(b"3\r\nabc\r\n")
    play.client(b"zz\r\n")  # not a chunk size
    assert status_line(play.client_got()) == b"HTTP/1.1 400 Bad Request"
    assert play.current().released == "aborted"  # it got part of the request: never reused
    assert play.closed == "closed"


# --- full pools, queues and fallbacks -------------------------------------------------------


def limited(queue: str) -> str:
    return pool_config(pool=f'queue_timeout = "{queue}"').replace(
        'address = "10.0.0.1:80"', 'address = "10.0.0.1:80"\n  max_conn = 1'
    )


def test_queue_waits_for_a_slot_then_times_out_with_503() -> None:
    first = Play(limited("2s"))
    first.client(GET)  # takes the one slot
    second = first.another()
    second.client(GET)
    assert len(second.queued) == 1 and len(first.backends) == 1  # none for the second
    second.advance(2.5)
    got = second.client_got()
    assert status_line(got) == b"HTTP/1.1 503 Service Unavailable"
    assert got.endswith(b"every server of this pool is busy\n")


def test_queued_request_goes_when_a_slot_frees() -> None:
    first = Play(limited("5s"))
    first.client(GET)
    second = first.another()
    second.client(GET)
    assert len(second.queued) == 1
    link = first.current().link
    first.backend(OK)  # the first exchange ends: its slot goes to the waiter, next loop turn
    assert link.exchange is None
    first.run_deferred()
    second.run()
    # the first exchange's connection went back to the stock, and the waiter took it
    assert len(second.backends) == 1 and link.exchange is second.conn.ex
    assert second.backend_got().startswith(b"GET / HTTP/1.1\r\n")


def test_fallback_pool_and_sorry_page() -> None:
    config = pool_config(pool='fallback = "sorry"') + (
        '[pool.sorry]\nfallback = { status = 503, body = "Back soon.\\n" }\n'
    )
    play = Play(config)
    play.rt.pools["web"].state.mark_down("s1")
    play.client(GET)
    assert play.client_got() == (
        b"HTTP/1.1 503 Service Unavailable\r\ncontent-type: text/plain; charset=utf-8\r\n"
        b"content-length: 11\r\nconnection: keep-alive\r\n\r\nBack soon.\n"
    )
    assert play.records[0].pool == "sorry"
    assert not play.closed


def test_all_servers_down_is_a_503() -> None:
    play = Play(pool_config())
    play.rt.pools["web"].state.mark_down("s1")
    play.client(GET)
    assert status_line(play.client_got()) == b"HTTP/1.1 503 Service Unavailable"
