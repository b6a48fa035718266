"""HPACK (RFC 7541): the header compression of HTTP/2, both directions, sans-IO.

``Decoder`` turns a client's header blocks into field lists. It keeps the dynamic table in
step with the client's encoder, so every block must be decoded, even one whose stream is
refused. What a hostile client can make it do is bounded:

* the dynamic table never grows beyond the size l7lb advertised (SETTINGS_HEADER_TABLE_SIZE);
  a size update above it is an error;
* the decoded list is measured as it grows (name + value + 32 per field, RFC 9113 6.5.2):
  past ``max_list_size`` nothing more is kept (``oversized`` is set) but decoding goes on to
  keep the table in step, so a small block that expands into a huge list (an "HPACK bomb")
  costs at most the work of reading the block, never the memory of the list;
* integers are bounded (a length or index past 2**28 is an error), strings must fit in the
  block, indexes must exist.

Every malformation raises ``HpackError``: a connection error of type COMPRESSION_ERROR.

``encode`` writes l7lb's response heads: ``:status`` as one byte when the static table has
it, every other field as a literal without indexing (with the static table's name index when
there is one), never Huffman-coded and never entered into the dynamic table. That costs a few
bytes per response and no state; it is always valid whatever table size the client allows.
"""

from __future__ import annotations

from typing import Final

from l7lb.http2.huffman import HuffmanError
from l7lb.http2.huffman import decode as huffman_decode

Headers = list[tuple[bytes, bytes]]

# RFC 7541 Appendix A
STATIC_TABLE: Final[tuple[tuple[bytes, bytes], ...]] = (
    (b":authority", b""),
    (b":method", b"GET"),
    (b":method", b"POST"),
    (b":path", b"/"),
    (b":path", b"/index.html"),
    (b":scheme", b"http"),
    (b":scheme", b"https"),
    (b":status", b"200"),
    (b":status", b"204"),
    (b":status", b"206"),
    (b":status", b"304"),
    (b":status", b"400"),
    (b":status", b"404"),
    (b":status", b"500"),
    (b"accept-charset", b""),
    (b"accept-encoding", b"gzip, deflate"),
    (b"accept-language", b""),
    (b"accept-ranges", b""),
    (b"accept", b""),
    (b"access-control-allow-origin", b""),
    (b"age", b""),
    (b"allow", b""),
    (b"authorization", b""),
    (b"cache-control", b""),
    (b"content-disposition", b""),
    (b"content-encoding", b""),
    (b"content-language", b""),
    (b"content-length", b""),
    (b"content-location", b""),
    (b"content-range", b""),
    (b"content-type", b""),
    (b"cookie", b""),
    (b"date", b""),
    (b"etag", b""),
    (b"expect", b""),
    (b"expires", b""),
    (b"from", b""),
    (b"host", b""),
    (b"if-match", b""),
    (b"if-modified-since", b""),
    (b"if-none-match", b""),
    (b"if-range", b""),
    (b"if-unmodified-since", b""),
    (b"last-modified", b""),
    (b"link", b""),
    (b"location", b""),
    (b"max-forwards", b""),
    (b"proxy-authenticate", b""),
    (b"proxy-authorization", b""),
    (b"range", b""),
    (b"referer", b""),
    (b"refresh", b""),
    (b"retry-after", b""),
    (b"server", b""),
    (b"set-cookie", b""),
    (b"strict-transport-security", b""),
    (b"transfer-encoding", b""),
    (b"user-agent", b""),
    (b"vary", b""),
    (b"via", b""),
    (b"www-authenticate", b""),
)
_STATIC_LEN: Final = 61
ENTRY_OVERHEAD: Final = 32  # RFC 7541 4.1, and the header-list size of RFC 9113 6.5.2
_MAX_INT: Final = 1 << 28


class HpackError(ValueError):
    """A malformed header block (a COMPRESSION_ERROR)."""


