"""The block map: one cell per block of a virtual disk, coloured by the chain file serving it.

No widget per cell: the map is a QAbstractScrollArea that paints only the rows of cells in
view, as one image copied from colour arrays built once (on the worker) from the engine's
`Disk.block_table()`. A 4 TiB disk of 1 MiB blocks (4,194,304 cells) paints and scrolls like
a small one.

Signals of BlockMapWidget:
    blockHovered(int): the block under the mouse (-1 when it leaves the cells).
    blockClicked(int): a block was clicked (it is also selected and outlined).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np
from PySide6.QtCore import QEvent, QPoint, QRect, QSize, Qt, Signal
from PySide6.QtGui import (
    QColor,
    QImage,
    QKeyEvent,
    QMouseEvent,
    QPainter,
    QPaintEvent,
    QPen,
    QResizeEvent,
)
from PySide6.QtWidgets import QAbstractScrollArea, QToolTip, QWidget

from hvgui.vhdx import row_chunks

ZERO = -1  # chain index meaning "allocated nowhere: reads as zeros"
ZERO_COLOUR = QColor("#e4e7eb")
MISSING_COLOUR = QColor("#aab4bf")  # a parent that is not there: muted, not a file colour
# Colours by distance from the base disk: the base is always blue, its first child orange...
FILE_COLOURS = [
    "#3b6fb6",  # base
    "#e8893a",
    "#4aa564",
    "#9b59b6",
    "#d64550",
    "#20a4a4",
    "#c9a227",
    "#7f8c8d",
    "#e86fb0",
    "#5d4037",
]


class BlockTableLike(Protocol):
    """What the map needs of the engine's BlockTable (its arrays: tests make their own)."""

    @property
    def block_size(self) -> int: ...
    @property
    def size(self) -> int: ...
    @property
    def served(self) -> Any: ...  # numpy (blocks, files + 1): bytes per chain file, zeros last


def file_colour(chain_index: int, chain_length: int, missing: bool = False) -> QColor:
    """The colour of chain file `chain_index` (0 = leaf) in a chain of `chain_length` files;
    `missing` for the placeholder of a parent that could not be found."""
    if chain_index < 0:
        return ZERO_COLOUR
    if missing and chain_index > 0:
        return MISSING_COLOUR
    from_base = chain_length - 1 - chain_index
    return QColor(FILE_COLOURS[from_base % len(FILE_COLOURS)])


def _trimmed(number: float, decimals: int) -> str:
    return f"{number:,.{decimals}f}".rstrip("0").rstrip(".")


def format_bytes(value: int) -> str:
    """Exact where it matters: 2 MiB, 1.5 MiB, 64.5 KiB, 2,044 KiB (never a rounded "2.00 MiB"
    for 4 KiB short of 2 MiB); larger odd sizes in their unit to 3 decimals (33.001 MiB)."""
    units = (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10))
    for unit, size in units:
        if value >= size and round(value / size, 2) * size == value:
            return f"{_trimmed(value / size, 2)} {unit}"
    if 1 << 10 <= value < 10_000 << 10:
        return f"{_trimmed(value / 1024, 1)} KiB"
    for unit, size in units:
        if value >= size:
            return f"{_trimmed(value / size, 3)} {unit}"
    return f"{value} B"


def elide_middle(name: str, limit: int = 34) -> str:
    """`Web01_EF2CCB12-…-673E0AAF1A86.avhdx`: long GUID names shortened in the middle."""
    if len(name) <= limit:
        return name
    keep = (limit - 1) // 2
    return f"{name[:keep]}…{name[-keep:]}"


