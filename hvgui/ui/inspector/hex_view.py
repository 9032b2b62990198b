"""The hex view: a table over HexModel with fixed row heights and a "go to offset" box."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QFontMetrics
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from hvgui.ui.inspector.hex_model import BYTES_PER_ROW, HexFile, HexModel
from hvgui.ui.workers import Runner


def parse_offset(text: str) -> int | None:
    """`0x1F000`, `126976`, `4M`, `2G` -> bytes; None when it is not a number."""
    text = text.strip().lower().replace("_", "").replace(",", "")
    if not text:
        return None
    scale = 1
    if text[-1] in "kmg":
        scale = 1 << {"k": 10, "m": 20, "g": 30}[text[-1]]
        text = text[:-1]
    try:
        value = int(text, 16) if text.startswith("0x") else int(text, 10)
    except ValueError:
        return None
    return value * scale if value >= 0 else None


class HexView(QWidget):
    """A lazily paged hex dump of one file (opened on a worker, its pages read on `runner`'s)."""

    def __init__(self, file: HexFile, runner: Runner, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.model = HexModel(file, runner, self)
        self.table = QTableView(self)
        self.table.setObjectName("hexTable")
        self.table.setAccessibleName("Hex dump")
        self.table.setModel(self.model)
        self.table.setShowGrid(False)
        self.table.setWordWrap(False)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setVerticalScrollMode(QAbstractItemView.ScrollMode.ScrollPerItem)
        vertical = self.table.verticalHeader()
        vertical.hide()
        metrics = QFontMetrics(self.model.font)
        vertical.setSectionResizeMode(QHeaderView.ResizeMode.Fixed)
        vertical.setDefaultSectionSize(metrics.height() + 4)
        horizontal = self.table.horizontalHeader()
        horizontal.setSectionResizeMode(QHeaderView.ResizeMode.Fixed)
        char = metrics.horizontalAdvance("0")
        self.table.setColumnWidth(0, char * 14)
        self.table.setColumnWidth(1, char * (BYTES_PER_ROW * 3 + 3))
        horizontal.setStretchLastSection(True)

        self.goto = QLineEdit(self)
        self.goto.setObjectName("hexGoto")
        self.goto.setPlaceholderText("Go to offset (e.g. 0x10000, 4M)")
        self.goto.setAccessibleName("Go to offset")
        self.goto.setClearButtonEnabled(True)
        self.goto.returnPressed.connect(self._go)
        size = self.model.size
        self.summary = QLabel(f"{size:,} bytes, read on demand", self)
        self.summary.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)

        bar = QHBoxLayout()
        bar.addWidget(self.goto, 1)
        bar.addWidget(self.summary)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(bar)
        layout.addWidget(self.table, 1)

    def go_to_offset(self, offset: int) -> None:
        row = self.model.row_of_offset(offset)
        index = self.model.index(row, 0)
        self.table.scrollTo(index, QAbstractItemView.ScrollHint.PositionAtTop)
        self.table.selectRow(row)

    def _go(self) -> None:
        offset = parse_offset(self.goto.text())
        if offset is None:
            self.goto.setStyleSheet("QLineEdit { background: #fde2e1; }")
            return
        self.goto.setStyleSheet("")
        self.go_to_offset(offset)

    def close_file(self) -> None:
        self.model.close()
