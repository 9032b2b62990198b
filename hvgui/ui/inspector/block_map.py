"""The block map: one cell per block of a virtual disk, coloured by the chain file serving it.

No widget per cell: the map is a QAbstractScrollArea that paints only the rows of cells in
view, as one image whose colours are worked out, when painted, for those cells alone from the
engine's `Disk.block_table()` (runs, not a row per block). A 4 TiB disk of 1 MiB blocks
(4,194,304 cells) paints and scrolls like a small one, and a 64 TiB one (67 million) holds no
array over its blocks.

Signals of BlockMapWidget:
    blockHovered(int): the block under the mouse (-1 when it leaves the cells).
    blockClicked(int): a block was clicked (it is also selected and outlined).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
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
    """What the map needs of the engine's BlockTable: its blocks' bytes per chain file."""

    @property
    def block_size(self) -> int: ...
    @property
    def size(self) -> int: ...
    def __len__(self) -> int: ...
    def rows(self, first: int, last: int) -> Any: ...  # numpy (n, files + 1), zeros last
    def weighted_rows(self) -> Iterator[tuple[Any, Any]]: ...  # (rows, blocks each stands for)


class StatesLike(Protocol):
    """A chain file's BAT state at each block (the engine's StateRuns)."""

    def at(self, block: int) -> int: ...


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
class Cells:
    """Blocks [first, last) of the map: each one's main file, second file (-2 when whole),
    bytes per file (the engine's columns) and the ARGB colours of its two halves."""

    first: int
    owner: np.ndarray  # int16: chain index serving most of the block, ZERO for zeros
    second: np.ndarray  # int16: the next largest contributor, or -2 if the block is whole
    served: np.ndarray  # the engine's bytes per (block, chain file), zeros in the last column
    upper: np.ndarray  # uint32 ARGB of the upper-left half
    lower: np.ndarray  # uint32 ARGB of the lower-right half (the upper's for a whole block)


@dataclass
class BlockMapData:
    """The map of a chain: the engine's table (its runs, not a row per block: a 64 TiB disk of
    1 MiB blocks has 67 million) from which the cells in view are made when painted, and the
    legend's counts, made once by the worker that builds the data."""

    chain: list[Path]
    block_size: int
    size: int
    table: BlockTableLike
    missing_parent: bool = False  # chain[1:] is a placeholder for a parent not found
    # Per chain file, its BAT state at each block, and the names of those states (optional).
    bat_states: list[StatesLike] = field(default_factory=list)
    state_names: dict[int, str] = field(default_factory=dict)
    _involved: dict[int, tuple[int, int]] | None = field(default=None, repr=False)
    _partial: int | None = field(default=None, repr=False)

    @classmethod
    def from_table(cls, chain: Sequence[Path], table: BlockTableLike) -> BlockMapData:
        return cls(list(chain), table.block_size, table.size, table)

    def _index_of(self) -> np.ndarray:
        """The chain index of each column of the table (ZERO for the last)."""
        return np.array([*range(len(self.chain)), ZERO], dtype=np.int16)

    def cells(self, first: int, last: int) -> Cells:
        """Blocks [first, last): whole-array steps over the rows asked for (a view's worth, or
        a slice of ROWS on a worker), no Python turn per block."""
        served = self.table.rows(first, last)
        count = len(served)
        index = self._index_of()
        main = np.argmax(served, axis=1)
        owner = index[main]
        second = np.full(count, -2, dtype=np.int16)
        several = np.flatnonzero(np.count_nonzero(served, axis=1) > 1)
        if len(several):
            # the engine lists a block's files leaf first, zeros last: ties go to the first
            many = served[several].copy()
            many[np.arange(len(several)), main[several]] = -1
            second[several] = index[np.argmax(many, axis=1)]
        palette = np.array([file_colour(i, len(self.chain), self.missing_parent).rgba()
                            for i in range(-1, len(self.chain))], dtype=np.uint32)
        upper = palette[owner.astype(np.int64) + 1]
        lower = np.where(second == -2, upper, palette[np.maximum(second, -1).astype(np.int64) + 1])
        return Cells(first, owner, second, served, upper, lower)

    def parts(self, block: int) -> list[tuple[int, int]]:
        """(chain index, bytes) of the files serving `block`, as the engine lists them."""
        index_of = self._index_of().tolist()
        row = self.table.rows(block, block + 1)[0].tolist()
        return [(index_of[c], n) for c, n in enumerate(row) if n]

    @property
    def count(self) -> int:
        return len(self.table)

    def is_partial(self, block: int) -> bool:
        return len(self.parts(block)) > 1

    def involvement(self) -> dict[int, tuple[int, int]]:
        """Per chain index (ZERO included): (blocks it serves wholly, partial blocks it is in).
        One pass over the table a slice at a time, kept once made: the worker that builds the
        data calls it, the GUI thread reads it."""
        if self._involved is not None:
            return self._involved
        whole = np.zeros(len(self.chain) + 1, dtype=np.int64)
        partial = np.zeros(len(self.chain) + 1, dtype=np.int64)
        partial_blocks = 0
        for served, weight in self.table.weighted_rows():
            part = served > 0
            files = np.count_nonzero(part, axis=1)
            whole += (part[files == 1] * weight[files == 1, None]).sum(axis=0)
            partial += (part[files > 1] * weight[files > 1, None]).sum(axis=0)
            partial_blocks += int(weight[files > 1].sum())
        self._partial = partial_blocks
        self._involved = {
            index: (int(whole[column]), int(partial[column]))
            for column, index in enumerate(self._index_of().tolist())
            if whole[column] or partial[column]}
        return self._involved

    def blocks_served(self) -> dict[int, int]:
        """Blocks whose main source is each chain index (ZERO for zero blocks)."""
        counts: dict[int, int] = {}
        for served, weight in self.table.weighted_rows():
            owner = self._index_of()[np.argmax(served, axis=1)]
            for value, n in zip(owner.tolist(), weight.tolist(), strict=True):
                counts[value] = counts.get(value, 0) + n
        return counts

    def partial_count(self) -> int:
        if self._partial is None:
            self.involvement()
        return self._partial or 0

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
                value = per_block.at(block)
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


def _cells_image(cells: Cells, columns: int, cell: int, inner: int,
                 background: int) -> np.ndarray:
    """`cells` laid out `columns` to a row, `cell` pixels apart: an ARGB pixel array. A cell
    is an `inner`-pixel square; a partial block's lower-right triangle (below the diagonal,
    whatever its share, so even 4 KiB shows) has the colour of the second file."""
    upper, lower = cells.upper, cells.lower
    first, last = 0, len(upper)
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
        cells = data.cells(first, last)
        pixels = _cells_image(cells, columns, cell, inner, base.color().rgba())
        image = QImage(pixels.data, pixels.shape[1], pixels.shape[0], pixels.strides[0],
                       QImage.Format.Format_RGB32)
        painter.drawImage(QPoint(0, first_row * cell - offset), image)
        several = np.flatnonzero(np.count_nonzero(cells.served, axis=1) > 2)
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