def _integer(data: bytes, pos: int, end: int, prefix_bits: int) -> tuple[int, int]:
    """The integer whose first byte is ``data[pos]`` with a ``prefix_bits`` prefix
    (RFC 7541 5.1), and the position after it."""
    mask = (1 << prefix_bits) - 1
    value = data[pos] & mask
    pos += 1
    if value < mask:
        return value, pos
    shift = 0
    while True:
        if pos >= end:
            raise HpackError("truncated integer")
        b = data[pos]
        pos += 1
        value += (b & 0x7F) << shift
        if value >= _MAX_INT:
            raise HpackError("integer too large")
        if not b & 0x80:
            return value, pos
        shift += 7


def _string(data: bytes, pos: int, end: int) -> tuple[bytes, int]:
    """A string literal (RFC 7541 5.2) and the position after it."""
    if pos >= end:
        raise HpackError("truncated string")
    huffman = data[pos] & 0x80
    length, pos = _integer(data, pos, end, 7)
    stop = pos + length
    if stop > end:
        raise HpackError("string longer than the header block")
    raw = data[pos:stop]
    if huffman:
        try:
            raw = huffman_decode(raw)
        except HuffmanError as exc:
            raise HpackError(str(exc)) from None
    return raw, stop


class Decoder:
    """The decoding side of one connection (see the module docstring)."""

    __slots__ = ("entries", "max_size", "oversized", "settings_size", "size", "update_due", "used")

    def __init__(self, settings_size: int = 4096) -> None:
        # what l7lb advertised in SETTINGS_HEADER_TABLE_SIZE: the most a size update may ask
        self.settings_size = settings_size
        self.max_size = settings_size  # the table's current limit (size updates lower it)
        self.entries: Headers = []  # oldest first: index 62 is the last one
        self.size = 0  # bytes the entries take (RFC 7541 4.1)
        self.used = 0  # the size of the last decoded list (RFC 9113 6.5.2)
        self.oversized = False  # the last list went past its limit and was cut short
        self.update_due = False  # the next block must begin with a size update

    def limit(self, size: int) -> None:
        """A new SETTINGS_HEADER_TABLE_SIZE is in force (the client acknowledged it): a
        table larger than ``size`` must be shrunk by a size update at the start of the
        next block (RFC 7541 4.2)."""
        self.settings_size = size
        if self.max_size > size:
            self.update_due = True

    def _get(self, index: int) -> tuple[bytes, bytes]:
        if index <= 0:
            raise HpackError("index 0")
        if index <= _STATIC_LEN:
            return STATIC_TABLE[index - 1]
        entries = self.entries
        i = len(entries) - (index - _STATIC_LEN)
        if i < 0:
            raise HpackError("index beyond the dynamic table")
        return entries[i]

    def _add(self, name: bytes, value: bytes) -> None:
        need = len(name) + len(value) + ENTRY_OVERHEAD
        entries = self.entries
        if need > self.max_size:
            # RFC 7541 4.4: an entry larger than the table empties it and is not added
            entries.clear()
            self.size = 0
            return
        size = self.size + need
        limit = self.max_size
        while size > limit:
            old = entries.pop(0)
            size -= len(old[0]) + len(old[1]) + ENTRY_OVERHEAD
        entries.append((name, value))
        self.size = size

    def _resize(self, new: int) -> None:
        if new > self.settings_size:
            raise HpackError("dynamic table size update above SETTINGS_HEADER_TABLE_SIZE")
        self.max_size = new
        entries = self.entries
        size = self.size
        while size > new:
            old = entries.pop(0)
            size -= len(old[0]) + len(old[1]) + ENTRY_OVERHEAD
        self.size = size

    def decode(self, block: bytes, max_list_size: int) -> Headers:
        """The field list of one complete header block. Past ``max_list_size`` fields are
        no longer kept and ``oversized`` is set; raises HpackError."""
        out: Headers = []
        used = 0
        keep = True
        pos = 0
        end = len(block)
        fields_seen = False
        if self.update_due and (not end or block[0] & 0xE0 != 0x20):
            raise HpackError("no table size update after SETTINGS_HEADER_TABLE_SIZE shrank")
        while pos < end:
            b = block[pos]
            if b & 0x80:  # indexed field
                index, pos = _integer(block, pos, end, 7)
                field = self._get(index)
                name, value = field
                fields_seen = True
            elif b & 0x40:  # literal with incremental indexing
                index, pos = _integer(block, pos, end, 6)
                if index:
                    name = self._get(index)[0]
                else:
                    name, pos = _string(block, pos, end)
                value, pos = _string(block, pos, end)
                self._add(name, value)
                field = (name, value)
                fields_seen = True
            elif b & 0x20:  # dynamic table size update
                if fields_seen:
                    raise HpackError("table size update after a field")
                size, pos = _integer(block, pos, end, 5)
                self._resize(size)
                self.update_due = False
                continue
            else:  # literal without indexing (0000) or never indexed (0001)
                index, pos = _integer(block, pos, end, 4)
                if index:
                    name = self._get(index)[0]
                else:
                    name, pos = _string(block, pos, end)
                value, pos = _string(block, pos, end)
                field = (name, value)
                fields_seen = True
            if keep:
                used += len(name) + len(value) + ENTRY_OVERHEAD
                if used > max_list_size:
                    keep = False
                else:
                    out.append(field)
        self.used = used
        self.oversized = not keep
        return out


