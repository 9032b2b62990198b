"""The hex view pages lazily: a 4 GiB file opens at once and only visible rows are read."""

from __future__ import annotations

from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from pytestqt.qtbot import QtBot

from hvgui.ui.inspector.hex_model import BYTES_PER_ROW, PAGE_SIZE, HexFile, HexModel
from hvgui.ui.inspector.hex_view import HexView, parse_offset
from hvgui.ui.workers import Runner
from tests.inspector.hex_helpers import shown_bytes, shown_text

GiB = 1 << 30


@pytest.fixture
def sparse_4gib(tmp_path: Path) -> Path:
    """A 4 GiB sparse file: a marker at the start, at 3 GiB and in the last row."""
    path = tmp_path / "big.bin"
    with open(path, "wb") as handle:
        handle.truncate(4 * GiB)
        handle.write(b"START-OF-FILE...")
        handle.seek(3 * GiB)
        handle.write(b"THREE-GIB-MARKER")
        handle.seek(4 * GiB - 16)
        handle.write(b"LAST-ROW-MARKER!")
    return path


def test_a_4_gib_file_opens_at_once_and_reads_only_what_is_shown(
    qtbot: QtBot, sparse_4gib: Path, runner: Runner
) -> None:
    view = HexView(HexFile(sparse_4gib), runner)
    qtbot.addWidget(view)
    view.resize(900, 600)
    view.show()
    qtbot.waitExposed(view)
    model = view.model
    assert model.rowCount() == 4 * GiB // BYTES_PER_ROW
    assert shown_text(qtbot, model, 0, 2) == "START-OF-FILE..."
    # Scrolling to the end reads a page or two, never the gigabytes in between.
    reads_before = model.reads
    view.table.scrollToBottom()
    view.table.viewport().repaint()
    last = model.rowCount() - 1
    assert shown_text(qtbot, model, last, 2) == "LAST-ROW-MARKER!"
    assert model.data(model.index(last, 0)) == f"{4 * GiB - 16:012X}"
    assert model.reads - reads_before <= 4
    view.close_file()


def test_go_to_offset_selects_the_row_holding_it(
    qtbot: QtBot, sparse_4gib: Path, runner: Runner
) -> None:
    view = HexView(HexFile(sparse_4gib), runner)
    qtbot.addWidget(view)
    view.show()
    qtbot.keyClicks(view.goto, "3G")
    qtbot.keyClick(view.goto, Qt.Key.Key_Return)
    rows = view.table.selectionModel().selectedRows()
    assert [r.row() for r in rows] == [3 * GiB // BYTES_PER_ROW]
    assert shown_text(qtbot, view.model, rows[0].row(), 2) == "THREE-GIB-MARKER"
    # hex column shows the bytes in two groups of eight
    hex_text = view.model.data(rows[0].siblingAtColumn(1))
    assert str(hex_text).startswith("54 48 52 45 45 2D 47 49  42 2D")
    view.goto.clear()
    qtbot.keyClicks(view.goto, "not a number")
    qtbot.keyClick(view.goto, Qt.Key.Key_Return)
    assert "background" in view.goto.styleSheet()
    view.close_file()


def test_the_page_cache_stays_bounded(qtbot: QtBot, tmp_path: Path, runner: Runner) -> None:
    path = tmp_path / "pages.bin"
    path.write_bytes(bytes(range(256)) * (PAGE_SIZE * 80 // 256))
    model = HexModel(HexFile(path), runner)
    for page in range(80):
        shown_bytes(qtbot, model, page * PAGE_SIZE // BYTES_PER_ROW)
    assert len(model._pages) <= 64
    assert shown_bytes(qtbot, model, 1) == bytes(range(16, 32))
    model.close()
    assert model.rowCount() == 0


@pytest.mark.parametrize(
    ("text", "value"),
    [("0x10", 16), ("4096", 4096), ("4k", 4096), ("2M", 2 << 20), ("1_000", 1000),
     ("", None), ("zz", None), ("-5", None)],
)
def test_offsets_are_read_the_way_people_write_them(text: str, value: int | None) -> None:
    assert parse_offset(text) == value


def test_hex_model_passes_the_model_tester(  # type: ignore[no-untyped-def]
    qtmodeltester, qtbot: QtBot, tmp_path: Path, runner: Runner
) -> None:
    path = tmp_path / "small.bin"
    path.write_bytes(bytes(range(256)) * 3 + b"tail")
    model = HexModel(HexFile(path), runner)
    qtmodeltester.check(model)
    assert model.rowCount() == (256 * 3 + 4 + 15) // 16
    assert shown_text(qtbot, model, model.rowCount() - 1, 2) == "tail"
    qtmodeltester.check(model)  # with its page read
    model.close()
