"""Views of binary files: our BIN/VSV saved state (decoded header and sections over a hex view)
and files shown but not decoded (Server 2016+ VMCX/VMRS, unknown files)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PySide6.QtCore import QModelIndex, Qt
from PySide6.QtWidgets import QLabel, QSplitter, QTreeView, QVBoxLayout, QWidget

from hvgui.ui.inspector.facts_model import FactItem, FactsModel
from hvgui.ui.inspector.hex_model import HexFile
from hvgui.ui.inspector.hex_view import HexView
from hvgui.ui.inspector.panels import Banner, heading
from hvgui.ui.workers import Runner

# Keys of a decoded section that give its position in the file: clicking it shows those bytes.
_OFFSET_KEYS = ("offset", "file_offset", "data_offset")


class SavedStateView(QWidget):
    """A BIN or VSV file (or a legacy VHD: the same tree-over-bytes view): the host's decoding
    of it, and its bytes (`file`, opened on a worker, read on `runner`'s)."""

    def __init__(self, path: Path, facts: dict[str, Any], file: HexFile, runner: Runner,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("savedStateView")
        layout = QVBoxLayout(self)
        layout.addWidget(heading(f"{path.name} — {facts.get('label', 'Saved state')}", self))
        decoded = facts.get("saved_state") or facts.get("vhd") or {}
        self.model = FactsModel(decoded, self)
        self.tree = QTreeView(self)
        self.tree.setObjectName("savedStateTree")
        self.tree.setAccessibleName("Decoded header and sections")
        self.tree.setModel(self.model)
        self.tree.setAlternatingRowColors(True)
        self.tree.setColumnWidth(0, 240)
        self.tree.expandToDepth(1)
        self.tree.clicked.connect(self._jump)
        text = "Click the header or a section to see its bytes, tinted, in the hex view below."
        if facts.get("kind") == "vhd":
            text = ("Click the footer, the dynamic header, the BAT or a parent locator to see its "
                    "bytes, tinted, in the hex view below.")
        if facts.get("kind") == "bin":
            text += (" Memory the guest never touched is a hole in the file: it reads as zeros "
                     "and takes no space on disk.")
        hint = QLabel(text, self)
        hint.setWordWrap(True)
        layout.addWidget(hint)
        self.hex = HexView(file, runner, self)
        split = QSplitter(Qt.Orientation.Vertical, self)
        split.addWidget(self.tree)
        split.addWidget(self.hex)
        split.setSizes([260, 320])
        layout.addWidget(split, 1)

    def _jump(self, index: QModelIndex) -> None:
        """Clicking a section (or a field inside it) shows its bytes in the hex view."""
        item = index.internalPointer() if index.isValid() else None
        while isinstance(item, FactItem):
            if isinstance(item.raw, dict):
                for key in _OFFSET_KEYS:
                    value = item.raw.get(key)
                    if isinstance(value, int) and value >= 0:
                        self.hex.go_to_offset(value)
                        length = item.raw.get("length")
                        self.hex.model.set_highlight(
                            value, length if isinstance(length, int) else 0)
                        return
            item = item.parent


class NotDecodedView(QWidget):
    """A file hvgui recognises (or not) but does not decode: the reason, then the bytes."""

    def __init__(self, path: Path, facts: dict[str, Any], file: HexFile, runner: Runner,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("notDecodedView")
        layout = QVBoxLayout(self)
        layout.addWidget(heading(f"{path.name} — {facts.get('label', 'File')}", self))
        note = str(facts.get("note") or "Not decoded.")
        self.note = Banner(note, "info", self)
        layout.addWidget(self.note)
        self.hex = HexView(file, runner, self)
        layout.addWidget(self.hex, 1)
