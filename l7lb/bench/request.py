"""Request bytes, built once per path so the send path only joins a few prebuilt pieces."""

from __future__ import annotations

from collections.abc import Sequence

USER_AGENT = "l7lb-bench/0.1"


def weighted_cycle(paths: Sequence[tuple[str, int]]) -> list[str]:
    """Spread weighted paths over one cycle, interleaved: /a:2 /b:1 → /a /b /a.

    Interleaving (smooth weighted round robin, as nginx does for upstreams) keeps a short run
    from seeing only the heaviest path."""
    current = [0] * len(paths)
    total = sum(w for _, w in paths)
    cycle: list[str] = []
    for _ in range(total):
        for i, (_, weight) in enumerate(paths):
            current[i] += weight
        best = max(range(len(paths)), key=lambda i: current[i])
        current[best] -= total
        cycle.append(paths[best][0])
    return cycle


class RequestTemplate:
    """Every request of a run: method, one path from the weighted cycle, fixed headers, body."""

    def __init__(
        self,
        method: str,
        authority: str,
        paths: Sequence[tuple[str, int]],
        headers: Sequence[tuple[str, str]] = (),
        body: bytes = b"",
    ) -> None:
        self.method = method
        self.body = body
        names = {name.lower() for name, _ in headers}
        fixed = []
        if "host" not in names:
            fixed.append(f"Host: {authority}\r\n")
        if "user-agent" not in names:
            fixed.append(f"User-Agent: {USER_AGENT}\r\n")
        if body or method in ("POST", "PUT", "PATCH"):
            fixed.append(f"Content-Length: {len(body)}\r\n")
        fixed.extend(f"{name}: {value}\r\n" for name, value in headers)
        tail = "".join(fixed).encode("latin-1")
        self.heads = [
            f"{method} {path} HTTP/1.1\r\n".encode("latin-1") + tail
            for path in weighted_cycle(paths)
        ]

    def __len__(self) -> int:
        return len(self.heads)

    def render(self, index: int, cookie_header: str, close: bool) -> bytes:
        """The request for cycle slot `index`; `close` asks the server to end the connection."""
        parts = [self.heads[index % len(self.heads)]]
        if cookie_header:
            parts.append(b"Cookie: " + cookie_header.encode("latin-1") + b"\r\n")
        if close:
            parts.append(b"Connection: close\r\n")
        parts.append(b"\r\n")
        if self.body:
            parts.append(self.body)
        return b"".join(parts)
