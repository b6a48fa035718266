"""``l7lb run``: load a configuration, set up logging and run the supervisor until it stops.

Its own module because two commands start a director this way (``l7lb run`` and the demo's
single-director mode), and neither should import the other's command-line code.
"""

from __future__ import annotations

import asyncio
import sys


def run_supervisor(path: str, workers: int | None) -> int:
    """Run the director described by ``path``; the exit status (2: bad configuration)."""
    import uvloop

    from l7lb.config.load import ConfigError, load_config
    from l7lb.logsetup import setup_logging
    from l7lb.supervisor import Supervisor

    try:
        config = load_config(path)
    except ConfigError as exc:
        for issue in exc.errors:
            print(f"{path}: {issue}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"l7lb: cannot read {path}: {exc.strerror}", file=sys.stderr)
        return 2
    setup_logging(config.log.level, "supervisor")
    sup = Supervisor(path, config, workers)
    uvloop.install()
    try:
        return asyncio.run(sup.run())
    except OSError as exc:
        print(f"l7lb: {exc.strerror or exc}", file=sys.stderr)
        return 1
