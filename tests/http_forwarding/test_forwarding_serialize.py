"""Head serialisation."""

from __future__ import annotations

from l7lb.http.forwarding import serialize_request_head, serialize_response_head


def test_request_head() -> None:
    assert (
        serialize_request_head(
            b"POST", b"/a?b=1", [(b"host", b"example.com"), (b"content-length", b"3")]
        )
        == b"POST /a?b=1 HTTP/1.1\r\nhost: example.com\r\ncontent-length: 3\r\n\r\n"
    )
    assert serialize_request_head(b"GET", b"/", []) == b"GET / HTTP/1.1\r\n\r\n"


def test_response_head() -> None:
    assert serialize_response_head(b"1.1", 301, b"Moved Permanently", [(b"location", b"/x")]) == (
        b"HTTP/1.1 301 Moved Permanently\r\nlocation: /x\r\n\r\n"
    )
    assert serialize_response_head(b"1.0", 200, b"", []) == b"HTTP/1.0 200 \r\n\r\n"
    assert serialize_response_head(b"1.1", 999, b"X", []) == b"HTTP/1.1 999 X\r\n\r\n"


def test_request_head_parses_back_with_h11() -> None:
    import h11

    from l7lb.http.forwarding import backend_request_headers

    headers = backend_request_headers(
        [(b"host", b"example.com"), (b"x-forwarded-for", b"203.0.113.9"), (b"accept", b"*/*")],
        client_ip="2001:db8::5",
        scheme=b"https",
        host=b"example.com",
        via=b"l7lb",
        forwarded=True,
        upgrade=False,
    )
    server = h11.Connection(h11.SERVER)
    server.receive_data(serialize_request_head(b"GET", b"/p?q", headers))
    event = server.next_event()
    assert isinstance(event, h11.Request)
    assert event.target == b"/p?q"
    assert list(event.headers) == headers
