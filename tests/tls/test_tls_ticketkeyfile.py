"""Operator-managed ticket key files ([store] ticket_key_file)."""

from __future__ import annotations

import base64
import os
from pathlib import Path

import pytest

from l7lb.tls.ticketkeyfile import TicketKeyFileError, load_ticket_key_file


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode()


def test_ticket_key_file(tmp_path: Path) -> None:
    keys = [os.urandom(32) for _ in range(4)]
    path = tmp_path / "tickets.keys"
    path.write_text("# oldest first\n\n" + "\n".join(_b64(k) for k in keys) + "\n")
    ring = load_ticket_key_file(str(path))
    assert ring.previous is not None
    assert (ring.previous.secret, ring.current.secret, ring.next.secret) == tuple(keys[1:])

    path.write_text(_b64(keys[0]) + "\n" + _b64(keys[1]))
    ring = load_ticket_key_file(str(path))
    assert (ring.current.secret, ring.next.secret, ring.previous) == (keys[0], keys[1], None)

    path.write_text(_b64(keys[0]).replace("+", "-").replace("/", "_"))  # URL-safe base64
    ring = load_ticket_key_file(str(path))
    assert ring.current.secret == ring.next.secret == keys[0]

    path.write_text(_b64(os.urandom(80)))  # a HAProxy-style key
    assert len(load_ticket_key_file(str(path)).current.secret) == 32

    for bad, message in (
        ("", "no key"),
        ("not base64!\n", "line 1 is not base64"),
        ("# c\n" + _b64(b"x" * 16), "line 2 decodes to 16 bytes"),
        (_b64(keys[0]) + "\n" + _b64(keys[0]), "same key twice"),
    ):
        path.write_text(bad)
        with pytest.raises(TicketKeyFileError, match=message):
            load_ticket_key_file(str(path))
    with pytest.raises(OSError):
        load_ticket_key_file(str(tmp_path / "missing"))
