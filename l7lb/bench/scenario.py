"""Benchmark scenarios (benchmarks/scenarios/*.toml): what to stand up, and how to load it.

`[target]` describes the system under test for the comparison runner (scheme, certificate,
backends, response size, persistence); `[bench]` holds `l7lb bench` options under their long
names with dashes written as underscores, so a scenario is exactly a command line."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

TARGET_KEYS = {"scheme", "certificate", "backends", "response_bytes", "persistence",
               "backend_header"}  # fmt: skip
CERTIFICATES = ("rsa-2048", "ecdsa-p256")


class ScenarioError(ValueError):
    """A scenario file that does not describe a runnable benchmark; names file and key."""


@dataclass(frozen=True)
class Scenario:
    name: str
    description: str
    target: dict[str, Any]
    bench: dict[str, Any]

    def argv(self, url: str) -> list[str]:
        """The `l7lb bench` command line that runs this scenario against `url`."""
        args = [url]
        for key, value in self.bench.items():
            flag = "--" + key.replace("_", "-")
            if value is True:
                args.append(flag)
            elif value is not False:
                args.extend([flag, str(value)])
        return args


def load_scenario(path: Path) -> Scenario:
    with path.open("rb") as f:
        data = tomllib.load(f)
    unknown = set(data) - {"description", "target", "bench"}
    if unknown:
        raise ScenarioError(f"{path}: unknown top-level keys {sorted(unknown)}")
    target = data.get("target", {})
    bad = set(target) - TARGET_KEYS
    if bad:
        raise ScenarioError(f"{path}: unknown [target] keys {sorted(bad)}")
    if target.get("scheme") not in ("http", "https"):
        raise ScenarioError(f"{path}: target.scheme must be 'http' or 'https'")
    if target["scheme"] == "https" and target.get("certificate") not in CERTIFICATES:
        raise ScenarioError(f"{path}: target.certificate must be one of {CERTIFICATES}")
    if not data.get("description"):
        raise ScenarioError(f"{path}: a scenario needs a description")
    return Scenario(path.stem, data["description"], target, data.get("bench", {}))
