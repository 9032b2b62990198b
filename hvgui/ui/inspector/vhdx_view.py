"""The VHDX/AVHDX view: structure (headers, regions, metadata, parent locator, BAT, log),
Test-VHD findings by severity, and the block map with each block's read path."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt
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

from hvgui.errors import HvError
from hvgui.host.inspect import BlockMap, block_map, read_path
from hvgui.ui.inspector.block_map import (
    ZERO,
    BlockMapData,
    BlockMapWidget,
    file_colour,
    format_bytes,
)
from hvgui.ui.inspector.facts_model import FactsModel
from hvgui.ui.inspector.panels import Banner, WaitingPanel, heading
from hvgui.ui.workers import Op, Runner


def _get(mapping: Any, *keys: str) -> Any:
    """mapping[k1][k2]... or None when any step is missing (dump layouts may grow)."""
    for key in keys:
        if not isinstance(mapping, dict) or key not in mapping:
            return None
        mapping = mapping[key]
    return mapping


def parent_banner(dump: dict[str, Any]) -> Banner | None:
    """The parent locator's verdict in words, or None for a disk with no parent."""
    locator = dump.get("parent_locator")
    if not isinstance(locator, dict) or not locator:
        return None
    entries = locator.get("entries")
    if not isinstance(entries, dict):
        entries = locator
    named = (entries.get("relative_path") or entries.get("absolute_win32_path")
             or entries.get("volume_path") or "(no path in the locator)")
    resolved = locator.get("resolved")
    linkage = locator.get("linkage_ok")
    if not resolved:
        tried = locator.get("tried")
        tried_text = f" Looked for: {', '.join(map(str, tried))}." if tried else ""
        return Banner(
            f"Parent missing: this differencing disk reads unchanged blocks from its parent "
            f"{named}, which is not where the locator points.{tried_text} Without it the disk "
            "cannot be read (checkpoints are not backups).", "error")
    if linkage is False:
        return Banner(
            f"Parent found at {resolved}, but it was modified after this disk was made "
            "(its DataWriteGuid does not match parent_linkage): the chain is broken.", "error")
    return Banner(f"Parent: {resolved} — linkage matches.", "ok")


def findings_facts(findings: list[dict[str, Any]]) -> dict[str, Any]:
    """Findings grouped as {"errors": [...], "warnings": [...], "info": [...]}."""
    groups: dict[str, list[dict[str, Any]]] = {"errors": [], "warnings": [], "info": []}
    for finding in findings:
        key = {"error": "errors", "warning": "warnings"}.get(str(finding.get("severity")), "info")
        groups[key].append(finding)
    return {k: v for k, v in groups.items() if v}


