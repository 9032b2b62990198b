"""The VHDX/AVHDX view: structure (headers, regions, metadata, parent locator, BAT, log),
Test-VHD findings by severity, and the block map with each block's read path."""

from __future__ import annotations

import ntpath
from collections import Counter
from html import escape
from pathlib import Path
from typing import Any

from PySide6.QtCore import QEvent, QObject, Qt, QTimer
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QPlainTextEdit,
    QSlider,
    QSplitter,
    QTabWidget,
    QTreeView,
    QVBoxLayout,
    QWidget,
)

from hvgui.backend.formats import file_name
from hvgui.inspect import STATE_NAMES, BlockMap, ReadStep, block_map, read_path
from hvgui.ui.inspector.binary_view import SavedStateView
from hvgui.ui.inspector.block_map import (
    ZERO,
    BlockMapData,
    BlockMapWidget,
    elide_middle,
    file_colour,
    format_bytes,
)
from hvgui.ui.inspector.facts_model import FactsModel
from hvgui.ui.inspector.hex_model import HexFile
from hvgui.ui.inspector.panels import Banner, WaitingPanel, heading
from hvgui.ui.workers import Op, Runner

# What each part of a VHDX is for: the Structure tab's key, for people meeting the format.
STRUCTURE_GUIDE = (
    "<b>headers</b>: two copies; the valid one with the higher sequence is current, so a crash "
    "while one is rewritten leaves the other. <b>region_table</b>: where the BAT and the "
    "metadata live in the file. <b>metadata</b>: virtual size, block and sector sizes, disk ID "
    "and, in an AVHDX, the <b>parent_locator</b> naming its parent. <b>bat</b>: one entry per "
    "block: where its data is in this file, or that it is absent here (read from the parent, "
    "or zeros). <b>log</b>: metadata writes to replay after a crash."
)


def _get(mapping: Any, *keys: str) -> Any:
    """mapping[k1][k2]... or None when any step is missing (dump layouts may grow)."""
    for key in keys:
        if not isinstance(mapping, dict) or key not in mapping:
            return None
        mapping = mapping[key]
    return mapping


def parent_banner(
    dump: dict[str, Any], chain: list[dict[str, Any]] | None = None
) -> Banner | None:
    """The parent locator's verdict in words, or None for a disk with no parent. With the
    walked `chain`, a break further down (a grandparent missing or changed) is said too."""
    locator = dump.get("parent_locator")
    if not isinstance(locator, dict) or not locator:
        return None
    entries = locator.get("entries")
    if not isinstance(entries, dict):
        entries = locator
    named = (entries.get("relative_path") or entries.get("absolute_win32_path")
             or entries.get("volume_path") or "")
    resolved = locator.get("resolved")
    linkage = locator.get("linkage_ok")
    if not resolved:
        name = ntpath.basename(str(named).replace("/", "\\")) or "(no path in the locator)"
        tried = locator.get("candidates")
        tried_text = f" Looked for it in: {'; '.join(map(str, tried))}." if tried else ""
        return Banner(
            f"Parent missing: {name}\nThis differencing disk holds only the sectors written "
            "since its parent was frozen; every other read goes to the parent, and no file is "
            f"where its parent locator points.{tried_text} Without its parent the disk cannot "
            "be read: checkpoints are not backups.", "error")
    if linkage is False:
        return Banner(
            f"Parent found at {resolved}, but it was modified after this disk was made "
            "(its DataWriteGuid does not match parent_linkage): the chain is broken.", "error")
    below = [(i, link) for i, link in enumerate((chain or [])[1:], 1) if link.get("problem")]
    if below:
        depth, link = below[0]
        name = file_name(str(link.get("path", "")))  # a Windows path from a real host too
        where = "its parent" if depth == 1 else "further down the chain"
        return Banner(
            f"Parent: {resolved} — linkage matches, but {where}, {name}: {link.get('problem')}",
            "warning" if link.get("code") == "writable" else "error")
    return Banner(f"Parent: {resolved} — linkage matches.", "ok")


def findings_facts(findings: list[dict[str, Any]], path: Path | None = None) -> dict[str, Any]:
    """Findings grouped by severity, one row each: {"errors": {"1. code": "message"}, ...}.
    A finding about another file of the chain than `path` names that file."""
    groups: dict[str, dict[str, str]] = {"errors": {}, "warnings": {}, "info": {}}
    for finding in findings:
        key = {"error": "errors", "warning": "warnings"}.get(str(finding.get("severity")), "info")
        message = str(finding.get("message", ""))
        where = str(finding.get("path") or "")
        if path is not None and where and Path(where).name != path.name:
            message = f"{Path(where).name}: {message}"
        group = groups[key]
        group[f"{len(group) + 1}. {finding.get('code', '')}"] = message
    return {k: v for k, v in groups.items() if v}


