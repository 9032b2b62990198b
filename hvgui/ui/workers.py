"""One generic way to run a long core function off the GUI thread.

    Op(parent, lambda progress, cancel: host.checkpoint_vm(vm, progress=progress, cancel=cancel))
        .on_progress(show).success(done).failure(show_error).run_in_background()

Threading rule: the function given to `Op` runs on a pool thread and must never touch a widget.
Everything passed to `on_progress`, `success`, `failure` and `finally_` runs on the GUI thread.
Each exception raised by the function reaches exactly one handler: the `failure` callback, or
the runner's default error handler when none was given. Nothing is swallowed.
"""

from __future__ import annotations

import contextlib
import os
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import (
    QCoreApplication,
    QEvent,
    QObject,
    QThreadPool,
    QTimer,
    Signal,
    Slot,
)
from shiboken6 import isValid

from hvgui.progress import CancelToken, Progress, changes_only, worker_nice

OpFunction = Callable[[Progress, CancelToken], Any]

# Progress is shown at most this often (seconds; 20 a second): an export or a merge reporting
# every block must not wake the GUI thread (and take the interpreter lock from the worker) a
# hundred times a second. What is shown is the latest report of each phase (the highest: the
# Status never goes back), one phase at a time, each for at least _PHASE_SHOWN before the next
# phase replaces it: phases reported in one burst would otherwise be painted only the last.
_PROGRESS_INTERVAL = 0.05
_PHASE_SHOWN = 0.3
_PHASES_KEPT = 8  # phases waiting to be shown, at most (the newest)

def lower_this_thread() -> None:
    """Give the calling pool thread the workers' priority: the main thread's nice value plus
    WORKER_NICE_STEPS. Linux only, where the nice value is a thread's own (elsewhere
    setpriority takes a process id, and this does nothing)."""
    if not sys.platform.startswith("linux"):
        return
    with contextlib.suppress(OSError):  # refused (a sandbox): the work runs all the same
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), worker_nice())


GIL_HANDOVER_S = 0.001


class _Signals(QObject):
    """Signals of one job, emitted from the pool thread and delivered on the GUI thread.

    progress(): a report waits in the job's _Latest (one signal for any number of them).
    succeeded(object): the function's return value.
    failed(object): the exception it raised.
    finished(): always last.
    """

    progress = Signal()
    succeeded = Signal(object)
    failed = Signal(object)
    finished = Signal()


class _Latest:
    """The progress of each phase, handed from the pool thread to the GUI thread: a report
    replaces one of its phase not yet taken unless it is lower (a phase however short is still
    shown), so at most one signal is ever queued for them."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._reports: list[tuple[float, str]] = []

    def put(self, fraction: float, phase: str) -> bool:
        """Keep this report; True if none was waiting (the GUI thread must be told)."""
        with self._lock:
            waiting = bool(self._reports)
            if waiting and self._reports[-1][1] == phase:
                # The Status never goes backwards within a phase: of the waiting reports the
                # highest is the one that would have shown (a sub-step restarting its count
                # must not hide it).
                self._reports[-1] = (max(fraction, self._reports[-1][0]), phase)
            else:
                self._reports = [*self._reports[-(_PHASES_KEPT - 1):], (fraction, phase)]
        return not waiting

    def first(self) -> tuple[float, str] | None:
        """The oldest waiting phase's report (it stays waiting)."""
        with self._lock:
            return self._reports[0] if self._reports else None

    def take_first(self) -> tuple[float, str]:
        """The oldest waiting phase's latest report; the pool thread may have raised it since
        `first()`. The GUI thread takes the rest later: until then no signal is needed."""
        with self._lock:
            return self._reports.pop(0)