# the encoder's static-table lookup: name -> its first index
_STATIC_NAME: Final[dict[bytes, int]] = {}
for _i, _field in enumerate(STATIC_TABLE, 1):
    _STATIC_NAME.setdefault(_field[0], _i)

_STATUS_INDEXED: Final[dict[int, bytes]] = {
    200: b"\x88",
    204: b"\x89",
    206: b"\x8a",
    304: b"\x8b",
    400: b"\x8c",
    404: b"\x8d",
    500: b"\x8e",
}


def _int_bytes(value: int, prefix_bits: int, first: int) -> bytes:
    """An integer with a ``prefix_bits`` prefix, ``first`` holding the bits above it."""
    mask = (1 << prefix_bits) - 1
    if value < mask:
        return bytes((first | value,))
    out = bytearray((first | mask,))
    value -= mask
    while value >= 0x80:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def _literal(value: bytes) -> bytes:
    n = len(value)
    if n < 0x7F:
        return bytes((n,)) + value
    return _int_bytes(n, 7, 0) + value


def status_field(status: int) -> bytes:
    """``:status``, encoded: one byte for the statuses of the static table."""
    indexed = _STATUS_INDEXED.get(status)
    if indexed is not None:
        return indexed
    # literal without indexing, name index 8 (":status")
    return b"\x08" + _literal(b"%d" % status)


# name -> the encoded start of a literal without indexing that names it (the static table's
# index when it has the name): response heads repeat a handful of names, so each is encoded
# once per process; bounded, so hostile backends cannot grow it
_NAME_PREFIX: Final[dict[bytes, bytes]] = {}
_NAME_PREFIX_MAX: Final = 1024


def _name_prefix(name: bytes) -> bytes:
    index = _STATIC_NAME.get(name)
    if index is not None:
        return bytes((index,)) if index < 15 else _int_bytes(index, 4, 0)
    return b"\x00" + _literal(name)


# one-byte string lengths, ready (a literal's length prefix when below 127)
_LENGTH_BYTE: Final = [bytes((n,)) for n in range(0x7F)]


def _prefix(name: bytes) -> bytes:
    prefix = _NAME_PREFIX.get(name)
    if prefix is None:
        prefix = _name_prefix(name)
        if len(_NAME_PREFIX) < _NAME_PREFIX_MAX:
            _NAME_PREFIX[name] = prefix
    return prefix


def encode_field(name: bytes, value: bytes) -> bytes:
    """One field as a literal without indexing, never Huffman-coded (RFC 7541 6.2.2)."""
    n = len(value)
    return _prefix(name) + (_LENGTH_BYTE[n] if n < 0x7F else _int_bytes(n, 7, 0)) + value


def encode(status: int, fields: Headers) -> bytes:
    """A response head's header block: ``:status``, then ``fields`` (lower-case names)."""
    parts = [status_field(status)]
    lengths = _LENGTH_BYTE
    for name, value in fields:
        parts.append(_prefix(name))
        n = len(value)
        parts.append(lengths[n] if n < 0x7F else _int_bytes(n, 7, 0))
        parts.append(value)
    return b"".join(parts)