class BlockMapPanel(QWidget):
    """The block map, its legend, a zoom slider and the read path of the clicked block."""

    def __init__(self, path: Path, runner: Runner, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.path = path
        self.runner = runner
        self.blocks: BlockMap | None = None
        self.map = BlockMapWidget(self)
        self.map.blockClicked.connect(self.show_read_path)
        self.status = WaitingPanel("Reading the block allocation tables of the chain…", self)
        self.legend = QLabel(self)
        self.legend.setObjectName("blockMapLegend")
        self.legend.setTextFormat(Qt.TextFormat.RichText)
        self.legend.setWordWrap(True)
        self.missing = Banner("", "error", self)
        self.missing.hide()
        self.zoom = QSlider(Qt.Orientation.Horizontal, self)
        self.zoom.setAccessibleName("Cell size")
        self.zoom.setRange(4, 24)
        self.zoom.setValue(self.map.cell_size())
        self.zoom.setMaximumWidth(160)
        self.zoom.valueChanged.connect(self.map.set_cell_size)
        self.path_text = QPlainTextEdit(self)
        self.path_text.setObjectName("readPath")
        self.path_text.setReadOnly(True)
        self.path_text.setPlaceholderText("Click a block to see its read path down the chain.")
        self.path_text.setMaximumHeight(130)

        top = QHBoxLayout()
        top.addWidget(self.legend, 1)
        top.addWidget(QLabel("Zoom", self))
        top.addWidget(self.zoom)
        layout = QVBoxLayout(self)
        layout.addLayout(top)
        layout.addWidget(self.missing)
        layout.addWidget(self.status)
        layout.addWidget(self.map, 1)
        layout.addWidget(self.path_text)
        self.map.hide()
        self.op = Op(runner, lambda progress, cancel: block_map(path), label="block map")
        self.op.success(self._loaded).failure(self._failed).run_in_background()

    def _loaded(self, blocks: BlockMap) -> None:
        self.blocks = blocks
        data = BlockMapData.from_sources(blocks.chain, blocks.block_size, blocks.size,
                                         blocks.blocks)
        self.map.set_data(data)
        self.status.hide()
        self.map.show()
        served = data.blocks_served()
        chips = []
        for index in [*range(len(blocks.chain)), ZERO]:
            colour = file_colour(index, len(blocks.chain)).name()
            name = data.file_name(index) if index >= 0 else "zeros (nothing allocated)"
            count = served.get(index, 0)
            chips.append(
                f'<span style="background:{colour}">&nbsp;&nbsp;&nbsp;&nbsp;</span>&nbsp;'
                f"{name} <span style='color:#5f6368'>({count:,} blocks)</span>"
            )
        if blocks.missing_parent:
            self.missing.setText(f"Parent missing: {blocks.missing_parent}. The map shows what "
                                 "this file holds and which blocks would come from the parent.")
            self.missing.show()
        partial = data.partial_count()
        summary = (f"{data.count:,} blocks of {format_bytes(blocks.block_size)} as seen from "
                   f"<b>{blocks.chain[0].name}</b>"
                   + (f"; {partial:,} partial (split cells)" if partial else ""))
        self.legend.setText(summary + "<br>" + " &nbsp;&nbsp; ".join(chips))

    def _failed(self, exc: BaseException) -> None:
        problem = getattr(exc, "problem", None) or str(exc)
        self.status.setText(f"The block map needs the whole chain, which cannot be opened:\n"
                            f"{problem}")
        self.status.setStyleSheet("QLabel { color: #b3261e; }")
        self.status.setWordWrap(True)

    def show_read_path(self, block: int) -> None:
        if self.blocks is None:
            return
        data = self.map.data()
        lines = [data.describe(block) if data else f"Block {block}", "", "Read path:"]
        try:
            steps = read_path(self.blocks, block)
        except HvError as exc:
            lines.append(f"  cannot follow it: {exc}")
            steps = []
        for number, step in enumerate(steps, 1):
            state = f"BAT {'/'.join(step.states)}; " if step.states else ""
            amounts = [f"{format_bytes(step.data)} read here" if step.data else "",
                       f"{format_bytes(step.zeros)} zeros" if step.zeros else "",
                       f"{format_bytes(step.passed_on)} to the parent" if step.passed_on else ""]
            where = (f" (file offset {step.file_offsets[0]:#x})" if step.file_offsets else "")
            lines.append(f"  {number}. {step.path.name}: {state}"
                         f"{', '.join(a for a in amounts if a)}{where} — {step.note}")
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
        layout.addWidget(QLabel(self._summary(dump), self))
        banner = parent_banner(dump)
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
        self.findings_model = FactsModel(findings_facts(findings), self)
        self.findings = self._tree(self.findings_model, "Test-VHD findings")
        self.findings.expandAll()
        self.block_panel = BlockMapPanel(path, runner, self)
        split = QSplitter(Qt.Orientation.Horizontal, self)
        split.addWidget(self.structure)
        self.tabs.addTab(self.block_panel, "Block map")
        self.tabs.addTab(split, "Structure")
        self.tabs.addTab(self.findings, f"Test-VHD ({len(findings)})")
        layout.addWidget(self.tabs, 1)
        for row in range(self.structure_model.rowCount()):
            self.structure.expand(self.structure_model.index(row, 0))

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
        disk_type = _get(dump, "disk_type") or _get(dump, "type")
        if disk_type:
            parts.append(f"{disk_type} disk")
        size = _get(dump, "virtual_size") or _get(dump, "metadata", "virtual_disk_size")
        if isinstance(size, int):
            parts.append(f"{format_bytes(size)} virtual")
        block = _get(dump, "block_size") or _get(dump, "metadata", "block_size")
        if isinstance(block, int):
            parts.append(f"{format_bytes(block)} blocks")
        creator = _get(dump, "file_type", "creator")
        if creator:
            parts.append(f"written by {creator}")
        return ", ".join(parts) or "VHDX file"
