"""The block map widget paints only visible cells and names the block under the mouse."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QPoint, Qt
from pytestqt.qtbot import QtBot

from hvgui.ui.inspector.block_map import ZERO, BlockMapData, BlockMapWidget
from hvgui.vhdx.block_table import BlockTable

MiB = 1 << 20
GiB = 1 << 30


def _blocks(count: int, block: int = 2 * MiB) -> BlockTable:
    """Leaf owns every 7th block, block 5 is partial, the base owns the rest, 1/3 is zeros."""
    ranges = []  # (start, end, chain index): leaf 0, base 1, zeros -1
    for i in range(count):
        start = i * block
        if i == 5:
            ranges += [(start, start + MiB // 2, 0), (start + MiB // 2, start + block, 1)]
        else:
            ranges.append((start, start + block, 0 if i % 7 == 0 else -1 if i % 3 == 0 else 1))
    return BlockTable.from_ranges(ranges, 2, block, count * block)


def test_a_127_gib_disk_paints_fast_and_only_what_is_visible(qtbot: QtBot) -> None:
    count = 127 * GiB // (2 * MiB)
    chain = [Path("leaf.avhdx"), Path("base.vhdx")]
    data = BlockMapData.from_table(chain, _blocks(count))
    assert data.count == 65024
    widget = BlockMapWidget()
    qtbot.addWidget(widget)
    widget.resize(700, 500)
    widget.show()
    qtbot.waitExposed(widget)
    widget.set_data(data)
    widget.viewport().grab()
    viewport = widget.viewport()
    cell = widget.cell_size()
    on_screen = (viewport.width() // cell) * (viewport.height() // cell + 2)
    assert 0 < widget.painted_cells <= on_screen < data.count // 4
    for _ in range(10):  # each scroll paints what is on screen, never the whole map
        widget.verticalScrollBar().setValue(widget.verticalScrollBar().value() + 400)
        widget.viewport().grab()
        assert 0 < widget.painted_cells <= on_screen
    widget.verticalScrollBar().setValue(widget.verticalScrollBar().maximum())
    widget.viewport().grab()
    assert 0 < widget.painted_cells <= on_screen


def test_hover_names_the_block_and_click_selects_it(qtbot: QtBot) -> None:
    chain = [Path("leaf.avhdx"), Path("base.vhdx")]
    data = BlockMapData.from_table(chain, _blocks(200))
    widget = BlockMapWidget()
    qtbot.addWidget(widget)
    widget.resize(300, 300)
    widget.show()
    widget.set_data(data)
    cell = widget.cell_rect(5).center()
    with qtbot.waitSignal(widget.blockHovered) as hovered:
        qtbot.mouseMove(widget.viewport(), cell)
    assert hovered.args == [5]
    with qtbot.waitSignal(widget.blockClicked) as clicked:
        qtbot.mouseClick(widget.viewport(), Qt.MouseButton.LeftButton, pos=cell)
    assert clicked.args == [5]
    assert widget.selected_block() == 5
    assert widget.block_at(QPoint(-1, 3)) == -1
    text = data.describe(5)
    assert "Block 5" in text and "0xa00000" in text
    assert "Partial" in text and "512 KiB from leaf.avhdx" in text
    assert "1.5 MiB from base.vhdx" in text
    assert "reads as zeros" in data.describe(3)
    assert "Wholly served by leaf.avhdx" in data.describe(7)
    # the split cell: block 5's main owner is the base (1.5 MiB), the leaf is the second
    cells = data.cells(0, data.count)
    assert cells.owner[5] == 1 and cells.second[5] == 0 and data.is_partial(5)
    assert cells.owner[3] == ZERO
    served = data.blocks_served()
    assert sum(served.values()) == 200
    assert served[0] == len([i for i in range(200) if i % 7 == 0 and i != 5])


def test_arrow_keys_walk_the_map(qtbot: QtBot) -> None:
    chain = [Path("leaf.avhdx"), Path("base.vhdx")]
    widget = BlockMapWidget()
    qtbot.addWidget(widget)
    widget.resize(300, 300)
    widget.show()
    widget.set_data(BlockMapData.from_table(chain, _blocks(200)))
    with qtbot.waitSignal(widget.blockClicked) as first:
        qtbot.keyClick(widget, Qt.Key.Key_Right)
    assert first.args == [1]
    with qtbot.waitSignal(widget.blockClicked) as down:
        qtbot.keyClick(widget, Qt.Key.Key_Down)
    assert down.args == [1 + widget.columns()]
    qtbot.keyClick(widget, Qt.Key.Key_Left)
    assert widget.selected_block() == widget.columns()
