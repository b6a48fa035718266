"""Wake-ups of the load CPU by another CPU, read from ``/proc/interrupts`` (proc(5)).

When the proxy (CPU 1) writes to a client or backend that sleeps on an idle CPU 0, the
kernel wakes that CPU with an inter-processor interrupt: a "Function call interrupt" (CAL,
the wake-up queued on the idle CPU's list) or a "Rescheduling interrupt" (RES). In a virtual
machine each one costs the sending CPU an exit to the hypervisor, which shows up as the
proxy's system time and slows what it runs next. A proxy that leaves the load CPU idle
between its writes pays this on every request; one that keeps it busy does not, so the
count per request is printed beside the CPU per request (benchmarks/README.md).
"""

from __future__ import annotations

from pathlib import Path

# the rows that count one CPU waking another
WAKE_ROWS = ("CAL", "RES")


def parse_interrupts(text: str, cpu: int) -> int:
    """The sum of the ``WAKE_ROWS`` counts in ``cpu``'s column; -1 when a row is missing
    or the column does not exist."""
    lines = text.splitlines()
    if not lines:
        return -1
    columns = lines[0].split()  # "CPU0 CPU1 ..."
    name = f"CPU{cpu}"
    if name not in columns:
        return -1
    col = columns.index(name)
    total = 0
    found = 0
    for line in lines[1:]:
        label, _, rest = line.partition(":")
        if label.strip() not in WAKE_ROWS:
            continue
        cells = rest.split()
        if len(cells) <= col or not cells[col].isdigit():
            return -1
        total += int(cells[col])
        found += 1
    return total if found == len(WAKE_ROWS) else -1


def wakeups(cpu: int, path: Path = Path("/proc/interrupts")) -> int:
    """CPU ``cpu``'s wake-up interrupts so far; -1 when the kernel does not say."""
    try:
        return parse_interrupts(path.read_text(), cpu)
    except OSError:
        return -1
