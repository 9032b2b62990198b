"""Qt adapters for configuration XML: a syntax highlighter, an element tree model and a
settings diff model. The XML arrives already parsed (by the host's hardened parser)."""

from __future__ import annotations

import re
from collections.abc import Sequence

from lxml import etree
from PySide6.QtCore import QModelIndex, QObject, Qt
from PySide6.QtGui import QBrush, QColor, QSyntaxHighlighter, QTextCharFormat, QTextDocument

from hvgui.inspect import SettingChange
from hvgui.ui.inspector.model_base import ModelIndex, ReadOnlyTable, ReadOnlyTree


def _format(colour: str, bold: bool = False) -> QTextCharFormat:
    fmt = QTextCharFormat()
    fmt.setForeground(QColor(colour))
    if bold:
        fmt.setFontWeight(700)
    return fmt


class XmlHighlighter(QSyntaxHighlighter):
    """Tags, attribute names, attribute values, comments and the XML declaration."""

    _RULES = (
        (re.compile(r"</?[\w:.-]+|/?>"), _format("#1a5fb4", bold=True)),
        (re.compile(r"\s[\w:.-]+(?==)"), _format("#9a6700")),
        (re.compile(r'"[^"]*"'), _format("#2e7d32")),
        (re.compile(r"<\?.*?\?>"), _format("#7b1fa2")),
        (re.compile(r"<!--.*?-->"), _format("#80868b")),
    )

    def __init__(self, document: QTextDocument) -> None:
        super().__init__(document)

    def highlightBlock(self, text: str) -> None:
        for pattern, fmt in self._RULES:
            for match in pattern.finditer(text):
                self.setFormat(match.start(), match.end() - match.start(), fmt)


class _Node:
    def __init__(self, element: etree._Element, parent: _Node | None, row: int) -> None:
        self.element = element
        self.parent = parent
        self.row = row
        self._children: list[_Node] | None = None

    @property
    def children(self) -> list[_Node]:
        # Built on first expansion: a large configuration costs nothing until it is opened.
        if self._children is None:
            elements = [c for c in self.element if isinstance(c.tag, str)]
            self._children = [_Node(c, self, i) for i, c in enumerate(elements)]
        return self._children


class XmlTreeModel(ReadOnlyTree):
    """Element | Value | Type: the configuration as a collapsible tree."""

    COLUMNS = ("Element", "Value", "Type")

    def __init__(self, root: etree._Element, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._root = _Node(root, None, 0)

    def _node(self, index: ModelIndex) -> _Node | None:
        if not index.isValid():
            return None
        node = index.internalPointer()
        assert isinstance(node, _Node)
        return node

    def index(self, row: int, column: int, parent: ModelIndex = QModelIndex()) -> QModelIndex:  # noqa: B008
        if not self.hasIndex(row, column, parent):
            return QModelIndex()
        node = self._node(parent)
        child = self._root if node is None else node.children[row]
        return self.createIndex(row, column, child)

    def parent(self, index: ModelIndex = QModelIndex()) -> QModelIndex:  # type: ignore[override]  # noqa: B008
        node = self._node(index)
        if node is None or node.parent is None:
            return QModelIndex()
        return self.createIndex(node.parent.row, 0, node.parent)

    def rowCount(self, parent: ModelIndex = QModelIndex()) -> int:  # noqa: B008
        if parent.isValid() and parent.column() != 0:
            return 0
        node = self._node(parent)
        return 1 if node is None else len(node.children)

    def data(self, index: ModelIndex, role: int = Qt.ItemDataRole.DisplayRole) -> object:
        node = self._node(index)
        if node is None or role not in (Qt.ItemDataRole.DisplayRole, Qt.ItemDataRole.ToolTipRole):
            return None
        element = node.element
        if index.column() == 0:
            return etree.QName(element).localname
        if index.column() == 1:
            if node.children:
                return ""
            return (element.text or "").strip()
        return element.get("type", "")


_DIFF_COLOURS = {"added": "#e6f4ea", "removed": "#fde2e1", "changed": "#fff4ce"}


class SettingsDiffModel(ReadOnlyTable[SettingChange]):
    """Setting | This file | Other: one row per setting that differs."""

    def __init__(
        self, rows: list[SettingChange], left_title: str, right_title: str,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(rows, parent)
        self._titles = ("Setting", left_title, right_title)

    def titles(self) -> tuple[str, ...]:
        return self._titles

    def set_rows(self, rows: Sequence[SettingChange], right_title: str | None = None) -> None:
        if right_title is not None:
            self._titles = (self._titles[0], self._titles[1], right_title)
        super().set_rows(rows)

    def data(self, index: ModelIndex, role: int = Qt.ItemDataRole.DisplayRole) -> object:
        row = self.row_at(index)
        if row is None:
            return None
        if role in (Qt.ItemDataRole.DisplayRole, Qt.ItemDataRole.ToolTipRole):
            value = (row.path, row.left, row.right)[index.column()]
            return "(absent)" if value is None else value
        if role == Qt.ItemDataRole.BackgroundRole:
            kind = "added" if row.left is None else "removed" if row.right is None else "changed"
            return QBrush(QColor(_DIFF_COLOURS[kind]))
        return None
