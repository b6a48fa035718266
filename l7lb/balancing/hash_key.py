"""What a chash pool hashes on, from ``Pool.hash_key``.

Parsed once per pool; ``value()`` is a couple of comparisons per request. A
None result makes the consistent-hash scheduler fall back to the source IP.
"""

from __future__ import annotations

from l7lb.routing.target import normalize_host


class HashKey:
    __slots__ = ("_header", "_kind", "spec")

    KINDS = ("path", "host", "source", "uri")

    def __init__(self, spec: str) -> None:
        self.spec = spec
        self._header = b""
        if spec.startswith("header:") and len(spec) > len("header:"):
            self._kind = "header"
            self._header = spec[len("header:") :].strip().lower().encode("ascii")
        elif spec in self.KINDS:
            self._kind = spec
        else:
            raise ValueError(f"hash_key {spec!r}: use path, host, source, uri or header:<name>")

    @property
    def header(self) -> bytes:
        """The (lower-case) field name hashed on, b"" when the key is not a header: a
        caller reads only that field of the request (``value`` looks at nothing else)."""
        return self._header

    def value(
        self,
        path: bytes,
        query: bytes,
        host: bytes,
        headers: list[tuple[bytes, bytes]],
    ) -> bytes | None:
        """The bytes to hash for this request, or None to hash the source IP.

        ``host`` is as received: it is normalised (case, port) so that
        "Example.com:80" and "example.com" land on the same server.
        """
        kind = self._kind
        if kind == "path":
            return path
        if kind == "uri":
            return path + b"?" + query if query else path
        if kind == "host":
            return normalize_host(host) if host else None
        if kind == "header":
            name = self._header
            for n, v in headers:
                if n == name:
                    return v
            return None
        return None  # "source"
