"""The details pane under the lists: Summary, Memory and Networking of the selected VM or
checkpoint, with the checkpoint's screen thumbnail, as in Hyper-V Manager."""

from __future__ import annotations

import os
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path

from PySide6.QtCore import QEvent, QObject, QSize, Qt
from PySide6.QtWidgets import (
    QFormLayout,
    QFrame,
    QHBoxLayout,
    QLabel,
    QScrollArea,
    QSizePolicy,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from hvgui.backend import VM, HardDrive, Snapshot
from hvgui.backend.formats import human_size
from hvgui.backend.states import VMState
from hvgui.ui.formatting import hyperv_time, memory_mb
from hvgui.ui.thumbnail import render_screen

THUMB = QSize(200, 150)


def _form() -> tuple[QWidget, QFormLayout]:
    widget = QWidget()
    form = QFormLayout(widget)
    form.setLabelAlignment(Qt.AlignmentFlag.AlignRight)
    form.setHorizontalSpacing(14)
    form.setVerticalSpacing(3)
    form.setContentsMargins(8, 6, 8, 6)
    return widget, form


class _VerticalScroll(QScrollArea):
    """Scrolls up and down only: as narrow as its form allows, never narrower (the window
    keeps room for the values beside their labels, as it did before the form scrolled)."""

    def minimumSizeHint(self) -> QSize:
        form = self.widget()
        width = form.minimumSizeHint().width() if form is not None else 0
        bar = self.verticalScrollBar().sizeHint().width()
        return QSize(width + bar + 2 * self.frameWidth(), super().minimumSizeHint().height())

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if watched is self.widget() and event.type() == QEvent.Type.LayoutRequest:
            self.updateGeometry()  # new rows, a new minimum width
        return super().eventFilter(watched, event)


def _scrolled(form: QWidget) -> QScrollArea:
    """A form that scrolls when the pane is short: its rows (a wrapped Disk chain sentence,
    a VM's several drives) are never squashed and cut at the pane's bottom edge."""
    area = _VerticalScroll()
    area.setWidget(form)
    area.setWidgetResizable(True)
    area.setFrameShape(QFrame.Shape.NoFrame)
    area.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
    form.setAutoFillBackground(False)
    area.viewport().setAutoFillBackground(False)
    return area


def _value(text: str) -> QLabel:
    label = QLabel()
    label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
    _show_value(label, text)
    return label


def _show_value(label: QLabel, text: str) -> None:
    """A value; a path shows its file name, the whole path in the tooltip."""
    path = os.path.isabs(text)
    label.setText(Path(text).name or text if path else text)
    label.setToolTip(text if path else "")
    # A long file name is cut at the pane's edge rather than widening the window.
    label.setSizePolicy(QSizePolicy.Policy.Ignored if path else QSizePolicy.Policy.Preferred,
                        QSizePolicy.Policy.Preferred)
    label.setWordWrap(not path)


class DetailsPane(QWidget):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("details")
        self.setAccessibleName("Details")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(0)
        self.header = QLabel()
        self.header.setObjectName("paneHeader")
        layout.addWidget(self.header)
        self.tabs = QTabWidget()
        self.tabs.setDocumentMode(True)
        self.tabs.setTabPosition(QTabWidget.TabPosition.South)
        layout.addWidget(self.tabs)
        self.thumbnail = QLabel()
        self.thumbnail.setFixedSize(THUMB)
        self.thumbnail.setAccessibleName("Screen thumbnail")
        self.screen_key = ""
        self._screen: tuple[str, str, datetime | None] = ("", "Off", None)
        self._screen_lines: list[str] = []
        self._drawn: tuple[object, ...] | None = None  # what the thumbnail shows now
        self._rows: dict[int, list[tuple[str, str]]] = {}  # what each form shows now
        self.summary, self.summary_form = _form()
        self.memory, self.memory_form = _form()
        self.networking, self.networking_form = _form()
        summary_page = QWidget()
        row = QHBoxLayout(summary_page)
        row.setContentsMargins(8, 6, 8, 6)
        row.addWidget(self.thumbnail, 0, Qt.AlignmentFlag.AlignTop)
        # The page's own margins frame it beside the thumbnail: a typical VM's nine rows fit
        # the pane's first-start height without a scroll bar.
        self.summary_form.setContentsMargins(8, 0, 8, 0)
        row.addWidget(_scrolled(self.summary), 1)
        self.tabs.addTab(summary_page, "Summary")
        self.tabs.addTab(_scrolled(self.memory), "Memory")
        self.tabs.addTab(_scrolled(self.networking), "Networking")
        self.show_nothing()

    def _fill(self, form: QFormLayout, rows: list[tuple[str, str]]) -> None:
        before = self._rows.get(id(form))
        if before == rows:  # each refresh: rebuild only what changed
            return
        self._rows[id(form)] = list(rows)
        if before is not None and [k for k, _ in before] == [k for k, _ in rows]:
            # The same fields (another VM, a new state): their labels are kept, texts changed.
            for row, ((_, old), (_, value)) in enumerate(zip(before, rows, strict=True)):
                item = form.itemAt(row, QFormLayout.ItemRole.FieldRole)
                field = item.widget() if item is not None else None
                if value != old and isinstance(field, QLabel):
                    _show_value(field, value)
            return
        while form.rowCount():
            form.removeRow(0)
        for label, value in rows:
            form.addRow(f"{label}:", _value(value))

    def values(self) -> dict[str, str]:
        """The Summary tab's fields as shown (label -> text), for tests and screen readers."""
        out = {}
        for row in range(self.summary_form.rowCount()):
            label = self.summary_form.itemAt(row, QFormLayout.ItemRole.LabelRole)
            field = self.summary_form.itemAt(row, QFormLayout.ItemRole.FieldRole)
            if label is not None and field is not None:
                lw, fw = label.widget(), field.widget()
                if isinstance(lw, QLabel) and isinstance(fw, QLabel):
                    out[lw.text().rstrip(":")] = fw.toolTip() or fw.text()
        return out

    def _thumb(self, key: str, name: str, state: str, when: datetime | None) -> None:
        if key != self.screen_key:  # another screen: its console lines come when read
            self._screen_lines = []
        self.screen_key = key
        self._screen = (name, state, when)
        self._render()

    def _render(self) -> None:
        ratio = self.devicePixelRatioF() or 1.0
        name, state, when = self._screen
        # Drawn again only when what it shows changed (the clock shows minutes).
        drawn = (name, state, when and when.strftime("%Y%m%d%H%M"), tuple(self._screen_lines),
                 ratio)
        if drawn == self._drawn:
            return
        self._drawn = drawn
        self.thumbnail.setPixmap(
            render_screen(name, state, when, THUMB, ratio, lines=self._screen_lines)
        )

    def set_screen_lines(self, key: str, lines: list[str]) -> None:
        """What the guest's console shows (read in the background), if `key` is still shown."""
        if key == self.screen_key and lines != self._screen_lines:
            self._screen_lines = lines
            self._render()

    def screen_lines(self) -> list[str]:
        return list(self._screen_lines)

    def show_nothing(self, host_rows: Sequence[tuple[str, str]] = ()) -> None:
        """No VM selected: the Summary shows the host's `host_rows` (its folder, the Windows
        root it stands for)."""
        self.screen_key = ""
        self.header.setText("  No virtual machine selected")
        self.thumbnail.clear()
        self._drawn = None
        self._fill(self.summary_form, list(host_rows))
        for form in (self.memory_form, self.networking_form):
            self._fill(form, [])

    def show_vm(self, vm: VM, chain: str = "") -> None:
        """`chain`: what is wrong with its disk chain, in words ("" when it is sound)."""
        self.header.setText(f"  {vm.name}")
        self._thumb(f"now:{vm.id}", vm.name, vm.state, datetime.now().astimezone())
        self._fill(
            self.summary_form,
            [
                ("State", vm.state),
                ("Checkpoint", vm.parent_snapshot_name or "None"),
                ("Checkpoint type", vm.checkpoint_type),
                ("Generation", str(vm.generation)),
                ("Configuration Version", vm.version),
                ("Processors", str(vm.processor_count)),
                ("Checkpoint file location", str(vm.snapshot_file_location)),
                ("Notes", vm.notes or "None"),
                *_disk_rows(vm.hard_drives),
                *([("Disk chain", chain)] if chain else []),
            ],
        )
        running = vm.state not in {VMState.OFF, VMState.SAVED}
        self._fill(
            self.memory_form,
            [
                ("Startup Memory", memory_mb(vm.memory_startup)),
                ("Dynamic Memory", "Disabled"),
                ("Assigned Memory", memory_mb(vm.memory_assigned) if running else ""),
                ("Memory Status", "OK" if running else ""),
            ],
        )
        self._fill_network()

    def show_snapshot(self, snap: Snapshot, chain: str = "", *,
                      memory_size: str | None = None) -> None:
        """`memory_size`: the memory file's size as memory_file_size gave it on a worker
        (None: not shown, e.g. a remote host's file, which is on the host)."""
        self.header.setText(f"  {snap.name}")
        self._thumb(snap.id, snap.vm_name, snap.state, snap.creation_time)
        memory = "Included" if snap.bin_path else "Not included"
        self._fill(
            self.summary_form,
            [
                ("Created", hyperv_time(snap.creation_time)),
                ("Type", snap.snapshot_type),
                ("State when taken", snap.state),
                ("Parent checkpoint", snap.parent_snapshot_name or "None"),
                ("Configuration", str(snap.config_path)),
                ("Memory", memory),
                *_disk_rows(snap.hard_drives),
                *([("Disk chain", chain)] if chain else []),
            ],
        )
        rows = [("Memory state", memory)]
        if snap.bin_path is not None:
            rows.append(("Memory file", str(snap.bin_path)))
            if memory_size is not None:
                rows.append(("Memory file size", memory_size))
        if snap.vsv_path is not None:
            rows.append(("Device state file", str(snap.vsv_path)))
        self._fill(self.memory_form, rows)
        self._fill_network()

    def _fill_network(self) -> None:
        self._fill(
            self.networking_form,
            [
                ("Network Adapter", "Not connected"),
                ("Status", "The lab host has no virtual switch"),
            ],
        )


def _disk_rows(drives: Sequence[HardDrive]) -> list[tuple[str, str]]:
    rows = []
    for drive in drives:
        kind = "Pass-through disk" if drive.pass_through else "Hard drive"
        place = f"{drive.controller_type} {drive.controller_number}:{drive.controller_location}"
        rows.append((f"{kind} ({place})", str(drive.path)))
    return rows


def memory_file_size(path: Path) -> str:
    """Space the file takes on disk (BIN files are sparse); a stat: call it on a worker."""
    try:
        return human_size(path.stat().st_blocks * 512)
    except OSError:
        return "missing"
