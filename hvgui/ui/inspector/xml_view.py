"""The configuration XML view: highlighted text, a collapsible tree, and a settings diff against
the VM's current configuration or another checkpoint.

Reading, parsing and diffing run off the GUI thread (`hvgui.ui.workers`): a configuration is
small, but the parser's cap is 8 MiB and a network share can be slow.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path, PurePath
from typing import Any

from PySide6.QtCore import Qt
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
from hvgui.inspect import SettingChange, load_xml_tree, read_text_capped, settings_diff
from hvgui.ui.inspector.facts_model import FactsModel
from hvgui.ui.inspector.panels import Banner, WaitingPanel, heading, replace_tab
from hvgui.ui.inspector.xml_models import SettingsDiffModel, XmlHighlighter, XmlTreeModel
from hvgui.ui.workers import Op, Runner

# Above this many characters the text is shown plain: highlighting is per line but Qt runs it
# over the whole document at once.
HIGHLIGHT_LIMIT = 1 << 20


@dataclass
class _Loaded:
    """What the pool thread hands over: the text, and the parsed tree or why there is none."""
    text: str
    truncated: bool
    root: Any
    problem: str | None


def _load(path: Path) -> _Loaded:
    # ---- runs on a pool thread ----
    text, truncated = read_text_capped(path)
    try:
        return _Loaded(text, truncated, load_xml_tree(path), None)
    except HvError as exc:
        return _Loaded(text, truncated, None, exc.problem)


def short_title(title: str) -> str:
    """A column header for a diff target: `Now`, or the checkpoint's name."""
    if title.endswith("(Now)"):
        return "Now"
    quoted = re.search(r"“(.*)”", title)
    return quoted.group(1) if quoted else title