@dataclass
class BlockMapData:
    """The map's arrays: for each block its main file, a second file if partial, and shares;
    and the colours of each cell's two halves, so that a paint only copies them."""

    chain: list[Path]
    block_size: int
    size: int
    owner: np.ndarray  # int16: chain index serving most of the block, ZERO for zeros
    second: np.ndarray  # int16: the next largest contributor, or -2 if the block is whole
    share: np.ndarray  # float32: fraction of the block served by `owner`
    served: np.ndarray  # the engine's bytes per (block, chain file), zeros in the last column
    missing_parent: bool = False  # chain[1:] is a placeholder for a parent not found
    # Per chain file, its BAT state at each block, and the names of those states (optional).
    bat_states: list[np.ndarray] = field(default_factory=list)
    state_names: dict[int, str] = field(default_factory=dict)
    _involved: dict[int, tuple[int, int]] | None = field(default=None, repr=False)
    _colours: tuple[np.ndarray, np.ndarray] | None = field(default=None, repr=False)

    @classmethod
    def from_table(cls, chain: Sequence[Path], table: BlockTableLike) -> BlockMapData:
        """Whole-array steps, a slice of blocks at a time (a 4 TiB disk has 4 million): no
        Python turn per block, and the interpreter lock free between slices."""
        served = table.served
        count = len(served)
        index_of = cls._index_of(served)
        owner = np.full(count, ZERO, dtype=np.int16)
        second = np.full(count, -2, dtype=np.int16)
        share = np.ones(count, dtype=np.float32)
        for rows in row_chunks(count):
            part = served[rows]
            first = np.argmax(part, axis=1)
            owner[rows] = index_of[first]
            several = np.flatnonzero(np.count_nonzero(part, axis=1) > 1)
            if len(several):
                # the engine lists a block's files leaf first, zeros last: ties go to the first
                many = part[several].astype(np.int64)
                mains = first[several]
                biggest = many[np.arange(len(several)), mains]
                share[several + rows.start] = biggest / np.maximum(1, many.sum(axis=1))
                many[np.arange(len(several)), mains] = -1
                second[several + rows.start] = index_of[np.argmax(many, axis=1)]
        return cls(list(chain), table.block_size, table.size, owner, second, share, served)

    @staticmethod
    def _index_of(served: np.ndarray) -> np.ndarray:
        """The chain index of each column of `served` (ZERO for the last)."""
        return np.array([*range(served.shape[1] - 1), ZERO], dtype=np.int16)

    def parts(self, block: int) -> list[tuple[int, int]]:
        """(chain index, bytes) of the files serving `block`, as the engine lists them."""
        index_of = self._index_of(self.served).tolist()
        return [(index_of[c], n) for c, n in enumerate(self.served[block].tolist()) if n]

    def cell_colours(self) -> tuple[np.ndarray, np.ndarray]:
        """Per block, the ARGB colour of its upper-left and lower-right halves (the same for a
        whole block). Made once, on the worker that builds the data."""
        if self._colours is None:
            chain_length = len(self.chain)
            palette = np.array([file_colour(i, chain_length, self.missing_parent).rgba()
                                for i in range(-1, chain_length)], dtype=np.uint32)
            upper = np.empty(self.count, dtype=np.uint32)
            lower = np.empty(self.count, dtype=np.uint32)
            for rows in row_chunks(self.count):
                upper[rows] = palette[self.owner[rows].astype(np.int64) + 1]
                second = self.second[rows]
                lower[rows] = np.where(second == -2, upper[rows],
                                       palette[np.maximum(second, -1).astype(np.int64) + 1])
            self._colours = (upper, lower)
        return self._colours

    @property
    def count(self) -> int:
        return len(self.owner)

    def is_partial(self, block: int) -> bool:
        return bool(self.second[block] != -2)

    def blocks_served(self) -> dict[int, int]:
        """Blocks whose main source is each chain index (ZERO for zero blocks)."""
        values, counts = np.unique(self.owner, return_counts=True)
        return {int(v): int(c) for v, c in zip(values, counts, strict=True)}

    def involvement(self) -> dict[int, tuple[int, int]]:
        """Per chain index (ZERO included): (blocks it serves wholly, partial blocks it is in).
        Kept once made: the worker that builds the data calls it, the GUI thread reads it."""
        if self._involved is not None:
            return self._involved
        columns = self.served.shape[1]
        whole = np.zeros(columns, dtype=np.int64)
        partial = np.zeros(columns, dtype=np.int64)
        for rows in row_chunks(self.count):
            part = self.served[rows] > 0
            files = np.count_nonzero(part, axis=1)
            whole += np.count_nonzero(part[files == 1], axis=0)
            partial += np.count_nonzero(part[files > 1], axis=0)
        self._involved = {
            index: (int(whole[column]), int(partial[column]))
            for column, index in enumerate(self._index_of(self.served).tolist())
            if whole[column] or partial[column]}
        return self._involved

    def partial_count(self) -> int:
        return int(np.count_nonzero(self.second != -2))

    def file_name(self, chain_index: int) -> str:
        if chain_index < 0:
            return "nothing (reads as zeros)"
        return elide_middle(self.chain[chain_index].name, 44)

    def describe(self, block: int, *, states: bool = True) -> str:
        """Hover text: block, offset range, file(s) and their BAT states."""
        start = block * self.block_size
        end = min(self.size, start + self.block_size)
        lines = [f"Block {block:,}: bytes {start:#x}–{end - 1:#x} ({format_bytes(start)} – "
                 f"{format_bytes(end)})"]
        parts = self.parts(block)
        if self.bat_states and states:
            named = []
            for index, per_block in enumerate(self.bat_states):
                value = int(per_block[block])
                name = self.state_names.get(value, "unreadable") if value >= 0 else "unreadable"
                named.append(f"{self.file_name(index)}: {name}")
            lines.append("BAT state: " + "; ".join(named))
        if not parts or all(index < 0 for index, _ in parts):
            lines.append("Not allocated in any file of the chain: reads as zeros")
        elif len(parts) == 1:
            lines.append(f"Wholly served by {self.file_name(parts[0][0])}")
        else:
            lines.append("Partial: sectors come from several files")
            for index, served in parts:
                lines.append(f"  {format_bytes(served)} from {self.file_name(index)}")
        return "\n".join(lines)


