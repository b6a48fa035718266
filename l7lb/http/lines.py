"""Header fields read straight from the lines of a head that llhttp accepted.

The httptools back end splits a head at CRLF once (``lines``: the start line, one line per
field, two empty ones for the blank line). llhttp has already checked every field line
against RFC 9112's grammar (``token ":" OWS value OWS``, no folding, no bare CR or LF), so a
field's name is what comes before its first colon, and its value what follows, without the
surrounding spaces and tabs.

Most of a head is read by nobody: the proxy forwards its lines as they came and looks at a
few names only. So the header list (one name, one value and one tuple per field) is built
only when something asks for all of it (``all_fields``); the framing walk takes the fields
whose names it must see (``notable_fields``), and a caller after one name takes only that
(``fields_named``). A line is passed over on its first byte when no wanted name starts
with it, and its name is lower-cased only when its length matches too.

``tests/http/test_lines.py`` holds all three to the plain split/partition/strip reference.
"""

from __future__ import annotations

from typing import Final

Headers = list[tuple[bytes, bytes]]

# bytes.lower() is a generic method call from compiled code; translate is a primitive
LOWER: Final = bytes.maketrans(b"ABCDEFGHIJKLMNOPQRSTUVWXYZ", b"abcdefghijklmnopqrstuvwxyz")


def title_case(name: bytes) -> bytes:
    """``name`` (lower case) as most clients and servers write it: ``Content-Length``."""
    return b"-".join([part[:1].upper() + part[1:] for part in name.split(b"-")])


_TITLES: Final[dict[bytes, bytes]] = {}
_TITLES_MAX: Final = 256  # names a client lists in Connection land here too: bounded


def title_of(name: bytes) -> bytes:
    """``title_case(name)``, remembered."""
    title = _TITLES.get(name)
    if title is None:
        title = title_case(name)
        if len(_TITLES) >= _TITLES_MAX:
            _TITLES.clear()
        _TITLES[name] = title
    return title


def is_named(line: bytes, name: bytes, title: bytes) -> bool:
    """The field ``line``, whose colon is at ``len(name)``, is called ``name`` (lower case;
    ``title``: ``title_case(name)``). The two usual spellings are compared in place; any
    other one (``CONTENT-length``) is lower-cased first."""
    return (
        line.startswith(title)
        or line.startswith(name)
        or line[: len(name)].translate(LOWER) == name
    )


class NameSet:
    """A set of (lower-case) field names, with what it takes to rule most other names out
    on their first byte.

    A field name just sliced from a head has no cached hash, so a set lookup costs a
    siphash of it: most names of a browser's request or a server's response (User-Agent,
    Accept-*, Cookie, Date, Server, Content-Type) are ruled out by these tables first, and
    a field read from lines is compared in place with the few names that could be it and
    given the set's own name object, whose hash is cached."""

    __slots__ = ("bits", "candidates", "names")

    def __init__(self, names: frozenset[bytes]) -> None:
        self.names = names
        # for each first byte (either case): one bit per length of a name starting with it
        self.bits = [0] * 256
        spans: list[list[tuple[int, bytes, bytes]]] = [[] for _ in range(256)]
        for name in names:
            assert 0 < len(name) < 64 and name == name.translate(LOWER)
            for first in {name[0], name[:1].upper()[0]}:
                self.bits[first] |= 1 << len(name)
                spans[first].append((len(name), name, title_case(name)))
        # the same names by first byte, shortest first (where a field line's colon may be),
        # each with its length and its usual spelling
        self.candidates: list[tuple[tuple[int, bytes, bytes], ...]] = [
            tuple(sorted(span)) for span in spans
        ]

    def has(self, name: bytes) -> bool:
        """``name`` (lower case, from a header list) is in the set."""
        n = len(name)
        return 0 < n < 64 and (self.bits[name[0]] >> n) & 1 == 1 and name in self.names


def _value(line: bytes, colon: int) -> bytes:
    """The value of a field line whose name ends at ``colon``, without surrounding OWS."""
    n = len(line)
    i = colon + 1
    while i < n and (line[i] == 32 or line[i] == 9):
        i += 1
    j = n
    while j > i and (line[j - 1] == 32 or line[j - 1] == 9):
        j -= 1
    return line[i:j]


def all_fields(raw: bytes, lines: list[bytes]) -> Headers:
    """Every field of the head ``raw`` split into ``lines``: names lower-cased, values
    without surrounding whitespace, in order."""
    headers: Headers = []
    last = len(lines) - 2
    if last <= 1:
        return headers
    lower = raw.translate(LOWER)
    pos = len(lines[0]) + 2
    for k in range(1, last):
        line = lines[k]
        colon = 0
        while line[colon] != 58:  # the name is a token: its first colon ends it
            colon += 1
        headers.append((lower[pos : pos + colon], _value(line, colon)))
        pos += len(line) + 2
    return headers


def notable_fields(lines: list[bytes], names: NameSet) -> Headers:
    """The fields, in order, of the head split into ``lines`` whose (lower-cased) names are
    in ``names``."""
    found: Headers = []
    candidates = names.candidates
    for k in range(1, len(lines) - 2):
        line = lines[k]
        these = candidates[line[0]]
        if these:
            n = len(line)
            colon = 0  # the name's length once found: the shortest with a colon there
            for size, name, title in these:
                if colon:
                    if size != colon:
                        break  # a longer name: its colon would be in the value
                elif size < n and line[size] == 58:
                    colon = size
                else:
                    continue
                if is_named(line, name, title):
                    found.append((name, _value(line, size)))
                    break
    return found


def fields_named(lines: list[bytes], name: bytes) -> Headers:
    """The fields of the head split into ``lines`` called ``name`` (lower case), in order."""
    found: Headers = []
    n = len(name)
    first = name[0]
    other = first - 32 if 97 <= first <= 122 else first
    title = title_of(name)
    for k in range(1, len(lines) - 2):
        line = lines[k]
        b = line[0]
        if b in (first, other) and len(line) > n and line[n] == 58 and is_named(line, name, title):
            found.append((name, _value(line, n)))
    return found
