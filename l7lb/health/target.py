"""What an active health check looks at, built once from the config."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

from l7lb.config.model import Address


class StatusRanges:
    """Expected HTTP statuses, written ``"200-399"`` or ``"200,204,300-302"``."""

    __slots__ = ("_ranges", "text")

    def __init__(self, text: str) -> None:
        ranges: list[tuple[int, int]] = []
        for part in text.split(","):
            lo_text, dash, hi_text = part.strip().partition("-")
            try:
                lo = int(lo_text)
                hi = int(hi_text) if dash else lo
            except ValueError:
                raise ValueError(f"invalid status range {text!r}: use e.g. 200-399") from None
            if not 100 <= lo <= hi <= 599:
                raise ValueError(f"invalid status range {text!r}: statuses are 100..599")
            ranges.append((lo, hi))
        self._ranges = tuple(ranges)
        self.text = ",".join(f"{lo}-{hi}" if lo != hi else str(lo) for lo, hi in ranges)

    def __contains__(self, status: object) -> bool:
        return isinstance(status, int) and any(lo <= status <= hi for lo, hi in self._ranges)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, StatusRanges) and other._ranges == self._ranges

    def __hash__(self) -> int:
        return hash(self._ranges)

    def __str__(self) -> str:
        return self.text

    def __repr__(self) -> str:
        return f"StatusRanges({self.text!r})"


@dataclass(frozen=True, slots=True)
class HttpCheck:
    method: str = "GET"
    path: str = "/"
    host: str | None = None  # Host header; None: the checked address
    expect: StatusRanges = field(default_factory=lambda: StatusRanges("200-399"))
    body_contains: bytes | None = None  # searched in the first ``max_body`` bytes
    max_body: int = 65536


class InitialState(enum.Enum):
    """What a server is before its checks have said anything.

    ``FIRST_CHECK`` (the default): pending, which the proxy treats as down,
    until the first check; that first result decides at once (one success
    is up, one failure is down), so a director starting up neither sends
    traffic to dead servers nor waits ``rise`` intervals for live ones.
    ``UP``: assumed up, ``fall`` failures take it down (HAProxy's default).
    ``DOWN``: assumed down, ``rise`` successes bring it up.
    """

    FIRST_CHECK = "first-check"
    UP = "up"
    DOWN = "down"


@dataclass(frozen=True, slots=True)
class CheckTarget:
    pool: str
    server: str
    address: Address  # the server's address
    http: HttpCheck | None = None  # None: a TCP connect check
    tls: bool = False  # handshake (no certificate verification) before HTTP
    port: int | None = None  # a separate check port; None: the address's port
    interval: float = 2.0  # seconds between check starts
    timeout: float = 1.0  # seconds for one whole check (connect to response)
    rise: int = 2  # consecutive successes that bring a down server up
    fall: int = 3  # consecutive failures that take an up server down
    initial: InitialState = InitialState.FIRST_CHECK
    # a PROXY header first on the check connection: "v1", "v2" (LOCAL) or "" (none)
    send_proxy: str = ""

    def __post_init__(self) -> None:
        if self.interval <= 0 or self.timeout <= 0:
            raise ValueError("health check interval and timeout must be > 0")
        if self.rise < 1 or self.fall < 1:
            raise ValueError("health check rise and fall must be >= 1")

    @property
    def kind(self) -> str:
        return "tcp" if self.http is None else "http"

    @property
    def key(self) -> tuple[str, str]:
        return (self.pool, self.server)

    @property
    def check_address(self) -> Address:
        if self.port is None:
            return self.address
        return Address(self.address.host, self.port)
