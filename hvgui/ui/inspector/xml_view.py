"""The configuration XML view: highlighted text, a collapsible tree, and a settings diff against
the VM's current configuration or another checkpoint."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PySide6.QtGui import QFont, QFontDatabase
from PySide6.QtWidgets import (
    QComboBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPlainTextEdit,
    QTableView,
    QTabWidget,
    QTreeView,
    QVBoxLayout,
    QWidget,
)

from hvgui.errors import HvError
from hvgui.host.inspect import load_xml_tree, read_text_capped, settings_diff
from hvgui.ui.inspector.facts_model import FactsModel
from hvgui.ui.inspector.panels import Banner, heading
from hvgui.ui.inspector.xml_models import SettingsDiffModel, XmlHighlighter, XmlTreeModel

# Above this many characters the text is shown plain: highlighting is per line but Qt runs it
# over the whole document at once.
HIGHLIGHT_LIMIT = 1 << 20


class XmlView(QWidget):
    """One configuration file. `others` are (title, path) pairs to diff against."""

    def __init__(
        self,
        path: Path,
        facts: dict[str, Any],
        others: list[tuple[str, Path]] | None = None,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.setObjectName("xmlView")
        self.path = path
        layout = QVBoxLayout(self)
        layout.addWidget(heading(f"{path.name} — {facts.get('label', 'Configuration')}", self))
        summary = facts.get("xml")
        self.tabs = QTabWidget(self)
        layout.addWidget(self.tabs, 1)

        if isinstance(summary, dict) and summary:
            self.summary_model = FactsModel(summary, self)
            tree = QTreeView(self)
            tree.setAccessibleName("Configuration summary")
            tree.setModel(self.summary_model)
            tree.setColumnWidth(0, 220)
            tree.expandAll()
            self.tabs.addTab(tree, "Summary")

        text, truncated = read_text_capped(path)
        self.text = QPlainTextEdit(self)
        self.text.setObjectName("xmlText")
        self.text.setAccessibleName("Configuration text")
        self.text.setReadOnly(True)
        self.text.setLineWrapMode(QPlainTextEdit.LineWrapMode.NoWrap)
        font = QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont)
        font.setStyleHint(QFont.StyleHint.Monospace)
        self.text.setFont(font)
        self.text.setPlainText(text)
        self.highlighter: XmlHighlighter | None = None
        if len(text) <= HIGHLIGHT_LIMIT:
            self.highlighter = XmlHighlighter(self.text.document())
        text_page = QWidget(self)
        text_layout = QVBoxLayout(text_page)
        text_layout.setContentsMargins(0, 0, 0, 0)
        if truncated:
            text_layout.addWidget(Banner(
                "The file is larger than the inspector shows as text; the rest is not loaded "
                "(use the hex view of a copy, or a text editor).", "warning", text_page))
        text_layout.addWidget(self.text)
        self.tabs.addTab(text_page, "Text")

        self.tree_model: XmlTreeModel | None = None
        try:
            root = load_xml_tree(path)
        except HvError as exc:
            self.tabs.addTab(Banner(f"The tree cannot be built: {exc.problem}", "error", self),
                             "Tree")
        else:
            self.tree_model = XmlTreeModel(root, self)
            self.tree = QTreeView(self)
            self.tree.setObjectName("xmlTree")
            self.tree.setAccessibleName("Configuration tree")
            self.tree.setModel(self.tree_model)
            self.tree.setUniformRowHeights(True)
            self.tree.setAlternatingRowColors(True)
            self.tree.setColumnWidth(0, 320)
            self.tree.expandToDepth(1)
            self.tabs.addTab(self.tree, "Tree")

        self.others = list(others or [])
        self.diff_model = SettingsDiffModel([], "This file", "Other", self)
        if self.others:
            self.tabs.addTab(self._diff_page(), "Diff")

    def _diff_page(self) -> QWidget:
        page = QWidget(self)
        self.diff_choice = QComboBox(page)
        self.diff_choice.setAccessibleName("Compare with")
        for title, _ in self.others:
            self.diff_choice.addItem(title)
        self.diff_choice.currentIndexChanged.connect(self.show_diff)
        self.diff_status = QLabel(page)
        self.diff_status.setWordWrap(True)
        table = QTableView(page)
        table.setObjectName("xmlDiff")
        table.setAccessibleName("Settings that differ")
        table.setModel(self.diff_model)
        table.verticalHeader().hide()
        table.setWordWrap(False)
        table.horizontalHeader().setSectionResizeMode(0, QHeaderView.ResizeMode.Interactive)
        table.horizontalHeader().setStretchLastSection(True)
        table.setColumnWidth(0, 360)
        table.setColumnWidth(1, 220)
        bar = QHBoxLayout()
        bar.addWidget(QLabel("Compare with:", page))
        bar.addWidget(self.diff_choice, 1)
        layout = QVBoxLayout(page)
        layout.addLayout(bar)
        layout.addWidget(self.diff_status)
        layout.addWidget(table, 1)
        self.show_diff(0)
        return page

    def show_diff(self, choice: int) -> None:
        if not 0 <= choice < len(self.others):
            return
        title, other = self.others[choice]
        try:
            rows = settings_diff(self.path, other)
        except HvError as exc:
            self.diff_model.set_rows([], title)
            self.diff_status.setText(f"Cannot compare: {exc}")
            return
        self.diff_model.set_rows(rows, title)
        self.diff_status.setText(
            f"{len(rows)} setting{'s' if len(rows) != 1 else ''} differ from {title}."
            if rows else f"No setting differs from {title}.")
