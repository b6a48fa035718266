"""[metrics]: parsed, checked, and what it switches in a worker."""

from __future__ import annotations

import pytest

from l7lb.config.load import ConfigError, parse_config
from l7lb.config.metrics import MetricsSettings
from l7lb.proxy.runtime import WorkerRuntime

BASE = """
[[vip]]
name = "www"
listen = ["127.0.0.1:18080"]
[[vip.route]]
pool = "web"
[[pool.web.server]]
address = "127.0.0.1:19001"
"""


def test_defaults_and_values() -> None:
    assert parse_config(BASE).metrics == MetricsSettings(True, 1.0)
    c = parse_config('[metrics]\nenabled = false\ninterval = "500ms"\n' + BASE)
    assert c.metrics == MetricsSettings(False, 0.5)


def test_off_means_no_per_request_counting() -> None:
    on = WorkerRuntime(parse_config(BASE), lambda f: None)
    off = WorkerRuntime(parse_config("[metrics]\nenabled = false\n" + BASE), lambda f: None)
    assert on.metrics is not None and list(on.metrics.vips) == ["www"]
    assert off.metrics is None


@pytest.mark.parametrize(
    ("table", "path", "words"),
    [
        ("enabled = 1", "metrics.enabled", "expected true or false"),
        ('interval = "0s"', "metrics.interval", "out of range"),
        ('interval = "soon"', "metrics.interval", "not a duration"),
        ("colour = 3", "metrics.colour", "unknown key"),
    ],
)
def test_errors_name_the_key(table: str, path: str, words: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_config(f"[metrics]\n{table}\n" + BASE)
    text = "\n".join(str(e) for e in info.value.errors)
    assert path in text and words in text, text
