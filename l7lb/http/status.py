"""Status codes and their reason phrases (RFC 9110 15)."""

from __future__ import annotations

from http import HTTPStatus
from typing import Final

_REASONS: Final = {s.value: s.phrase.encode() for s in HTTPStatus}


def reason(status: int) -> bytes:
    """The standard reason phrase of ``status``, or b"Unknown"."""
    return _REASONS.get(status, b"Unknown")
