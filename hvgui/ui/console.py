"""Connect...: a console onto the simulated guest.

Shows the guest's files (on its running disk, so a checkpoint freezes them), lets you edit them
while it runs, holds the memory-only note (kept by Save and standard checkpoints, lost by Turn
Off), and has a workload switch that keeps writing new data so the running AVHDX grows.
Every guest call runs in the background; this window only shows results.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtGui import QAction, QFont
from PySide6.QtWidgets import (
    QCheckBox,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QMainWindow,
    QPlainTextEdit,
    QPushButton,
    QSpinBox,
    QSplitter,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from hvgui.backend import OperationResult
from hvgui.backend.formats import human_size
from hvgui.backend.states import VMState
from hvgui.connect import lab_host
from hvgui.guest.guest import Guest
from hvgui.ui import ask, commands
from hvgui.ui.icons import icon
from hvgui.ui.screen_contents import first_virtual_disk
from hvgui.ui.session import HostSession
from hvgui.ui.workers import Op
from hvgui.vhdx import open_disk

MiB = 1 << 20
MAX_LISTED = 2000
MAX_SHOWN_BYTES = 256 * 1024
# A workload runs until switched off or until it has written this share of the virtual disk
# (the host refuses one that cannot fit; the guest's files need room too).
WORKLOAD_SHARE = 4
_PATH_ROLE = Qt.ItemDataRole.UserRole + 1


def _walk(guest: Guest) -> list[tuple[str, Any]]:
    # ---- runs on a pool thread ----
    out: list[tuple[str, Any]] = []
    pending = ["/"]
    while pending and len(out) < MAX_LISTED:
        folder = pending.pop(0)
        for entry in guest.list_files(folder):
            if entry.name in {".", ".."}:
                continue
            path = folder.rstrip("/") + "/" + entry.name
            out.append((path, entry))
            if entry.is_dir:
                pending.append(path)
    return out


class ConsoleWindow(QMainWindow):
    def __init__(
        self,
        session: HostSession,
        vm_id: str,
        parent: QWidget | None = None,
        *,
        on_result: Callable[[OperationResult], None] | None = None,
    ) -> None:
        super().__init__(parent)
        self.session = session
        self.vm_id = vm_id
        self._on_result = on_result  # e.g. the main window's What happened
        self.setWindowFlag(Qt.WindowType.Window, True)
        self.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose, True)
        self.setObjectName("console")
        self.setWindowIcon(icon("connect"))
        self.resize(900, 620)
        self._workload_op: Op | None = None
        # One read of the guest's files at a time, as HostSession.refresh reads the host: a
        # refresh during a read reads again after it, so no older read ends after a newer one.
        self._reading = False
        self._read_again = False
        self._build()
        session.refreshed.connect(self.reload)
        session.busy_changed.connect(self._update_toolbar)
        session.health_changed.connect(self._update_toolbar)
        self.reload()

    # ------------------------------------------------------------------ layout
    def _build_toolbar(self) -> None:
        """VMConnect's toolbar: the state changes and checkpoints of this console's VM."""
        bar = self.addToolBar("Action")
        bar.setObjectName("consoleToolbar")
        bar.setMovable(False)
        self.vm_actions: dict[str, QAction] = {}
        # (button, icon, what it does: the same command as the main window's action)
        for text, icon_name, command in (
            ("Start", "start", commands.start),
            ("Turn Off", "turn-off", commands.turn_off),
            ("Shut Down", "shut-down", commands.shut_down),
            ("Save", "save", commands.save),
            ("Pause", "pause", commands.pause),
            ("Resume", "resume", commands.resume),
            ("Reset", "reset", commands.reset),
            ("Checkpoint", "checkpoint", commands.checkpoint),
            ("Revert", "revert", commands.revert),
        ):
            action = QAction(icon(icon_name), text, self)
            action.setToolTip(text)
            action.triggered.connect(functools.partial(self._vm_action, text, command))
            bar.addAction(action)
            self.vm_actions[text] = action
            if text == "Reset":
                bar.addSeparator()

    def _vm_action(self, text: str, command: commands.Command, *_: object) -> None:
        vm = self.session.vm(self.vm_id)
        if vm is None:
            return
        reason = self.session.refusals(vm)[text]
        if reason:  # a click that raced the greying: say why instead of doing nothing
            ask.inform(self, text, reason)
            return
        op = command(self, commands.Selection(self.session, vm))
        if op is not None:
            if self._on_result is not None:
                op.success(self._on_result)
            op.failure(lambda exc: ask.show_error(self, text, exc)).bound_to(
                self).run_in_background()

    def _update_toolbar(self) -> None:
        """The main window's rule: greyed while busy or not allowed, the reason as tooltip."""
        vm = self.session.vm(self.vm_id)
        why = self.session.refusals(vm) if vm else {}
        for text, action in self.vm_actions.items():
            reason = why.get(text, "This virtual machine no longer exists.")
            action.setEnabled(not reason)
            action.setToolTip(reason or text)

    def _build(self) -> None:
        self._build_toolbar()
        body = QWidget()
        layout = QVBoxLayout(body)
        self.state_label = QLabel()
        self.state_label.setObjectName("paneHeader")
        layout.addWidget(self.state_label)

        self.files = QTreeWidget()
        self.files.setAccessibleName("Guest files")
        self.files.setHeaderLabels(["Name", "Size", "Modified"])
        self.files.setColumnWidth(0, 170)
        self.files.setColumnWidth(1, 70)
        self.files.currentItemChanged.connect(self._open_selected)
        self.editor = QPlainTextEdit()
        self.editor.setAccessibleName("File contents")
        mono = QFont("DejaVu Sans Mono")
        mono.setStyleHint(QFont.StyleHint.Monospace)
        self.editor.setFont(mono)
        self.path_label = QLabel("Choose a file")
        self.save_button = QPushButton("&Save File")
        self.save_button.clicked.connect(self._save_file)
        self.new_button = QPushButton("&New File...")
        self.new_button.clicked.connect(self._new_file)
        self.delete_button = QPushButton("&Delete File")
        self.delete_button.clicked.connect(self._delete_file)
        right = QWidget()
        right_layout = QVBoxLayout(right)
        right_layout.setContentsMargins(0, 0, 0, 0)
        right_layout.addWidget(self.path_label)
        right_layout.addWidget(self.editor)
        buttons = QHBoxLayout()
        for button in (self.save_button, self.new_button, self.delete_button):
            buttons.addWidget(button)
        buttons.addStretch(1)
        right_layout.addLayout(buttons)
        split = QSplitter()
        split.addWidget(self.files)
        split.addWidget(right)
        split.setSizes([420, 460])
        layout.addWidget(split, 3)

        note_box = QGroupBox("Note in memory only")
        note_layout = QVBoxLayout(note_box)
        explain = QLabel(
            "Typed into the guest's memory, never written to its disk: Save and a standard "
            "checkpoint keep it; Turn Off and a production checkpoint lose it."
        )
        explain.setWordWrap(True)
        self.note = QPlainTextEdit()
        self.note.setAccessibleName("Memory-only note")
        self.note.setMaximumHeight(80)
        self.note_button = QPushButton("&Type Note into Memory")
        self.note_button.clicked.connect(self._save_note)
        note_layout.addWidget(explain)
        note_layout.addWidget(self.note)
        note_layout.addWidget(self.note_button, 0, Qt.AlignmentFlag.AlignLeft)
        layout.addWidget(note_box, 1)

        work_box = QGroupBox("Workload")
        work_layout = QHBoxLayout(work_box)
        self.workload = QCheckBox("&Run a disk workload")
        self.workload.setAccessibleName("Workload switch")
        self.workload.toggled.connect(self._workload_toggled)
        self.rate = QSpinBox()
        self.rate.setRange(1, 256)
        self.rate.setValue(4)
        self.rate.setSuffix(" MiB/s")
        self.rate.setAccessibleName("Workload rate")
        self.workload_label = QLabel("Writes new data into a guest file: the running AVHDX grows.")
        work_layout.addWidget(self.workload)
        work_layout.addWidget(self.rate)
        work_layout.addWidget(self.workload_label, 1)
        layout.addWidget(work_box)
        self.setCentralWidget(body)

    # ------------------------------------------------------------------- state
    def _guest(self) -> Guest:
        # ---- may run on a pool thread ----
        return Guest(lab_host(self.session.host), self.vm_id)

    def _op(self, label: str, fn: Any) -> Op:
        return Op(self.session.runner, lambda _p, _c: fn(), label=label).bound_to(self).failure(
            lambda exc: ask.show_error(self, label, exc)
        )

    def reload(self) -> None:
        vm = self.session.vm(self.vm_id)
        if vm is None:
            self.state_label.setText("  This virtual machine no longer exists")
            return
        running = vm.state == VMState.RUNNING
        self.setWindowTitle(f"{vm.name} on {self.session.name} - Virtual Machine Connection")
        where = ""
        if vm.parent_snapshot_name:
            where = f", from checkpoint \"{vm.parent_snapshot_name}\""
        self.state_label.setText(f"  {vm.name}: {vm.state}{where}")
        self._update_toolbar()
        for widget in (self.save_button, self.new_button, self.delete_button, self.note_button,
                       self.editor, self.note):
            widget.setEnabled(running)
        if self._workload_op is None:
            self.workload.setEnabled(running)
        self._read_files()

    def _read_files(self) -> None:
        if self._reading:
            self._read_again = True
            return
        self._reading = True

        def read() -> tuple[list[tuple[str, Any]], str | None]:
            guest = self._guest()
            return _walk(guest), guest.note()

        # A refresh, not the user's action: a disk replaced under the read (an apply or revert
        # that just ran) is said in the file list, and the next refresh reads again.
        Op(self.session.runner, lambda _p, _c: read(), label="Read guest",
           quiet=True).bound_to(self).success(self._show_files).failure(
            self._files_unreadable).finally_(self._read_done).run_in_background()

    def _read_done(self) -> None:
        self._reading = False
        if self._read_again:
            self._read_again = False
            self._read_files()

    def _files_unreadable(self, exc: BaseException) -> None:
        self.files.clear()
        QTreeWidgetItem(self.files, [f"(the guest's files cannot be read now: {exc})"])

    def _show_files(self, result: tuple[list[tuple[str, Any]], str | None]) -> None:
        entries, note = result
        current = self.files.currentItem()
        keep = current.data(0, _PATH_ROLE) if current is not None else None
        self.files.clear()
        items: dict[str, QTreeWidgetItem] = {}
        for path, entry in entries:
            parent_path = path.rsplit("/", 1)[0] or "/"
            parent = items.get(parent_path)
            modified = f"{entry.modified:%Y-%m-%d %H:%M}" if entry.modified else ""
            row = [entry.name, "" if entry.is_dir else human_size(entry.size), modified]
            item = QTreeWidgetItem(parent, row) if parent else QTreeWidgetItem(self.files, row)
            item.setData(0, _PATH_ROLE, "" if entry.is_dir else path)
            items[path] = item
        self.files.expandAll()
        if keep:
            for path, item in items.items():
                if path == keep:
                    self.files.setCurrentItem(item)
        if not self.note.hasFocus():
            self.note.setPlainText(note or "")
            self.note.setPlaceholderText("" if note else "(no note in memory)")

    def _open_selected(self, item: QTreeWidgetItem | None, _prev: object = None) -> None:
        path = item.data(0, _PATH_ROLE) if item is not None else ""
        if not path:
            return
        self.path_label.setText(path)

        def read() -> bytes:
            return self._guest().read_file(path)[:MAX_SHOWN_BYTES]

        self._op("Read file", read).success(
            lambda data: self.editor.setPlainText(data.decode("utf-8", errors="replace"))
        ).run_in_background()

    # ----------------------------------------------------------------- actions
    def _save_file(self) -> None:
        path = self.path_label.text()
        if not path.startswith("/"):
            return
        data = self.editor.toPlainText().encode("utf-8")
        self._op("Save file", lambda: self._guest().write_file(path, data)).finally_(
            self.session.refresh
        ).run_in_background()

    def _new_file(self) -> None:
        name = ask.ask_text(self, "New File", "Path in the guest:", "/notes.txt")
        if not name:
            return
        path = name if name.startswith("/") else f"/{name}"
        self.path_label.setText(path)
        self.editor.setPlainText("")
        self._op("New file", lambda: self._guest().write_file(path, b"")).finally_(
            self.session.refresh
        ).run_in_background()

    def _delete_file(self) -> None:
        path = self.path_label.text()
        if path.startswith("/") and ask.confirm(self, "Delete File", f"Delete {path}?"):
            self._op("Delete file", lambda: self._guest().remove_file(path)).finally_(
                self.session.refresh
            ).run_in_background()

    def _save_note(self) -> None:
        text = self.note.toPlainText()
        self._op("Type note", lambda: self._guest().set_note(text)).finally_(
            self.session.refresh
        ).run_in_background()

    def _workload_toggled(self, on: bool) -> None:
        if not on:
            if self._workload_op is not None:
                self._workload_op.cancel.cancel()
            return
        if self._workload_op is not None:
            return
        vm = self.session.vm(self.vm_id)
        disk = first_virtual_disk(vm.hard_drives) if vm is not None else None
        if vm is None or disk is None:
            self.workload.setChecked(False)
            return
        rate = self.rate.value() * MiB
        self.rate.setEnabled(False)
        total = [0]  # set by the worker before its first progress report

        def work(progress: Any, cancel: Any) -> Any:
            # ---- runs on a pool thread ----
            with open_disk(disk) as opened:
                total[0] = max(MiB, opened.size // WORKLOAD_SHARE)
            return self._guest().run_workload(
                total[0], rate=rate, progress=progress, cancel=cancel
            )

        def status(fraction: float, phase: str) -> str:
            return f"{phase} ({fraction * total[0] / MiB:.0f} MiB written)"

        self._workload_op = self.session.run(
            vm, "Guest workload", work, status=status,
            on_error=lambda exc: ask.show_error(self, "Workload", exc),
            on_finished=self._workload_done, context=self,
        )

    def _workload_done(self) -> None:
        self._workload_op = None
        self.rate.setEnabled(True)
        self.workload.blockSignals(True)
        self.workload.setChecked(False)
        self.workload.blockSignals(False)
        self.workload_label.setText("Workload stopped.")
        self.reload()

    def closeEvent(self, event: Any) -> None:
        if self._workload_op is not None:
            self._workload_op.cancel.cancel()
        super().closeEvent(event)
