"""Application session ids: where they are, what route they carry.

Servlet containers put the session id in a cookie (``JSESSIONID``, name
matched exactly) or, for clients without cookies, in a ``;jsessionid=`` path
parameter (Tomcat and Jetty look for the parameter name in lower case; l7lb
matches it case-insensitively so ``;JSESSIONID=`` from hand-written links
works too). Some applications use a query parameter instead. A session id may
end in ``.<route>`` (Tomcat ``jvmRoute``): the server of that route owns it,
which is what mod_proxy_balancer's ``stickysession`` reads.
"""

from __future__ import annotations

from l7lb.persistence.setcookie import Headers, get_cookie

_PATH_END = b"?#"
_OWS = b" \t"


def path_session_id(target: bytes, param: bytes = b"jsessionid") -> bytes | None:
    """The value of the ``;param=`` path parameter in a request target (name
    case-insensitive, ``param`` given in lower case); None when absent or empty."""
    end = len(target)
    for c in _PATH_END:
        i = target.find(bytes((c,)))
        if 0 <= i < end:
            end = i
    path = target[:end]
    if 59 not in path:  # ";"
        return None
    needle = b";" + param + b"="
    at = path.lower().find(needle)
    if at < 0:
        return None
    start = at + len(needle)
    stop = end
    for c in b";/":
        i = path.find(bytes((c,)), start)
        if 0 <= i < stop:
            stop = i
    return path[start:stop] or None


def query_session_id(target: bytes, param: bytes) -> bytes | None:
    """The value of query parameter ``param`` (exact name), or None."""
    q = target.find(b"?")
    if q < 0:
        return None
    query = target[q + 1 :].partition(b"#")[0]
    for pair in query.split(b"&"):
        name, eq, value = pair.partition(b"=")
        if eq and name == param:
            return value or None
    return None


def route_of(session_id: bytes, separator: bytes = b".") -> bytes | None:
    """The route after the first separator (``abc123.node1`` -> ``node1``),
    as mod_proxy_balancer reads it; None when there is none."""
    _, sep, route = session_id.partition(separator)
    return route if sep and route else None


def set_cookie_session_id(value: bytes, name: bytes) -> bytes | None:
    """The session id a Set-Cookie value gives cookie ``name``; None when it
    is another cookie or a deletion (empty value or ``Max-Age=0``)."""
    pair, _, attrs = value.partition(b";")
    cname, eq, cvalue = pair.partition(b"=")
    if not eq or cname.strip(_OWS) != name:
        return None
    cvalue = cvalue.strip(_OWS)
    if len(cvalue) >= 2 and cvalue[0] == 0x22 and cvalue[-1] == 0x22:
        cvalue = cvalue[1:-1]
    if not cvalue:
        return None
    for attr in attrs.split(b";"):
        aname, _, avalue = attr.partition(b"=")
        if aname.strip(_OWS).lower() == b"max-age" and avalue.strip(_OWS).startswith((b"0", b"-")):
            return None
    return cvalue


class SessionIdFinder:
    """Where one pool looks for the application session id.

    Order: cookie, then path parameter, then query parameter. The cookie comes
    first because the container itself prefers it when both are present
    (Tomcat lets a valid cookie override the URL), and routing must follow
    the session the container will actually use.
    """

    __slots__ = ("cookie", "path_param", "query_param")

    def __init__(
        self,
        cookie: bytes | None = b"JSESSIONID",
        path_param: bytes | None = b"jsessionid",
        query_param: bytes | None = None,
    ) -> None:
        self.cookie = cookie
        self.path_param = path_param.lower() if path_param is not None else None
        self.query_param = query_param

    def in_request(self, target: bytes, headers: Headers) -> bytes | None:
        """The session id a request carries, or None."""
        if self.cookie is not None:
            found = get_cookie(headers, self.cookie)
            if found:
                return found
        if self.path_param is not None:
            found = path_session_id(target, self.path_param)
            if found:
                return found
        if self.query_param is not None:
            return query_session_id(target, self.query_param)
        return None

    def in_response(self, headers: Headers) -> bytes | None:
        """The session id a response sets (the last Set-Cookie for the
        cookie wins, as in a browser), or None."""
        if self.cookie is None:
            return None
        learned = None
        for hname, hvalue in headers:
            if hname == b"set-cookie":
                found = set_cookie_session_id(hvalue, self.cookie)
                if found is not None:
                    learned = found
        return learned
