"""A hex dump of any file as an item model that reads only the rows a view asks for.

The file is never loaded: `HexFile` (opened on a worker) keeps the file descriptor open and the
model reads 64 KiB pages of it with `portable.pread` on demand, on workers, holding a small LRU
of pages. A 4 GiB BIN opens at once (row count is just `size / 16`) and scrolling costs one or
two page reads per screen; a row whose page is being read shows blank until it is there (the
GUI thread never waits for a disk).
"""

from __future__ import annotations

import errno
import os
import stat
from collections import OrderedDict
from pathlib import Path

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QObject, QPersistentModelIndex, Qt
from PySide6.QtGui import QColor, QFont, QFontDatabase

from hvgui import portable
from hvgui.ui.workers import Op, Runner

BYTES_PER_ROW = 16
PAGE_SIZE = 64 * 1024
MAX_PAGES = 64  # 4 MiB of cache at most
# A QTableView's row count is a C int: past this many rows the tail is not shown.
MAX_ROWS = (1 << 31) - 1

ModelIndex = QModelIndex | QPersistentModelIndex


class HexFile:
    """A file open for the hex view: made on a worker (it opens the file), read there."""

    def __init__(self, path: Path) -> None:
        """Open `path`, a regular file (a FIFO or device is refused: OSError, never a hang)."""
        self.path = path
        self.fd = -1
        fd = portable.open_without_blocking(path, os.O_RDONLY)
        try:
            info = os.fstat(fd)
            if not stat.S_ISREG(info.st_mode):
                raise OSError(errno.EINVAL, "not a regular file", str(path))
            portable.make_blocking(fd)
        except BaseException:
            os.close(fd)
            raise
        self.fd, self.size = fd, info.st_size

    def read_page(self, number: int) -> bytes:
        """Page `number` (on a worker); an unreadable range reads as empty rather than
        failing the view."""
        try:
            return portable.pread(self.fd, PAGE_SIZE, number * PAGE_SIZE)
        except OSError:
            return b""

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1

    def __del__(self) -> None:  # one never shown (its inspector closed first)
        self.close()