class XmlView(QWidget):
    """One configuration file. `others` are (title, path) pairs to diff against, each read
    through `local_copy` (a host's file: the host's local copy of it) when it is chosen."""

    def __init__(
        self,
        path: Path,
        facts: dict[str, Any],
        runner: Runner,
        others: list[tuple[str, PurePath]] | None = None,
        parent: QWidget | None = None,
        local_copy: Callable[[PurePath], Path] | None = None,
    ) -> None:
        super().__init__(parent)
        self.setObjectName("xmlView")
        self.path = path
        self.runner = runner
        self.loaded = False  # the text and tree are in
        layout = QVBoxLayout(self)
        layout.addWidget(heading(f"{path.name} — {facts.get('label', 'Configuration')}", self))
        summary = facts.get("xml") or facts.get("vmcx")  # a VMCX/VMRS: its store's facts
        if facts.get("xml") and facts.get("vmcx"):  # a 2016+ configuration: both
            summary = {**facts["xml"], "key_store": facts["vmcx"]}
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

        self.text = QPlainTextEdit(self)
        self.text.setObjectName("xmlText")
        self.text.setAccessibleName("Configuration text")
        self.text.setReadOnly(True)
        self.text.setLineWrapMode(QPlainTextEdit.LineWrapMode.NoWrap)
        self.text.setPlaceholderText(f"Reading {path.name}…")
        font = QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont)
        font.setStyleHint(QFont.StyleHint.Monospace)
        self.text.setFont(font)
        self.highlighter: XmlHighlighter | None = None
        self.text_page = QWidget(self)
        text_layout = QVBoxLayout(self.text_page)
        text_layout.setContentsMargins(0, 0, 0, 0)
        text_layout.addWidget(self.text)
        self.tabs.addTab(self.text_page, "Text")

        self.tree_model: XmlTreeModel | None = None
        self.tree_page: QWidget = WaitingPanel("Parsing the configuration…", self)
        self.tabs.addTab(self.tree_page, "Tree")

        self.others = list(others or [])
        self.local_copy = local_copy or Path
        self.diff_model = SettingsDiffModel([], "This file", "Other", self)
        self._diff_wanted = -1  # the choice whose diff is being computed or shown
        if self.others:
            self.tabs.addTab(self._diff_page(), "Diff")
        Op(runner, lambda progress, cancel: _load(path), label=path.name).bound_to(self).success(
            self._loaded).failure(self._load_failed).run_in_background()

    # -- text and tree ----------------------------------------------------------------------
    def _loaded(self, loaded: _Loaded) -> None:
        self.text.setPlainText(loaded.text)
        if len(loaded.text) <= HIGHLIGHT_LIMIT:
            self.highlighter = XmlHighlighter(self.text.document())
        if loaded.truncated:
            layout = self.text_page.layout()
            assert isinstance(layout, QVBoxLayout)
            layout.insertWidget(0, Banner(
                "The file is larger than the inspector shows as text; the rest is not loaded "
                "(open it in a text editor to see it all).", "warning", self.text_page))
        if loaded.root is None:
            self._set_tree_page(Banner(f"The tree cannot be built: {loaded.problem}", "error",
                                       self))
        else:
            self.tree_model = XmlTreeModel(loaded.root, self)
            self.tree = QTreeView(self)
            self.tree.setObjectName("xmlTree")
            self.tree.setAccessibleName("Configuration tree")
            self.tree.setModel(self.tree_model)
            self.tree.setUniformRowHeights(True)
            self.tree.setAlternatingRowColors(True)
            self.tree.setTextElideMode(Qt.TextElideMode.ElideMiddle)
            header = self.tree.header()
            header.setStretchLastSection(False)
            header.setSectionResizeMode(1, QHeaderView.ResizeMode.Stretch)
            self.tree.setColumnWidth(0, 320)
            self.tree.setColumnWidth(2, 90)
            self.tree.expandToDepth(1)
            self._set_tree_page(self.tree)
        self.loaded = True

    def _load_failed(self, exc: BaseException) -> None:
        problem = exc.problem if isinstance(exc, HvError) else f"{type(exc).__name__}: {exc}"
        self.text.setPlaceholderText(f"The file cannot be read: {problem}")
        self._set_tree_page(Banner(f"The file cannot be read: {problem}", "error", self))
        self.loaded = True

    def _set_tree_page(self, widget: QWidget) -> None:
        replace_tab(self.tabs, self.tree_page, widget, "Tree")
        self.tree_page = widget

    # -- diff -------------------------------------------------------------------------------
    def _diff_page(self) -> QWidget:
        page = QWidget(self)
        self.diff_choice = QComboBox(page)
        self.diff_choice.setAccessibleName("Compare with")
        for title, _ in self.others:
            self.diff_choice.addItem(title)
        self.diff_choice.currentIndexChanged.connect(self.show_diff)
        self.diff_status = QLabel(page)
        self.diff_status.setWordWrap(True)
        self.diff_table = table = QTableView(page)
        table.setObjectName("xmlDiff")
        table.setAccessibleName("Settings that differ")
        table.setModel(self.diff_model)
        table.verticalHeader().hide()
        table.setWordWrap(False)
        table.setTextElideMode(Qt.TextElideMode.ElideMiddle)  # paths differ at their end
        header = table.horizontalHeader()
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Interactive)
        header.setSectionResizeMode(1, QHeaderView.ResizeMode.Stretch)
        header.setSectionResizeMode(2, QHeaderView.ResizeMode.Stretch)
        table.setColumnWidth(0, 300)
        key = QLabel(
            "<span style='background:#fff4ce'>&nbsp;changed&nbsp;</span> "
            "<span style='background:#e6f4ea'>&nbsp;only in the other file&nbsp;</span> "
            "<span style='background:#fde2e1'>&nbsp;only in this file&nbsp;</span>", page)
        bar = QHBoxLayout()
        bar.addWidget(QLabel("Compare with:", page))
        bar.addWidget(self.diff_choice, 1)
        layout = QVBoxLayout(page)
        layout.addLayout(bar)
        layout.addWidget(self.diff_status)
        layout.addWidget(table, 1)
        layout.addWidget(key)
        self.show_diff(0)
        return page

    def show_diff(self, choice: int) -> None:
        """Compare with `others[choice]`, off the GUI thread; the last choice made wins."""
        if not 0 <= choice < len(self.others):
            return
        self._diff_wanted = choice
        title, other = self.others[choice]
        path, local_copy = self.path, self.local_copy
        self.diff_status.setText(f"Comparing with {title}…")
        Op(self.runner, lambda progress, cancel: settings_diff(path, local_copy(other)),
           label="settings diff").bound_to(self).success(
            lambda rows: self._diff_ready(choice, rows)).failure(
            lambda exc: self._diff_failed(choice, exc)).run_in_background()

    def _diff_ready(self, choice: int, rows: list[SettingChange]) -> None:
        if choice != self._diff_wanted:
            return
        title = self.others[choice][0]
        self.diff_model.set_rows(rows, short_title(title))
        self.diff_status.setText(
            (f"1 setting differs from {title}." if len(rows) == 1
             else f"{len(rows)} settings differ from {title}.")
            if rows else f"No setting differs from {title}.")

    def _diff_failed(self, choice: int, exc: BaseException) -> None:
        if choice != self._diff_wanted:
            return
        self.diff_model.set_rows([], short_title(self.others[choice][0]))
        problem = exc.problem if isinstance(exc, HvError) else f"{type(exc).__name__}: {exc}"
        self.diff_status.setText(f"Cannot compare with {self.others[choice][0]}: {problem}")

    def diff_done(self) -> bool:
        """True once the chosen comparison is shown (tests wait on it)."""
        return not self.diff_status.text().startswith("Comparing")
