"""``l7lb check FILE``: validate a configuration without starting anything."""

from __future__ import annotations

import sys

from l7lb.config.load import ConfigError, load_config
from l7lb.config.summary import summarize

EXIT_OK = 0
EXIT_INVALID = 2  # the usage-error convention: the input, not l7lb, is wrong


def check_main(path: str) -> int:
    """Print every error to stderr and return 2, or print the summary and return 0."""
    try:
        cfg = load_config(path)
    except ConfigError as exc:
        for issue in exc.errors:
            print(issue.format(exc.origin), file=sys.stderr)
        count = len(exc.errors)
        print(f"{path}: {count} error{'' if count == 1 else 's'}", file=sys.stderr)
        return EXIT_INVALID
    sys.stdout.write(summarize(cfg))
    print(f"{path}: configuration OK")
    return EXIT_OK
