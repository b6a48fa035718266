"""Redirect templates."""

from __future__ import annotations

import pytest

from l7lb.routing.redirect import compile_redirect, render_redirect


def test_placeholders() -> None:
    assert (
        render_redirect("https://{host}{uri}", b"ex.com", b"/a", b"x=1") == b"https://ex.com/a?x=1"
    )
    assert render_redirect("https://{host}{path}", b"ex.com", b"/a", b"x=1") == b"https://ex.com/a"
    assert render_redirect("https://{host}{uri}", b"ex.com", b"/a", b"") == b"https://ex.com/a"
    assert render_redirect("/new{path}{query}", b"h", b"/a", b"q") == b"/new/a?q"
    assert render_redirect("/new{query}", b"h", b"/a", b"") == b"/new"
    assert render_redirect("https://example.org/", b"h", b"/a", b"q") == b"https://example.org/"
    assert render_redirect("{host}{host}", b"h", b"/", b"") == b"hh"


def test_unknown_placeholder_is_rejected_at_compile() -> None:
    with pytest.raises(ValueError, match=r"\{hots\}"):
        compile_redirect("https://{hots}/")


def test_compile_is_cached() -> None:
    assert compile_redirect("https://{host}/") is compile_redirect("https://{host}/")
