"""A read-only tree model over JSON-ready facts (dicts, lists, scalars): Field | Value.

The engine's dump_vhdx() and the host's BIN/VSV decoders return plain dicts; this one model
shows any of them. A dict with `"current": True` (the current VHDX header) is drawn bold, and a
dict with a `"severity"` is coloured by it.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QModelIndex, QObject, Qt
from PySide6.QtGui import QBrush, QColor, QFont

from hvgui.ui.inspector.model_base import ModelIndex, ReadOnlyTree

# Facts whose False/None means something is broken, drawn red.
_MUST_BE_TRUE = ("linkage_ok", "resolved", "exists", "valid", "crc_ok")
SEVERITY_COLOURS = {"error": "#b3261e", "warning": "#9a6700", "info": "#1a5fb4"}


def format_scalar(value: object) -> str:
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int) and abs(value) >= 1 << 20:
        return f"{value:,} ({value / (1 << 20):,.1f} MiB)" if value < 1 << 30 else (
            f"{value:,} ({value / (1 << 30):,.2f} GiB)"
        )
    return str(value)


class FactItem:
    """One row: a key, a value (or a summary for containers) and children."""

    def __init__(self, key: str, value: object, parent: FactItem | None) -> None:
        self.key = key
        self.parent = parent
        self.children: list[FactItem] = []
        self.raw = value
        if isinstance(value, dict):
            self.text = _container_summary(value)
            for child_key, child in value.items():
                self.children.append(FactItem(str(child_key), child, self))
        elif isinstance(value, list | tuple):
            self.text = f"{len(value)} item{'s' if len(value) != 1 else ''}"
            for number, child in enumerate(value):
                self.children.append(FactItem(_list_key(number, child, key), child, self))
        else:
            self.text = format_scalar(value)

    def row(self) -> int:
        return 0 if self.parent is None else self.parent.children.index(self)


def _list_key(number: int, child: object, list_name: str = "") -> str:
    """`header 2 (current)` for slotted items, `[3] Page 83 Data` for named ones."""
    if isinstance(child, dict) and "slot" in child and list_name:
        singular = list_name.replace("_", " ").removesuffix("s")
        current = " (current)" if child.get("current") is True else ""
        return f"{singular} {child['slot']}{current}"
    if isinstance(child, dict):
        for name_key in ("name", "key", "slot", "title", "severity"):
            if name_key in child and isinstance(child[name_key], str | int):
                return f"[{number}] {child[name_key]}"
    return f"[{number}]"


def _container_summary(value: dict[str, Any]) -> str:
    if value.get("current") is True:
        return "current"
    if "severity" in value and "message" in value:
        return str(value["message"])
    return ""


class FactsModel(ReadOnlyTree):
    """Field | Value over a JSON-ready dict."""

    COLUMNS = ("Field", "Value")

    def __init__(self, facts: dict[str, Any], parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._root = FactItem("", facts, None)
        self._bold = QFont()
        self._bold.setBold(True)

    def _item(self, index: ModelIndex) -> FactItem:
        if index.isValid():
            item = index.internalPointer()
            assert isinstance(item, FactItem)
            return item
        return self._root

    def index(self, row: int, column: int, parent: ModelIndex = QModelIndex()) -> QModelIndex:  # noqa: B008
        if not self.hasIndex(row, column, parent):
            return QModelIndex()
        return self.createIndex(row, column, self._item(parent).children[row])

    def parent(self, index: ModelIndex = QModelIndex()) -> QModelIndex:  # type: ignore[override]  # noqa: B008
        if not index.isValid():
            return QModelIndex()
        item = self._item(index).parent
        if item is None or item is self._root:
            return QModelIndex()
        return self.createIndex(item.row(), 0, item)

    def rowCount(self, parent: ModelIndex = QModelIndex()) -> int:  # noqa: B008
        if parent.isValid() and parent.column() != 0:
            return 0
        return len(self._item(parent).children)

    def data(self, index: ModelIndex, role: int = Qt.ItemDataRole.DisplayRole) -> object:
        if not index.isValid():
            return None
        item = self._item(index)
        raw = item.raw
        if role in (Qt.ItemDataRole.DisplayRole, Qt.ItemDataRole.ToolTipRole):
            return item.key if index.column() == 0 else item.text
        if role == Qt.ItemDataRole.FontRole and isinstance(raw, dict) and raw.get("current"):
            return self._bold
        if role == Qt.ItemDataRole.ForegroundRole:
            severity = raw.get("severity") if isinstance(raw, dict) else None
            if isinstance(severity, str) and severity in SEVERITY_COLOURS:
                return QBrush(QColor(SEVERITY_COLOURS[severity]))
            if item.key in _MUST_BE_TRUE and raw in (False, None):
                return QBrush(QColor(SEVERITY_COLOURS["error"]))
        return None

