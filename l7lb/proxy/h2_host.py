"""What the helpers of an HTTP/2 connection ask of it (``h2.H2Connection``).

``h2_control.Control`` (the connection-level frames) and ``h2_streams.Streams`` (the frames
addressed to streams, and the streams' ends) find errors the connection must act on: it ends
itself (GOAWAY), logs a limit broken, or notices that it has streams or none. A trait, so that
compiled calls go through a table, not by name; declared apart so that the helpers do not
import the connection's module.
"""

from __future__ import annotations

from mypy_extensions import trait


@trait
class Host:
    def fail(self, code: int, reason: str, now: float) -> None:
        """A connection error (RFC 9113 5.4.1): GOAWAY ``code``, the connection closed."""
        raise NotImplementedError

    def calm(self, limit: str, now: float) -> None:
        """A limit broken (``l7lb.http2.limits``): GOAWAY ENHANCE_YOUR_CALM, closed."""
        raise NotImplementedError

    def violation(self, limit: str, detail: str) -> None:
        """A limit broken, answered without closing: logged once per connection."""
        raise NotImplementedError

    def stream_opened(self) -> None:
        """A stream holds work: the connection is not idle."""
        raise NotImplementedError

    def stream_gone(self) -> None:
        """A stream ended: with none left the connection idles, or closes after GOAWAY."""
        raise NotImplementedError