class _Job:
    """What a pool thread runs. A plain callable, not a QRunnable subclass: PySide6 6.11 keeps
    some auto-deleted QRunnable wrappers referenced from the pool for good, and with them the
    function and all it holds (the window that started it, a closed inspector)."""

    def __init__(self, fn: OpFunction, signals: _Signals, cancel: CancelToken,
                 latest: _Latest) -> None:
        self._fn = fn
        self._signals = signals
        self._cancel = cancel
        self._latest = latest
        self._progress = changes_only(self._emit_progress)

    def _emit_progress(self, fraction: float, phase: str) -> None:
        # ---- runs on the pool thread: emit only ----
        if self._latest.put(fraction, phase):
            self._signals.progress.emit()

    def run(self) -> None:
        # ---- everything below runs on a pool thread ----
        lower_this_thread()
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
        # Python code on a pool thread holds the interpreter lock for up to this long while
        # the GUI thread waits for it (after each Qt call that let it go): 1 ms, not 5. Here,
        # not in one window: an inspector opened alone (hvgui --inspect FILE) waited 5 ms at
        # each of the view's Qt calls while its worker read a 4 TiB disk's BAT (gaps to 100 ms).
        sys.setswitchinterval(GIL_HANDOVER_S)
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
        for op in list(self._ops):  # ends held for a phase to be read: delivered now
            op._show_progress()
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
        self.fraction, self.phase = 0.0, ""  # its last progress shown
        self._latest = _Latest()
        self._shown_at = -_PROGRESS_INTERVAL  # when its progress was last shown
        self._phase_at = 0.0  # when its phase on screen was first shown
        self._progress_timer = QTimer(self)  # shows a report that came too soon, later
        self._progress_timer.setSingleShot(True)
        self._progress_timer.timeout.connect(self._show_progress)
        # The job's end (result, then finally), held while a phase it reported waits its turn
        self._ending: list[Callable[[], None]] = []
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
        self.runner.pool.start(_Job(self._fn, self._signals, self.cancel, self._latest).run)
        return self

    # ---- slots: on the GUI thread ----
    @Slot()
    def _progress(self) -> None:
        if not self._progress_timer.isActive():  # else it shows this report in its turn
            self._show_progress()

    def _due(self, phase: str) -> float:
        """When the report of `phase` waiting first may replace what is shown."""
        if phase != self.phase and self.phase:
            return self._phase_at + _PHASE_SHOWN  # the phase on screen stays readable
        if self._ending or self.runner.closed:
            return 0.0  # its last report before its result
        return self._shown_at + _PROGRESS_INTERVAL

    def _show_progress(self) -> None:
        """Show one waiting report when its turn has come (one phase per GUI turn, painted),
        then the job's end once no phase waits."""
        while (waiting := self._latest.first()) is not None:
            now = time.monotonic()
            wait = self._due(waiting[1]) - now
            if wait > 0 and not self.runner.closed:
                self._progress_timer.start(int(wait * 1000) + 1)
                return
            fraction, phase = self._latest.take_first()
            if phase != self.phase:
                self._phase_at = now
            self._shown_at = now
            self.fraction, self.phase = fraction, phase
            if self._on_progress is not None and not self._context_gone():
                self._on_progress(fraction, phase)
        self._run_ending()

    def _run_ending(self) -> None:
        # In order; each step runs even when one before it raised (an unhandled failure).
        if self._ending:
            step = self._ending.pop(0)
            try:
                step()
            finally:
                self._run_ending()

    def _end(self, step: Callable[[], None]) -> None:
        self._ending.append(step)
        self._progress_timer.stop()  # the last report of the phase on screen is due now
        self._show_progress()

    @Slot(object)
    def _succeeded(self, result: object) -> None:
        self._end(lambda: self._deliver_success(result))

    def _deliver_success(self, result: object) -> None:
        if self._on_success is not None and not self._context_gone():
            self._on_success(result)

    @Slot(object)
    def _failed(self, exc: BaseException) -> None:
        self._end(lambda: self._deliver_failure(exc))

    def _deliver_failure(self, exc: BaseException) -> None:
        handler = self._on_failure if not self._context_gone() else None
        handler = handler or self.runner.default_failure
        if handler is None:
            raise exc
        handler(exc)

    @Slot()
    def _finished(self) -> None:
        self._end(self._deliver_finished)

    def _deliver_finished(self) -> None:
        self.done = True
        self.runner._finished(self)
        try:
            if self._on_finally is not None and not self._context_gone():
                self._on_finally()
        finally:
            self.deleteLater()