def _load_map(path: Path) -> tuple[BlockMap, BlockMapData]:
    """Runs on a pool thread: the engine's block table and the map's arrays (no Qt widget)."""
    blocks = block_map(path)
    data = BlockMapData.from_table(blocks.chain, blocks.blocks)
    data.missing_parent = blocks.missing_parent is not None
    data.bat_states = list(blocks.states)
    data.state_names = dict(STATE_NAMES)
    data.involvement()  # the legend's counts: here, not on the GUI thread
    return blocks, data


class BlockMapPanel(QWidget):
    """The block map with, beside it, the legend, a zoom slider and the read path of the
    clicked block."""

    def __init__(self, path: Path, runner: Runner, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.path = path
        self.runner = runner
        self.blocks: BlockMap | None = None
        self.map = BlockMapWidget(self)
        self.map.blockClicked.connect(self.show_read_path)
        self.status = WaitingPanel("Reading the block allocation tables of the chain…", self)
        self.status.setWordWrap(True)
        self.summary = QLabel(self)
        self.summary.setObjectName("blockMapSummary")
        self.summary.setWordWrap(True)
        self.legend = QLabel(self)
        self.legend.setObjectName("blockMapLegend")
        self.legend.setTextFormat(Qt.TextFormat.RichText)
        self.legend.setWordWrap(True)
        self.legend.setAlignment(Qt.AlignmentFlag.AlignTop | Qt.AlignmentFlag.AlignLeft)
        self.zoom = QSlider(Qt.Orientation.Horizontal, self)
        self.zoom.setAccessibleName("Cell size")
        self.zoom.setRange(4, 28)
        self.zoom.setValue(self.map.cell_size())
        self.zoom.valueChanged.connect(self.map.set_cell_size)
        self.path_text = QPlainTextEdit(self)
        self.path_text.setObjectName("readPath")
        self.path_text.setAccessibleName("Read path of the selected block")
        self.path_text.setReadOnly(True)
        self.path_text.setPlaceholderText("Click a block to see its read path down the chain.")

        side = QWidget(self)
        side_layout = QVBoxLayout(side)
        side_layout.setContentsMargins(0, 0, 0, 0)
        side_layout.addWidget(self.legend)
        zoom_row = QHBoxLayout()
        zoom_row.addWidget(QLabel("Cell size", side))
        zoom_row.addWidget(self.zoom, 1)
        side_layout.addLayout(zoom_row)
        side_layout.addWidget(heading("Read path", side))
        side_layout.addWidget(self.path_text, 1)
        side.setMinimumWidth(280)

        self.split = QSplitter(Qt.Orientation.Horizontal, self)
        maps = QWidget(self.split)
        map_layout = QVBoxLayout(maps)
        map_layout.setContentsMargins(0, 0, 0, 0)
        map_layout.addWidget(self.status)
        map_layout.addWidget(self.map, 1)
        self.split.addWidget(maps)
        self.split.addWidget(side)
        self.split.setStretchFactor(0, 3)
        self.split.setStretchFactor(1, 2)
        layout = QVBoxLayout(self)
        layout.addWidget(self.summary)
        layout.addWidget(self.split, 1)
        self.map.hide()
        self.side = side
        self._started = False
        self.status.installEventFilter(self)
        self._showing = -1  # the block whose read path is (being) shown

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        """The map is read once its waiting note has been painted, after the GUI thread has
        built, laid out and painted the view: a worker reading a big BAT meanwhile took the
        interpreter lock at each of the GUI thread's Qt calls (a 4 TiB disk's view stalled
        60-100 ms). A view never shown reads nothing."""
        if (watched is self.status and event.type() == QEvent.Type.Paint
                and not self._started):
            self._started = True
            self.status.removeEventFilter(self)
            QTimer.singleShot(0, self, self._start)
        return False

    def _start(self) -> None:
        path = self.path
        Op(self.runner, lambda progress, cancel: _load_map(path), label="block map").bound_to(
            self).success(self._loaded).failure(self._failed).run_in_background()

    def _loaded(self, loaded: tuple[BlockMap, BlockMapData]) -> None:
        blocks, data = loaded
        self.blocks = blocks
        self.status.hide()
        self.map.show()
        self.map.set_data(data)
        self.zoom.blockSignals(True)
        self.zoom.setValue(self.map.cell_size())
        self.zoom.blockSignals(False)
        involved = data.involvement()
        rows = []
        for index in [*range(len(blocks.chain)), ZERO]:
            colour = file_colour(index, len(blocks.chain), data.missing_parent).name()
            if index >= 0:
                name = elide_middle(blocks.chain[index].name)
                role = ("this disk, no parent" if len(blocks.chain) == 1
                        else "leaf" if index == 0 else "base" if index == len(blocks.chain) - 1
                        else f"parent {index}")
                if blocks.missing_parent and index > 0:
                    role = f"{blocks.parent_status} parent"
            else:
                name, role = "zeros", "allocated nowhere"
            whole, partial = involved.get(index, (0, 0))
            counts = f"{whole:,} whole" + (f", {partial:,} partial" if partial else "")
            rows.append(
                f'<tr><td><span style="background:{colour}">&nbsp;&nbsp;&nbsp;&nbsp;</span></td>'
                f"<td>&nbsp;<b>{escape(name)}</b><br>&nbsp;<span style='color:#5f6368'>"
                f"{role} · {counts}</span></td></tr>"
            )
        self.legend.setText("<table cellspacing='3'>" + "".join(rows) + "</table>")
        partial = data.partial_count()
        text = (f"{data.count:,} block{'s' if data.count != 1 else ''} of "
                f"{format_bytes(blocks.block_size)} "
                f"({format_bytes(blocks.size)}) as seen from {blocks.chain[0].name}. "
                "Each cell is coloured by the file a read of that block comes from")
        text += (f"; {partial:,} partial block{'s are' if partial != 1 else ' is'} split on "
                 "the diagonal between the files serving it." if partial else ".")
        if blocks.missing_parent and blocks.parent_status == "missing":
            text += " Its parent is missing: the parent's cells cannot actually be read."
        elif blocks.missing_parent:
            text += (" Its parent was changed after this disk was made: the parent's cells "
                     "would read data this disk was never based on.")
        self.summary.setText(text)

    def _failed(self, exc: BaseException) -> None:
        problem = getattr(exc, "problem", None) or str(exc)
        self.status.setText("No block map: the disk (or a file of its chain) cannot be "
                            f"opened:\n{problem}\nThe Structure and Test-VHD tabs show what "
                            "can still be read.")
        self.status.setStyleSheet("QLabel { color: #b3261e; }")
        self.side.hide()  # no cells: the legend and read path would be empty

    def show_read_path(self, block: int) -> None:
        """The read path of `block` down the chain: its files are opened by a worker (a chain
        on a slow share never freezes the window); the last block clicked is the one shown."""
        if self.blocks is None:
            return
        data = self.map.data()
        # each step below names its BAT state: the summary leaves them out
        head = [data.describe(block, states=False) if data else f"Block {block}", ""]
        self.path_text.setPlainText("\n".join([*head, "Reading the chain's files…"]))
        self._showing = block
        blocks = self.blocks
        Op(self.runner, lambda progress, cancel: read_path(blocks, block), label="read path",
           quiet=True).bound_to(self).success(
            lambda steps: self._read_path_shown(block, head, steps)).failure(
            lambda exc: self._read_path_shown(block, head, [], exc)).run_in_background()

    def _read_path_shown(self, block: int, head: list[str], steps: list[ReadStep],
                         problem: BaseException | None = None) -> None:
        if block != self._showing:
            return  # another block was clicked since
        lines = list(head)
        if problem is not None:
            lines.append(f"The read path cannot be followed: {problem}")
        for number, step in enumerate(steps, 1):
            lines.append(f"{number}. {elide_middle(step.path.name, 40)}")
            if step.states:
                lines.append(f"   BAT: {'/'.join(step.states)}")
            if step.data:
                where = f" at file offset {step.file_offsets[0]:#x}" if step.file_offsets else ""
                lines.append(f"   {format_bytes(step.data)} read here{where}")
            if step.zeros:
                lines.append(f"   {format_bytes(step.zeros)} read as zeros")
            if step.passed_on:
                lines.append(f"   {format_bytes(step.passed_on)} passed to its parent")
            lines.append(f"   → {step.note}")
        self.path_text.setPlainText("\n".join(lines))


class VhdxView(QWidget):
    """Everything about one VHDX/AVHDX file, from `inspect_file`'s facts."""

    def __init__(
        self, path: Path, facts: dict[str, Any], runner: Runner, parent: QWidget | None = None
    ) -> None:
        super().__init__(parent)
        self.setObjectName("vhdxView")
        dump: dict[str, Any] = facts.get("vhdx") or {}
        findings: list[dict[str, Any]] = facts.get("findings") or []
        layout = QVBoxLayout(self)
        layout.addWidget(heading(f"{path.name} — {facts.get('label', 'VHDX')}", self))
        self.summary = QLabel(self._summary(dump), self)
        self.summary.setObjectName("vhdxSummary")
        layout.addWidget(self.summary)
        banner = parent_banner(dump, facts.get("chain"))
        if banner is not None:
            banner.setParent(self)
            layout.addWidget(banner)
        counts = Counter(str(f.get("severity")) for f in findings)
        if counts.get("error"):
            verdict = Banner(f"Test-VHD: {counts['error']} error(s), {counts.get('warning', 0)} "
                             "warning(s) — see the Test-VHD tab.", "error", self)
        elif counts.get("warning"):
            verdict = Banner(f"Test-VHD: {counts['warning']} warning(s).", "warning", self)
        else:
            verdict = Banner("Test-VHD: no problems found in the chain.", "ok", self)
        layout.addWidget(verdict)

        self.tabs = QTabWidget(self)
        self.structure_model = FactsModel(dump, self)
        self.structure = self._tree(self.structure_model, "VHDX structure")
        self.findings_model = FactsModel(findings_facts(findings, path), self)
        self.findings = self._tree(self.findings_model, "Test-VHD findings")
        self.findings.setUniformRowHeights(False)
        self.findings.setWordWrap(True)  # a finding's message is the point: never cut it
        self.findings.setColumnWidth(0, 200)
        self.findings.expandAll()
        self.block_panel = BlockMapPanel(path, runner, self)
        split = QWidget(self)
        split_layout = QVBoxLayout(split)
        split_layout.setContentsMargins(0, 4, 0, 0)
        self.structure_guide = QLabel(STRUCTURE_GUIDE, split)
        self.structure_guide.setObjectName("structureGuide")
        self.structure_guide.setWordWrap(True)
        self.structure_guide.setTextFormat(Qt.TextFormat.RichText)
        split_layout.addWidget(self.structure_guide)
        split_layout.addWidget(self.structure, 1)
        self.tabs.addTab(self.block_panel, "Block map")
        self.tabs.addTab(split, "Structure")
        self.tabs.addTab(self.findings, f"Test-VHD ({len(findings)})")
        layout.addWidget(self.tabs, 1)
        for row in range(self.structure_model.rowCount()):
            index = self.structure_model.index(row, 0)
            self.structure.expand(index)
            if index.data() in ("parent_locator", "bat"):  # what people come for: open it all
                self.structure.expandRecursively(index)

    def _tree(self, model: FactsModel, name: str) -> QTreeView:
        tree = QTreeView(self)
        tree.setAccessibleName(name)
        tree.setModel(model)
        tree.setUniformRowHeights(True)
        tree.setAlternatingRowColors(True)
        tree.setColumnWidth(0, 260)
        return tree

    @staticmethod
    def _summary(dump: dict[str, Any]) -> str:
        parts = []
        disk_type = _get(dump, "disk", "type")
        if disk_type:
            parts.append(f"{disk_type} disk")
        size = _get(dump, "disk", "virtual_size")
        if isinstance(size, int):
            parts.append(f"{format_bytes(size)} virtual")
        block = _get(dump, "disk", "block_size")
        if isinstance(block, int):
            parts.append(f"{format_bytes(block)} blocks")
        creator = _get(dump, "file_type", "creator")
        if creator:
            parts.append(f"written by {creator}")
        return ", ".join(parts) or "VHDX file"


class VhdView(QWidget):
    """A legacy VHD/AVHD: its block map, as a VHDX's (a VHD block is allocated or not, and a
    differencing one's sector bitmap marks its own sectors), and its structure over its bytes
    (`file`, opened on a worker)."""

    def __init__(
        self, path: Path, facts: dict[str, Any], runner: Runner, file: HexFile,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.setObjectName("vhdView")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        self.tabs = QTabWidget(self)
        self.block_panel = BlockMapPanel(path, runner, self)
        self.structure = SavedStateView(path, facts, file, runner, self)
        self.tabs.addTab(self.block_panel, "Block map")
        self.tabs.addTab(self.structure, "Structure")
        layout.addWidget(self.tabs, 1)
