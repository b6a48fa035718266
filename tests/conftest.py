"""Shared by the whole suite: say in pytest's header which build of the hot path runs."""

from __future__ import annotations

from l7lb import native


def pytest_report_header() -> str:
    return f"l7lb: {native.describe()}"
