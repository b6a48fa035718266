"""``SourceDelta``: what changed for one client address, as workers, the supervisor and the
store exchange it.

A worker reports its own changes since its last report; the supervisor relays to the other
workers what they did not see themselves (requests and connections of the other workers,
and requests other directors counted, learned through the store). Requests are counted per
fixed window (``window.position``): ``window`` is the index of the window they belong to.
``refused`` and ``limited`` (connections refused, 429s answered) travel only toward the
supervisor, for ``show limits``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class SourceDelta:
    source: str  # source.source_name
    window: int  # the fixed window ``requests`` belong to
    requests: int = 0  # requests admitted
    conns: int = 0  # change in concurrent connections (negative: closed)
    refused: int = 0  # connections refused over max_conn_per_source
    limited: int = 0  # requests answered 429 over rate_per_source

    def to_list(self) -> list[Any]:
        return [self.source, self.window, self.requests, self.conns, self.refused, self.limited]

    @classmethod
    def from_list(cls, item: object) -> SourceDelta:
        """The delta ``to_list`` wrote; ValueError for anything else."""
        if not isinstance(item, list) or len(item) != 6:
            raise ValueError("a source delta is a list of 6 items")
        source, *numbers = item
        if not isinstance(source, str) or not source or len(source) > 64:
            raise ValueError("a source delta's source must be a short non-empty string")
        if not all(isinstance(n, int) and not isinstance(n, bool) for n in numbers):
            raise ValueError("a source delta's counts must be integers")
        window, requests, conns, refused, limited = numbers
        if requests < 0 or refused < 0 or limited < 0:
            raise ValueError("a source delta's requests, refused and limited must be >= 0")
        return cls(source, window, requests, conns, refused, limited)
