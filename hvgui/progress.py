"""Progress reporting and cancellation for long core operations (no Qt).

A long operation is a plain function taking `progress: Progress | None` and
`cancel: CancelToken | None`. It calls `progress(fraction, phase)` with a fraction in 0..1 and a
short phase text (like Hyper-V's Status column), and calls `cancel.raise_if_cancelled()` at
points where stopping is safe. The UI wraps such functions in workers; the CLI draws a bar.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

Progress = Callable[[float, str], None]
# The phase of a merge, whoever runs it: the VHDX engine and every host (backend.phases.Phase).
MERGE_PHASE = "Merge in progress"


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