def _cells_image(data: BlockMapData, first: int, last: int, columns: int, cell: int,
                 inner: int, background: int) -> np.ndarray:
    """Blocks [first, last) laid out `columns` to a row, `cell` pixels apart: an ARGB pixel
    array. A cell is an `inner`-pixel square; a partial block's lower-right triangle (below
    the diagonal, whatever its share, so even 4 KiB shows) has the colour of the second file."""
    upper, lower = data.cell_colours()
    rows = -(-(last - first) // columns)
    grid_upper = np.full(rows * columns, background, dtype=np.uint32)
    grid_lower = grid_upper.copy()
    grid_upper[: last - first] = upper[first:last]
    grid_lower[: last - first] = lower[first:last]
    across = np.arange(cell)
    inside = (across[:, None] < inner) & (across[None, :] < inner)
    below_diagonal = across[:, None] + across[None, :] >= inner
    pixels = np.where(below_diagonal[None, :, None, :],
                      grid_lower.reshape(rows, 1, columns, 1),
                      grid_upper.reshape(rows, 1, columns, 1))
    pixels = np.where(inside[None, :, None, :], pixels, np.uint32(background))
    return np.ascontiguousarray(pixels.reshape(rows * cell, columns * cell))


class BlockMapWidget(QAbstractScrollArea):
    """Paints `BlockMapData` as a grid of cells; see the module docstring for its signals."""

    blockHovered = Signal(int)
    blockClicked = Signal(int)

    GAP = 1

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("blockMap")
        self.setAccessibleName("Block map")
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.viewport().setMouseTracking(True)
        self.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAsNeeded)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self._data: BlockMapData | None = None
        self._cell = 10
        self._auto = True  # fit the cells to the view until the user zooms
        self._selected = -1
        self._hovered = -1
        self.painted_cells = 0  # cells drawn by the last paint: lets tests see it stays small

    # -- data and geometry ------------------------------------------------------------------
    def set_data(self, data: BlockMapData | None) -> None:
        self._data = data
        self._selected = -1
        if data is not None and data.count and self._auto:
            self._cell = self.fitting_cell_size(data.count)
        self._update_scrollbar()
        self.viewport().update()

    def data(self) -> BlockMapData | None:
        return self._data

    def set_cell_size(self, pixels: int) -> None:
        self._auto = False
        self._cell = max(3, min(32, pixels))
        self._update_scrollbar()
        self.viewport().update()

    def fitting_cell_size(self, count: int) -> int:
        """The cell size that fills the view with `count` cells (6-28 px; beyond, it scrolls)."""
        width, height = max(1, self.viewport().width()), max(1, self.viewport().height())
        for size in range(28, 6, -1):
            columns = max(1, width // size)
            if -(-count // columns) * size <= height:
                return size
        return 6

    def cell_size(self) -> int:
        return self._cell

    def columns(self) -> int:
        return max(1, self.viewport().width() // self._cell)

    def rows(self) -> int:
        if self._data is None:
            return 0
        return (self._data.count + self.columns() - 1) // self.columns()

    def _update_scrollbar(self) -> None:
        total = self.rows() * self._cell
        bar = self.verticalScrollBar()
        bar.setRange(0, max(0, total - self.viewport().height()))
        bar.setPageStep(self.viewport().height())
        bar.setSingleStep(self._cell)

    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
        if self._auto and self._data is not None and self._data.count:
            self._cell = self.fitting_cell_size(self._data.count)
        self._update_scrollbar()

    def sizeHint(self) -> QSize:
        return QSize(480, 320)

    def cell_rect(self, block: int) -> QRect:
        """Where `block` is drawn, in viewport coordinates."""
        columns = self.columns()
        row, column = divmod(block, columns)
        y = row * self._cell - self.verticalScrollBar().value()
        return QRect(column * self._cell, y, self._cell - self.GAP, self._cell - self.GAP)

    def block_at(self, point: QPoint) -> int:
        if self._data is None or point.x() < 0 or point.y() < 0:
            return -1
        column = point.x() // self._cell
        if column >= self.columns():
            return -1
        row = (point.y() + self.verticalScrollBar().value()) // self._cell
        block = row * self.columns() + column
        return block if block < self._data.count else -1

    def select_block(self, block: int) -> None:
        self._selected = block
        if self._data is not None and 0 <= block < self._data.count:
            rect = self.cell_rect(block)
            bar = self.verticalScrollBar()
            if rect.top() < 0 or rect.bottom() > self.viewport().height():
                bar.setValue(bar.value() + rect.top() - self.viewport().height() // 2)
        self.viewport().update()

    def selected_block(self) -> int:
        return self._selected

    # -- painting ---------------------------------------------------------------------------
    def paintEvent(self, event: QPaintEvent) -> None:
        painter = QPainter(self.viewport())
        base = self.palette().base()
        painter.fillRect(event.rect(), base)
        data = self._data
        self.painted_cells = 0
        if data is None or data.count == 0:
            return
        columns = self.columns()
        cell = self._cell
        inner = cell - self.GAP
        offset = self.verticalScrollBar().value()
        clip = event.rect()
        first_row = max(0, (clip.top() + offset) // cell)
        last_row = min(self.rows() - 1, (clip.bottom() + offset) // cell)
        first = first_row * columns
        last = min(data.count, (last_row + 1) * columns)
        if last <= first:
            return
        # The rows in view as one image: each cell's colours copied in whole-array steps, and
        # drawn at once (a fillRect per cell took 30-100 ms for a full view of small cells).
        pixels = _cells_image(data, first, last, columns, cell, inner, base.color().rgba())
        image = QImage(pixels.data, pixels.shape[1], pixels.shape[0], pixels.strides[0],
                       QImage.Format.Format_RGB32)
        painter.drawImage(QPoint(0, first_row * cell - offset), image)
        several = np.flatnonzero(np.count_nonzero(data.served[first:last], axis=1) > 2)
        if len(several):
            colours = {i: file_colour(i, len(data.chain), data.missing_parent)
                       for i in range(-1, len(data.chain))}
            mark = max(2, inner // 3)
            for block in (several + first).tolist():
                # a third (fourth...) file: small squares along the top edge
                row, column = divmod(block, columns)
                x, y = column * cell, row * cell - offset
                extra = sorted(data.parts(block), key=lambda part: -part[1])[2:]
                for number, (index, _) in enumerate(extra):
                    left = x + inner - (number + 1) * mark
                    if left < x:
                        break
                    painter.fillRect(left, y, mark, mark, colours[index])
        self.painted_cells = last - first
        for block, colour in ((self._hovered, "#444444"), (self._selected, "#000000")):
            if first <= block < last:
                painter.setPen(QPen(QColor(colour), 2 if block == self._selected else 1))
                painter.setBrush(Qt.BrushStyle.NoBrush)
                painter.drawRect(self.cell_rect(block).adjusted(0, 0, -1, -1))

    # -- mouse ------------------------------------------------------------------------------
    def mouseMoveEvent(self, event: QMouseEvent) -> None:
        block = self.block_at(event.position().toPoint())
        if block != self._hovered:
            self._hovered = block
            self.viewport().update()
            self.blockHovered.emit(block)
        if block >= 0 and self._data is not None:
            QToolTip.showText(event.globalPosition().toPoint(), self._data.describe(block), self)
        else:
            QToolTip.hideText()
        super().mouseMoveEvent(event)

    def leaveEvent(self, event: QEvent) -> None:
        if self._hovered != -1:
            self._hovered = -1
            self.viewport().update()
            self.blockHovered.emit(-1)

    def mousePressEvent(self, event: QMouseEvent) -> None:
        block = self.block_at(event.position().toPoint())
        if block >= 0 and event.button() == Qt.MouseButton.LeftButton:
            self.select_block(block)
            self.blockClicked.emit(block)
        event.accept()

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:
        event.accept()

    # -- keyboard: arrows move the selection, Enter shows its read path -----------------------
    def keyPressEvent(self, event: QKeyEvent) -> None:
        data = self._data
        if data is None or not data.count:
            super().keyPressEvent(event)
            return
        step = {Qt.Key.Key_Left: -1, Qt.Key.Key_Right: 1, Qt.Key.Key_Up: -self.columns(),
                Qt.Key.Key_Down: self.columns()}.get(Qt.Key(event.key()))
        if step is not None:
            block = min(data.count - 1, max(0, max(self._selected, 0) + step))
            self.select_block(block)
            self.blockClicked.emit(block)
        elif event.key() in (Qt.Key.Key_Return, Qt.Key.Key_Enter) and self._selected >= 0:
            self.blockClicked.emit(self._selected)
        else:
            super().keyPressEvent(event)
