"""New Virtual Machine and Settings dialogs.

Settings is Hyper-V Manager's: a list of pages on the left (Memory, Processor, Hard Drives,
Checkpoints, Notes), the page on the right. For a checkpoint it is read-only: the VM as it was.
Changes are applied together in one background operation when OK is pressed.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PySide6.QtCore import QSize, Qt
from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QPlainTextEdit,
    QPushButton,
    QSpinBox,
    QStackedWidget,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from hvgui.backend import VM, Capability, HardDrive, HostBackend, OperationResult, Snapshot
from hvgui.backend.names import name_problem
from hvgui.backend.states import CHECKPOINT_TYPES, VMState
from hvgui.progress import CancelToken, Progress, scaled
from hvgui.ui import ask
from hvgui.ui.formatting import sentence
from hvgui.ui.icons import icon
from hvgui.ui.session import HostSession

MiB = 1 << 20
GiB = 1 << 30


@dataclass(frozen=True)
class NewVmValues:
    name: str
    memory: int
    disk_size: int
    generation: int


class NewVmDialog(QDialog):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("New Virtual Machine")
        self.setWindowIcon(icon("new"))
        form = QFormLayout(self)
        self.name = QLineEdit("New Virtual Machine")
        self.name.setMaxLength(200)  # longer names are refused with a message, not cut
        self.generation = QComboBox()
        self.generation.addItems(["Generation 2", "Generation 1"])
        self.memory = QSpinBox()
        self.memory.setRange(32, 1024 * 1024)
        self.memory.setSingleStep(256)
        self.memory.setValue(1024)
        self.memory.setSuffix(" MB")
        self.disk = QSpinBox()
        self.disk.setRange(1, 64 * 1024)
        self.disk.setValue(127)
        self.disk.setSuffix(" GB (dynamic)")
        form.addRow("&Name:", self.name)
        form.addRow("&Generation:", self.generation)
        form.addRow("Startup &memory:", self.memory)
        form.addRow("Virtual hard &disk:", self.disk)
        buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
        )
        buttons.accepted.connect(self._accept)
        buttons.rejected.connect(self.reject)
        form.addRow(buttons)

    def values(self) -> NewVmValues:
        return NewVmValues(
            self.name.text().strip(),
            self.memory.value() * MiB,
            self.disk.value() * GiB,
            2 if self.generation.currentIndex() == 0 else 1,
        )

    def _accept(self) -> None:
        problem = name_problem(self.name.text(), "VM")
        if problem:
            ask.inform(
                self, "New Virtual Machine", f"This name cannot be used. {sentence(problem)}"
            )
            return
        self.accept()

    @classmethod
    def ask(cls, parent: QWidget | None) -> NewVmValues | None:
        dialog = cls(parent)
        return dialog.values() if dialog.exec() == QDialog.DialogCode.Accepted else None


def _detach_drive(
    host: HostBackend, vm_id: str, ctype: str, number: int, location: int,
    progress: Progress | None, cancel: CancelToken | None,
) -> OperationResult:
    return host.remove_hard_drive(vm_id, ctype, number, location, progress=progress, cancel=cancel)


def _attach_drive(
    host: HostBackend, vm_id: str, path: Path, pass_through: bool,
    progress: Progress | None, cancel: CancelToken | None,
) -> OperationResult:
    return host.add_hard_drive(vm_id, path, pass_through=pass_through, progress=progress,
                               cancel=cancel)


def _drive_row(drive: HardDrive) -> list[str]:
    kind = "Pass-through" if drive.pass_through else "Virtual hard disk"
    place = f"{drive.controller_type} {drive.controller_number}:{drive.controller_location}"
    return [place, kind, str(drive.path)]


def _drive_item(tree: QTreeWidget, row: list[str]) -> QTreeWidgetItem:
    item = QTreeWidgetItem(tree, row)
    item.setToolTip(2, row[2])
    return item


class SettingsDialog(QDialog):
    """Use `for_vm` (editable) or `for_snapshot` (read-only)."""

    def __init__(
        self, session: HostSession, vm: VM, snapshot: Snapshot | None, parent: QWidget | None
    ) -> None:
        super().__init__(parent)
        self.session = session
        self.vm = vm
        self.snapshot = snapshot
        # A checkpoint's settings never change; a read-only host's VM is looked at, not changed.
        host_read_only = session.host.read_only
        self.read_only = snapshot is not None or bool(host_read_only)
        # Receives the settings operation's result (the window records it in What happened).
        self.on_result: Callable[[OperationResult], None] | None = None
        self._added: list[tuple[Path, bool]] = []
        self._removed: list[HardDrive] = []
        title = f"Settings for {vm.name}"
        if snapshot is not None:
            title += f" (checkpoint \"{snapshot.name}\", read-only)"
        elif self.read_only:
            title += " (read-only)"
        self.setWindowTitle(title)
        self.setWindowIcon(icon("settings"))
        self.resize(760, 480)
        self.pages = QListWidget()
        self.pages.setFixedWidth(200)
        self.pages.setIconSize(QSize(20, 20))
        self.pages.setAccessibleName("Settings pages")
        self.stack = QStackedWidget()
        self.pages.currentRowChanged.connect(self.stack.setCurrentIndex)
        row = QHBoxLayout()
        row.addWidget(self.pages)
        row.addWidget(self.stack, 1)
        outer = QVBoxLayout(self)
        outer.addLayout(row)
        if self.read_only:
            note = QLabel(
                "A checkpoint's settings are the VM's configuration as it was; they cannot be "
                "changed. Apply the checkpoint to run with them." if snapshot is not None else
                f"This host is read-only ({host_read_only}): its VMs' settings can be looked "
                "at, not changed."
            )
            note.setWordWrap(True)
            outer.addWidget(note)
            buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
            buttons.rejected.connect(self.reject)
        else:
            buttons = QDialogButtonBox(
                QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
            )
            buttons.accepted.connect(self._accept)
            buttons.rejected.connect(self.reject)
        outer.addWidget(buttons)
        self._build_pages()

    @classmethod
    def for_vm(cls, session: HostSession, vm: VM, parent: QWidget | None) -> SettingsDialog:
        return cls(session, vm, None, parent)

    @classmethod
    def for_snapshot(
        cls, session: HostSession, vm: VM, snapshot: Snapshot, parent: QWidget | None
    ) -> SettingsDialog:
        return cls(session, vm, snapshot, parent)

    def _page(self, title: str, icon_name: str) -> QFormLayout:
        widget = QWidget()
        form = QFormLayout(widget)
        self.stack.addWidget(widget)
        self.pages.addItem(title)
        self.pages.item(self.pages.count() - 1).setIcon(icon(icon_name))
        return form

    def _build_pages(self) -> None:
        vm, snap = self.vm, self.snapshot
        # A checkpoint shows the VM as it was: the host read its own configuration.
        source: VM | Snapshot = snap if snap is not None else vm
        memory_mb, processors = source.memory_startup // MiB, source.processor_count
        notes = source.notes
        memory = self._page("Memory", "memory")
        self.memory = QSpinBox()
        self.memory.setRange(32, 1024 * 1024)
        self.memory.setSingleStep(256)
        self.memory.setSuffix(" MB")
        self.memory.setValue(memory_mb)
        memory.addRow("Startup &RAM:", self.memory)
        processor = self._page("Processor", "settings")
        self.processors = QSpinBox()
        self.processors.setRange(1, 64)
        self.processors.setValue(processors)
        processor.addRow("Number of virtual &processors:", self.processors)

        disks = self._page("Hard Drives", "disk")
        self.drives = QTreeWidget()
        self.drives.setHeaderLabels(["Location", "Type", "Path"])
        self.drives.setColumnWidth(0, 90)
        self.drives.setColumnWidth(1, 120)
        self.drives.setAccessibleName("Hard drives")
        # A long path keeps its file name (web01_<GUID>.avhdx) in view; the whole as tooltip.
        self.drives.setTextElideMode(Qt.TextElideMode.ElideMiddle)
        self._drive_list = list(snap.hard_drives if snap is not None else vm.hard_drives)
        for drive in self._drive_list:
            _drive_item(self.drives, _drive_row(drive))
        disks.addRow(self.drives)
        if not self.read_only:
            buttons = QHBoxLayout()
            self.add_vhd_button = QPushButton("Add &Virtual Hard Disk...")
            self.add_vhd_button.clicked.connect(lambda: self._add_drive(False))
            self.add_pt_button = QPushButton("Add &Pass-through Disk...")
            self.add_pt_button.clicked.connect(lambda: self._add_drive(True))
            self.remove_button = QPushButton("&Remove")
            self.remove_button.clicked.connect(self._remove_drive)
            for b in (self.add_vhd_button, self.add_pt_button, self.remove_button):
                buttons.addWidget(b)
            disks.addRow(buttons)
            disks.addRow(QLabel(
                "A pass-through disk is not captured by checkpoints: applying one restores its "
                "attachment, not its data."
            ))

        checkpoints = self._page("Checkpoints", "checkpoint")
        self.checkpoint_type = QComboBox()
        self.checkpoint_type.addItems(CHECKPOINT_TYPES)
        self.checkpoint_type.setCurrentText(
            snap.snapshot_type if snap is not None else vm.checkpoint_type
        )
        self.location = QLineEdit(str(snap.path if snap is not None else vm.snapshot_file_location))
        browse = QPushButton("&Browse...")
        browse.clicked.connect(self._browse)
        # A remote host's folder is typed as the host names it: no local file dialog.
        elsewhere = self.session.host.capabilities.reason(Capability.LOCAL_FILES)
        browse.setEnabled(not elsewhere)
        browse.setToolTip(elsewhere)
        self.browse = browse
        where = QHBoxLayout()
        where.addWidget(self.location)
        where.addWidget(browse)
        checkpoints.addRow("Checkpoint &type:", self.checkpoint_type)
        # A row holding a layout gets a label without a buddy, which would show "&" as is.
        location_label = QLabel("Checkpoint file &location:")
        location_label.setBuddy(self.location)
        checkpoints.addRow(location_label, where)
        has_checkpoints = bool(getattr(vm, "snapshot_count", 0)) or vm.parent_snapshot_id
        if has_checkpoints and not self.read_only:
            self.location.setEnabled(False)
            browse.setEnabled(False)
            checkpoints.addRow(QLabel(
                "The checkpoint file location can only be changed while the VM has no checkpoints."
            ))
        notes_page = self._page("Notes", "rename")
        self.notes = QPlainTextEdit(notes)
        notes_page.addRow(self.notes)
        if self.read_only:
            for widget in (self.memory, self.processors, self.checkpoint_type, self.location,
                           browse):
                widget.setEnabled(False)
            self.notes.setReadOnly(True)
        elif vm.state != VMState.OFF:
            # As in Hyper-V Manager: startup memory and processors change only while the VM
            # is off (the host refuses otherwise), so they are greyed out rather than failing
            # at OK.
            self.memory.setEnabled(False)
            self.processors.setEnabled(False)
            why = f"The virtual machine is {vm.state}: turn it off to change this."
            memory.addRow(QLabel(why))
            processor.addRow(QLabel(why))
        self.pages.setCurrentRow(0)

    def _browse(self) -> None:
        folder = ask.ask_directory(self, "Checkpoint file location", Path(self.location.text()))
        if folder is not None:
            self.location.setText(str(folder))

    def _add_drive(self, pass_through: bool) -> None:
        what = "physical disk file (raw)" if pass_through else "virtual hard disk"
        path = ask.ask_host_path(
            self, self.session.host, f"Choose a {what}", self.session.local_folder(),
            "Raw disks (*.raw *.img);;All files (*)" if pass_through
            else "Virtual hard disks (*.vhdx *.avhdx);;All files (*)",
        )
        if path is not None:
            self._added.append((path, pass_through))
            kind = "Pass-through" if pass_through else "Virtual hard disk"
            _drive_item(self.drives, ["(new)", kind, str(path)])

    def _remove_drive(self) -> None:
        item = self.drives.currentItem()
        if item is None:
            return
        row = self.drives.indexOfTopLevelItem(item)
        if row < len(self._drive_list) and item.text(0) != "(new)":
            self._removed.append(self._drive_list[row])
        else:
            self._added = [a for a in self._added if str(a[0]) != item.text(2)]
        self.drives.takeTopLevelItem(row)

    def changes(self) -> dict[str, Any]:
        """set_vm's keyword arguments for what was changed."""
        vm = self.vm
        out: dict[str, Any] = {}
        if self.memory.value() * MiB != vm.memory_startup:
            out["memory_startup_bytes"] = self.memory.value() * MiB
        if self.processors.value() != vm.processor_count:
            out["processor_count"] = self.processors.value()
        if self.checkpoint_type.currentText() != vm.checkpoint_type:
            out["checkpoint_type"] = self.checkpoint_type.currentText()
        if self.location.isEnabled() and Path(self.location.text()) != vm.snapshot_file_location:
            out["snapshot_file_location"] = Path(self.location.text())
        if self.notes.toPlainText() != vm.notes:
            out["notes"] = self.notes.toPlainText()
        return out

    def _accept(self) -> None:
        changes, added, removed = self.changes(), list(self._added), list(self._removed)
        if changes or added or removed:
            host, vm_id = self.session.host, self.vm.id
            Step = Callable[[Progress | None, CancelToken | None], OperationResult]
            steps: list[Step] = []
            if changes:
                steps.append(lambda p, c: host.set_vm(vm_id, progress=p, cancel=c, **changes))
            for drive in removed:
                steps.append(functools.partial(
                    _detach_drive, host, vm_id, drive.controller_type, drive.controller_number,
                    drive.controller_location))
            for path, pass_through in added:
                steps.append(functools.partial(_attach_drive, host, vm_id, path, pass_through))

            def call(progress: Progress, cancel: CancelToken) -> OperationResult:
                results = [
                    step(scaled(progress, i / len(steps), (i + 1) / len(steps)), cancel)
                    for i, step in enumerate(steps)
                ]
                return OperationResult(
                    "Settings", vm_id,
                    [e for r in results for e in r.events],
                    [w for r in results for w in r.warnings],
                    "\n".join(r.powershell for r in results if r.powershell),
                )

            self.session.run(self.vm, "Applying Settings", call, on_result=self.on_result)
        self.accept()
