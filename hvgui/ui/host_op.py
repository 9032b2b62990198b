"""The typed operation object a command returns: one host call a user started on a VM.

    commands.checkpoint(window, selection)          # -> HostOp
        .success(record).run_in_background()        # the session runs it off the GUI thread

While it runs, its progress is the VM's Status column. When it succeeds the session first
applies its `OperationResult` to the models (the new checkpoint is in the tree), then calls the
`success` callbacks; `shows` says which tree item the result makes current. A failure goes to
the `failure` callbacks (else the window's error dialog); a cancellation the user asked for only
to the status bar. Nothing here touches a widget; the caller decides what a result means to it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject

from hvgui.backend import VM, OperationResult
from hvgui.progress import CancelToken, Progress

if TYPE_CHECKING:
    from hvgui.ui.session import HostSession
    from hvgui.ui.workers import Op

HostCall = Callable[[Progress, CancelToken], OperationResult]
Shows = Callable[[OperationResult], str | None]


class HostOp:
    def __init__(self, session: HostSession, vm: VM | None, label: str, call: HostCall, *,
                 shows: Shows | None = None) -> None:
        self.session = session
        self.vm = vm
        self.label = label  # the Status column's words while it runs: "Creating Checkpoint"
        self.call = call  # runs on a pool thread: host calls only
        self.shows = shows  # the tree item ("<snapshot id>" or "now:<vm id>") to select after
        self._success: list[Callable[[OperationResult], None]] = []
        self._failure: Callable[[BaseException], None] | None = None
        self._context: QObject | None = None

    def success(self, fn: Callable[[OperationResult], None]) -> HostOp:
        self._success.append(fn)
        return self

    def failure(self, fn: Callable[[BaseException], None]) -> HostOp:
        self._failure = fn
        return self

    def bound_to(self, context: QObject) -> HostOp:
        """Skip the callbacks once `context` (a window they touch) is deleted."""
        self._context = context
        return self

    def _succeeded(self, result: OperationResult) -> None:
        for fn in self._success:
            fn(result)

    def run_in_background(self) -> Op:
        return self.session.run(self.vm, self.label, self.call, on_result=self._succeeded,
                                on_error=self._failure, context=self._context)


def the_checkpoint(result: OperationResult) -> str | None:
    """`shows` for an operation whose result is the checkpoint to select (taken, renamed)."""
    return result.snapshot.id if result.snapshot is not None else None


def now_of(result: OperationResult) -> str:
    """`shows` for an operation after which the VM's current state matters (Apply)."""
    return f"now:{result.vm_id}"
