"""`l7lb bench` entry point: parse options, run each URL (A B A B … for --rounds), report.

With --share-sessions the URLs are not compared but run together, one run per round."""

from __future__ import annotations

import dataclasses
import sys
from typing import Any

from . import plot
from .histogram import Histogram
from .options import BenchOptions, OptionError, build_parser, options_from_args, parse_target
from .report import compare, format_comparison, format_summary, json_document, write_json
from .runner import ClientProcessError, run_target, ticker_stream
from .selftest import start_server


def run_all(options: BenchOptions, argv: list[str]) -> int:
    ticker = ticker_stream(options)
    runs: list[dict[str, Any]] = []
    histograms: list[Histogram] = []
    # Each run: a label and the URLs it loads.
    if options.share_sessions:
        label = " + ".join(options.urls)
        plan = [(label, options.urls)]
    else:
        plan = [(url, (url,)) for url in options.urls]
    per_url: dict[str, list[dict[str, Any]]] = {label: [] for label, _ in plan}
    for round_no in range(1, options.rounds + 1):
        for label, urls in plan:
            stats = run_target(options, [parse_target(url) for url in urls], ticker)
            summary = stats.summary()
            runs.append({"url": label, "round": round_no, "summary": summary})
            histograms.append(stats.latency)
            per_url[label].append(summary)
            title = label if options.rounds == 1 else f"{label}  (round {round_no})"
            if options.share_sessions:
                title += "  (one TLS session per connection slot, shared across the URLs)"
            print(format_summary(title, summary), flush=True)
    comparison = compare(per_url) if len(plan) > 1 else None
    if comparison:
        print(format_comparison(comparison))
    if options.json_file:
        write_json(options.json_file, json_document(options, argv, runs, comparison))
    if options.plot_file:
        plot.write_plot(options.plot_file, runs, histograms)
    return 0


def self_test(options: BenchOptions, argv: list[str]) -> int:
    server, port = start_server()
    try:
        print(
            f"client ceiling: {options.procs} client process(es) against a trivial responder"
            " (1 process) on 127.0.0.1"
        )
        url = f"http://127.0.0.1:{port}/"
        return run_all(dataclasses.replace(options, urls=(url,)), argv)
    finally:
        server.kill()
        server.join()


def main(argv: list[str]) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        options = options_from_args(args)
    except OptionError as exc:
        print(f"l7lb bench: {exc}", file=sys.stderr)
        return 2
    if options.plot_file and not plot.available():
        print(
            "l7lb bench: --plot needs matplotlib, which is not installed"
            " (pip install 'l7lb[plot]')",
            file=sys.stderr,
        )
        return 2
    try:
        if options.self_test:
            return self_test(options, argv)
        return run_all(options, argv)
    except ClientProcessError as exc:
        print(f"l7lb bench: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
