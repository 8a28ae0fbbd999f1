"""Process pools whose workers never outlive the command that started them.

``sfcl occlude`` and ``sfcl synth`` fan work out to a :class:`ProcessPoolExecutor`. If the parent is
killed (SIGKILL cannot be caught), plain pool workers are re-parented to PID 1, finish their
chunks, keep writing into the output folder and then idle for good. :func:`process_pool`'s workers
instead ask Linux to kill them when their parent dies (``prctl(PR_SET_PDEATHSIG, SIGKILL)``), and a
watchdog thread in each worker (every platform, and every start method: with ``forkserver`` the
worker's parent is the server, not the command) exits as soon as the command's PID is gone.
"""

from __future__ import annotations

import ctypes
import os
import signal
import sys
import threading
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor

PR_SET_PDEATHSIG = 1
WATCH_SECONDS = 0.5


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else (cannot be ours, but do not kill work)
        return True
    return True


def _watch(parent: int) -> None:
    while True:
        time.sleep(WATCH_SECONDS)
        if os.getppid() == 1 or not _alive(parent):
            os._exit(1)


def die_with_parent(parent: int) -> None:
    """Make this (worker) process exit when process ``parent`` dies."""
    if sys.platform.startswith("linux"):
        try:
            ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
        except (OSError, AttributeError):
            pass  # the watchdog below still holds
    if not _alive(parent):  # died between the fork and the prctl
        os._exit(1)
    threading.Thread(target=_watch, args=(parent,), daemon=True, name="sfcl-parent-watchdog").start()


def _start(parent: int, initializer: Callable[..., None] | None, initargs: tuple) -> None:
    die_with_parent(parent)
    if initializer is not None:
        initializer(*initargs)


def process_pool(workers: int, initializer: Callable[..., None] | None = None,
                 initargs: tuple = ()) -> ProcessPoolExecutor:
    """A ``ProcessPoolExecutor`` of ``workers`` processes that die with this one."""
    return ProcessPoolExecutor(max_workers=workers, initializer=_start, initargs=(os.getpid(), initializer, initargs))
