"""Render a redirect route's ``Location`` from its template.

Placeholders (chosen so that the common "send http to https" rule is one
template, ``https://{host}{uri}``):

- ``{host}``  the host as the client sent it (port included, if any)
- ``{hostname}`` the host without its port: ``https://{hostname}{uri}`` sends a
  plain-HTTP VIP to its HTTPS twin on 443 whatever port the client used
- ``{path}``  the path only, without the query
- ``{query}`` ``"?"`` + the query, or ``""`` when the request had none
- ``{uri}``   the origin-form target: ``{path}{query}``

Anything else between braces is an error when the template is compiled, so a
typo fails at config load, not on a request. Templates are parsed once
(``compile_redirect``; ``render_redirect`` caches the parse).
"""

from __future__ import annotations

import functools
import re

_PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")
# placeholder -> index into the value tuple ``render`` builds
_NAMES = {"host": 0, "path": 1, "query": 2, "uri": 3, "hostname": 4}


class RedirectTemplate:
    """A parsed template: literal pieces interleaved with placeholder names."""

    __slots__ = ("_pieces", "template")

    def __init__(self, template: str) -> None:
        self.template = template
        pieces: list[bytes | int] = []
        pos = 0
        for m in _PLACEHOLDER.finditer(template):
            name = m.group(1)
            if name not in _NAMES:
                raise ValueError(
                    f"unknown placeholder {{{name}}} in redirect {template!r}; "
                    f"use one of {{host}}, {{hostname}}, {{path}}, {{query}}, {{uri}}"
                )
            if m.start() > pos:
                pieces.append(template[pos : m.start()].encode())
            pieces.append(_NAMES[name])
            pos = m.end()
        if pos < len(template):
            pieces.append(template[pos:].encode())
        self._pieces = tuple(pieces)

    def render(self, host: bytes, path: bytes, query: bytes) -> bytes:
        """``query`` is the raw query without its "?" (b"" = none)."""
        q = b"?" + query if query else b""
        values = (host, path, q, path + q, _hostname(host))
        return b"".join([values[p] if isinstance(p, int) else p for p in self._pieces])


def _hostname(host: bytes) -> bytes:
    if host.startswith(b"["):  # [v6]:port
        end = host.find(b"]")
        return host[: end + 1] if end != -1 else host
    return host.rsplit(b":", 1)[0] if 58 in host else host  # ":"


@functools.lru_cache(maxsize=256)
def compile_redirect(template: str) -> RedirectTemplate:
    """Parse a template once; raises ValueError on an unknown placeholder."""
    return RedirectTemplate(template)


def render_redirect(template: str, host: bytes, path: bytes, query: bytes) -> bytes:
    """The Location for a redirect route (see the module doc for placeholders)."""
    return compile_redirect(template).render(host, path, query)