class HexModel(QAbstractTableModel):
    """Rows of 16 bytes: column 0 the offset, 1 the bytes in hex, 2 the bytes as ASCII."""

    COLUMNS = ("Offset", "Hex", "ASCII")

    def __init__(self, file: HexFile, runner: Runner, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.path = file.path
        self._file: HexFile | None = file
        self._runner = runner
        self.size = file.size
        self._rows = min(MAX_ROWS, (self.size + BYTES_PER_ROW - 1) // BYTES_PER_ROW)
        self._pages: OrderedDict[int, bytes] = OrderedDict()
        self._reading: set[int] = set()  # pages asked of a worker, not back yet
        self.reads = 0  # pages read so far: lets tests see that paging is lazy
        font = QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont)
        font.setStyleHint(QFont.StyleHint.Monospace)
        self.font = font
        self._zero_colour = QColor("#9aa0a6")
        self._highlight: tuple[int, int] | None = None  # (first row, last row) of a section
        self._highlight_colour = QColor("#fff4ce")

    def close(self) -> None:
        """Release the file (once no worker reads it); the model shows nothing afterwards."""
        file, self._file = self._file, None
        if file is not None:
            self.beginResetModel()
            self._rows = 0
            self._pages.clear()
            self.endResetModel()
            if not self._reading:
                file.close()  # else the last page read back closes it

    # -- reading --------------------------------------------------------------------------
    def _page(self, number: int) -> bytes | None:
        """The page if it was read, else None and a worker reads it."""
        page = self._pages.get(number)
        if page is not None:
            self._pages.move_to_end(number)
            return page
        file = self._file
        if file is not None and number not in self._reading:
            self._reading.add(number)
            # Bound: a page read for a model deleted since is dropped (HexFile.__del__ closes).
            Op(self._runner, lambda _p, _c: file.read_page(number), label=self.path.name,
               quiet=True).bound_to(self).success(
                lambda page: self._read(file, number, page)).failure(
                lambda exc: self._read(file, number, b"")).run_in_background()
        return None

    def _read(self, file: HexFile, number: int, page: bytes) -> None:
        self._reading.discard(number)
        if self._file is not file:  # closed meanwhile
            if not self._reading:
                file.close()
            return
        self.reads += 1
        self._pages[number] = page
        if len(self._pages) > MAX_PAGES:
            self._pages.popitem(last=False)
        first = number * PAGE_SIZE // BYTES_PER_ROW
        last = min(self._rows, (number + 1) * PAGE_SIZE // BYTES_PER_ROW) - 1
        if first <= last:
            self.dataChanged.emit(self.index(first, 0), self.index(last, 2),
                                  [Qt.ItemDataRole.DisplayRole])

    def row_bytes(self, row: int) -> bytes | None:
        """The bytes shown on `row` (fewer than 16 on the last row); None while its page is
        being read."""
        offset = row * BYTES_PER_ROW
        page = self._page(offset // PAGE_SIZE)
        if page is None:
            return None
        start = offset % PAGE_SIZE
        return page[start : start + BYTES_PER_ROW]

    def set_highlight(self, offset: int, length: int) -> None:
        """Tint the rows holding bytes [offset, offset + length): the section being looked at."""
        old = self._highlight
        if length <= 0:
            self._highlight = None
        else:
            self._highlight = (self.row_of_offset(offset),
                               self.row_of_offset(offset + length - 1))
        for rows in (old, self._highlight):
            if rows is not None:
                self.dataChanged.emit(self.index(rows[0], 0), self.index(rows[1], 2),
                                      [Qt.ItemDataRole.BackgroundRole])

    def highlighted_rows(self) -> tuple[int, int] | None:
        return self._highlight

    def row_of_offset(self, offset: int) -> int:
        return max(0, min(self._rows - 1, offset // BYTES_PER_ROW))

    # -- QAbstractTableModel ----------------------------------------------------------------
    def rowCount(self, parent: ModelIndex = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else self._rows

    def columnCount(self, parent: ModelIndex = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self.COLUMNS)

    def headerData(
        self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole
    ) -> object:
        if role != Qt.ItemDataRole.DisplayRole:
            return None
        if orientation == Qt.Orientation.Horizontal and 0 <= section < len(self.COLUMNS):
            return self.COLUMNS[section]
        if orientation == Qt.Orientation.Vertical:
            return str(section)
        return None

    def data(self, index: ModelIndex, role: int = Qt.ItemDataRole.DisplayRole) -> object:
        if not index.isValid() or index.row() >= self._rows:
            return None
        if role == Qt.ItemDataRole.FontRole:
            return self.font
        if role == Qt.ItemDataRole.ForegroundRole and index.column() == 0:
            return self._zero_colour
        if role == Qt.ItemDataRole.BackgroundRole:
            rows = self._highlight
            if rows is not None and rows[0] <= index.row() <= rows[1]:
                return self._highlight_colour
            return None
        if role == Qt.ItemDataRole.ToolTipRole and index.column() == 0:
            offset = index.row() * BYTES_PER_ROW
            return f"offset {offset:,} bytes ({offset / (1 << 20):.2f} MiB)"
        if role != Qt.ItemDataRole.DisplayRole:
            return None
        column = index.column()
        if column == 0:
            return f"{index.row() * BYTES_PER_ROW:012X}"
        chunk = self.row_bytes(index.row())
        if chunk is None:
            return ""  # its page is on its way
        if column == 1:
            left = " ".join(f"{b:02X}" for b in chunk[:8])
            right = " ".join(f"{b:02X}" for b in chunk[8:])
            return f"{left}  {right}".rstrip()
        return "".join(chr(b) if 0x20 <= b < 0x7F else "." for b in chunk)

    def flags(self, index: ModelIndex) -> Qt.ItemFlag:
        if not index.isValid():
            return Qt.ItemFlag.NoItemFlags
        return Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable
