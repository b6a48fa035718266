"""CRC-32C (Castagnoli), the checksum a version 2 header may carry (``PP2_TYPE_CRC32C``).

RFC 4960 appendix B: the reflected polynomial 0x82F63B78, initial value and final XOR all ones.
A header is short (at most 16 + 65535 bytes, in practice under 300) and checked once per
connection, so a byte-wise table is enough.
"""

from __future__ import annotations

from typing import Final

_POLY: Final = 0x82F63B78


def _table() -> tuple[int, ...]:
    table = []
    for n in range(256):
        c = n
        for _ in range(8):
            c = (c >> 1) ^ _POLY if c & 1 else c >> 1
        table.append(c)
    return tuple(table)


_TABLE: Final = _table()


def crc32c(data: bytes) -> int:
    crc = 0xFFFFFFFF
    table = _TABLE
    for byte in data:
        crc = table[(crc ^ byte) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFF
