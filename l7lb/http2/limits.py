"""What one HTTP/2 connection may make l7lb do: resets and floods, counted, sans-IO.

A ``Guard`` per connection keeps token buckets (``Bucket``: ``burst`` tokens, refilled at
``rate`` a second; times are the caller's clock) and answers every counted event with None
(allowed) or the name of the limit it broke; the connection then sends GOAWAY
ENHANCE_YOUR_CALM and closes. The limits, from ``[http2]``:

* resets: every RST_STREAM the client sends, and every stream error l7lb answers with
  (the 2025 "MadeYouReset": a client that provokes resets must pay for them the same);
  and the share of streams the client reset before their response began, checked once
  ``SHARE_AFTER`` streams were opened (rapid reset, CVE-2023-44487, sends only those);
* floods of frames that cost l7lb work but carry no request: PING and SETTINGS (each
  answered with an ACK), empty DATA without END_STREAM, WINDOW_UPDATE, and PRIORITY or
  unknown frames. A client earns PRIORITY and WINDOW_UPDATE tokens by opening streams, and
  two WINDOW_UPDATE tokens (the stream's and the connection's) per DATA frame it is sent:
  what browsers answer those with.

``VIOLATIONS`` counts what every connection of this process broke, by limit name; each
connection logs a limit the first time it breaks it (``Guard.first``), never more.
"""

from __future__ import annotations

from typing import Final

from l7lb.config.http2 import Http2Settings

SHARE_AFTER: Final = 100  # streams opened before the early-reset share is judged

# limit names (log lines, counters, docs/http2.md)
RESETS: Final = "reset rate"
RESET_SHARE: Final = "early reset share"
PING_FLOOD: Final = "PING flood"
SETTINGS_FLOOD: Final = "SETTINGS flood"
EMPTY_DATA_FLOOD: Final = "empty DATA flood"
WINDOW_UPDATE_FLOOD: Final = "WINDOW_UPDATE flood"
OTHER_FLOOD: Final = "PRIORITY or unknown frame flood"
STREAMS: Final = "concurrent streams"
HEADER_LIST: Final = "header list size"
HEADER_BLOCK: Final = "header block size"
CONTINUATIONS: Final = "CONTINUATION frames"
HEADERS_TIMEOUT: Final = "headers timeout"

VIOLATIONS: Final[dict[str, int]] = {}


class Bucket:
    """A token bucket: ``burst`` tokens at first, ``rate`` more a second, never above
    ``burst``."""

    __slots__ = ("at", "burst", "rate", "tokens")

    def __init__(self, burst: float, rate: float, now: float) -> None:
        self.burst = burst
        self.rate = rate
        self.tokens = burst
        self.at = now

    def take(self, now: float) -> bool:
        """Spend one token; False when none is left."""
        tokens = self.tokens
        if tokens < self.burst:
            tokens += (now - self.at) * self.rate
            if tokens > self.burst:
                tokens = self.burst
        self.at = now
        if tokens < 1.0:
            self.tokens = tokens
            return False
        self.tokens = tokens - 1.0
        return True

    def earn(self, n: float) -> None:
        tokens = self.tokens + n
        self.tokens = tokens if tokens < self.burst else self.burst


class Guard:
    """One connection's budgets (see the module docstring)."""

    __slots__ = (
        "early_resets",
        "empty_data",
        "logged",
        "max_share",
        "opened",
        "other",
        "pings",
        "resets",
        "settings",
        "window_updates",
    )

    def __init__(self, s: Http2Settings, now: float) -> None:
        self.resets = Bucket(s.reset_burst, s.reset_rate, now)
        self.max_share = s.max_reset_share
        self.pings = Bucket(s.flood_burst, s.flood_rate, now)
        self.settings = Bucket(s.flood_burst, s.flood_rate, now)
        self.empty_data = Bucket(s.flood_burst, s.flood_rate, now)
        self.window_updates = Bucket(s.flood_burst, s.flood_rate, now)
        self.other = Bucket(s.flood_burst, s.flood_rate, now)
        self.opened = 0
        self.early_resets = 0
        self.logged: set[str] = set()

    def stream_opened(self) -> None:
        self.opened += 1
        self.window_updates.earn(1.0)
        self.other.earn(1.0)

    def data_sent(self) -> None:
        # a stream's WINDOW_UPDATE and the connection's
        self.window_updates.earn(2.0)

    def client_reset(self, early: bool, now: float) -> str | None:
        """The client reset a stream (``early``: before its response began)."""
        if early:
            self.early_resets += 1
            opened = self.opened
            if opened >= SHARE_AFTER and self.early_resets > opened * self.max_share:
                return RESET_SHARE
        return None if self.resets.take(now) else RESETS

    def server_reset(self, now: float) -> str | None:
        """l7lb answered a client's frame with a stream error."""
        return None if self.resets.take(now) else RESETS

    def ping(self, now: float) -> str | None:
        return None if self.pings.take(now) else PING_FLOOD

    def settings_frame(self, now: float) -> str | None:
        return None if self.settings.take(now) else SETTINGS_FLOOD

    def empty_data_frame(self, now: float) -> str | None:
        return None if self.empty_data.take(now) else EMPTY_DATA_FLOOD

    def window_update(self, now: float) -> str | None:
        return None if self.window_updates.take(now) else WINDOW_UPDATE_FLOOD

    def other_frame(self, now: float) -> str | None:
        return None if self.other.take(now) else OTHER_FLOOD

    def first(self, limit: str) -> bool:
        """Count a broken ``limit``; True the first time this connection broke it (the
        time to log it)."""
        VIOLATIONS[limit] = VIOLATIONS.get(limit, 0) + 1
        if limit in self.logged:
            return False
        self.logged.add(limit)
        return True
