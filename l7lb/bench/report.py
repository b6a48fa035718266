"""The final table, the comparison of several URLs, and the JSON document."""

from __future__ import annotations

import json
import platform
import statistics
import sys
from datetime import UTC, datetime
from typing import Any

from .options import BenchOptions


def human_bytes(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if abs(n) < 1024 or unit == "GiB":
            return f"{n:,.1f} {unit}" if unit != "B" else f"{n:,.0f} B"
        n /= 1024
    return f"{n:,.1f} GiB"


def format_summary(url: str, s: dict[str, Any]) -> str:
    lat, conn, hs = s["latency_ms"], s["connect_ms"], s["handshakes"]
    lines = [
        f"{url}",
        f"  requests      {s['requests']:,} in {s['elapsed_s']:.2f} s"
        f"   {s['requests_per_s']:,.1f} req/s",
        f"  transfer      {human_bytes(s['bytes_in'])} in, {human_bytes(s['bytes_out'])} out"
        f"   {human_bytes(s['bytes_in_per_s'])}/s in",
        "  latency ms    "
        + "  ".join(f"{k} {lat[k]:.3f}" for k in ("p50", "p90", "p99", "p99.9", "max")),
        f"  connections   {s['connections']:,}   connect+handshake ms "
        + "  ".join(f"{k} {conn[k]:.3f}" for k in ("p50", "p99", "max")),
    ]
    if hs["full"] or hs["resumed"]:
        lines.append(
            f"  handshakes    full {hs['full']:,}  resumed {hs['resumed']:,}"
            f"  resumed ratio {hs['resumed_ratio']:.1%}"
        )
        for url, t in s["by_url"].items():
            lines.append(
                f"    {url}  full {t['full']:,}  resumed {t['resumed']:,}"
                f"  resumed ratio {t['resumed_ratio']:.1%}"
            )
    statuses = "  ".join(f"{k} {v:,}" for k, v in s["status_classes"].items()) or "none"
    lines.append(f"  responses     {statuses}")
    errors = "  ".join(f"{k} {v:,}" for k, v in s["errors"].items())
    lines.append(
        f"  errors        {s['error_count']:,} ({s['error_ratio']:.1%})"
        + (f"   {errors}" if errors else "")
    )
    if s["backends"]:
        total = sum(s["backends"].values())
        lines.append(
            "  backends      "
            + "  ".join(f"{k} {v:,} ({v / total:.1%})" for k, v in s["backends"].items())
        )
    st = s["stickiness"]
    if st["clients"]:
        lines.append(
            f"  stickiness    {st['clients']:,} clients, {st['violations']:,} violations"
            f" ({st['switches']:,} backend switches)"
        )
        lines.append("  client spread " + "  ".join(f"{k} {v:,}" for k, v in st["spread"].items()))
    return "\n".join(lines)


def compare(per_url: dict[str, list[dict[str, Any]]]) -> list[dict[str, Any]]:
    """Median req/s and latency per URL over its rounds, and each as a ratio of the first."""
    rows = []
    for url, runs in per_url.items():
        rows.append(
            {
                "url": url,
                "rounds": len(runs),
                "requests_per_s": statistics.median(r["requests_per_s"] for r in runs),
                "p50_ms": statistics.median(r["latency_ms"]["p50"] for r in runs),
                "p99_ms": statistics.median(r["latency_ms"]["p99"] for r in runs),
            }
        )
    base = rows[0]
    for row in rows:
        for key in ("requests_per_s", "p50_ms", "p99_ms"):
            row[f"{key}_ratio"] = round(row[key] / base[key], 4) if base[key] else None
    return rows


def format_comparison(rows: list[dict[str, Any]]) -> str:
    lines = ["comparison (medians over rounds; ratio to the first URL)"]
    for row in rows:
        ratio = row["requests_per_s_ratio"]
        lines.append(
            f"  {row['url']}  {row['requests_per_s']:,.1f} req/s"
            f" (x{ratio if ratio is not None else float('nan'):.3f})"
            f"  p50 {row['p50_ms']:.3f} ms  p99 {row['p99_ms']:.3f} ms"
        )
    return "\n".join(lines)


def json_document(
    options: BenchOptions,
    argv: list[str],
    runs: list[dict[str, Any]],
    comparison: list[dict[str, Any]] | None,
) -> dict[str, Any]:
    return {
        "tool": "l7lb bench",
        "argv": argv,
        "options": options.to_dict(),
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {"python": sys.version.split()[0], "platform": platform.platform()},
        "runs": runs,
        "comparison": comparison,
    }


def write_json(path: str, document: dict[str, Any]) -> None:
    with open(path, "w", encoding="utf-8") as f:
        json.dump(document, f, indent=2)
        f.write("\n")
