"""One generic way to run a long core function off the GUI thread.

    Op(parent, lambda progress, cancel: host.checkpoint_vm(vm, progress=progress, cancel=cancel))
        .on_progress(show).success(done).failure(show_error).run_in_background()

Threading rule: the function given to `Op` runs on a pool thread and must never touch a widget.
Everything passed to `on_progress`, `success`, `failure` and `finally_` runs on the GUI thread.
Each exception raised by the function reaches exactly one handler: the `failure` callback, or
the runner's default error handler when none was given. Nothing is swallowed.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import (
    QCoreApplication,
    QEvent,
    QObject,
    QThreadPool,
    Signal,
    Slot,
)
from shiboken6 import isValid

from hvgui.progress import CancelToken, Progress

OpFunction = Callable[[Progress, CancelToken], Any]

# Progress is forwarded at most this often (seconds) unless the percent or phase changed,
# so a merge reporting every block cannot flood the GUI thread's event queue.
_PROGRESS_INTERVAL = 0.05


class _Signals(QObject):
    """Signals of one job, emitted from the pool thread and delivered on the GUI thread.

    progress(float, str): fraction 0..1 and the phase text.
    succeeded(object): the function's return value.
    failed(object): the exception it raised.
    finished(): always last.
    """

    progress = Signal(float, str)
    succeeded = Signal(object)
    failed = Signal(object)
    finished = Signal()


class _Job:
    """What a pool thread runs. A plain callable, not a QRunnable subclass: PySide6 6.11 keeps
    some auto-deleted QRunnable wrappers referenced from the pool for good, and with them the
    function and all it holds (the window that started it, a closed inspector)."""

    def __init__(self, fn: OpFunction, signals: _Signals, cancel: CancelToken) -> None:
        self._fn = fn
        self._signals = signals
        self._cancel = cancel
        self._last: tuple[int, str] = (-1, "")
        self._last_time = 0.0

    def _progress(self, fraction: float, phase: str) -> None:
        # ---- runs on the pool thread: emit only ----
        key = (int(fraction * 100), phase)
        now = time.monotonic()
        if key != self._last or now - self._last_time >= _PROGRESS_INTERVAL:
            self._last, self._last_time = key, now
            self._signals.progress.emit(fraction, phase)

    def run(self) -> None:
        # ---- everything below runs on a pool thread ----
        try:
            result = self._fn(self._progress, self._cancel)
        except BaseException as exc:  # handed to the GUI thread, shown once
            self._signals.failed.emit(exc)
        else:
            self._signals.succeeded.emit(result)
        finally:
            self._signals.finished.emit()


class Runner(QObject):
    """Owns the thread pool and the running ops of one window; waits for them on close.

    changed(): an op started or finished.
    """

    changed = Signal()

    def __init__(self, parent: QObject | None = None, *, max_threads: int = 2) -> None:
        super().__init__(parent)
        self.pool = QThreadPool(self)
        self.pool.setMaxThreadCount(max_threads)
        # Threads stay once made: starting one (an OS thread, a Python thread state) on the
        # GUI thread at each job was part of the stall around every operation's start.
        self.pool.setExpiryTimeout(-1)
        self._ops: set[Op] = set()
        self.default_failure: Callable[[BaseException], None] | None = None
        self.closed = False

    @property
    def busy(self) -> bool:
        return bool(self._ops)

    def running(self) -> list[Op]:
        return list(self._ops)

    def operations(self) -> list[Op]:
        """The running ops a user started (not the window's own reads), oldest first."""
        return sorted((op for op in self._ops if not op.quiet), key=lambda op: op.started)

    def cancel_all(self) -> None:
        for op in self._ops:
            op.cancel.cancel()

    def wait(self, msecs: int = -1) -> bool:
        """Block until every job has returned (their GUI callbacks run later, if ever)."""
        return self.pool.waitForDone(msecs)

    def shutdown(self) -> None:
        """Before the owner is deleted: cancel, wait, then deliver what the jobs posted.

        PySide6 6.12 holds the receiver of each queued cross-thread signal until delivery;
        deleting an op with such events still queued corrupts memory. So the last results
        (and the ops' deferred deletes) are delivered now, while everything is alive.
        """
        self.closed = True  # callbacks delivered below cannot start new jobs
        self.cancel_all()
        self.wait()
        QCoreApplication.sendPostedEvents()
        QCoreApplication.sendPostedEvents(None, int(QEvent.Type.DeferredDelete))

    def _started(self, op: Op) -> None:
        self._ops.add(op)
        self.changed.emit()

    def _finished(self, op: Op) -> None:
        self._ops.discard(op)
        self.changed.emit()


class Op(QObject):
    """A long core call with fluent GUI-thread callbacks (see the module docstring)."""

    def __init__(self, runner: Runner, fn: OpFunction, *, label: str = "", subject: str = "",
                 quiet: bool = False) -> None:
        super().__init__(runner)
        self.runner = runner
        self.label = label
        self.subject = subject  # what it works on (a VM's name), for the user
        self.quiet = quiet  # the window's own reads: cancelled unasked when the window closes
        self.started = time.monotonic()
        self.fraction, self.phase = 0.0, ""  # its last progress
        self.cancel = CancelToken()
        self._fn = fn
        self._on_progress: Callable[[float, str], None] | None = None
        self._on_success: Callable[[Any], None] | None = None
        self._on_failure: Callable[[BaseException], None] | None = None
        self._on_finally: Callable[[], None] | None = None
        self._context: QObject | None = None
        self.done = False
        self._signals = _Signals(self)
        self._signals.progress.connect(self._progress)
        self._signals.succeeded.connect(self._succeeded)
        self._signals.failed.connect(self._failed)
        self._signals.finished.connect(self._finished)

    def bound_to(self, context: QObject) -> Op:
        """Skip the progress/success/finally callbacks once `context` (a widget the callbacks
        touch) is deleted; a failure then goes to the runner's default handler."""
        self._context = context
        return self

    def _context_gone(self) -> bool:
        return self._context is not None and not isValid(self._context)

    def on_progress(self, fn: Callable[[float, str], None]) -> Op:
        self._on_progress = fn
        return self

    def success(self, fn: Callable[[Any], None]) -> Op:
        self._on_success = fn
        return self

    def failure(self, fn: Callable[[BaseException], None]) -> Op:
        self._on_failure = fn
        return self

    def finally_(self, fn: Callable[[], None]) -> Op:
        self._on_finally = fn
        return self

    def run_in_background(self) -> Op:
        if self.runner.closed:  # the owner is closing: nothing new starts
            self.done = True
            self.deleteLater()
            return self
        self.runner._started(self)
        self.runner.pool.start(_Job(self._fn, self._signals, self.cancel).run)
        return self

    # ---- slots: on the GUI thread ----
    @Slot(float, str)
    def _progress(self, fraction: float, phase: str) -> None:
        self.fraction, self.phase = fraction, phase
        if self._on_progress is not None and not self._context_gone():
            self._on_progress(fraction, phase)

    @Slot(object)
    def _succeeded(self, result: object) -> None:
        if self._on_success is not None and not self._context_gone():
            self._on_success(result)

    @Slot(object)
    def _failed(self, exc: BaseException) -> None:
        handler = self._on_failure if not self._context_gone() else None
        handler = handler or self.runner.default_failure
        if handler is None:
            raise exc
        handler(exc)

    @Slot()
    def _finished(self) -> None:
        self.done = True
        self.runner._finished(self)
        try:
            if self._on_finally is not None and not self._context_gone():
                self._on_finally()
        finally:
            self.deleteLater()
