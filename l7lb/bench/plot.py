"""`--plot FILE.png`: latency over time and the latency distribution (needs matplotlib)."""

from __future__ import annotations

import importlib.util
from typing import Any

from .histogram import Histogram


def available() -> bool:
    return importlib.util.find_spec("matplotlib") is not None


def write_plot(path: str, runs: list[dict[str, Any]], histograms: list[Histogram]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (over_time, distribution) = plt.subplots(2, 1, figsize=(9, 8))
    # Percentile spectrum on a log axis of 1/(1-p), as HdrHistogram plots it.
    ps = [50, 75, 90, 95, 99, 99.5, 99.9, 99.95, 99.99]
    xs = [1 / (1 - p / 100) for p in ps]
    for run, hist in zip(runs, histograms, strict=True):
        label = f"{run['url']} #{run['round']}"
        timeline = run["summary"]["timeline"]
        seconds = [t["second"] for t in timeline]
        over_time.plot(seconds, [t["latency_mean_ms"] for t in timeline], label=f"{label} mean")
        over_time.plot(seconds, [t["latency_max_ms"] for t in timeline], ":", label=f"{label} max")
        distribution.plot(xs, [hist.percentile(p) / 1000 for p in ps], marker="o", label=label)
    # the scale first: setting it afterwards replaces the percentile tick labels
    distribution.set_xscale("log")
    distribution.set_xticks(xs, [f"p{p:g}" for p in ps])
    distribution.minorticks_off()
    distribution.set_xlabel("percentile")
    over_time.set_xlabel("second")
    over_time.set_ylabel("latency ms")
    over_time.legend(fontsize="small")
    distribution.set_ylabel("latency ms")
    distribution.legend(fontsize="small")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
