"""The access log: combined and JSON lines, excluded paths, quoting."""

from __future__ import annotations

import json
from pathlib import Path

from l7lb.accesslog import AccessLog, AccessRecord
from l7lb.config.model import LogSettings


def record(**kw: object) -> AccessRecord:
    base: dict[str, object] = dict(
        client="192.0.2.7",
        method=b"GET",
        target=b"/a?b=1",
        version=b"1.1",
        status=200,
        bytes_sent=12,
        referer=b"",
        user_agent=b'evil" agent',
        host=b"www.example.com",
        vip="web",
        pool="p",
        server="s1",
        backend_ms=1.25,
        total_ms=2.5,
    )
    base.update(kw)
    return AccessRecord(**base)  # type: ignore[arg-type]


def never(delay: float, cb: object) -> None:
    """The flush timer; the tests flush by hand."""


def test_combined_line_with_pool_server_and_timings(tmp_path: Path) -> None:
    path = tmp_path / "access.log"
    log = AccessLog(LogSettings(access=str(path)), never)
    log.write(record())
    log.close()
    line = path.read_text()
    assert line.startswith("192.0.2.7 - - [")
    assert '"GET /a?b=1 HTTP/1.1" 200 12 "-" "evil\\" agent"' in line  # quotes escaped
    assert line.rstrip().endswith("vip=web pool=p server=s1 backend_ms=1.250 total_ms=2.500")


def test_json_lines_and_excluded_paths(tmp_path: Path) -> None:
    path = tmp_path / "access.log"
    log = AccessLog(
        LogSettings(access=str(path), format="json", exclude_paths=("/healthz",)), never
    )
    log.write(record(target=b"/healthz?full=1"))  # a health-check path: never logged
    log.write(record(status=502, server="", backend_ms=-1.0))
    log.close()
    lines = path.read_text().splitlines()
    assert len(lines) == 1
    doc = json.loads(lines[0])
    assert doc["status"] == 502 and doc["user_agent"] == 'evil" agent' and doc["server"] == ""
    assert doc["target"] == "/a?b=1" and doc["vip"] == "web"


def test_off_writes_nothing(tmp_path: Path) -> None:
    log = AccessLog(LogSettings(access="off"), never)
    assert not log.enabled
    log.write(record())
    log.close()
