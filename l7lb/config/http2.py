"""``[http2]``: the limits of every HTTP/2 client connection, and ``[vip] http2``.

``parse_http2_table`` returns ``(settings, issues)`` with ``(path, message, hint)`` issues
for ``l7lb.config.load`` to merge with its own, like ``parse_admin_table``. The defaults are
the ones of issue 14 (HAProxy's and nginx's, within a factor of two): 100 concurrent streams,
a 32 KiB header list, a 4 KiB HPACK table, 16 CONTINUATION frames and 64 KiB per header
block, and a reset budget of 200 at once and 20 a second (CVE-2023-44487).

HTTP/2 itself is switched on per VIP: on a TLS VIP by ALPN (``[vip.tls] alpn``, offered by
default), on a plain VIP only with prior knowledge (``[vip] http2 = "prior-knowledge"``),
never by ``Upgrade: h2c``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Final

from l7lb.config.durations import parse_durations

Issue = tuple[str, str, str]  # (key path, what is wrong, how to fix it)

# [vip] http2
VIP_HTTP2_MODES: Final = ("off", "prior-knowledge")


@dataclass(frozen=True, slots=True)
class Http2Settings:
    # SETTINGS_MAX_CONCURRENT_STREAMS: streams with work in progress (a reset stream counts
    # until its backend work is released); one more is refused with REFUSED_STREAM
    max_concurrent_streams: int = 100
    # SETTINGS_MAX_HEADER_LIST_SIZE: decoded names + values + 32 bytes per field; over it
    # the request gets 431
    max_header_list_size: int = 32768
    # SETTINGS_HEADER_TABLE_SIZE: the HPACK dynamic table the client may fill
    header_table_size: int = 4096
    # CONTINUATION frames after one HEADERS frame, and bytes of one encoded header block:
    # past either, GOAWAY ENHANCE_YOUR_CALM (the 2024 CONTINUATION flood)
    max_continuation_frames: int = 16
    max_header_block_size: int = 65536
    # SETTINGS_INITIAL_WINDOW_SIZE (each stream's request-body window) and the connection's
    # window: request bytes buffered before the backend takes them
    initial_window_size: int = 65535
    connection_window_size: int = 1048576
    # SETTINGS_MAX_FRAME_SIZE: the largest frame the client may send
    max_frame_size: int = 16384
    # response bytes held per stream while the client's window is closed; past it the
    # stream's backend connection stops being read
    stream_buffer: int = 65536
    # a stream's header block must be complete this long after its first frame
    headers_timeout: float = 10.0
    # a connection with no stream open is closed (GOAWAY NO_ERROR) after this
    idle_timeout: float = 60.0
    # resets (the client's RST_STREAM, and the stream errors l7lb answers with): a token
    # bucket of reset_burst tokens refilled at reset_rate a second; and the share of
    # streams the client resets before their response began, checked from the 100th
    # stream. Past either: GOAWAY ENHANCE_YOUR_CALM.
    reset_burst: int = 200
    reset_rate: float = 20.0
    max_reset_share: float = 0.5
    # PING, SETTINGS, empty DATA, WINDOW_UPDATE, PRIORITY and unknown frames: a token bucket
    # of flood_burst each, refilled at flood_rate a second (WINDOW_UPDATE and PRIORITY also
    # earn a token per stream opened and per DATA frame sent)
    flood_burst: int = 100
    flood_rate: float = 20.0


KEYS: Final = (
    "max_concurrent_streams",
    "max_header_list_size",
    "header_table_size",
    "max_continuation_frames",
    "max_header_block_size",
    "initial_window_size",
    "connection_window_size",
    "max_frame_size",
    "stream_buffer",
    "headers_timeout",
    "idle_timeout",
    "reset_burst",
    "reset_rate",
    "max_reset_share",
    "flood_burst",
    "flood_rate",
)

# integers: (low, high, example)
_INTEGERS: Final[dict[str, tuple[int, int, int]]] = {
    "max_concurrent_streams": (1, 10000, 100),
    "max_header_list_size": (1024, 1 << 24, 32768),
    "header_table_size": (0, 1 << 20, 4096),
    "max_continuation_frames": (0, 1000, 16),
    "max_header_block_size": (1024, 1 << 24, 65536),
    # below 65535 a client could overrun the window before it acknowledged the setting
    "initial_window_size": (65535, 0x7FFFFFFF, 65535),
    "connection_window_size": (65535, 0x7FFFFFFF, 1048576),
    "max_frame_size": (16384, 16777215, 16384),
    "stream_buffer": (16384, 1 << 30, 65536),
    "reset_burst": (1, 1_000_000, 200),
    "flood_burst": (1, 1_000_000, 100),
}
# numbers per second (or a share): (low, high, example)
_NUMBERS: Final[dict[str, tuple[float, float, float]]] = {
    "reset_rate": (0.0, 1_000_000.0, 20.0),
    "max_reset_share": (0.05, 1.0, 0.5),  # 1.0: never
    "flood_rate": (0.0, 1_000_000.0, 20.0),
}
_DURATIONS: Final = {
    "headers_timeout": (0.1, 3600.0, "10s"),
    "idle_timeout": (0.1, 86400.0, "60s"),
}


def _at(where: str, key: str) -> str:
    return f"{where} {key}"


def parse_http2_table(table: Any, where: str = "http2") -> tuple[Http2Settings, list[Issue]]:
    """Build ``Http2Settings`` from ``[http2]`` (``None``: the table is absent). On any
    problem the defaults are kept for that key and the issue returned."""
    base = Http2Settings()
    if table is None:
        return base, []
    if not isinstance(table, dict):
        return base, [(where, "must be a table", "write [http2] with max_concurrent_streams = 100")]
    issues: list[Issue] = []
    for key in table:
        if key not in KEYS:
            issues.append((_at(where, key), "unknown key", "keys allowed here: " + ", ".join(KEYS)))
    values: dict[str, Any] = {}
    for key, (low, high, example) in _INTEGERS.items():
        if key not in table:
            continue
        v = table[key]
        if isinstance(v, bool) or not isinstance(v, int):
            issues.append((_at(where, key), "expected an integer", f"e.g. {key} = {example}"))
        elif not low <= v <= high:
            issues.append(
                (_at(where, key), f"{v} is out of range", f"use {low} to {high}, e.g. {example}")
            )
        else:
            values[key] = v
    for key, (flow, fhigh, fexample) in _NUMBERS.items():
        if key not in table:
            continue
        v = table[key]
        if isinstance(v, bool) or not isinstance(v, int | float) or math.isnan(v):
            issues.append((_at(where, key), "expected a number", f"e.g. {key} = {fexample}"))
        elif not flow <= v <= fhigh:
            issues.append((_at(where, key), f"{v} is out of range", f"use {flow:g} to {fhigh:g}"))
        else:
            values[key] = float(v)
    durations: list[Issue] = []
    values.update(parse_durations(table, _DURATIONS, where, durations))
    # parse_durations writes "http2.idle_timeout"; this file's paths read "http2 idle_timeout"
    issues += [
        (path.replace(f"{where}.", f"{where} ", 1), msg, hint) for path, msg, hint in durations
    ]
    settings = Http2Settings(**values)
    if settings.max_header_block_size < settings.max_frame_size:
        issues.append(
            (
                _at(where, "max_header_block_size"),
                f"{settings.max_header_block_size} is smaller than max_frame_size "
                f"({settings.max_frame_size}): one HEADERS frame could exceed it",
                "raise max_header_block_size, or lower max_frame_size",
            )
        )
    return settings, issues


def parse_vip_http2(value: Any, where: str, tls: bool) -> tuple[str, list[Issue]]:
    """``[vip] http2``: "off" (default) or "prior-knowledge" (h2c on a plain VIP)."""
    if value is None:
        return "off", []
    path = _at(where, "http2")
    if value not in VIP_HTTP2_MODES:
        return "off", [
            (
                path,
                f"unknown value {value!r}",
                'use "prior-knowledge" (h2c without Upgrade) or "off"',
            )
        ]
    if value == "prior-knowledge" and tls:
        return "off", [
            (
                path,
                "a TLS VIP negotiates HTTP/2 with ALPN",
                'remove http2 here; [vip.tls] alpn = ["h2", "http/1.1"] is the default',
            )
        ]
    return str(value), []
