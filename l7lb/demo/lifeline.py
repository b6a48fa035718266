"""Children that never outlive the demo, whatever stops it (issue 16, section 6).

The demo starts realservers, and with two directors a redis-server and two l7lb instances.
They run in sessions of their own (so a Ctrl-C reaches the demo first, and the demo stops them
in order), which also means nothing stops them if the demo dies without cleaning up: a
SIGKILL, a SIGTERM before its handlers are installed, a crash half-way through starting.

Two ties, each enough on its own:

- **The parent-death signal.** ``die_with_parent`` calls ``prctl(PR_SET_PDEATHSIG)``
  (Linux, through ctypes) in the child: the kernel signals the child when the demo's process
  ends, however it ends. If the demo died before the call, the child's parent is already
  another process; ``die_with_parent`` sees that and exits.
- **The lifeline pipe.** The demo holds the write end of a pipe and passes only the read end
  to its children (``Lifeline``); a child watches it (``watch``) and reads end-of-file when
  the last write end closes, i.e. when the demo is gone. This also works where there is no
  ``prctl``.

Python children (realservers, directors) use both; a program that is not ours (redis-server)
gets the signal only, set between fork and exec (``preexec``).
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import sys
import threading
from collections.abc import Callable

PR_SET_PDEATHSIG = 1  # <linux/prctl.h>


def set_parent_death_signal(sig: int) -> bool:
    """Ask the kernel to send ``sig`` to this process when its parent ends; False where
    that cannot be done (not Linux)."""
    if not sys.platform.startswith("linux"):
        return False
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_PDEATHSIG, int(sig), 0, 0, 0) != 0:
        errno = ctypes.get_errno()
        raise OSError(errno, f"prctl(PR_SET_PDEATHSIG): {os.strerror(errno)}")
    return True


def die_with_parent(parent_pid: int, sig: int = signal.SIGKILL) -> None:
    """In a child of ``parent_pid``: receive ``sig`` when it ends; exit now if it already has.

    The check comes after the ``prctl``: a parent that dies before it would never send the
    signal, and a parent that dies after it does."""
    set_parent_death_signal(sig)
    if os.getppid() != parent_pid:
        os._exit(1)


def preexec(parent_pid: int, sig: int = signal.SIGKILL) -> Callable[[], None]:
    """A ``preexec_fn`` for ``subprocess.Popen`` of a program that is not Python: the death
    signal is set between fork and exec, and survives the exec. Only use it while the demo
    has a single thread (``preexec_fn`` is not safe with threads)."""
    return lambda: die_with_parent(parent_pid, sig)


class Lifeline:
    """The demo's side of the pipe: pass ``fd`` to children (``pass_fds``), keep the rest.

    The write end is never inherited (``os.pipe`` makes both ends non-inheritable, and only
    the read end is passed on), so it closes exactly when the demo's process ends."""

    def __init__(self) -> None:
        self.fd, self._write = os.pipe()

    def close(self) -> None:
        """Cut the line on purpose: every child watching it stops."""
        for fd in (self.fd, self._write):
            with contextlib.suppress(OSError):
                os.close(fd)


def watch(fd: int, on_gone: Callable[[], None]) -> threading.Thread:
    """In a child: call ``on_gone`` (from a daemon thread) when the demo is gone."""

    def wait() -> None:
        try:
            while os.read(fd, 1):  # nobody writes: this returns b"" at the demo's end
                pass
        except OSError:
            pass
        on_gone()

    thread = threading.Thread(target=wait, name="lifeline", daemon=True)
    thread.start()
    return thread


def hold(fd: int | None, parent_pid: int | None, sig: int, on_gone: Callable[[], None]) -> None:
    """What a Python child of the demo does first: both ties (either may be absent)."""
    if parent_pid is not None:
        die_with_parent(parent_pid, sig)
    if fd is not None:
        watch(fd, on_gone)
