"""The explanation as text for a person (``--json`` prints the dict itself)."""

from __future__ import annotations

from typing import Any

Json = dict[str, Any]
_W = 12  # width of the left column


def _line(label: str, text: str) -> str:
    return f"{label:<{_W}}{text}".rstrip()


def _more(text: str) -> str:
    return (" " * _W + text).rstrip()


def _request_value(kind: str, wanted: list[str], req: Json) -> str:
    """The request's side of a condition, for the parenthesis after it."""
    if kind == "method":
        return str(req["method"])
    if kind == "host":
        return f"Host {req['host']!r}" if req["host"] else "no Host"
    if kind in ("path_prefix", "path_regex"):
        return f"path {req['path']}"
    if kind == "source":
        return f"client {req['source']}"
    if kind == "header":
        name = wanted[0].split(" ", 1)[0].lower()
        values = [v for n, v in req["headers"] if n == name]
        return f"{name}: " + ", ".join(repr(v) for v in values) if values else f"no {name}"
    return ""


def _route_lines(out: Json) -> list[str]:
    lines = ["routes"]
    chosen_index = next((r["index"] for r in out["routes"] if r["chosen"]), None)
    width = max((len(r["name"]) for r in out["routes"]), default=0)
    for r in out["routes"]:
        if r["chosen"]:
            verdict = "MATCH"
        elif r["matched"]:
            verdict = "shadowed"
        else:
            verdict = "no"
        act = r["action"]
        if "pool" in act:
            action = f"pool {act['pool']}"
        elif "redirect" in act:
            action = f"redirect {act['status']} {act['redirect']}"
        else:
            action = f"respond {act.get('respond', '?')}"
        lines.append(f"  {r['index']:>2}  {r['name']:<{width}}  {verdict:<8}  -> {action}")
        if r["matched"] and not r["chosen"] and chosen_index is not None:
            lines.append(f"{'':>8}matches too, but route {chosen_index} comes first")
        if not r["conditions"]:
            lines.append(f"{'':>8}no conditions: matches every request")
        for c in r["conditions"]:
            ok = "yes" if c["ok"] else "no"
            wanted = ", ".join(c["wanted"])
            seen = _request_value(c["kind"], c["wanted"], out["request"])
            hits = ""
            if c["ok"] and c["kind"] in ("host", "source") and len(c["wanted"]) > 1:
                hits = " by " + ", ".join(c["hits"])
            lines.append(f"{'':>8}{c['kind']} {wanted}: {ok}{hits} ({seen})")
    return lines


def render(out: Json) -> str:
    """The explanation as aligned text; every section of the dict that is set."""
    lines: list[str] = []
    req = out["request"]
    if "raw" in req:
        lines.append(_line("request", "(as read)"))
        lines += [_more(x) for x in req["raw"].splitlines()]
    else:
        lines.append(
            _line(
                "request",
                f"{req['method']} {req['target']} HTTP/{req['version']} from {req['source']}",
            )
        )
        if req.get("destination"):
            lines.append(_more(f"to {req['destination']}"))
    vip = out.get("vip")
    if vip is not None:
        kind = "TLS" if vip["tls"] else "plain HTTP"
        listen = ", ".join(vip["listen"])
        lines.append(_line("vip", f"{vip['name']} ({listen}, {kind}): {vip['why']}"))
    tls = out.get("tls")
    if tls is not None:
        outcome = {
            "exact": "an exact name",
            "wildcard": "a wildcard name",
            "default-no-sni": "no SNI: the default certificate",
            "default-unknown": "no certificate names it: the default certificate",
            "refused": "no certificate names it and strict_sni is on: refused",
            "unknown": "unknown (a certificate file cannot be read)",
        }.get(tls["outcome"], tls["outcome"])
        lines.append(_line("tls", f"SNI {tls['sni'] or '(none)'}: {outcome}"))
        for c in tls["certificates"]:
            names = ", ".join(c["names"]) or "(no names)"
            expired = ", EXPIRED" if c["expired"] else ""
            lines.append(
                _more(
                    f"certificate {c['path']} ({c['key']}, {names}, until {c['not_after']}"
                    f"{expired})"
                )
            )
        if tls["name_ok"] is False:
            lines.append(
                _more(
                    "warning: the certificate does not name the URL's host: "
                    "the client reports a name mismatch"
                )
            )
        for p in tls["problems"]:
            lines.append(_more(f"problem: {p}"))
    if out.get("routes"):
        lines += _route_lines(out)
    pool = out.get("pool")
    if pool is not None:
        extra = f", hash_key {pool['hash_key']}" if pool["hash_key"] else ""
        fallback = f", fallback pool {pool['fallback_pool']}" if pool["fallback_pool"] else ""
        lines.append(
            _line(
                "pool",
                f"{pool['name']} (scheduler {pool['scheduler']}{extra}, persistence "
                f"{pool['persistence']}, redispatch {'on' if pool['redispatch'] else 'off'}"
                f"{fallback})",
            )
        )
    per = out.get("persistence")
    if per is not None:
        name = f" {per['name']}" if per["name"] else ""
        value = f" = {per['value']}" if per["value"] else ""
        found = f" (in the {per['found_in']})" if per["found_in"] else ""
        lines.append(_line("persistence", f"{per['mode']}{name}{value}{found}"))
        lines.append(_more(f"{per['status']}: {per['why']}"))
        for k, v in per["facts"].items():
            lines.append(_more(f"{k}: {v}"))
    d = out.get("decision")
    if d is not None:
        if d["server"] is not None:
            how = {"stuck": "stuck to", "scheduled": "scheduled to"}.get(d["how"], d["how"])
            lines.append(_line("server", f"{how} {d['server']} ({d['address']})"))
        else:
            lines.append(_line("server", f"none: {d['reason']}"))
        for step in d["steps"]:
            lines.append(_more(f"- {step}"))
        if d["scheduler_note"]:
            lines.append(_more(f"- {d['scheduler_note']}"))
        for rec in d["records"]:
            lines.append(
                _more(f"- records {rec['key']} -> {rec['server']} in table {rec['table']}")
            )
        lines.append(_line("servers", f"of pool {d['pool']}"))
        width = max((len(s["name"]) for s in d["servers"]), default=0)
        for s in d["servers"]:
            flags = [s["state"]]
            if s["backup"]:
                flags.append("backup")
            if s["max_conn"]:
                flags.append(f"{s['active']}/{s['max_conn']} conn")
            elif s["active"]:
                flags.append(f"{s['active']} active")
            elig = "eligible" if s["eligible"] else "not eligible"
            lines.append(
                _more(
                    f"{s['name']:<{width}}  {s['address']:<21}  weight {s['weight']:<3}  "
                    f"{','.join(flags):<12}  {elig}"
                )
            )
    if out.get("response_headers"):
        lines.append(_line("response", "persistence adds to the response:"))
        lines += [_more(f"{n}: {v}") for n, v in out["response_headers"]]
    backend = out.get("backend")
    if backend is not None:
        lines.append(_line("backend", f"{backend['server']} ({backend['address']}) receives:"))
        lines += [_more(x) for x in backend["head"].split("\r\n")[:-2]]
    live = out.get("live")
    if live is not None:
        lines.append(_line("live", f"server states from {live['socket']}"))
        lines += [_more(n) for n in live["notes"]]
    ans = out["answer"]
    lines.append(_line("answer", ans["summary"]))
    for n in out.get("notes", []):
        lines.append(_line("note", n))
    return "\n".join(lines) + "\n"
