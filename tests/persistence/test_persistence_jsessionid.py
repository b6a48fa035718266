"""Application session ids from path, cookie, query; route suffixes; learning."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from l7lb.persistence.jsessionid import (
    SessionIdFinder,
    path_session_id,
    query_session_id,
    route_of,
    set_cookie_session_id,
)


def test_path_parameter() -> None:
    assert path_session_id(b"/app/page;jsessionid=ABC123.node1") == b"ABC123.node1"
    assert path_session_id(b"/app/page;jsessionid=ABC?x=1") == b"ABC"
    assert path_session_id(b"/app/page;jsessionid=ABC#frag") == b"ABC"
    assert path_session_id(b"/app;jsessionid=ABC/page") == b"ABC"
    assert path_session_id(b"/app/page;foo=1;jsessionid=ABC;bar=2") == b"ABC"
    assert path_session_id(b"/app/page;JSESSIONID=ABC") == b"ABC"  # name case-insensitive
    assert path_session_id(b"/app/page;JSessionId=ABC") == b"ABC"


def test_path_parameter_absent() -> None:
    assert path_session_id(b"/app/page") is None
    assert path_session_id(b"/app/page;jsessionid=") is None
    assert path_session_id(b"/app/page?x=;jsessionid=ABC") is None  # in the query, not the path
    assert path_session_id(b"/app/page;xjsessionid=ABC") is None
    assert path_session_id(b"/app/page;sid=ABC", b"sid") == b"ABC"


def test_query_parameter() -> None:
    assert query_session_id(b"/p?a=1&sid=XYZ&b=2", b"sid") == b"XYZ"
    assert query_session_id(b"/p?sid=XYZ#f", b"sid") == b"XYZ"
    assert query_session_id(b"/p?SID=XYZ", b"sid") is None  # exact name
    assert query_session_id(b"/p?sid=", b"sid") is None
    assert query_session_id(b"/p", b"sid") is None
    assert query_session_id(b"/p?xsid=1", b"sid") is None


def test_route_suffix() -> None:
    assert route_of(b"abc123.node1") == b"node1"
    assert route_of(b"abc123.node1.dc2") == b"node1.dc2"  # after the first separator
    assert route_of(b"abc123") is None
    assert route_of(b"abc123.") is None
    assert route_of(b"abc123-n1", b"-") == b"n1"


def test_finder_order_cookie_then_path_then_query() -> None:
    finder = SessionIdFinder(query_param=b"jsessionid")
    cookie = [(b"cookie", b"JSESSIONID=fromcookie.n1")]
    assert finder.in_request(b"/a;jsessionid=frompath.n2?jsessionid=q", cookie) == b"fromcookie.n1"
    assert finder.in_request(b"/a;jsessionid=frompath.n2?jsessionid=q", []) == b"frompath.n2"
    assert finder.in_request(b"/a?jsessionid=fromquery.n3", []) == b"fromquery.n3"
    assert finder.in_request(b"/a", [(b"cookie", b"jsessionid=lower")]) is None  # cookie exact
    assert finder.in_request(b"/a", [(b"cookie", b"JSESSIONID=")]) is None


def test_finder_configured_names() -> None:
    finder = SessionIdFinder(cookie=b"PHPSESSID", path_param=None, query_param=b"PHPSESSID")
    assert finder.in_request(b"/a;jsessionid=x", []) is None
    assert finder.in_request(b"/a?PHPSESSID=q1", []) == b"q1"
    assert finder.in_request(b"/", [(b"cookie", b"PHPSESSID=c1")]) == b"c1"
    assert SessionIdFinder(path_param=b"JSESSIONID").in_request(b"/a;jsessionid=x", []) == b"x"


def test_learn_from_response() -> None:
    finder = SessionIdFinder()
    headers = [
        (b"set-cookie", b"OTHER=1"),
        (b"set-cookie", b"JSESSIONID=first; Path=/"),
        (b"set-cookie", b'JSESSIONID="second.node2"; Path=/; HttpOnly'),
    ]
    assert finder.in_response(headers) == b"second.node2"
    assert finder.in_response([(b"set-cookie", b"JSESSIONID=; Max-Age=0")]) is None
    assert finder.in_response([(b"content-type", b"text/html")]) is None
    assert SessionIdFinder(cookie=None).in_response(headers) is None


def test_set_cookie_session_id_deletions() -> None:
    assert set_cookie_session_id(b"JSESSIONID=abc; Max-Age=0", b"JSESSIONID") is None
    assert set_cookie_session_id(b"JSESSIONID=abc; max-age=-1", b"JSESSIONID") is None
    assert set_cookie_session_id(b"JSESSIONID=abc; Max-Age=60", b"JSESSIONID") == b"abc"
    assert set_cookie_session_id(b"nope", b"JSESSIONID") is None


sid = st.text(alphabet="ABCDEF0123456789", min_size=1, max_size=32)
route = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789-", min_size=1, max_size=10)


@settings(max_examples=200)
@given(session=sid, node=route, path=st.sampled_from([b"/", b"/app/x", b"/a/b/c.jsp"]))
def test_path_and_route_property(session: str, node: str, path: bytes) -> None:
    full = f"{session}.{node}".encode()
    target = path + b";jsessionid=" + full + b"?q=1"
    found = SessionIdFinder().in_request(target, [])
    assert found == full
    assert route_of(found) == node.encode()
