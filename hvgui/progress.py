"""Progress reporting and cancellation for long core operations (no Qt).

A long operation is a plain function taking `progress: Progress | None` and
`cancel: CancelToken | None`. It calls `progress(fraction, phase)` with a fraction in 0..1 and a
short phase text (like Hyper-V's Status column), and calls `cancel.raise_if_cancelled()` at
points where stopping is safe. The UI wraps such functions in workers; the CLI draws a bar.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable

Progress = Callable[[float, str], None]
# The phase of a merge, whoever runs it: the VHDX engine and every host (backend.phases.Phase).
MERGE_PHASE = "Merge in progress"

# How much lower than the GUI thread's the priority of the window's long work is (nice steps):
# its pool threads (hvgui/ui/workers.py) and the child processes its lab host's operations run
# in (hvgui/host/isolated.py). On Linux the scheduler gives a session's threads one share of
# the cores between them (autogroup): at the same priority, our own workers copying in the
# kernel took the GUI thread's turns. Lower, they yield the core to it when it wakes; much
# lower (nice 19), a worker thread holding the interpreter lock waits so long for a core that
# the GUI thread waits for the lock instead; nice 10 has that too, less often, which is why
# the operations run in child processes (benchmarks/README.md, "Worker threads below the GUI
# thread" and "Operations in child processes").
WORKER_NICE_STEPS = 10


def worker_nice() -> int:
    """The nice value of the window's long work: this process's (its main thread's, on Linux)
    plus WORKER_NICE_STEPS, at most 19; 0 where there are no nice values."""
    if not hasattr(os, "getpriority"):
        return 0
    return min(19, os.getpriority(os.PRIO_PROCESS, os.getpid()) + WORKER_NICE_STEPS)


class Cancelled(Exception):
    """Raised inside an operation when its CancelToken was cancelled at a safe point."""


class CancelToken:
    """A cooperative cancellation flag, safe to set from any thread."""

    def __init__(self) -> None:
        self._event = threading.Event()

    def cancel(self) -> None:
        self._event.set()

    @property
    def cancelled(self) -> bool:
        return self._event.is_set()

    def wait(self, timeout: float) -> bool:
        """Wait up to `timeout` seconds for a cancel; True if cancelled."""
        return self._event.wait(timeout)

    def raise_if_cancelled(self) -> None:
        if self._event.is_set():
            raise Cancelled("cancelled")


def report(progress: Progress | None, fraction: float, phase: str) -> None:
    """Call `progress` if there is one, with the fraction clamped to 0..1."""
    if progress is not None:
        progress(min(1.0, max(0.0, fraction)), phase)


def check(cancel: CancelToken | None) -> None:
    """Raise Cancelled if `cancel` was cancelled."""
    if cancel is not None:
        cancel.raise_if_cancelled()


def scaled(progress: Progress | None, start: float, end: float) -> Progress | None:
    """A progress callback mapping 0..1 onto start..end of `progress`, for sub-steps."""
    if progress is None:
        return None
    outer = progress

    def inner(fraction: float, phase: str) -> None:
        outer(start + (end - start) * min(1.0, max(0.0, fraction)), phase)

    return inner


def changes_only(progress: Progress) -> Progress:
    """`progress`, called only for a report that shows differently from the last one passed
    on: a new phase, or a new whole percentage of the phase (at most ~100 a phase: what the
    Status can show). The reports between two such are dropped, never queued: an operation's
    child sends and the window's pool thread emits only these. One caller's thread at a time."""
    last: tuple[str, int] | None = None

    def passed_on(fraction: float, phase: str) -> None:
        nonlocal last
        shown = (phase, int(min(1.0, max(0.0, fraction)) * 100))
        if shown != last:
            last = shown
            progress(fraction, phase)

    return passed_on
