"""The "What happened" panel: for each action, what it did to which file, and its PowerShell.

One top-level row per operation (time, operation, VM); under it one row per file event
(created, grown, made read-only, merged, deleted, moved) with the size, then the PowerShell line
that does the same on a real Hyper-V host.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from pathlib import Path, PurePath

from PySide6.QtCore import QPoint, QSize, Qt
from PySide6.QtGui import QBrush, QColor, QFont, QGuiApplication
from PySide6.QtWidgets import QMenu, QTreeWidget, QTreeWidgetItem, QWidget

from hvgui.backend import DiskEvent, OperationResult
from hvgui.backend.formats import human_size

COLUMNS = ("Action / file", "Change", "Size", "Detail")
_ACTION_COLOURS = {
    "created": "#1e8449",
    "grown": "#b9770e",
    "read-only": "#1f618d",
    "merged": "#7d3c98",
    "deleted": "#c0392b",
    "moved": "#117a65",
    "written": "#566573",
    "modified": "#2e4053",
    "warning": "#b9770e",
}
ELSEWHERE = "another program"  # what marks an operation this window did not run
_POWERSHELL_ROLE = Qt.ItemDataRole.UserRole + 1
_EVENTS_ROLE = Qt.ItemDataRole.UserRole + 2  # a history row's events, until first expanded
MAX_OPERATIONS = 200


class WhatHappenedPanel(QTreeWidget):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("whatHappened")
        self.setAccessibleName("What happened")
        self.setColumnCount(len(COLUMNS))
        self.setHeaderLabels(list(COLUMNS))
        self.setUniformRowHeights(True)
        # Snapshots/<GUID>/<GUID>.bin: cut in the middle, so the extension (what the file is)
        # always shows; the tooltip has the whole path.
        self.setTextElideMode(Qt.TextElideMode.ElideMiddle)
        self.setAlternatingRowColors(True)
        self.setColumnWidth(0, 420)
        self.setColumnWidth(1, 90)
        self.setColumnWidth(2, 80)
        self.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.customContextMenuRequested.connect(self._menu)
        self.root: Path | None = None  # the shown host's folder
        self.elsewhere = ELSEWHERE  # who did what the log adds (a lesson: its steps)
        self.itemExpanded.connect(self._expanded)
        self._mono = QFont("DejaVu Sans Mono")
        self._mono.setStyleHint(QFont.StyleHint.Monospace)

    def sizeHint(self) -> QSize:
        return QSize(900, 150)  # the dock's first height: a strip under the panes

    def add_result(self, vm_name: str, result: OperationResult) -> QTreeWidgetItem:
        """A just-finished operation of this window, inserted at the top, expanded."""
        when = result.events[0].time if result.events else datetime.now().astimezone()
        item = self._operation_item(when, result.operation, vm_name, result.events)
        for warning in result.warnings:
            note = QTreeWidgetItem(item, [f"Warning: {warning}", "", "", ""])
            note.setForeground(0, QBrush(QColor("#b9770e")))
        if result.powershell:
            self._powershell_item(item, result.powershell)
        self.insertTopLevelItem(0, item)
        self._span_notes(item)
        item.setExpanded(True)
        self._trim()
        return item

    def load_history(self, events: Sequence[DiskEvent], vm_names: dict[str, str]) -> None:
        """The host's event log (oldest first), grouped into consecutive operations."""
        self.clear()
        self.add_events(events, vm_names)

    def add_events(
        self, events: Sequence[DiskEvent], vm_names: dict[str, str], *, elsewhere: bool = False
    ) -> None:
        """Events from the log (oldest first) as operations, newest on top; `elsewhere`:
        another process (hvctl, a lesson, another window) did them, and the rows say so."""
        groups: list[list[DiskEvent]] = []
        for event in events:
            last = groups[-1][-1] if groups else None
            same = last is not None and (last.operation, last.vm_id) == (
                event.operation, event.vm_id
            )
            if same:
                groups[-1].append(event)
            else:
                groups.append([event])
        for group in groups[-MAX_OPERATIONS:]:
            first = group[0]
            item = self._operation_item(
                first.time, first.operation, vm_names.get(first.vm_id, first.vm_id), group,
                lazy=not elsewhere,
            )
            if elsewhere:
                item.setText(0, f"{item.text(0)}  ({self.elsewhere})")
                item.setToolTip(0, "Done by another program (hvctl, a lesson step or another "
                                   "window): read from the host's event log")
                item.setForeground(0, QBrush(QColor("#6c3483")))
            self.insertTopLevelItem(0, item)
            if elsewhere:
                self._span_notes(item)
                item.setExpanded(True)
        self._trim()

    def operations(self) -> list[str]:
        """The top-level rows' text, newest first (what a reader sees)."""
        items = (self.topLevelItem(i) for i in range(self.topLevelItemCount()))
        return [item.text(0) for item in items if item is not None]

    def _operation_item(
        self, when: datetime, operation: str, vm_name: str, events: Iterable[DiskEvent],
        *, lazy: bool = False,
    ) -> QTreeWidgetItem:
        local = when.astimezone() if when.tzinfo is not None else when
        item = QTreeWidgetItem([f"{local:%H:%M:%S}  {operation}  —  {vm_name}", "", "", ""])
        bold = QFont(item.font(0))
        bold.setBold(True)
        item.setFont(0, bold)
        events = list(events)
        if lazy:
            # History rows get their file rows when first expanded: a long log opens at once.
            item.setData(0, _EVENTS_ROLE, events)
            item.setChildIndicatorPolicy(QTreeWidgetItem.ChildIndicatorPolicy.ShowIndicator)
        else:
            self._fill(item, events)
        return item

    def _fill(self, item: QTreeWidgetItem, events: Iterable[DiskEvent]) -> None:
        for event in events:
            if event.action == "warning":  # an operation's warning, as the log keeps it
                note = QTreeWidgetItem(item, [f"Warning: {event.detail}", "", "", ""])
                note.setForeground(0, QBrush(QColor(_ACTION_COLOURS["warning"])))
                note.setToolTip(0, event.detail)
                continue
            child = QTreeWidgetItem(
                item, [self._shown_path(event.path), event.action, human_size(event.size),
                       event.detail]
            )
            child.setToolTip(0, str(event.path))
            child.setForeground(1, QBrush(QColor(_ACTION_COLOURS.get(event.action, "#000000"))))

    def _expanded(self, item: QTreeWidgetItem) -> None:
        events = item.data(0, _EVENTS_ROLE)
        if isinstance(events, list) and item.childCount() == 0:
            item.setData(0, _EVENTS_ROLE, None)
            self._fill(item, events)
            self._span_notes(item)
            item.setChildIndicatorPolicy(
                QTreeWidgetItem.ChildIndicatorPolicy.DontShowIndicatorWhenChildless
            )

    @staticmethod
    def _span_notes(item: QTreeWidgetItem) -> None:
        """Warnings and PowerShell lines use the whole row (only once the item is in a tree)."""
        for i in range(item.childCount()):
            row = item.child(i)
            if row is not None and (row.data(0, _POWERSHELL_ROLE)
                                    or row.text(0).startswith("Warning:")):
                row.setFirstColumnSpanned(True)

    def _shown_path(self, path: PurePath) -> str:
        """Paths inside the host folder are shown relative to it (the tooltip has it whole); a
        remote host's (Windows) paths as they are."""
        if self.root is not None:
            try:
                return str(path.relative_to(self.root))
            except ValueError:
                pass
        return str(path)

    def _powershell_item(self, parent: QTreeWidgetItem, line: str) -> None:
        child = QTreeWidgetItem(parent, [f"PS> {line}", "", "", ""])
        child.setFont(0, self._mono)
        child.setForeground(0, QBrush(QColor("#1a5276")))
        child.setData(0, _POWERSHELL_ROLE, line)
        child.setToolTip(0, "The same action on a real Hyper-V host (right-click to copy)")

    def _trim(self) -> None:
        while self.topLevelItemCount() > MAX_OPERATIONS:
            self.takeTopLevelItem(self.topLevelItemCount() - 1)

    def _menu(self, pos: QPoint) -> None:
        item = self.itemAt(pos)
        if item is None:
            return
        text = item.data(0, _POWERSHELL_ROLE) or item.text(0)
        menu = QMenu(self)
        menu.addAction("&Copy", lambda: QGuiApplication.clipboard().setText(str(text)))
        menu.popup(self.viewport().mapToGlobal(pos))
