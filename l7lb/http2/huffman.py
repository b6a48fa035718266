"""The HPACK Huffman code (RFC 7541 section 5.2 and Appendix B), decoding only.

The code is canonical: sorted by length, then by symbol, each code is the previous one plus
one, shifted left by the growth in length. So the 257 code lengths of Appendix B are all it
takes to rebuild it (``tests/http2/test_huffman.py`` checks every code against the hpack
library's copy of the table).

Decoding walks the code tree four bits at a time: ``_TABLE[state * 16 + nibble]`` gives the
next state, the symbol completed on the way (no code is shorter than five bits, so at most
one per nibble), and whether EOS was met (a decoding error, RFC 7541 5.2). A string may end
only on a code boundary or inside at most seven bits of padding that are all ones, i.e. in
a state reached from the root by ones alone (``_ACCEPT``).

l7lb never Huffman-encodes what it sends (raw literals are always allowed and cost no CPU),
so there is no encoder.
"""

from __future__ import annotations

from typing import Final

# Appendix B, the "len" column, symbol 0 to 256 (EOS)
_LENGTHS: Final = bytes.fromhex(
    "0d171c1c1c1c1c1c1c181e1c1c1e1c1c1c1c1c1c1c1c1e1c1c1c1c1c1c1c1c1c"
    "060a0a0c0d06080b0a0a080b080606060505050606060606060607080f060c0a"
    "0d06070707070707070707070707070707070707070707070807080d130d0e06"
    "0f05060506050606060507070606060506070605050607070707070f0b0e0d1c"
    "1416141416161617161717171717181718181617181717171715161716171718"
    "1615141616171715171616181516171715151615171617171416161617161617"
    "1a1a1413161716191a1a1a1b1b1a181913151a1b1b1a1b1815151a1a1c1b1b1b"
    "14181415161515171616191918181a171a1b1a1a1b1b1b1b1b1c1b1b1b1b1b1a"
    "1e"
)
EOS: Final = 256

_FAIL: Final = 1 << 17  # EOS decoded: the string is invalid
_NO_SYMBOL: Final = 0


class HuffmanError(ValueError):
    """The bytes are not a valid Huffman-coded string."""


def codes() -> list[tuple[int, int]]:
    """(code, length in bits) for each symbol 0..256, rebuilt from the lengths."""
    order = sorted(range(257), key=lambda s: (_LENGTHS[s], s))
    out = [(0, 0)] * 257
    code = 0
    prev = _LENGTHS[order[0]]
    for i, sym in enumerate(order):
        length = _LENGTHS[sym]
        if i:
            code = (code + 1) << (length - prev)
        prev = length
        out[sym] = (code, length)
    return out


def _build() -> tuple[list[int], list[bool]]:
    # the tree: node 0 is the root; children[node] = [zero, one], -1 when absent;
    # leaf[node] = symbol (or -1 for an inner node)
    children: list[list[int]] = [[-1, -1]]
    leaf: list[int] = [-1]
    for sym, (code, length) in enumerate(codes()):
        node = 0
        for bit_index in range(length - 1, -1, -1):
            bit = (code >> bit_index) & 1
            nxt = children[node][bit]
            if nxt < 0:
                nxt = len(children)
                children.append([-1, -1])
                leaf.append(-1)
                children[node][bit] = nxt
            node = nxt
        leaf[node] = sym
    # number the inner nodes 0..n-1 (the root stays 0): they are the decoder's states
    state_of: dict[int, int] = {}
    ones: dict[int, int] = {0: 0}  # inner node -> depth, for nodes reached by ones only
    for node in range(len(children)):
        if leaf[node] < 0:
            state_of[node] = len(state_of)
    stack = [0]
    while stack:
        node = stack.pop()
        one = children[node][1]
        if one >= 0 and leaf[one] < 0:
            ones[one] = ones[node] + 1
            stack.append(one)
    table = [0] * (len(state_of) * 16)
    accept = [False] * len(state_of)
    for node, state in state_of.items():
        accept[state] = node in ones and ones[node] <= 7
        for nibble in range(16):
            cur = node
            emitted = _NO_SYMBOL
            failed = False
            for bit_index in (3, 2, 1, 0):
                cur = children[cur][(nibble >> bit_index) & 1]
                sym = leaf[cur]
                if sym >= 0:
                    if sym == EOS:
                        failed = True
                        break
                    emitted = sym + 1
                    cur = 0
            entry = _FAIL if failed else state_of[cur] | (emitted << 8)
            table[state * 16 + nibble] = entry
    return table, accept


_TABLE, _ACCEPT = _build()


def decode(data: bytes) -> bytes:
    """The string ``data`` encodes; HuffmanError when it is malformed (EOS inside, padding
    longer than seven bits or not all ones)."""
    table = _TABLE
    out = bytearray()
    state = 0
    for byte in data:
        entry = table[(state << 4) | (byte >> 4)]
        if entry & _FAIL:
            raise HuffmanError("EOS in a Huffman-coded string")
        sym = entry >> 8
        if sym:
            out.append(sym - 1)
        entry = table[((entry & 0xFF) << 4) | (byte & 0x0F)]
        if entry & _FAIL:
            raise HuffmanError("EOS in a Huffman-coded string")
        sym = entry >> 8
        if sym:
            out.append(sym - 1)
        state = entry & 0xFF
    if not _ACCEPT[state]:
        raise HuffmanError("invalid padding at the end of a Huffman-coded string")
    return bytes(out)
