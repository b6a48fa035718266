"""Issue 13: no module of the request engine grows past 500 lines (one concept each)."""

from pathlib import Path

import l7lb.proxy

LIMIT = 500


def test_no_proxy_module_is_longer_than_500_lines() -> None:
    root = Path(l7lb.proxy.__file__).parent
    sizes = {p.name: len(p.read_text().splitlines()) for p in root.glob("*.py")}
    assert len(sizes) >= 10  # the package was found
    assert {name: n for name, n in sizes.items() if n > LIMIT} == {}
