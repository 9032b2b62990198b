"""Closing the window while operations run: say what runs, offer to wait or to cancel.

The window never blocks its thread waiting for an operation: it refuses the close, shows this
small dialog with each operation's own progress (the window keeps repainting and counting
behind it), and closes itself once the last operation has finished, if the user chose to
wait or to cancel. Cancelling stops an operation at its next safe point (the host rolls it
back or completes the step it is in), so the host stays sound either way.
"""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtGui import QShowEvent
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QGridLayout,
    QLabel,
    QLayout,
    QProgressBar,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from hvgui.ui.workers import Op, Runner

_REFRESH_MS = 100  # the progress shown follows the operations' at this pace


class ClosingDialog(QDialog):
    """`done_waiting()`: the user chose to wait or cancel, and nothing runs any more."""

    done_waiting = Signal()

    def __init__(self, parent: QWidget, runner: Runner, refusal: Callable[[Op], str]) -> None:
        """`refusal(op)`: why the host cannot cancel `op` ("" when it can)."""
        super().__init__(parent)
        self.setObjectName("closingDialog")
        self.setWindowTitle("Operations in progress")
        self.setWindowModality(Qt.WindowModality.WindowModal)
        self.runner = runner
        self.refusal = refusal
        self.waiting = False  # the user chose to close when the operations are done
        self.heading = QLabel()
        self.heading.setWordWrap(True)
        self.rows = QGridLayout()
        self.rows.setColumnStretch(0, 1)
        self.buttons = QDialogButtonBox()
        self.wait_button = QPushButton("Close When &Done")
        self.wait_button.setToolTip("Close the window as soon as the operations have finished")
        self.cancel_button = QPushButton("&Cancel Operations")
        self.keep_button = QPushButton("&Keep Window Open")
        for button, role in ((self.wait_button, QDialogButtonBox.ButtonRole.AcceptRole),
                             (self.cancel_button, QDialogButtonBox.ButtonRole.DestructiveRole),
                             (self.keep_button, QDialogButtonBox.ButtonRole.RejectRole)):
            self.buttons.addButton(button, role)
        self.wait_button.clicked.connect(self.wait_then_close)
        self.cancel_button.clicked.connect(self.cancel_then_close)
        self.keep_button.clicked.connect(self.reject)
        self.wait_button.setDefault(True)
        layout = QVBoxLayout(self)
        layout.setSizeConstraint(QLayout.SizeConstraint.SetMinimumSize)  # the wrapped text fits
        layout.addWidget(self.heading)
        layout.addLayout(self.rows)
        layout.addWidget(self.buttons)
        self._shown: list[Op] = []
        self._bars: dict[Op, tuple[QLabel, QProgressBar]] = {}
        self._timer = QTimer(self)
        self._timer.setInterval(_REFRESH_MS)
        self._timer.timeout.connect(self.refresh)
        runner.changed.connect(self.refresh)
        self.setMinimumWidth(460)
        self.refresh()

    def showEvent(self, event: QShowEvent) -> None:
        self._timer.start()
        super().showEvent(event)

    def wait_then_close(self) -> None:
        self.waiting = True
        self.wait_button.setEnabled(False)
        self.refresh()

    def cancel_then_close(self) -> None:
        """Cancel what the host can cancel; the rest runs to its end before the close."""
        self.waiting = True
        for op in self.runner.operations():
            if not self.refusal(op):
                op.cancel.cancel()
        self.wait_button.setEnabled(False)
        self.cancel_button.setEnabled(False)
        self.refresh()

    def reject(self) -> None:
        """Keep the window open; the operations go on as before (a cancel already asked for
        stays asked)."""
        self.waiting = False
        self._timer.stop()
        super().reject()

    def refresh(self) -> None:
        running = self.runner.operations()
        if not running:
            self._timer.stop()
            if self.waiting:
                self.waiting = False
                self.accept()
                self.done_waiting.emit()
            return
        rebuilt = running != self._shown
        if rebuilt:
            self._rebuild(running)
        cancelling = any(op.cancel.cancelled for op in running)
        refusals = {op: self.refusal(op) for op in running}
        self._offer_cancel(refusals)
        count = len(running)
        what = "An operation is" if count == 1 else f"{count} operations are"
        if not self.waiting and all(refusals.values()):
            self.heading.setText(f"{what} still running, and this host cannot cancel "
                                 f"{'it' if count == 1 else 'them'}. The window can close "
                                 f"when {'it has' if count == 1 else 'they have'} finished.")
        elif not self.waiting:
            which = ("it" if count == 1 else
                     "those this host can cancel" if any(refusals.values()) else "them")
            self.heading.setText(f"{what} still running. The window can close when "
                                 f"{'it has' if count == 1 else 'they have'} finished, or "
                                 f"after cancelling {which}.")
        elif cancelling:
            rest = " and the others have finished" if any(refusals.values()) else ""
            self.heading.setText("Cancelling: each operation stops at its next safe point. "
                                 f"The window closes when they have stopped{rest}.")
        else:
            self.heading.setText(f"{what} still running. The window closes when "
                                 f"{'it has' if count == 1 else 'they have'} finished.")
        for op in running:
            label, bar = self._bars[op]
            label.setText(_describe(op) + (" (cannot be cancelled)" if refusals[op] else ""))
            label.setToolTip(refusals[op])
            bar.setValue(int(op.fraction * 100))
        if rebuilt:
            self.adjustSize()

    def _offer_cancel(self, refusals: dict[Op, str]) -> None:
        """Cancel is offered for the operations the host can cancel; greyed, with the host's
        reason, when it can cancel none of them."""
        if all(refusals.values()):
            self.cancel_button.setEnabled(False)
            self.cancel_button.setToolTip(
                "\n".join(f"{_describe(op)}: {why}" for op, why in refusals.items()))
            return
        if not self.waiting:
            self.cancel_button.setEnabled(True)
        tip = ("Stop the operations at their next safe point (nothing is left half done), "
               "then close the window")
        kept = [f"{_describe(op)}: {why}" for op, why in refusals.items() if why]
        if kept:
            tip += "; these run to their end first:\n" + "\n".join(kept)
        self.cancel_button.setToolTip(tip)

    def _rebuild(self, running: list[Op]) -> None:
        for label, bar in self._bars.values():
            label.deleteLater()
            bar.deleteLater()
        self._bars.clear()
        for row, op in enumerate(running):
            label, bar = QLabel(), QProgressBar()
            label.setObjectName("closingOperation")
            bar.setRange(0, 100)
            bar.setFixedWidth(140)
            self.rows.addWidget(label, row, 0)
            self.rows.addWidget(bar, row, 1)
            self._bars[op] = (label, bar)
        self._shown = running


def _describe(op: Op) -> str:
    """`Deleting Checkpoint — Alpha: Merge in progress`, as the Status column words it."""
    text = op.label + (f" — {op.subject}" if op.subject else "")
    if op.phase and op.phase != op.label:
        text += f": {op.phase}"
    if op.cancel.cancelled:
        text += " (cancelling)"
    return text
